//! Random identifiers and secrets, their hashes, constant-time comparison, PKCE and
//! password hashing: the small primitives every other authz module leans on.
//!
//! Kept in one place so there is exactly one source of randomness (`OsRng`), one way to
//! hash a secret before it is stored, and one way to compare secrets.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::PasswordHashing;
use crate::store::authz::SecretHash;

/// A secret handed to a browser or client (code, refresh token, session id, CSRF token):
/// 256 random bits, base64url. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        Self(random_b64(32))
    }
    pub fn from_wire(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> SecretHash {
        sha256(self.0.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `n` random bytes from the OS, base64url without padding.
pub fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A public identifier with a readable prefix (`txn_…`, `mfa_…`), 128 random bits.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A user's opaque, stable subject identifier: `usr_` + 16 hex characters.
pub fn new_sub() -> String {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    format!("usr_{}", hex::encode(bytes))
}

pub fn sha256(data: &[u8]) -> SecretHash {
    Sha256::digest(data).into()
}

/// Constant-time equality, so comparing a presented secret leaks nothing through timing.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The RFC 7636 §4.2 S256 challenge of a verifier.
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_pkce_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A challenge is the base64url SHA-256 of a verifier: exactly 43 base64url characters.
pub fn is_valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Whether `verifier` answers `challenge` (RFC 7636 §4.6), in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    is_valid_pkce_verifier(verifier) && ct_eq(pkce_s256(verifier).as_bytes(), challenge.as_bytes())
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordHashError(String);

fn argon2(params: &PasswordHashing) -> Result<Argon2<'static>, PasswordHashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| PasswordHashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// An argon2id PHC string for `password`.
pub fn hash_password(
    password: &str,
    params: &PasswordHashing,
) -> Result<String, PasswordHashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordHashError(e.to_string()))
}

/// Checks a password against a stored PHC string (its own parameters apply). `None` runs a
/// verification against a dummy hash anyway, so unknown usernames cost the same time as
/// known ones and do not reveal themselves.
pub fn verify_password(password: &str, stored: Option<&str>, dummy: &str) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Expected value computed with Python's hashlib + base64.urlsafe_b64encode.
        let verifier = "dBjftJeZ4CVP-mJ92IqVgw9Bc7HyGBHdE3jFT5mWACk";
        assert_eq!(
            pkce_s256(verifier),
            "2hHGyW3EdpnxQ-hvkm-AWigb3J62W7c11i0_HeVvlPc"
        );
        assert!(pkce_matches(
            verifier,
            "2hHGyW3EdpnxQ-hvkm-AWigb3J62W7c11i0_HeVvlPc"
        ));
        assert!(!is_valid_pkce_verifier("short"));
        assert!(!is_valid_pkce_verifier(&"a".repeat(129)));
        assert!(is_valid_pkce_verifier(&"a".repeat(43)));
        assert!(!is_valid_pkce_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn passwords_round_trip() {
        let p = PasswordHashing::fast_for_tests();
        let h = hash_password("wonderland", &p).expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("wonderland", Some(&h), &h));
        assert!(!verify_password("Wonderland", Some(&h), &h));
        assert!(!verify_password("wonderland", None, &h));
    }
}
