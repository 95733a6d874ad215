//! DPoP proofs (RFC 9449): the one verifier both servers use — the authorization server at
//! its token endpoint (and any other endpoint that accepts a proof), the bank API for every
//! request with a bound token.
//!
//! [`ProofVerifier::verify`] makes every check of §4.3 in order: one `DPoP` header
//! ([`proof_header`]), a compact JWS of `typ` `dpop+jwt`, `alg` ES256 only (never `none`,
//! never HMAC), a public P-256 `jwk` and a signature by it (`proof`), `htm` and `htu` of
//! this request (`htu` compared after `bank_protocol::dpop::htu`'s normalization), `iat`
//! inside the configured window, `ath` when an access token comes with the proof, the
//! server's nonce when it demands one (`nonce`), and last the `jti`, which is remembered
//! until the proof could no longer pass the window: in a [`ReplayCache`] (the authorization
//! server's own store), or, by the bank API, in the process ([`SeenProofs`]) and, for a
//! transfer, in the transfer's own transaction ([`ProofVerifier::check`] leaves that to the
//! caller). Refusals are fixed phrases: a proof or a token is never echoed.
//! The servers turn [`ProofError`] into their own answers (`invalid_dpop_proof` and
//! `use_dpop_nonce`, with the current nonce in `DPoP-Nonce`).

mod nonce;
mod proof;
mod seen;

use std::future::Future;

use axum::http::HeaderMap;
use bank_protocol::dpop::{DPOP_HEADER, access_token_hash, htu};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::nonce::Nonces;
pub use self::proof::MAX_PROOF_BYTES;
pub use self::seen::{Full, SeenProofs};
use crate::clock::Clock;
use crate::store::StoreError;

/// How old, how new and how fresh a proof must be (`[authz.dpop_proofs]`, `[api.dpop_proofs]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProofPolicy {
    /// A proof is accepted at most this long after its `iat` (and its `jti` remembered as
    /// long).
    pub max_age_secs: u64,
    /// How far a proof's `iat` may be ahead of the server's clock (the client's clock skew).
    pub max_clock_skew_secs: u64,
    /// Demand a server-provided nonce in every proof (RFC 9449 §8, §9).
    pub require_nonce: bool,
    /// How often the nonce changes; a nonce is accepted for up to twice this long.
    pub nonce_period_secs: u64,
}

impl Default for ProofPolicy {
    fn default() -> Self {
        ProofPolicy {
            max_age_secs: 60,
            max_clock_skew_secs: 5,
            require_nonce: false,
            nonce_period_secs: 300,
        }
    }
}

impl ProofPolicy {
    /// Why this policy cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if !(1..=600).contains(&self.max_age_secs) {
            return Some("dpop_proofs.max_age_secs must be from 1 to 600");
        }
        if self.max_clock_skew_secs > 60 {
            return Some("dpop_proofs.max_clock_skew_secs must be at most 60");
        }
        if !(10..=86_400).contains(&self.nonce_period_secs) {
            return Some("dpop_proofs.nonce_period_secs must be from 10 to 86400");
        }
        None
    }
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// `invalid_dpop_proof`, with a fixed, secret-free description.
    #[error("invalid DPoP proof: {0}")]
    Invalid(&'static str),
    /// `use_dpop_nonce`: the proof lacked the server's current nonce, or had a stale one.
    #[error("a DPoP nonce is required")]
    UseNonce,
    /// The replay cache could not be consulted: nothing may be accepted unchecked.
    #[error("DPoP replay cache unavailable")]
    Store(#[source] StoreError),
}

/// What a verified proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key: what `cnf.jkt` and `dpop_jkt` name.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// What a replay cache records: the hash of the key and the `jti` together (one
    /// client's `jti` can never block another's), live until `expires_at`.
    pub replay_key: [u8; 32],
    /// The last second the proof could pass the `iat` window.
    pub expires_at: i64,
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// `htm`: the request's method, as sent (`GET`, `POST`).
    pub method: &'a str,
    /// `htu`: the URL the client addressed, as this server knows its own URL (never
    /// taken from the request's `Host` header).
    pub url: &'a url::Url,
    /// The access token sent with the proof, whose hash `ath` must be (resource servers).
    pub access_token: Option<&'a str>,
    /// The thumbprint the proof's key must have: the access token's `cnf.jkt`.
    pub bound_to: Option<&'a str>,
}

/// Where a server remembers the proofs it accepted.
pub trait ReplayCache: Sync {
    /// Records `key` until `expires_at`: `true` if it was new (or only an expired entry had
    /// it), `false` if a live entry holds it, i.e. the proof is a replay.
    fn remember_proof(
        &self,
        key: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The proof a request carries: `None` without a `DPoP` header, an error with more than one
/// (§4.3 step 1) or one that is not text.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::Invalid("more than one DPoP header"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| ProofError::Invalid("malformed proof"))
}

/// Checks proofs for one server.
#[derive(Debug, Clone)]
pub struct ProofVerifier {
    policy: ProofPolicy,
    nonces: Nonces,
    clock: Clock,
}

impl ProofVerifier {
    /// `nonce_key` keys the server's nonces (shared by every instance that must accept the
    /// same ones); `clock` is the server's own.
    pub fn new(policy: ProofPolicy, nonce_key: [u8; 32], clock: Clock) -> ProofVerifier {
        let nonces = Nonces::new(nonce_key, policy.nonce_period_secs);
        ProofVerifier {
            policy,
            nonces,
            clock,
        }
    }

    pub fn policy(&self) -> &ProofPolicy {
        &self.policy
    }

    /// The nonce to hand out now, when this server demands nonces.
    pub fn nonce(&self) -> Option<String> {
        self.policy
            .require_nonce
            .then(|| self.nonces.current(self.clock.now()))
    }

    /// Verifies `proof` for `request` and remembers its `jti` in `replay`. A proof that
    /// fails any check is not remembered, so it cannot use up the `jti` of a good one.
    pub async fn verify<R: ReplayCache>(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        replay: &R,
    ) -> Result<VerifiedProof, ProofError> {
        let verified = self.check(proof, request)?;
        let fresh = replay
            .remember_proof(verified.replay_key, verified.expires_at, self.clock.now())
            .await
            .map_err(ProofError::Store)?;
        if !fresh {
            return Err(ProofError::Invalid(PROOF_REPLAYED));
        }
        Ok(verified)
    }

    /// Every check of [`ProofVerifier::verify`] but the replay: the caller must record
    /// [`VerifiedProof::replay_key`] before it acts on the request.
    pub fn check(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
    ) -> Result<VerifiedProof, ProofError> {
        let signed = proof::verify_signature(proof).map_err(ProofError::Invalid)?;
        if signed.htm != request.method {
            return Err(ProofError::Invalid("proof is for another method (htm)"));
        }
        let same_target = url::Url::parse(&signed.htu)
            .ok()
            .filter(|presented| matches!(presented.scheme(), "http" | "https"))
            .is_some_and(|presented| htu(&presented) == htu(request.url));
        if !same_target {
            return Err(ProofError::Invalid("proof is for another URL (htu)"));
        }
        let now = self.clock.now();
        let max_age = i64::try_from(self.policy.max_age_secs).unwrap_or(60);
        let skew = i64::try_from(self.policy.max_clock_skew_secs).unwrap_or(0);
        if signed.iat > now + skew {
            return Err(ProofError::Invalid("proof issued in the future (iat)"));
        }
        if signed.iat < now - max_age {
            return Err(ProofError::Invalid("proof too old (iat)"));
        }
        if let Some(token) = request.access_token {
            match &signed.ath {
                None => return Err(ProofError::Invalid("proof has no ath")),
                Some(ath) if *ath != access_token_hash(token) => {
                    return Err(ProofError::Invalid(
                        "proof is for another access token (ath)",
                    ));
                }
                Some(_) => {}
            }
        }
        if request.bound_to.is_some_and(|jkt| jkt != signed.jkt) {
            return Err(ProofError::Invalid(
                "proof key is not the one the token is bound to (cnf.jkt)",
            ));
        }
        if self.policy.require_nonce
            && !signed
                .nonce
                .as_deref()
                .is_some_and(|nonce| self.nonces.accepts(nonce, now))
        {
            return Err(ProofError::UseNonce);
        }
        let replay_key: [u8; 32] = Sha256::new()
            .chain_update(b"dpop-jti\0")
            .chain_update(signed.jkt.as_bytes())
            .chain_update(b"\0")
            .chain_update(signed.jti.as_bytes())
            .finalize()
            .into();
        Ok(VerifiedProof {
            expires_at: signed.iat + max_age,
            replay_key,
            jkt: signed.jkt,
            jti: signed.jti,
            iat: signed.iat,
        })
    }
}

/// The refusal of a proof seen before, wherever the replay is caught.
pub const PROOF_REPLAYED: &str = "proof already used (jti)";

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::{Value, json};

    use super::*;

    #[derive(Default)]
    struct Memory(Mutex<HashMap<[u8; 32], i64>>);

    impl ReplayCache for Memory {
        async fn remember_proof(
            &self,
            key: [u8; 32],
            expires_at: i64,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut seen = self.0.lock().expect("lock");
            if seen.get(&key).is_some_and(|until| *until >= now) {
                return Ok(false);
            }
            seen.insert(key, expires_at);
            Ok(true)
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn proof(key: &SigningKey, claims: Value) -> String {
        let point = key.verifying_key().to_encoded_point(false);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {
            "kty": "EC", "crv": "P-256",
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))}});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    fn verifier(require_nonce: bool) -> ProofVerifier {
        let policy = ProofPolicy {
            require_nonce,
            ..ProofPolicy::default()
        };
        ProofVerifier::new(policy, [1; 32], Clock::default())
    }

    #[tokio::test]
    async fn every_claim_is_held_to_the_request() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let verifier = verifier(false);
        let cache = Memory::default();
        let url = url::Url::parse("http://127.0.0.1:8401/v1/balance").expect("url");
        let request = ProofRequest {
            method: "GET",
            url: &url,
            access_token: Some("tok"),
            bound_to: None,
        };
        let now = verifier.clock.now();
        let good = |jti: &str| {
            json!({"jti": jti, "htm": "GET", "htu": "http://127.0.0.1:8401/v1/balance?x=1",
                   "iat": now, "ath": access_token_hash("tok")})
        };
        let ok = verifier
            .verify(&proof(&key, good("a")), &request, &cache)
            .await
            .expect("a good proof");
        assert_eq!(ok.jti, "a");
        let again = verifier
            .verify(&proof(&key, good("a")), &request, &cache)
            .await;
        assert!(matches!(
            again,
            Err(ProofError::Invalid("proof already used (jti)"))
        ));
        let edits = [
            (json!({"htm": "POST"}), "htm"),
            (json!({"htu": "http://127.0.0.1:8401/v1/transfers"}), "htu"),
            (json!({"htu": "not a url"}), "htu"),
            (json!({"iat": now - 61}), "too old"),
            (json!({"iat": now + 6}), "future"),
            (json!({"ath": access_token_hash("other")}), "ath"),
            (json!({"ath": null}), "no ath"),
        ];
        for (n, (edit, phrase)) in edits.into_iter().enumerate() {
            let mut claims = good(&format!("e{n}"));
            for (k, v) in edit.as_object().expect("object") {
                if v.is_null() {
                    claims.as_object_mut().expect("object").remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            match verifier
                .verify(&proof(&key, claims), &request, &cache)
                .await
            {
                Err(ProofError::Invalid(d)) => assert!(d.contains(phrase), "{phrase}: {d}"),
                other => panic!("{phrase}: {other:?}"),
            }
        }
        // A refused proof did not use up its jti.
        let mut late = good("e0");
        late["htm"] = json!("GET");
        assert!(
            verifier
                .verify(&proof(&key, late), &request, &cache)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_demanded_nonce_must_be_the_servers_own() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let verifier = verifier(true);
        let cache = Memory::default();
        let url = url::Url::parse("http://127.0.0.1:8400/oauth/token").expect("url");
        let request = ProofRequest {
            method: "POST",
            url: &url,
            access_token: None,
            bound_to: None,
        };
        let now = verifier.clock.now();
        let claims = |jti: &str, nonce: Option<&str>| {
            let mut c = json!({"jti": jti, "htm": "POST", "htu": url.as_str(), "iat": now});
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
            c
        };
        for nonce in [None, Some("made-up")] {
            let refused = verifier
                .verify(&proof(&key, claims("n", nonce)), &request, &cache)
                .await;
            assert!(matches!(refused, Err(ProofError::UseNonce)), "{nonce:?}");
        }
        let nonce = verifier.nonce().expect("nonces are on");
        let accepted = verifier
            .verify(&proof(&key, claims("n", Some(&nonce))), &request, &cache)
            .await;
        assert!(accepted.is_ok(), "{accepted:?}");
        assert_eq!(self::verifier(false).nonce(), None);
    }

    #[test]
    fn one_dpop_header_only() {
        let mut headers = HeaderMap::new();
        assert!(matches!(proof_header(&headers), Ok(None)));
        headers.append("dpop", "a.b.c".parse().expect("value"));
        assert!(matches!(proof_header(&headers), Ok(Some("a.b.c"))));
        headers.append("DPoP", "d.e.f".parse().expect("value"));
        assert!(matches!(
            proof_header(&headers),
            Err(ProofError::Invalid("more than one DPoP header"))
        ));
    }
}
