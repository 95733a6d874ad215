//! The rules of an authorization request, in one place: whether it arrives in the URL
//! (`/authorize`), is pushed (RFC 9126) or comes from a device (RFC 8628, which asks for
//! access without a redirect or PKCE: `validate_access` alone).

use super::AuthzState;
use super::authorize::param;
use super::config::ApiParameter;
use super::secrets;
use crate::error::{OAuthError, OAuthErrorKind};
use crate::store::authz::TxnRecord;

/// The validated access an authorization request asks for.
pub(crate) struct RequestedAccess {
    pub scope: String,
    pub audience: String,
    pub acr_values: Option<String>,
    pub max_age: Option<i64>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    /// RFC 9396 details as validated JSON (a batch with its list).
    pub authorization_details: Option<String>,
}

impl AuthzState {
    /// RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2, OIDC Core §3.1.2.1, RFC 9449 §10: the one
    /// set of rules for an authorization request, whether it arrives in the URL or is pushed.
    pub(crate) fn validate_request(
        &self,
        params: &[(String, String)],
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<TxnRecord, OAuthError> {
        let p = |name| param(params, name);
        match p("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    OAuthErrorKind::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
            None => return Err(OAuthError::invalid_request("response_type is required")),
        }
        for unsupported in ["request", "request_uri"] {
            if p(unsupported).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "{unsupported} is not supported"
                )));
            }
        }
        // PKCE is mandatory and only S256 is accepted (RFC 9700 §2.1.1): a missing
        // method means `plain` (RFC 7636 §4.3), which is refused too.
        let challenge = p("code_challenge")
            .ok_or_else(|| OAuthError::invalid_request("code_challenge is required (PKCE)"))?;
        if p("code_challenge_method") != Some("S256") {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ));
        }
        if !secrets::is_valid_s256_challenge(challenge) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be a base64url SHA-256 digest",
            ));
        }
        let access = self.validate_access(params)?;
        // OIDC Core makes `nonce` optional for the code flow; some providers insist on it.
        if self.config().nonce_required
            && access.scope.split(' ').any(|s| s == "openid")
            && p("nonce").is_none()
        {
            return Err(OAuthError::invalid_request("nonce required"));
        }
        // RFC 9449 §10: the code will be redeemable only with a proof by this key. A
        // provider without DPoP ignores the parameter, as unknown ones (RFC 6749 §3.1).
        let dpop_jkt = p("dpop_jkt")
            .filter(|_| self.dpop_enabled())
            .map(super::dpop::parse_dpop_jkt)
            .transpose()?;
        let now = self.now();
        Ok(TxnRecord {
            id: secrets::random_id("txn_"),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scope: access.scope,
            audience: access.audience,
            state: p("state").map(str::to_owned),
            nonce: p("nonce").map(str::to_owned),
            code_challenge: challenge.to_owned(),
            acr_values: access.acr_values,
            max_age: access.max_age,
            prompt: access.prompt,
            login_hint: access.login_hint,
            authorization_details: access.authorization_details,
            dpop_jkt,
            session_hash: None,
            user_id: None,
            auth_time: None,
            created_at: now,
            expires_at: now + i64::try_from(self.config().transaction_lifetime_secs).unwrap_or(900),
            completed_at: None,
        })
    }

    /// What a request asks for, checked the same way wherever it arrives (`/authorize`,
    /// the device authorization endpoint): scopes, the API (RFC 8707 / Auth0's `audience`),
    /// `prompt`, `max_age`, `login_hint`, `acr_values` and RFC 9396 details.
    pub(crate) fn validate_access(
        &self,
        params: &[(String, String)],
    ) -> Result<RequestedAccess, OAuthError> {
        let p = |name| param(params, name);
        let scope = p("scope").ok_or_else(|| OAuthError::invalid_scope("scope is required"))?;
        let mut scopes: Vec<&str> = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !self.config().scopes.iter().any(|known| known.name == s) {
                return Err(OAuthError::invalid_scope(format!("unknown scope {s}")));
            }
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        if scopes.is_empty() {
            return Err(OAuthError::invalid_scope("scope is required"));
        }
        // The API: Auth0's `audience` or RFC 8707's `resource` (as `api_parameter` says
        // this provider understands them), which must agree if both are read. Without
        // either, the tenant's default API (as Auth0's "default audience" setting does) —
        // or, for a provider that reads only `audience`, a token for its own user info
        // endpoint, as Auth0 without a default audience issues.
        let api = &self.config().api_identifier;
        let (audience, resource) = match self.config().api_parameter {
            ApiParameter::Both => (p("audience"), p("resource")),
            ApiParameter::Audience => (p("audience"), None),
            ApiParameter::Resource => (None, p("resource")),
        };
        let audience = match (audience, resource) {
            (Some(a), Some(r)) if a != r => {
                return Err(OAuthError::new(
                    OAuthErrorKind::InvalidTarget,
                    "audience and resource name different APIs",
                ));
            }
            (Some(named), _) | (None, Some(named)) => {
                if named != api {
                    return Err(OAuthError::new(
                        OAuthErrorKind::InvalidTarget,
                        format!("unknown API {named}"),
                    ));
                }
                named.to_owned()
            }
            (None, None) if self.config().api_parameter == ApiParameter::Audience => {
                format!("{}/userinfo", self.base_url())
            }
            (None, None) => api.clone(),
        };
        let prompt = p("prompt");
        if let Some(prompt) = prompt {
            let values: Vec<&str> = prompt.split(' ').collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(OAuthError::invalid_request(
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        let max_age = match p("max_age") {
            None => None,
            Some(v) => Some(v.parse::<u32>().map(i64::from).map_err(|_| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })?),
        };
        // OIDC Core §3.1.2.1: who is expected to sign in. Held to exactly that username,
        // which no name longer than a username can be.
        let login_hint =
            p("login_hint").filter(|h| !h.is_empty() && self.config().enforce_login_hint);
        if login_hint.is_some_and(|h| h.len() > 256) {
            return Err(OAuthError::invalid_request("login_hint is too long"));
        }
        let rar = self.config().authorization_details;
        let authorization_details = p("authorization_details")
            .map(|json| {
                if !rar {
                    return Err(OAuthError::new(
                        OAuthErrorKind::InvalidAuthorizationDetails,
                        "authorization_details are not supported here",
                    ));
                }
                // One or more payment_initiations, or one payment_batch with its list,
                // every payment by the transfer rules (`[authz] max_inline_payments`,
                // `max_batch_payments`).
                bank_protocol::parse_request_details(json, &self.config().detail_limits())
                    .and_then(|approval| {
                        // RFC 9396 §2.2: a detail names the resource servers it is for; this
                        // server issues tokens for one API, and a payment meant for another
                        // would be approved here and executed nowhere.
                        let api = &self.config().api_identifier;
                        if let Some(other) = approval.locations().into_iter().find(|l| l != api) {
                            return Err(bank_protocol::InvalidDetails::UnknownLocation(
                                other,
                                api.clone(),
                            ));
                        }
                        // Stored as validated, with a batch's list: the pages show it.
                        Ok(approval.to_json())
                    })
                    .map_err(|err| {
                        OAuthError::new(
                            OAuthErrorKind::InvalidAuthorizationDetails,
                            err.to_string(),
                        )
                    })
            })
            .transpose()?;
        Ok(RequestedAccess {
            scope: scopes.join(" "),
            audience,
            acr_values: p("acr_values").map(str::to_owned),
            max_age,
            prompt: prompt.map(str::to_owned),
            login_hint: login_hint.map(str::to_owned),
            authorization_details,
        })
    }
}
