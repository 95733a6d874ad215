//! Server-provided nonces (RFC 9449 §8, §9): a value the client must put in its next proofs,
//! so that a proof cannot have been signed before the server chose the value.
//!
//! Nonces are computed, not stored: the nonce of a period is an HMAC of the period's number
//! under a key the server keeps, and a proof's nonce is accepted while it is the current
//! period's or the previous one's. Every instance that shares the key (the bank API's
//! instances share it through their database) issues and accepts the same nonces, and a
//! restart forgets nothing. All clients get the same nonce in a period: it proves when a
//! proof was made, not who made it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Computes and checks nonces for one server.
#[derive(Clone)]
pub struct Nonces {
    key: [u8; 32],
    period_secs: i64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// `period_secs` is how often the nonce changes (at least 1).
    pub fn new(key: [u8; 32], period_secs: u64) -> Nonces {
        Nonces {
            key,
            period_secs: i64::try_from(period_secs.max(1)).unwrap_or(i64::MAX),
        }
    }

    /// The nonce clients should use now.
    pub fn current(&self, now: i64) -> String {
        self.of_period(now.div_euclid(self.period_secs))
    }

    /// Whether `nonce` is this period's or the previous one's.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let period = now.div_euclid(self.period_secs);
        [period, period - 1].into_iter().any(|p| {
            let expected = self.of_period(p);
            // Nonces are not secrets, but a constant-time comparison costs nothing.
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), nonce.as_bytes()).into()
        })
    }

    fn of_period(&self, period: i64) -> String {
        // HMAC pads a short key with zeros to the hash's block size (RFC 2104 §2); padding
        // it here makes the key a block, which the fixed-size constructor takes as is.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(b"bank-sandbox DPoP nonce\0");
        mac.update(&period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_period_and_the_next_and_needs_the_key() {
        let nonces = Nonces::new([7; 32], 300);
        let now = 1_000_000_200;
        let nonce = nonces.current(now);
        assert_eq!(nonce.len(), 24);
        assert!(nonces.accepts(&nonce, now));
        assert!(nonces.accepts(&nonce, now + 300));
        assert!(!nonces.accepts(&nonce, now + 600));
        assert!(!nonces.accepts(&nonce, now - 300));
        assert!(!Nonces::new([8; 32], 300).accepts(&nonce, now));
        assert!(!nonces.accepts("", now));
    }
}
