//! DPoP at the bank API (RFC 9449 §7): which tokens must be bound, and the proof a bound
//! token is accepted with.
//!
//! A token whose `cnf.jkt` names a key is accepted only as `Authorization: DPoP <token>`,
//! with a proof by that key for this very request (`htm`, `htu` = this API's public URL and
//! the request's path, `ath` = the token's hash), never replayed (the replay cache is the
//! bank store's, shared by every instance on one database) and, when nonces are demanded,
//! carrying the current one. The verified-token cache in front of the signature check
//! keeps `cnf.jkt` with the claims, so a cached token meets this check on every request
//! too. [`DpopMode`] says what happens to unbound tokens.

use axum::http::{HeaderMap, Method};

use super::ApiInitError;
use super::auth::Claims;
pub use super::config::DpopMode;
use super::require::Credentials;
use crate::clock::Clock;
use crate::dpop::{ProofError, ProofPolicy, ProofRequest, ProofVerifier, proof_header};
use crate::error::ApiError;
use crate::store::bank::BankStore;

/// The API's rules for sender-constrained tokens.
#[derive(Debug)]
pub struct SenderConstraint {
    mode: DpopMode,
    verifier: ProofVerifier,
    /// The public URL without a trailing slash: a request's `htu` is this and its path.
    public_base: String,
}

/// Checks a public URL (`[api] public_url`, `--public-url`) and returns it without its
/// trailing slash.
pub(crate) fn public_base(url: &str) -> Result<String, ApiInitError> {
    let bad = || {
        ApiInitError::Config(format!(
            "public_url must be an absolute http(s) URL without query or fragment: {url}"
        ))
    };
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
    {
        return Err(bad());
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

impl SenderConstraint {
    pub fn new(
        mode: DpopMode,
        policy: ProofPolicy,
        public_url: &str,
        nonce_key: [u8; 32],
        clock: Clock,
    ) -> Result<SenderConstraint, ApiInitError> {
        Ok(SenderConstraint {
            mode,
            verifier: ProofVerifier::new(policy, nonce_key, clock),
            public_base: public_base(public_url)?,
        })
    }

    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The URL proofs for requests to `path` must name.
    pub fn htu_for(&self, path: &str) -> String {
        format!("{}{path}", self.public_base)
    }

    /// The nonce proofs must carry, while this API demands one.
    pub fn nonce(&self) -> Option<String> {
        self.verifier.nonce()
    }

    /// Holds a verified token to its binding: a bound token needs the DPoP scheme and a
    /// valid proof by its key for this request; an unbound one is refused where the mode
    /// demands binding everywhere (`required`) or when it comes with the DPoP scheme.
    pub async fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        credentials: &Credentials<'_>,
        claims: &Claims,
        store: &BankStore,
    ) -> Result<(), ApiError> {
        let (token, jkt) = match (credentials, claims.dpop_jkt.as_deref()) {
            (Credentials::Bearer(_), Some(_)) => {
                // RFC 9449 §7.2: the thief of a bound token must not get in by calling it
                // a bearer token.
                return Err(ApiError::InvalidToken(
                    "a DPoP-bound token must be sent with the DPoP scheme",
                ));
            }
            (Credentials::Bearer(_), None) if self.mode == DpopMode::Required => {
                return Err(ApiError::DpopRequired(
                    "this API accepts only DPoP-bound tokens",
                ));
            }
            (Credentials::Bearer(_), None) => return Ok(()),
            (Credentials::Dpop(_), None) => {
                return Err(ApiError::InvalidToken(
                    "token is not DPoP-bound (no cnf.jkt)",
                ));
            }
            (Credentials::Dpop(token), Some(jkt)) => (*token, jkt),
        };
        let refuse = |err: ProofError| match err {
            ProofError::Invalid(description) => ApiError::InvalidDpopProof(description),
            ProofError::UseNonce => ApiError::UseDpopNonce {
                nonce: self.nonce().unwrap_or_default(),
            },
            ProofError::Store(err) => super::store_error(err),
        };
        let proof = proof_header(headers)
            .map_err(refuse)?
            .ok_or(ApiError::InvalidDpopProof(
                "a DPoP-bound token needs a DPoP proof",
            ))?;
        let url = url::Url::parse(&self.htu_for(path))
            .map_err(|_| ApiError::InvalidDpopProof("proof is for another URL (htu)"))?;
        let request = ProofRequest {
            method: method.as_str(),
            url: &url,
            access_token: Some(token),
            bound_to: Some(jkt),
        };
        self.verifier
            .verify(proof, &request, store)
            .await
            .map(drop)
            .map_err(refuse)
    }
}
