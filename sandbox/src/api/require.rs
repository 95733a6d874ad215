//! Authorization in the handler's signature: extractors that admit a request only with a
//! verified bearer token (RFC 6750 §2.1: the `Authorization` header only) — [`ValidatedClaims`]
//! — that also carries a scope — [`RequireScope`] — or that passes the step-up policy for
//! moving money — [`RequireStepUp`]. The checks themselves are `auth.rs`'s.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::auth::{Claims, SCOPE_TRANSFER_FUNDS, SCOPE_VIEW_BALANCE};
use super::{ApiState, AuditSlot};
use crate::error::ApiError;

/// The bearer token of a request, per RFC 6750 §2.1 (header only: query and form tokens
/// leak into logs and are not accepted).
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
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
    // The auth scheme is case-insensitive (RFC 9110 §11.1). Another scheme means no bearer
    // credentials were sent at all.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() {
        return Err(ApiError::InvalidToken("malformed token"));
    }
    Ok(token)
}

/// A request whose bearer token verified. Rejects with RFC 6750 answers.
#[derive(Debug, Clone)]
pub struct ValidatedClaims(pub Claims);

impl FromRequestParts<ApiState> for ValidatedClaims {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?;
        let claims = state.verifier().verify(token).await?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_jti(claims.jti.clone());
        }
        Ok(ValidatedClaims(claims))
    }
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

/// A verified `transfer:funds` token that also satisfies the step-up policy (MFA, recent
/// authentication); otherwise `401 insufficient_user_authentication` (RFC 9470 §3).
pub struct RequireStepUp(pub Claims);

impl FromRequestParts<ApiState> for RequireStepUp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let RequireScope(claims, _) =
            RequireScope::<TransferFunds>::from_request_parts(parts, state).await?;
        state
            .step_up_policy()
            .check(&claims, state.verifier().clock().now())?;
        Ok(RequireStepUp(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_parsing_follows_rfc_6750() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            bearer_token(&headers),
            Err(ApiError::MissingToken)
        ));
        headers.insert(header::AUTHORIZATION, "Basic YTpi".parse().expect("header"));
        assert!(matches!(
            bearer_token(&headers),
            Err(ApiError::MissingToken)
        ));
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers).ok(), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().expect("header"));
        assert!(matches!(
            bearer_token(&headers),
            Err(ApiError::InvalidToken(_))
        ));
        headers.append(header::AUTHORIZATION, "Bearer x".parse().expect("header"));
        assert!(matches!(
            bearer_token(&headers),
            Err(ApiError::InvalidAuthRequest(_))
        ));
    }
}
