//! DPoP at the authorization server (RFC 9449 §5, §8, §10): the proof of a request to one
//! of its endpoints, the `dpop_jkt` of an authorization request, and the nonce it hands out.
//!
//! [`AuthzState::token_endpoint_proof`] is the one check the token endpoint makes before it
//! dispatches on `grant_type`, so every grant, present or future, binds its tokens to the
//! proof's key. [`AuthzState::request_dpop_key`] is the same check for an endpoint that
//! takes an authorization request (a pushed authorization request: §10.1), where a proof
//! and `dpop_jkt` may both name the key.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::{AuthzState, DpopSupport};
use crate::dpop::{ProofError, ProofRequest, VerifiedProof, proof_header};
use crate::error::{OAuthError, OAuthErrorKind};

/// The token endpoint's path, as the metadata names it.
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

impl AuthzState {
    /// Whether this server speaks DPoP at all (`[authz] dpop` is not `off`).
    pub(crate) fn dpop_enabled(&self) -> bool {
        self.config().dpop != DpopSupport::Off
    }

    /// Verifies the DPoP proof of a `POST` to `path` (`/oauth/token`, `/oauth/par`): `None`
    /// when the request has none (or DPoP is off), the proof's key when it verified, and
    /// the RFC's error otherwise — `invalid_dpop_proof`, or `use_dpop_nonce` with a fresh
    /// nonce. Its `jti` is spent whatever the request then does.
    pub async fn dpop_proof(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Option<VerifiedProof>, OAuthError> {
        if !self.dpop_enabled() {
            return Ok(None);
        }
        let verifier = &self.inner.dpop;
        let refuse = |err: ProofError| match err {
            ProofError::Invalid(description) => OAuthError::invalid_dpop_proof(description),
            ProofError::UseNonce => OAuthError::new(
                OAuthErrorKind::UseDpopNonce,
                "the authorization server requires a nonce in the DPoP proof",
            ),
            ProofError::Store(err) => OAuthError::from(err),
        };
        let Some(proof) = proof_header(headers).map_err(refuse)? else {
            return Ok(None);
        };
        let url = url::Url::parse(&format!("{}{path}", self.base_url()))
            .map_err(|_| OAuthError::server_error())?;
        let request = ProofRequest {
            method: "POST",
            url: &url,
            access_token: None,
            bound_to: None,
        };
        verifier
            .verify(proof, &request, self.store())
            .await
            .map(Some)
            .map_err(|err| refuse(err).with_dpop_nonce(verifier.nonce()))
    }

    /// The one DPoP check of every token request, made before the grant is looked at: the
    /// proof (see [`AuthzState::dpop_proof`]), and with `dpop = "required"` a refusal of a
    /// request without one.
    pub(crate) async fn token_endpoint_proof(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<VerifiedProof>, OAuthError> {
        let proof = self.dpop_proof(headers, TOKEN_PATH).await?;
        if proof.is_none() && self.config().dpop == DpopSupport::Required {
            return Err(OAuthError::invalid_dpop_proof(
                "this authorization server requires a DPoP proof with every token request",
            )
            .with_dpop_nonce(self.inner.dpop.nonce()));
        }
        Ok(proof)
    }

    /// The key an authorization request sent to `path` binds its code to (RFC 9449 §10.1):
    /// the request's `dpop_jkt`, the key of its DPoP proof, or both when they agree. A proof
    /// is verified as at the token endpoint; a proof by another key than `dpop_jkt` is
    /// refused with `invalid_dpop_proof`.
    pub async fn request_dpop_key(
        &self,
        headers: &HeaderMap,
        path: &str,
        dpop_jkt: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        let named = dpop_jkt.map(parse_dpop_jkt).transpose()?;
        let proof = self.dpop_proof(headers, path).await?;
        match (named, proof) {
            (Some(named), Some(proof)) if named != proof.jkt => {
                Err(OAuthError::invalid_dpop_proof(
                    "the DPoP proof's key is not the one dpop_jkt names",
                ))
            }
            (named, proof) => Ok(named.or(proof.map(|p| p.jkt))),
        }
    }

    /// §8.2: while nonces are demanded, every answer carries the current one, so clients
    /// follow its changes without a failed request.
    pub(crate) fn with_dpop_nonce(&self, mut response: Response) -> Response {
        if !self.dpop_enabled() {
            return response;
        }
        if let Some(nonce) = self
            .inner
            .dpop
            .nonce()
            .and_then(|n| HeaderValue::from_str(&n).ok())
        {
            response
                .headers_mut()
                .insert(bank_protocol::dpop::NONCE_HEADER, nonce);
        }
        response
    }
}

/// A `dpop_jkt` parameter: the base64url SHA-256 thumbprint of a key (43 characters).
pub(crate) fn parse_dpop_jkt(value: &str) -> Result<String, OAuthError> {
    let well_formed = value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(OAuthError::invalid_request(
            "dpop_jkt must be the base64url SHA-256 JWK thumbprint of a key",
        ));
    }
    Ok(value.to_owned())
}
