//! `POST /oauth/revoke` (RFC 7009) for refresh tokens. Revoking a refresh token revokes its
//! whole grant here: no refresh token of the grant works again, and the authorization server
//! marks the grant's access tokens revoked (`AuthzState::is_access_token_revoked`). The bank
//! API verifies access tokens by their signature alone, as a resource server of Auth0, Okta
//! or Keycloak does without introspection (RFC 7662), so it does not learn of this: an access
//! token already issued works until it expires, which is why they live minutes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorize::param;
use super::secrets::Secret;
use super::token::form_params;
use super::{AuthzEvent, AuthzState};
use crate::error::{OAuthError, OAuthErrorKind};

impl AuthzState {
    fn revoke_token(&self, params: &[(String, String)]) -> Result<(), OAuthError> {
        let p = |name| param(params, name);
        let client_id =
            p("client_id").ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
        if self.config().client(client_id).is_none() {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        let token = p("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if p("token_type_hint") == Some("access_token") {
            // Access tokens are self-contained JWTs checked by the API on its own
            // (RFC 7009 §2.2.1).
            return Err(OAuthError::new(
                OAuthErrorKind::UnsupportedTokenType,
                "only refresh tokens can be revoked",
            ));
        }
        let hash = Secret::from_wire(token).hash();
        // RFC 7009 §2.2: an unknown or already invalid token is not an error.
        let Some(grant_id) = self.store().refresh_token_grant(&hash)? else {
            return Ok(());
        };
        let grant = self.store().grant(&grant_id)?;
        if grant.client_id != client_id {
            return Err(OAuthError::new(
                OAuthErrorKind::UnauthorizedClient,
                "the token was issued to another client",
            ));
        }
        if grant.revoked_at.is_none() {
            self.store().revoke_grant(&grant_id, self.now())?;
            self.record(AuthzEvent::TokenRevoked { grant_id });
        }
        Ok(())
    }
}

pub async fn revoke(State(state): State<AuthzState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = form_params(&headers, &body).and_then(|params| state.revoke_token(&params));
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => err.into_response(),
    }
}
