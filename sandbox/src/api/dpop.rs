//! DPoP at the bank API (RFC 9449 §7): which tokens must be bound, and the proof a bound
//! token is accepted with.
//!
//! A token whose `cnf.jkt` names a key is accepted only as `Authorization: DPoP <token>`,
//! with a proof by that key for this very request (`htm`, `htu` = this API's public URL and
//! the request's path, `ath` = the token's hash), never replayed and, when nonces are
//! demanded, carrying the current one. The verified-token cache in front of the signature
//! check keeps `cnf.jkt` with the claims, so a cached token meets this check on every
//! request too. [`DpopMode`] says what happens to unbound tokens.
//!
//! Replays are refused in two places. Every accepted proof goes into this instance's
//! in-memory cache ([`SeenProofs`], bounded, refusing when full of live proofs), which is
//! all a read gets: another instance does not know the proof, so a stolen proof could be
//! replayed there for the same `GET` within its window (the `iat` window, shortened for an
//! attacker by `require_nonce`). A transfer's proof is also returned to the handler
//! ([`ProofSpend`]), which records it in the transfer's own transaction, shared by every
//! instance on the database: it is spent exactly when the money moves (or the attempt is
//! refused in that transaction), durably, and a replay is refused everywhere.

use axum::http::{HeaderMap, Method};

use super::ApiInitError;
use super::auth::Claims;
use super::config::ApiProofPolicy;
pub use super::config::DpopMode;
use super::require::Credentials;
use crate::clock::Clock;
use crate::dpop::{
    Full, PROOF_REPLAYED, ProofError, ProofRequest, ProofVerifier, SeenProofs, proof_header,
};
use crate::error::ApiError;
pub use crate::store::bank::ProofSpend;

/// The API's rules for sender-constrained tokens.
#[derive(Debug)]
pub struct SenderConstraint {
    mode: DpopMode,
    verifier: ProofVerifier,
    /// `None` only with `bench_skip_replay_check` (never in production).
    seen: Option<SeenProofs>,
    clock: Clock,
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
        policy: &ApiProofPolicy,
        public_url: &str,
        nonce_key: [u8; 32],
        clock: Clock,
    ) -> Result<SenderConstraint, ApiInitError> {
        let seen = if policy.bench_skip_replay_check {
            tracing::warn!(
                "[api] dpop_proofs.bench_skip_replay_check is on: this API accepts a replayed \
                 DPoP proof on any request but a transfer. For benchmarks only, never in production."
            );
            None
        } else {
            Some(SeenProofs::new(policy.replay_cache_capacity))
        };
        Ok(SenderConstraint {
            mode,
            verifier: ProofVerifier::new(policy.proof_policy(), nonce_key, clock.clone()),
            seen,
            clock,
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
    /// valid proof by its key for this request, not seen before by this instance; an
    /// unbound one is refused where the mode demands binding everywhere (`required`) or
    /// when it comes with the DPoP scheme. Returns the accepted proof, for a transfer to
    /// spend in its transaction.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        credentials: &Credentials<'_>,
        claims: &Claims,
    ) -> Result<Option<ProofSpend>, ApiError> {
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
            (Credentials::Bearer(_), None) => return Ok(None),
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
        let verified = self.verifier.check(proof, &request).map_err(refuse)?;
        if let Some(seen) = &self.seen {
            match seen.remember(&verified.replay_key, verified.expires_at, self.clock.now()) {
                Ok(true) => {}
                Ok(false) => return Err(ApiError::InvalidDpopProof(PROOF_REPLAYED)),
                Err(Full) => {
                    // Forgetting a live proof would let it be replayed; a 503 lets the
                    // client retry once proofs have aged out.
                    tracing::warn!(
                        "DPoP replay cache full: raise [api] dpop_proofs.replay_cache_capacity"
                    );
                    return Err(ApiError::Busy);
                }
            }
        }
        Ok(Some(ProofSpend {
            key: verified.replay_key,
            expires_at: verified.expires_at,
        }))
    }
}
