//! `POST /oauth/token` (RFC 6749 §3.2): the `authorization_code` grant with PKCE
//! verification (RFC 7636 §4.6) and the `refresh_token` grant with rotation and reuse
//! detection (RFC 9700 §4.14.2), issuing RFC 9068 access tokens and OIDC ID tokens.
//!
//! A request with a DPoP proof (RFC 9449 §5) gets tokens bound to the proof's key: the
//! access token carries `cnf.jkt` and the answer says `token_type: DPoP`; the refresh-token
//! family of a grant is bound to the key that redeemed its code (or, for a family issued
//! without a proof, to the key of the first refresh that brings one), and a refresh must
//! prove possession of that key before the token is spent.
//!
//! Token lifetimes follow the step-up design: a token carrying a step-up scope
//! (`transfer:funds`) lives minutes and never comes with a refresh token. So does a token
//! bound to payments by RFC 9396 `authorization_details`, which it carries in a claim and
//! which the token response repeats (RFC 9396 §7, §9.1): one transfer, a few listed, or a
//! `payment_batch` by its count, totals and digest — the grant keeps it without its list
//! (`binding::granted_details`), so a token for 1,000 payments stays small.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::authorize::{param, parse_params};
use super::secrets::{self, Secret};
use super::{AuthzEvent, AuthzState};
use crate::dpop::VerifiedProof;
use crate::error::{OAuthError, OAuthErrorKind};
use crate::store::StoreError;
use crate::store::authz::{CodeUse, GrantRecord, RefreshUse};

/// RFC 9068 §2.2 access token claims.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_details: Option<&'a serde_json::Value>,
    /// RFC 9449 §6.1: the key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// RFC 7800 confirmation by a JWK SHA-256 thumbprint (RFC 9449 §6.1).
#[derive(Debug, Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

/// OIDC Core §2 ID token claims.
#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    acr: &'a str,
    amr: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// The RFC 6749 §5.1 success body. Holds secrets: no `Debug`.
#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_details: Option<serde_json::Value>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = Json(self).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1: responses carrying tokens must not be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

impl AuthzState {
    /// Dispatches on `grant_type` after authenticating the (public) client. `proof` is the
    /// request's verified DPoP proof, if it had one: every grant binds to it.
    pub(crate) async fn token_request(
        &self,
        params: &[(String, String)],
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        let p = |name| param(params, name);
        let client_id =
            p("client_id").ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
        if self.config().client(client_id).is_none() {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        match p("grant_type") {
            Some("authorization_code") => self.code_grant(client_id, params, proof),
            Some("refresh_token") => self.refresh_grant(client_id, params, proof),
            Some(super::DEVICE_CODE_GRANT) => self.device_grant(client_id, params, proof),
            Some(other) => Err(OAuthError::new(
                OAuthErrorKind::UnsupportedGrantType,
                format!("grant_type {other} is not supported"),
            )),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }

    /// RFC 6749 §4.1.3 + RFC 7636 §4.6, and RFC 9449 §10 for a code bound by `dpop_jkt`.
    fn code_grant(
        &self,
        client_id: &str,
        params: &[(String, String)],
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        let p = |name| param(params, name);
        let code = Secret::from_wire(
            p("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?,
        );
        let redirect_uri = p("redirect_uri")
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
        let verifier = p("code_verifier")
            .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
        let now = self.now();
        // The code is spent by this call whatever happens next: a code that failed a check
        // must not be retried by whoever holds it.
        let (code_record, grant) = match self.store().consume_code(&code.hash(), now)? {
            CodeUse::Unknown => {
                return Err(OAuthError::invalid_grant("unknown authorization code"));
            }
            CodeUse::Replayed { grant_id } => {
                self.record(AuthzEvent::CodeReplayed { grant_id });
                return Err(OAuthError::invalid_grant(
                    "authorization code already used; its refresh tokens are revoked (access tokens already issued stay valid until they expire)",
                ));
            }
            CodeUse::Fresh(code, grant) => (*code, *grant),
        };
        if code_record.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if grant.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "code was issued to another client",
            ));
        }
        if code_record.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !secrets::pkce_matches(verifier, &code_record.code_challenge) {
            return Err(OAuthError::invalid_grant("PKCE verification failed"));
        }
        if let Some(bound) = code_record.dpop_jkt.as_deref() {
            let Some(proof) = proof else {
                return Err(OAuthError::invalid_dpop_proof(
                    "the authorization request named dpop_jkt: the code needs a DPoP proof by that key",
                ));
            };
            if proof.jkt != bound {
                return Err(OAuthError::invalid_grant(
                    "the DPoP proof's key is not the one the authorization request named (dpop_jkt)",
                ));
            }
        }
        // A public client's refresh tokens are bound to the key that redeemed the code
        // (RFC 9449 §5): the family is bound here, once.
        let mut grant = grant;
        if let Some(proof) = proof {
            self.store().bind_grant_to_dpop_key(&grant.id, &proof.jkt)?;
            grant.dpop_jkt.get_or_insert_with(|| proof.jkt.clone());
        }
        let scope = grant.scope.clone();
        self.issue(
            &grant,
            &scope,
            code_record.nonce.as_deref(),
            "authorization_code",
            proof,
        )
    }

    /// RFC 6749 §6 with rotation: every use spends the token and returns a new one. A token
    /// of a bound family needs a proof by its key; a proof binds an unbound family to its
    /// key (RFC 9449 §5).
    fn refresh_grant(
        &self,
        client_id: &str,
        params: &[(String, String)],
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        let p = |name| param(params, name);
        let token = Secret::from_wire(
            p("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?,
        );
        let hash = token.hash();
        let now = self.now();
        // Validate everything the request asks before spending the token: another client
        // must not be able to burn it, and a request for more than was granted must leave
        // it usable for the natural retry (spending it would make that retry look like
        // reuse and revoke the grant).
        let Some(grant_id) = self.store().refresh_token_grant(&hash)? else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        let granted = self.store().grant(&grant_id)?;
        if granted.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ));
        }
        // Whoever holds a bound refresh token without its key gets nothing, and the token
        // stays usable by its owner.
        if let Some(bound) = granted.dpop_jkt.as_deref() {
            let Some(proof) = proof else {
                return Err(OAuthError::invalid_dpop_proof(
                    "this refresh token is bound to a DPoP key: send a DPoP proof by that key",
                ));
            };
            if proof.jkt != bound {
                return Err(OAuthError::invalid_grant(
                    "refresh token is bound to another DPoP key",
                ));
            }
        }
        let scope = narrowed_scope(&granted.scope, p("scope"))?;
        // RFC 9396 §6: a refresh may narrow what was granted, never widen it. Grants with
        // details get no refresh token at all, so any details asked for here are new ones.
        if p("authorization_details").is_some() {
            return Err(OAuthError::new(
                OAuthErrorKind::InvalidAuthorizationDetails,
                "authorization_details were not granted to this refresh token",
            ));
        }
        let mut grant = match self.store().use_refresh_token(&hash, now)? {
            RefreshUse::Fresh(grant) => *grant,
            RefreshUse::Reused { grant_id } => {
                self.record(AuthzEvent::RefreshTokenReused { grant_id });
                return Err(OAuthError::invalid_grant(
                    "refresh token already used; the session has been revoked",
                ));
            }
            RefreshUse::Invalid => {
                return Err(OAuthError::invalid_grant(
                    "refresh token expired or revoked",
                ));
            }
        };
        // RFC 9449 §5: a public client's refresh token issued in answer to a proof is bound
        // to its key. A bearer family refreshed with a proof is bound here, from now on, so
        // its next token is worthless without that key (every client here is public).
        if let Some(proof) = proof
            && grant.dpop_jkt.is_none()
        {
            self.store().bind_grant_to_dpop_key(&grant.id, &proof.jkt)?;
            grant.dpop_jkt = Some(proof.jkt.clone());
        }
        self.issue(&grant, &scope, None, "refresh_token", proof)
    }

    fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, OAuthError> {
        super::keys::sign(self.store(), typ, claims).map_err(|err| {
            tracing::error!(error = %err, "token signing");
            OAuthError::server_error()
        })
    }

    /// Signs the tokens for `grant` with `scope` (the grant's, or narrower on refresh); with
    /// a proof, the access token is bound to its key.
    pub(super) fn issue(
        &self,
        grant: &GrantRecord,
        scope: &str,
        nonce: Option<&str>,
        grant_type: &str,
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        let config = self.config();
        let user = self
            .store()
            .user_by_id(grant.user_id)?
            .ok_or(StoreError::NotFound)?;
        let scopes: Vec<&str> = scope.split(' ').collect();
        let step_up = scopes
            .iter()
            .any(|s| config.step_up_scopes.iter().any(|u| u == s));
        let details: Option<serde_json::Value> = grant
            .authorization_details
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| {
                tracing::error!(error = %err, "stored authorization_details");
                OAuthError::server_error()
            })?;
        let step_up = step_up || details.is_some();
        let lifetime = if step_up {
            config.step_up_token_lifetime_secs
        } else {
            config.access_token_lifetime_secs
        };
        let lifetime = i64::try_from(lifetime).unwrap_or(300);
        let now = self.now();
        let jti = secrets::random_b64(16);
        let amr: Vec<&str> = grant.amr.split(' ').collect();
        let full = !config.minimal_access_tokens;
        let claims = AccessClaims {
            iss: self.issuer(),
            aud: &grant.audience,
            sub: &user.sub,
            client_id: &grant.client_id,
            scope,
            iat: now,
            exp: now + lifetime,
            jti: &jti,
            auth_time: full.then_some(grant.auth_time),
            acr: full.then_some(grant.acr.as_str()),
            amr: full.then(|| amr.clone()),
            preferred_username: full.then_some(user.username.as_str()),
            authorization_details: details.as_ref(),
            cnf: proof.map(|p| Confirmation { jkt: &p.jkt }),
        };
        let access_token = self.sign("at+jwt", &claims)?;
        self.store()
            .record_access_token(&jti, &grant.id, now + lifetime)?;
        let id_token = if scopes.contains(&"openid") {
            let profile = scopes.contains(&"profile");
            let id_claims = IdClaims {
                iss: self.issuer(),
                sub: &user.sub,
                aud: &grant.client_id,
                iat: now,
                exp: now + i64::try_from(config.id_token_lifetime_secs).unwrap_or(3600),
                auth_time: grant.auth_time,
                nonce,
                acr: &grant.acr,
                amr,
                preferred_username: profile.then_some(user.username.as_str()),
                name: profile.then_some(user.display_name.as_str()),
            };
            Some(self.sign("JWT", &id_claims)?)
        } else {
            None
        };
        // Refresh tokens only for offline_access, never for a step-up grant (the step-up
        // token must stay short-lived and single-purpose). On refresh, always rotate.
        let grant_allows_refresh = grant.scope.split(' ').any(|s| s == "offline_access")
            && !grant
                .scope
                .split(' ')
                .any(|s| config.step_up_scopes.iter().any(|u| u == s))
            && details.is_none();
        let refresh_token = if grant_allows_refresh {
            let rt = Secret::generate();
            let ttl = i64::try_from(config.refresh_token_lifetime_secs).unwrap_or(86400);
            self.store()
                .insert_refresh_token(&rt.hash(), &grant.id, now, now + ttl)?;
            Some(rt.expose().to_owned())
        } else {
            None
        };
        self.record(AuthzEvent::TokenIssued {
            sub: user.sub.clone(),
            scope: scope.to_owned(),
            jti,
            amr: grant.amr.split(' ').map(str::to_owned).collect(),
            grant: grant_type.to_owned(),
            dpop_jkt: proof.map(|p| p.jkt.clone()),
        });
        Ok(TokenResponse {
            access_token,
            token_type: if proof.is_some() {
                bank_protocol::dpop::TOKEN_TYPE
            } else {
                "Bearer"
            },
            expires_in: lifetime,
            scope: scope.to_owned(),
            refresh_token,
            id_token,
            authorization_details: details,
        })
    }
}

/// The scope a refresh asks for: the grant's by default, narrower if asked, never wider
/// (RFC 6749 §6).
fn narrowed_scope(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_owned());
    };
    let granted: Vec<&str> = granted.split(' ').collect();
    let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {extra} was not granted"
        )));
    }
    Ok(requested.join(" "))
}

/// Parses a form body after checking its content type (RFC 6749 §3.2 requires
/// `application/x-www-form-urlencoded`).
pub(crate) fn form_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if headers.contains_key(header::AUTHORIZATION) {
        // Only public clients exist here; a client presenting credentials is misconfigured.
        return Err(OAuthError::invalid_client(
            "client authentication is not supported; this is a public client",
        ));
    }
    parse_params(body).map_err(OAuthError::invalid_request)
}

pub async fn token(State(state): State<AuthzState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form_params(&headers, &body)?;
        // Before the grant type is even looked at: no grant can skip the proof.
        let proof = state.token_endpoint_proof(&headers).await?;
        state.token_request(&params, proof.as_ref()).await
    };
    let response = match result.await {
        Ok(tokens) => tokens.into_response(),
        Err(err) => err.into_response(),
    };
    state.with_dpop_nonce(response)
}
