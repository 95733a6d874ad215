//! Authorization in the handler's signature: extractors that admit a request only with a
//! verified access token in the `Authorization` header (RFC 6750 §2.1; RFC 9449 §7.1 for
//! the `DPoP` scheme) — [`ValidatedClaims`] — that also carries a scope — [`RequireScope`]
//! — or that is offered to move money — [`TransferToken`], whose step-up check comes
//! after the transfer's own. The checks
//! themselves are `auth.rs`'s (the token) and `dpop.rs`'s (its binding).

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::auth::{Claims, SCOPE_TRANSFER_FUNDS, SCOPE_VIEW_BALANCE};
use super::dpop::{DpopMode, ProofSpend};
use super::{ApiState, AuditSlot};
use crate::error::{ApiError, AuthScheme};

/// The access token of a request and the scheme it came with.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// RFC 6750 `Bearer`.
    Bearer(&'a str),
    /// RFC 9449 `DPoP`: the token is bound, and a `DPoP` header carries its proof.
    Dpop(&'a str),
}

impl<'a> Credentials<'a> {
    pub fn token(&self) -> &'a str {
        match self {
            Credentials::Bearer(token) | Credentials::Dpop(token) => token,
        }
    }

    pub fn scheme(&self) -> AuthScheme {
        match self {
            Credentials::Bearer(_) => AuthScheme::Bearer,
            Credentials::Dpop(_) => AuthScheme::Dpop,
        }
    }
}

/// The credentials of a request: the `Authorization` header only (query and form tokens
/// leak into logs and are not accepted), scheme `Bearer` or `DPoP`.
fn credentials(headers: &HeaderMap) -> Result<Credentials<'_>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::MissingToken);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidAuthRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ApiError::InvalidToken("malformed token"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim_start_matches(' ');
    // The auth scheme is case-insensitive (RFC 9110 §11.1). Another scheme means no
    // credentials this API understands were sent at all.
    let credentials = if scheme.eq_ignore_ascii_case("bearer") {
        Credentials::Bearer(token)
    } else if scheme.eq_ignore_ascii_case(bank_protocol::dpop::TOKEN_TYPE) {
        Credentials::Dpop(token)
    } else {
        return Err(ApiError::MissingToken);
    };
    if token.is_empty() {
        return Err(ApiError::InvalidToken("malformed token"));
    }
    Ok(credentials)
}

/// A request whose access token verified and met its DPoP binding. Rejects with RFC 6750
/// and RFC 9449 answers.
#[derive(Debug, Clone)]
pub struct ValidatedClaims(pub Claims);

impl FromRequestParts<ApiState> for ValidatedClaims {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        validate(parts, state)
            .await
            .map(|(claims, _)| ValidatedClaims(claims))
    }
}

/// The token's claims, and the proof that came with a bound one.
async fn validate(
    parts: &Parts,
    state: &ApiState,
) -> Result<(Claims, Option<ProofSpend>), ApiError> {
    let slot = parts.extensions.get::<AuditSlot>().cloned();
    let credentials = credentials(&parts.headers);
    if let (Some(slot), Ok(credentials)) = (&slot, &credentials) {
        // The challenge of any refusal below answers in the scheme the client used.
        slot.set_scheme(credentials.scheme());
    }
    let credentials = credentials?;
    let claims = state.verifier().verify(credentials.token()).await?;
    // On every request, also for a token the verified-token cache knew: the cache only
    // ever spares the signature check.
    let proof = state.sender().check(
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &credentials,
        &claims,
    )?;
    if let Some(slot) = &slot {
        slot.set_jti(claims.jti.clone());
    }
    Ok((claims, proof))
}

/// Names a scope at the type level, so the requirement shows in a handler's signature.
pub trait ScopeName: Send + Sync + 'static {
    const SCOPE: &'static str;
}

/// The `view:balance` scope.
pub struct ViewBalance;
impl ScopeName for ViewBalance {
    const SCOPE: &'static str = SCOPE_VIEW_BALANCE;
}

/// The `transfer:funds` scope.
pub struct TransferFunds;
impl ScopeName for TransferFunds {
    const SCOPE: &'static str = SCOPE_TRANSFER_FUNDS;
}

/// A verified token that carries scope `S`; otherwise `403 insufficient_scope`.
pub struct RequireScope<S: ScopeName>(pub Claims, pub PhantomData<S>);

impl<S: ScopeName> FromRequestParts<ApiState> for RequireScope<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let ValidatedClaims(claims) = ValidatedClaims::from_request_parts(parts, state).await?;
        if !claims.has_scope(S::SCOPE) {
            return Err(ApiError::InsufficientScope { scope: S::SCOPE });
        }
        Ok(RequireScope(claims, PhantomData))
    }
}

/// A verified token offered to move money: DPoP-bound where the API's mode demands it for
/// transfers (checked first: a token that could never move money here is told so before
/// anyone is asked to approve anything). Whether it *may* move money — the scope and the
/// step-up policy — is [`TransferToken::authorize`], which the handler calls once it knows
/// the transfer is one the bank would make. The proof of a bound token comes along, to be
/// spent in the transfer's transaction.
pub struct TransferToken(pub Claims, pub Option<ProofSpend>);

impl FromRequestParts<ApiState> for TransferToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let bound_only = state.sender().mode() != DpopMode::Optional;
        if bound_only && let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.refuse_bearer();
        }
        let (claims, proof) = validate(parts, state).await?;
        if bound_only && claims.dpop_jkt.is_none() {
            return Err(ApiError::DpopRequired(
                "moving money needs a DPoP-bound token",
            ));
        }
        Ok(TransferToken(claims, proof))
    }
}

impl TransferToken {
    /// The step-up: `transfer:funds` (else `403 insufficient_scope`), then the assurance
    /// policy (else `401 insufficient_user_authentication`, RFC 9470 §3).
    pub fn authorize(&self, state: &ApiState) -> Result<(), ApiError> {
        if !self.0.has_scope(TransferFunds::SCOPE) {
            return Err(ApiError::InsufficientScope {
                scope: TransferFunds::SCOPE,
            });
        }
        state
            .step_up_policy()
            .check(&self.0, state.verifier().clock().now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parsing_follows_rfc_6750_and_9449() {
        let mut headers = HeaderMap::new();
        assert!(matches!(credentials(&headers), Err(ApiError::MissingToken)));
        headers.insert(header::AUTHORIZATION, "Basic YTpi".parse().expect("header"));
        assert!(matches!(credentials(&headers), Err(ApiError::MissingToken)));
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().expect("header"));
        assert!(matches!(
            credentials(&headers),
            Ok(Credentials::Bearer("abc"))
        ));
        headers.insert(header::AUTHORIZATION, "dpop abc".parse().expect("header"));
        assert!(matches!(
            credentials(&headers),
            Ok(Credentials::Dpop("abc"))
        ));
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().expect("header"));
        assert!(matches!(
            credentials(&headers),
            Err(ApiError::InvalidToken(_))
        ));
        headers.append(header::AUTHORIZATION, "Bearer x".parse().expect("header"));
        assert!(matches!(
            credentials(&headers),
            Err(ApiError::InvalidAuthRequest(_))
        ));
    }
}
