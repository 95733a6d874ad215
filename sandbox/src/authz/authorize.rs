//! `GET /authorize` (RFC 6749 §4.1.1 with PKCE, RFC 7636) and what follows a successful
//! authentication: the rules that decide whether MFA is needed, and the redirect that
//! carries the authorization code (or the error) back to the client.
//!
//! Validation order matters: until the client and its redirect URI are known good, errors
//! are shown as a page and never redirected (RFC 6749 §4.1.2.1, otherwise the server is an
//! open redirector). After that, errors go back to the client with `error`, `state` and
//! `iss` (RFC 9207).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{error_page, redirect};
use super::secrets::{self, Secret};
use super::session::{Session, SessionKind};
use super::{ACR_MFA, ACR_PWD, AuthzEvent, AuthzState, ClientConfig};
use crate::error::{OAuthError, OAuthErrorKind};
use crate::store::StoreError;
use crate::store::authz::{CodeRecord, GrantRecord, TxnRecord, UserRecord};

/// Parses `application/x-www-form-urlencoded` pairs, refusing repeated parameters
/// (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once").
pub(crate) fn parse_params(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("parameter {k} is repeated"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// RFC 6749 §3.1.2 exact matching, relaxed only for loopback redirect URIs, whose port the
/// native app picks at run time (RFC 8252 §7.3). Plain string comparison: no URL
/// normalization, so `/callback/../x` or `%2F` tricks cannot match.
pub(crate) fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    for host in ["http://127.0.0.1", "http://[::1]"] {
        let Some(reg_rest) = registered.strip_prefix(host) else {
            continue;
        };
        if !reg_rest.starts_with('/') {
            continue;
        }
        let Some(after) = presented.strip_prefix(host) else {
            return false;
        };
        let Some(after) = after.strip_prefix(':') else {
            return false;
        };
        let Some(slash) = after.find('/') else {
            return false;
        };
        let (port, rest) = after.split_at(slash);
        let port_ok = !port.is_empty()
            && port.len() <= 5
            && !port.starts_with('0')
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok();
        return port_ok && rest == reg_rest;
    }
    false
}

/// Where errors go once the redirect URI is trusted.
pub(crate) struct ErrorTarget<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
}

/// How an authorization request's parameters arrived.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// In the `/authorize` URL.
    Url,
    /// Pushed first (RFC 9126), named here by its `request_uri`.
    Push,
}

/// What is not registered about a request: it gets a page (or, at the push endpoint, JSON),
/// never a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unregistered {
    Client,
    RedirectUri,
}

impl Unregistered {
    pub(crate) fn page(self) -> Response {
        match self {
            Unregistered::Client => error_page(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application that sent you here is not registered with this bank.",
            ),
            Unregistered::RedirectUri => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect address",
                "The application asked to return to an address it has not registered.",
            ),
        }
    }
}

impl AuthzState {
    /// `redirect_uri?error=…&error_description=…&state=…&iss=…`.
    pub(crate) fn error_redirect(&self, to: &ErrorTarget<'_>, err: &OAuthError) -> Response {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("error", err.kind.code()),
            ("error_description", &err.description),
        ];
        if let Some(state) = to.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        redirect(&with_query(to.redirect_uri, &pairs))
    }

    /// Validates an authorization request and decides: log in, go straight on, or fail.
    /// A `request_uri` names a pushed request (RFC 9126 §4), whose parameters replace the
    /// URL's (`par`).
    fn start_authorization(&self, raw: &str, headers: &HeaderMap) -> Response {
        let params = match parse_params(raw.as_bytes()) {
            Ok(p) => p,
            Err(msg) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &msg),
        };
        if self.config().pushed_authorization_requests
            && let Some(request_uri) = param(&params, "request_uri")
        {
            return self.start_pushed_authorization(&params, request_uri, headers);
        }
        self.authorize_params(&params, headers, Via::Url)
    }

    /// The client and the redirect URI it asks for, if both are registered: until then
    /// nothing may be redirected anywhere.
    pub(crate) fn registered_client_and_redirect<'p>(
        &self,
        params: &'p [(String, String)],
    ) -> Result<(&ClientConfig, &'p str), Unregistered> {
        let client = param(params, "client_id")
            .and_then(|id| self.config().client(id))
            .ok_or(Unregistered::Client)?;
        let redirect_uri = param(params, "redirect_uri")
            .filter(|uri| {
                client
                    .redirect_uris
                    .iter()
                    .any(|r| redirect_uri_matches(r, uri))
            })
            .ok_or(Unregistered::RedirectUri)?;
        Ok((client, redirect_uri))
    }

    /// An authorization request's parameters, from the URL or from a push: validated, then
    /// on to the login or straight back to the client.
    pub(crate) fn authorize_params(
        &self,
        params: &[(String, String)],
        headers: &HeaderMap,
        via: Via,
    ) -> Response {
        let (client, redirect_uri) = match self.registered_client_and_redirect(params) {
            Ok(found) => found,
            Err(unregistered) => return unregistered.page(),
        };
        let target = ErrorTarget {
            redirect_uri,
            state: param(params, "state"),
        };
        if via == Via::Url && client.require_pushed_authorization_requests {
            // RFC 9126 §4: a client held to PAR is refused anything else, with invalid_request.
            return self.error_redirect(
                &target,
                &OAuthError::invalid_request(
                    "this client must push its authorization requests to the pushed_authorization_request_endpoint (RFC 9126) and send only client_id and request_uri here",
                ),
            );
        }
        let txn = match self.validate_request(params, &client.client_id, redirect_uri) {
            Ok(txn) => txn,
            Err(err) => return self.error_redirect(&target, &err),
        };
        match self.route_new_transaction(txn, headers) {
            Ok(response) => response,
            Err(err) => self.error_redirect(&target, &err),
        }
    }

    /// Stores a validated transaction and sends the browser on: to the login page, or
    /// straight on when its session may be reused.
    pub(crate) fn route_new_transaction(
        &self,
        txn: TxnRecord,
        headers: &HeaderMap,
    ) -> Result<Response, OAuthError> {
        self.maybe_purge();
        self.store().insert_txn(&txn)?;
        self.record(AuthzEvent::AuthorizationRequested {
            client_id: txn.client_id.clone(),
            scope: txn.scope.clone(),
            acr_values: txn.acr_values.clone(),
            max_age: txn.max_age,
            prompt: txn.prompt.clone(),
        });
        let prompts: Vec<&str> = txn.prompt.as_deref().unwrap_or("").split(' ').collect();
        let session = self.current_session(SessionKind::Browser, headers)?;
        let signed_in = session
            .as_ref()
            .and_then(|s| Some((s, s.record.user_id?, s.record.auth_time?)));
        let now = self.now();
        let reusable = signed_in.filter(|(_, _, auth_time)| {
            // OIDC Core §3.1.2.1: max_age=0 means "authenticate now", like prompt=login.
            !prompts.contains(&"login")
                && txn
                    .max_age
                    .is_none_or(|max| max > 0 && now - auth_time <= max)
        });
        // A session of someone other than the hinted user is not reused: that user must
        // sign in.
        let reusable = match (reusable, txn.login_hint.as_deref()) {
            (Some((_, user_id, _)), Some(hint))
                if self
                    .store()
                    .user_by_id(user_id)?
                    .is_none_or(|u| u.username != hint) =>
            {
                None
            }
            (reusable, _) => reusable,
        };
        match reusable {
            Some((session, user_id, auth_time)) => {
                if prompts.contains(&"none") && self.mfa_required(&txn) {
                    self.store().complete_txn(&txn.id, now)?;
                    return Err(OAuthError::new(
                        OAuthErrorKind::InteractionRequired,
                        "multi-factor authentication requires interaction",
                    ));
                }
                self.store()
                    .bind_txn_user(&txn.id, user_id, auth_time, &session.id_hash)?;
                let user = self
                    .store()
                    .user_by_id(user_id)?
                    .ok_or(StoreError::NotFound)?;
                let txn = self.store().txn(&txn.id)?.ok_or(StoreError::NotFound)?;
                self.after_authentication(&txn, &user)
            }
            None if prompts.contains(&"none") => {
                self.store().complete_txn(&txn.id, now)?;
                Err(OAuthError::new(
                    OAuthErrorKind::LoginRequired,
                    "the user must sign in",
                ))
            }
            None => Ok(redirect(&format!("/login?txn={}", txn.id))),
        }
    }

    /// The rules (issue 2, item 4): the client's MFA scopes, or `acr_values` naming the
    /// multi-factor policy. MFA is never remembered: each such request asks again.
    pub(crate) fn mfa_required(&self, txn: &TxnRecord) -> bool {
        let by_scope = self.config().client(&txn.client_id).is_some_and(|client| {
            txn.scope
                .split(' ')
                .any(|s| client.mfa_scopes.iter().any(|m| m == s))
        });
        let by_acr = txn
            .acr_values
            .as_deref()
            .is_some_and(|acr| acr.split(' ').any(|v| v == ACR_MFA));
        // RFC 9396 details of type payment_initiation move money as `transfer:funds` does.
        let by_details = txn.authorization_details.is_some();
        by_scope || by_acr || by_details
    }

    /// The user is authenticated for `txn` (the transaction already records the session):
    /// either start push MFA or hand out the code.
    pub(crate) fn after_authentication(
        &self,
        txn: &TxnRecord,
        user: &UserRecord,
    ) -> Result<Response, OAuthError> {
        if self.mfa_required(txn) {
            // A new push only within the user's limit (push fatigue); a reload of a
            // sign-in that already has its push is not another one.
            if self.store().mfa_by_txn(&txn.id)?.is_none()
                && let Some(wait) = self.push_wait(user.id)?
            {
                self.store().complete_txn(&txn.id, self.now())?;
                self.record(AuthzEvent::MfaPushLimited {
                    username: user.username.clone(),
                });
                let minutes = (wait + 59) / 60;
                let unit = if minutes == 1 { "minute" } else { "minutes" };
                return Err(OAuthError::new(
                    OAuthErrorKind::TemporarilyUnavailable,
                    format!(
                        "too many approval requests for this account; try again in {minutes} {unit}"
                    ),
                ));
            }
            if !self.start_mfa(txn, user)? {
                // Every number is shown by a pending push (they can outlive the window):
                // refused, never waited for.
                self.store().complete_txn(&txn.id, self.now())?;
                self.record(AuthzEvent::MfaPushLimited {
                    username: user.username.clone(),
                });
                return Err(OAuthError::new(
                    OAuthErrorKind::TemporarilyUnavailable,
                    "too many approval requests are pending for this account; approve or deny them first",
                ));
            }
            return Ok(redirect(&format!("/mfa/wait?txn={}", txn.id)));
        }
        self.finish_with_code(txn, user, &["pwd"], ACR_PWD)
    }

    /// Issues the authorization code and redirects to the client (RFC 6749 §4.1.2), with
    /// `iss` (RFC 9207) so the client can detect mix-up attacks.
    pub(crate) fn finish_with_code(
        &self,
        txn: &TxnRecord,
        user: &UserRecord,
        amr: &[&str],
        acr: &str,
    ) -> Result<Response, OAuthError> {
        // A device authorization's transaction (the only kind without a PKCE challenge)
        // never yields a code: it ends with the person's decision on the device page.
        if txn.code_challenge.is_empty() {
            return self.device_authenticated(txn, user, amr, acr);
        }
        let now = self.now();
        if !self.store().complete_txn(&txn.id, now)? {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Request already finished",
                "This sign-in request has already been completed. Start again from the application.",
            ));
        }
        let code = Secret::generate();
        // Approving the push is an authentication of the user, so it is the `auth_time`
        // (OIDC Core §2) of a multi-factor grant. Otherwise a step-up on top of an hour-old
        // browser session would carry the hour-old password time and fail the API's
        // RFC 9470 max_age check right after the user approved it.
        let auth_time = if amr.contains(&"mfa") {
            now
        } else {
            txn.auth_time.unwrap_or(now)
        };
        // The grant keeps what its tokens carry: a batch without its list.
        let details = super::binding::granted_details(txn.authorization_details.as_deref())
            .map_err(|err| {
                tracing::error!(error = %err, "stored authorization_details");
                OAuthError::server_error()
            })?;
        let grant = GrantRecord {
            id: secrets::random_id("grt_"),
            user_id: user.id,
            client_id: txn.client_id.clone(),
            scope: txn.scope.clone(),
            audience: txn.audience.clone(),
            auth_time,
            amr: amr.join(" "),
            acr: acr.to_owned(),
            authorization_details: details,
            // Bound when the code is redeemed with a proof (the token endpoint's business).
            dpop_jkt: None,
            revoked_at: None,
        };
        let record = CodeRecord {
            redirect_uri: txn.redirect_uri.clone(),
            code_challenge: txn.code_challenge.clone(),
            nonce: txn.nonce.clone(),
            dpop_jkt: txn.dpop_jkt.clone(),
            expires_at: now + i64::try_from(self.config().code_lifetime_secs).unwrap_or(60),
        };
        self.store()
            .create_grant_with_code(&grant, &code.hash(), &record, now)?;
        let mut pairs: Vec<(&str, &str)> = vec![("code", code.expose())];
        if let Some(state) = txn.state.as_deref() {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        Ok(redirect(&with_query(&txn.redirect_uri, &pairs)))
    }

    /// A transaction that a browser may continue: known, unfinished, unexpired.
    pub(crate) fn live_txn(&self, id: &str) -> Result<Option<TxnRecord>, StoreError> {
        let now = self.now();
        Ok(self
            .store()
            .txn(id)?
            .filter(|t| t.completed_at.is_none() && t.expires_at > now))
    }

    /// Whether `session` is the one that authenticated `txn` (constant time).
    pub(crate) fn txn_belongs_to(&self, txn: &TxnRecord, session: Option<&Session>) -> bool {
        match (txn.session_hash.as_deref(), session) {
            (Some(bound), Some(session)) => secrets::ct_eq(bound, &session.id_hash),
            _ => false,
        }
    }
}

/// Appends query parameters to a redirect URI that may already have a query.
pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", serializer.finish())
}

pub async fn authorize(
    State(state): State<AuthzState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    state.start_authorization(query.as_deref().unwrap_or(""), &headers)
}

#[cfg(test)]
mod tests {
    use super::redirect_uri_matches as m;

    #[test]
    fn loopback_redirects_match_any_port_and_nothing_else() {
        let reg = "http://127.0.0.1/callback";
        assert!(m(reg, "http://127.0.0.1/callback"));
        assert!(m(reg, "http://127.0.0.1:53124/callback"));
        assert!(m("http://[::1]/callback", "http://[::1]:8080/callback"));
        assert!(!m(reg, "http://127.0.0.1:53124/other"));
        assert!(!m(reg, "http://127.0.0.1:53124/callback/"));
        assert!(!m(reg, "http://127.0.0.1:53124/callback?x=1"));
        assert!(!m(reg, "http://127.0.0.1:53124/callback#f"));
        assert!(!m(reg, "http://127.0.0.2:53124/callback"));
        assert!(!m(reg, "http://localhost:53124/callback"));
        assert!(!m(reg, "http://127.0.0.1:99999/callback"));
        assert!(!m(reg, "http://127.0.0.1:053/callback"));
        assert!(!m(reg, "http://127.0.0.1:/callback"));
        assert!(!m(reg, "http://127.0.0.1@evil.example/callback"));
        assert!(!m(reg, "https://127.0.0.1:443/callback"));
        let web = "https://app.example/cb";
        assert!(m(web, "https://app.example/cb"));
        assert!(!m(web, "https://app.example:444/cb"));
        assert!(!m("http://app.example/cb", "http://app.example:8080/cb"));
    }
}
