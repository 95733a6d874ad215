//! Metadata documents: OpenID Connect Discovery 1.0 §3, RFC 8414 §2 (the same metadata,
//! both paths, because Auth0 serves the first and generic OAuth clients look for the
//! second), and the JWKS (RFC 7517 §5) the bank API verifies tokens with.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ACR_MFA, ACR_PWD, AuthzState};
use crate::error::OAuthError;

impl AuthzState {
    /// The metadata document. `issuer` is the exact string tokens carry (RFC 8414 §3.3).
    pub fn metadata(&self) -> Value {
        let iss = self.base_url();
        let scopes: Vec<&str> = self
            .config()
            .scopes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut metadata = json!({
            "issuer": self.issuer(),
            "authorization_endpoint": format!("{iss}/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "revocation_endpoint": format!("{iss}/oauth/revoke"),
            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "acr_values_supported": [ACR_MFA, ACR_PWD],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "preferred_username", "name"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        });
        if self.dpop_enabled() {
            // RFC 9449 §5.1: the algorithms this server accepts in proofs.
            metadata["dpop_signing_alg_values_supported"] = json!([bank_protocol::dpop::ALG_ES256]);
        }
        if self.config().device.enabled {
            // RFC 8628 §4.
            metadata["device_authorization_endpoint"] = json!(format!("{iss}/oauth/device/code"));
            if let Some(grants) = metadata["grant_types_supported"].as_array_mut() {
                grants.push(json!(super::DEVICE_CODE_GRANT));
            }
        }
        if self.config().authorization_details {
            // RFC 9396 §10: a transfer (or a batch) can be authorized exactly, not just by
            // scope.
            metadata["authorization_details_types_supported"] =
                json!(self.config().details_types());
        }
        if let Some((endpoint, required)) = self.par_metadata() {
            // RFC 9126 §5; a request_uri from it works whatever request_uri_parameter_supported says.
            metadata["pushed_authorization_request_endpoint"] = json!(endpoint);
            metadata["require_pushed_authorization_requests"] = json!(required);
        }
        metadata
    }
}

fn cacheable_json(value: Value) -> Response {
    let mut response = Json(value).into_response();
    // Short caching: after a key rotation, resource servers should see the new key soon.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

pub async fn openid_configuration(State(state): State<AuthzState>) -> Response {
    cacheable_json(state.metadata())
}

pub async fn oauth_authorization_server(State(state): State<AuthzState>) -> Response {
    cacheable_json(state.metadata())
}

pub async fn jwks(State(state): State<AuthzState>) -> Result<Response, OAuthError> {
    let keys = super::keys::jwks(state.store(), state.now(), state.max_signed_lifetime()).map_err(
        |err| {
            tracing::error!(error = %err, "jwks");
            OAuthError::server_error()
        },
    )?;
    Ok(cacheable_json(json!({ "keys": keys })))
}
