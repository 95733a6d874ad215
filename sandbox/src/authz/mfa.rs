//! Push MFA, like Auth0 Guardian: when a rule demands MFA the browser waits on
//! `/mfa/wait` while the user approves or denies the request on their "phone" (the
//! `/authenticator` page, the `bank-sandbox mfa` commands over the admin API, or the
//! library calls below). `/mfa/status` is polled; `/mfa/continue` ends the transaction with
//! a code (approved) or `access_denied` (denied or expired).
//!
//! A decision is recorded exactly once (the store only moves `pending` → decided while
//! unexpired), and every change bumps a watch channel so `wait_for_pending_mfa` needs no
//! polling.
//!
//! The authenticator page stands for the user's phone, a separate device: it has its own
//! session cookie and CSRF tokens (see `session`), so it always asks for its own sign-in —
//! the browser's fresh login never approves its own push — and it never touches the
//! browser's login session. It is still unlocked by the user's password, so it demonstrates
//! the flow rather than providing a real possession factor.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::authorize::ErrorTarget;
use super::login::Credentials;
use super::pages::{error_page, esc, page, redirect};
use super::session::{self, SessionKind};
use super::{ACR_MFA, AuthzEvent, AuthzState};
use crate::error::OAuthError;
use crate::store::StoreError;
use crate::store::authz::{MfaRecord, MfaStatus, TxnRecord, UserRecord};

/// A pending MFA request, as the library and admin API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaRequestInfo {
    pub id: String,
    pub username: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
}

/// What the waiting page's poller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaStatusView {
    Pending,
    Approved,
    Denied,
    Expired,
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("no such MFA request")]
    NotFound,
    #[error("the MFA request is no longer pending (already decided or expired)")]
    NotPending,
    #[error("no pending MFA request for {0}")]
    NonePending(String),
    #[error("MFA store failure")]
    Store(#[from] StoreError),
}

fn view(record: &MfaRecord, now: i64) -> MfaStatusView {
    match record.status {
        MfaStatus::Approved => MfaStatusView::Approved,
        MfaStatus::Denied => MfaStatusView::Denied,
        MfaStatus::Pending if record.expires_at <= now => MfaStatusView::Expired,
        MfaStatus::Pending => MfaStatusView::Pending,
    }
}

impl AuthzState {
    fn info(&self, r: &MfaRecord) -> MfaRequestInfo {
        MfaRequestInfo {
            id: r.id.clone(),
            username: r.username.clone(),
            client_id: r.client_id.clone(),
            client_name: self
                .config()
                .client(&r.client_id)
                .map_or_else(|| r.client_id.clone(), |c| c.name.clone()),
            scopes: r.scope.split(' ').map(str::to_owned).collect(),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }

    /// Sends the push: one MFA request per transaction.
    pub(crate) fn start_mfa(&self, txn: &TxnRecord, user: &UserRecord) -> Result<(), StoreError> {
        if self.store().mfa_by_txn(&txn.id)?.is_some() {
            return Ok(());
        }
        let id = super::secrets::random_id("mfa_");
        let now = self.now();
        let expires = now + i64::try_from(self.config().mfa_timeout_secs).unwrap_or(120);
        self.store()
            .insert_mfa(&id, &txn.id, user.id, now, expires)?;
        self.record(AuthzEvent::MfaRequired {
            id: id.clone(),
            username: user.username.clone(),
            scope: txn.scope.clone(),
        });
        if self.config().mfa_auto_approve {
            match self.decide(&id, MfaStatus::Approved) {
                Ok(()) => {}
                Err(MfaError::Store(e)) => return Err(e),
                // Just created and pending: it cannot be missing or decided.
                Err(other) => tracing::error!(error = %other, "auto-approve"),
            }
        }
        self.inner.mfa_changes.send_modify(|n| *n += 1);
        Ok(())
    }

    fn decide(&self, id: &str, status: MfaStatus) -> Result<(), MfaError> {
        if self.store().decide_mfa(id, status, self.now())? {
            self.record(match status {
                MfaStatus::Approved => AuthzEvent::MfaApproved { id: id.to_owned() },
                _ => AuthzEvent::MfaDenied { id: id.to_owned() },
            });
            self.inner.mfa_changes.send_modify(|n| *n += 1);
            return Ok(());
        }
        match self.store().mfa_by_id(id)? {
            None => Err(MfaError::NotFound),
            Some(_) => Err(MfaError::NotPending),
        }
    }

    /// Pending, unexpired MFA requests, oldest first (optionally for one user).
    pub fn pending_mfa(&self, username: Option<&str>) -> Vec<MfaRequestInfo> {
        match self.store().pending_mfa(username, self.now()) {
            Ok(list) => list.iter().map(|r| self.info(r)).collect(),
            Err(err) => {
                tracing::error!(error = %err, "pending_mfa");
                Vec::new()
            }
        }
    }

    /// Waits until `username` has a pending MFA request (or `timeout` passes).
    pub async fn wait_for_pending_mfa(
        &self,
        username: &str,
        timeout: Duration,
    ) -> Option<MfaRequestInfo> {
        let mut changes = self.inner.mfa_changes.subscribe();
        let wait = async {
            loop {
                // Mark the current version seen *before* looking, so a request created
                // between the look and the wait still wakes us.
                changes.borrow_and_update();
                if let Some(first) = self.pending_mfa(Some(username)).into_iter().next() {
                    return Some(first);
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    pub fn approve_mfa(&self, id: &str) -> Result<(), MfaError> {
        self.decide(id, MfaStatus::Approved)
    }

    pub fn deny_mfa(&self, id: &str) -> Result<(), MfaError> {
        self.decide(id, MfaStatus::Denied)
    }

    /// Approves `username`'s oldest pending request.
    pub fn approve_pending(&self, username: &str) -> Result<MfaRequestInfo, MfaError> {
        let first = self
            .pending_mfa(Some(username))
            .into_iter()
            .next()
            .ok_or_else(|| MfaError::NonePending(username.to_owned()))?;
        self.approve_mfa(&first.id)?;
        Ok(first)
    }

    /// Denies `username`'s oldest pending request.
    pub fn deny_pending(&self, username: &str) -> Result<MfaRequestInfo, MfaError> {
        let first = self
            .pending_mfa(Some(username))
            .into_iter()
            .next()
            .ok_or_else(|| MfaError::NonePending(username.to_owned()))?;
        self.deny_mfa(&first.id)?;
        Ok(first)
    }

    /// The status of a transaction's MFA request.
    pub fn mfa_status(&self, txn_id: &str) -> Result<Option<MfaStatusView>, StoreError> {
        let now = self.now();
        Ok(self.store().mfa_by_txn(txn_id)?.map(|r| view(&r, now)))
    }

    /// Ends a transaction waiting on MFA: code on approval, `access_denied` otherwise.
    fn continue_after_mfa(
        &self,
        txn: &TxnRecord,
        record: &MfaRecord,
    ) -> Result<Response, OAuthError> {
        let target = ErrorTarget {
            redirect_uri: &txn.redirect_uri,
            state: txn.state.as_deref(),
        };
        match view(record, self.now()) {
            MfaStatusView::Pending => Ok(redirect(&format!("/mfa/wait?txn={}", txn.id))),
            MfaStatusView::Approved => {
                let user = self
                    .store()
                    .user_by_id(record.user_id)?
                    .ok_or(StoreError::NotFound)?;
                self.finish_with_code(txn, &user, &["pwd", "mfa"], ACR_MFA)
            }
            MfaStatusView::Denied => {
                self.store().complete_txn(&txn.id, self.now())?;
                Ok(self.error_redirect(
                    &target,
                    &OAuthError::access_denied("the request was denied on the authenticator"),
                ))
            }
            MfaStatusView::Expired => {
                if self.store().complete_txn(&txn.id, self.now())? {
                    self.record(AuthzEvent::MfaExpired {
                        id: record.id.clone(),
                    });
                }
                Ok(self.error_redirect(
                    &target,
                    &OAuthError::access_denied(
                        "the multi-factor request expired before it was approved",
                    ),
                ))
            }
        }
    }

    fn describe_scopes(&self, scope: &str) -> Vec<String> {
        scope
            .split(' ')
            .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
            .map(|s| self.config().scope_description(s).to_owned())
            .collect()
    }
}

#[derive(Deserialize)]
pub struct TxnQuery {
    txn: String,
}

fn internal(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "mfa failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

const POLL_JS: &str = r#"
(function(){
  var main=document.querySelector('main[data-mfa-status-url]');
  var statusUrl=main.getAttribute('data-mfa-status-url');
  var continueUrl=main.getAttribute('data-mfa-continue-url');
  var text=document.getElementById('mfa-status-text');
  var messages={approved:'Approved. Returning you to the application…',denied:'The request was denied.',expired:'This request expired before it was approved.'};
  function poll(){
    fetch(statusUrl,{credentials:'same-origin',cache:'no-store'})
      .then(function(r){return r.json();})
      .then(function(body){
        if(body.status==='pending'){setTimeout(poll,1000);return;}
        text.textContent=messages[body.status]||body.status;
        document.querySelector('.spinner').hidden=true;
        setTimeout(function(){window.location.assign(continueUrl);},body.status==='approved'?0:1500);
      })
      .catch(function(){setTimeout(poll,2000);});
  }
  poll();
})();
"#;

pub async fn wait_page(
    State(state): State<AuthzState>,
    Query(q): Query<TxnQuery>,
    headers: HeaderMap,
) -> Response {
    let (txn, record) = match (state.store().txn(&q.txn), state.store().mfa_by_txn(&q.txn)) {
        (Ok(Some(txn)), Ok(Some(record))) => (txn, record),
        (Ok(_), Ok(_)) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Unknown request",
                "There is no multi-factor request here. Start again from the application.",
            );
        }
        (Err(e), _) | (_, Err(e)) => return internal(&e),
    };
    // The page names the user and what is being approved: only for the signed-in browser.
    match state.current_session(SessionKind::Browser, &headers) {
        Ok(session) if state.txn_belongs_to(&txn, session.as_ref()) => {}
        Ok(_) => {
            return error_page(
                StatusCode::FORBIDDEN,
                "Wrong browser",
                "Continue in the browser where you signed in.",
            );
        }
        Err(e) => return internal(&e),
    }
    let status = view(&record, state.now());
    let client = state
        .config()
        .client(&txn.client_id)
        .map_or_else(|| txn.client_id.clone(), |c| c.name.clone());
    let wants = state.describe_scopes(&txn.scope);
    let items: String = wants
        .iter()
        .map(|w| format!("<li>{}</li>", esc(w)))
        .collect();
    let (heading, line) = match status {
        MfaStatusView::Pending => (
            "Check your authenticator",
            "We sent a request to your authenticator. Approve it to continue.",
        ),
        MfaStatusView::Approved => ("Approved", "Approved. Returning you to the application…"),
        MfaStatusView::Denied => ("Request denied", "The request was denied."),
        MfaStatusView::Expired => (
            "Request expired",
            "This request expired before it was approved.",
        ),
    };
    let id = esc(&txn.id);
    let body = format!(
        r#"<main data-mfa-status-url="/mfa/status?txn={id}" data-mfa-continue-url="/mfa/continue?txn={id}"><section class="card" aria-labelledby="h">
<h1 id="h">{heading}</h1>
<p>Signed in as <strong>{user}</strong>.</p>
<div class="what"><strong>{client} wants to:</strong><ul>{items}</ul></div>
<div class="status" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"{hidden}></span><span id="mfa-status-text">{line}</span></div>
<p class="muted">Open <a href="/authenticator" target="_blank" rel="noopener">your authenticator</a> (or run <code>bank-sandbox mfa approve</code>). The request expires in {mins} minutes.</p>
<noscript><a class="button" href="/mfa/continue?txn={id}">Continue after approving</a></noscript>
</section></main>"#,
        heading = esc(heading),
        user = esc(&record.username),
        client = esc(&client),
        hidden = if status == MfaStatusView::Pending {
            ""
        } else {
            " hidden"
        },
        line = esc(line),
        mins = state.config().mfa_timeout_secs.div_ceil(60),
    );
    let script =
        (status == MfaStatusView::Pending || status == MfaStatusView::Approved).then_some(POLL_JS);
    page(StatusCode::OK, heading, &body, script)
}

pub async fn status(State(state): State<AuthzState>, Query(q): Query<TxnQuery>) -> Response {
    let mut response = match state.mfa_status(&q.txn) {
        Ok(Some(status)) => Json(serde_json::json!({ "status": status })).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "not_found" })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "mfa status");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn continue_flow(
    State(state): State<AuthzState>,
    Query(q): Query<TxnQuery>,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, OAuthError> {
        let Some(txn) = state.live_txn(&q.txn)? else {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "This request has finished",
                "The sign-in request is unknown, finished or expired. Start again from the application.",
            ));
        };
        // Only the browser that signed in may collect the code.
        let session = state.current_session(SessionKind::Browser, &headers)?;
        if !state.txn_belongs_to(&txn, session.as_ref()) {
            return Ok(error_page(
                StatusCode::FORBIDDEN,
                "Wrong browser",
                "Continue in the browser where you signed in.",
            ));
        }
        let Some(record) = state.store().mfa_by_txn(&txn.id)? else {
            return Ok(error_page(
                StatusCode::NOT_FOUND,
                "Unknown request",
                "There is no multi-factor request here.",
            ));
        };
        state.continue_after_mfa(&txn, &record)
    })();
    result.unwrap_or_else(|e| internal(&e))
}

// ---- the authenticator ("phone") -------------------------------------------------------

fn authenticator_signin(csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let error = error
        .map(|e| format!(r#"<div class="error" role="alert">{}</div>"#, esc(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<main><section class="card" aria-labelledby="h">
<h1 id="h">Authenticator</h1>
<p>Sign in to see and answer sign-in requests for your account.</p>
{error}
<form method="post" action="/authenticator/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</section></main>"#,
        csrf = esc(csrf),
    );
    page(status, "Authenticator", &body, None)
}

const RELOAD_JS: &str = "setTimeout(function(){window.location.reload();},3000);";

fn authenticator_list(state: &AuthzState, user: &UserRecord, csrf: &str) -> Response {
    let pending = state.pending_mfa(Some(&user.username));
    let csrf = esc(csrf);
    let requests: String = if pending.is_empty() {
        r#"<p class="notice" role="status">No pending requests. This page refreshes by itself.</p>"#
            .into()
    } else {
        pending
            .iter()
            .map(|r| {
                let wants: String = state
                    .describe_scopes(&r.scopes.join(" "))
                    .iter()
                    .map(|w| format!("<li>{}</li>", esc(w)))
                    .collect();
                let id = esc(&r.id);
                format!(
                    r#"<article class="request" aria-label="Request from {client}">
<strong>{client} wants to:</strong><ul>{wants}</ul>
<p class="muted">Request {id}</p>
<div class="actions">
<form method="post" action="/authenticator/decide"><input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="id" value="{id}"><input type="hidden" name="decision" value="approve"><button type="submit">Approve</button></form>
<form method="post" action="/authenticator/decide"><input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="id" value="{id}"><input type="hidden" name="decision" value="deny"><button type="submit" class="deny">Deny</button></form>
</div></article>"#,
                    client = esc(&r.client_name),
                )
            })
            .collect()
    };
    let body = format!(
        r#"<main><section class="card wide" aria-labelledby="h">
<h1 id="h">Authenticator</h1>
<p>Signed in as <strong>{user}</strong>. Approve only requests you started.</p>
{requests}
<form method="post" action="/authenticator/logout"><input type="hidden" name="csrf_token" value="{csrf}"><button type="submit" class="deny">Sign out</button></form>
</section></main>"#,
        user = esc(&user.username),
    );
    page(
        StatusCode::OK,
        "Authenticator",
        &body,
        pending.is_empty().then_some(RELOAD_JS),
    )
}

pub async fn authenticator_page(State(state): State<AuthzState>, headers: HeaderMap) -> Response {
    let result = (|| -> Result<Response, StoreError> {
        let (session, new_cookie) = state.session_for_form(SessionKind::Authenticator, &headers)?;
        let csrf = state.new_csrf(&session)?;
        let user = match session.user_id() {
            Some(id) => state.store().user_by_id(id)?,
            None => None,
        };
        let mut response = match user {
            Some(user) => authenticator_list(&state, &user, csrf.expose()),
            None => authenticator_signin(csrf.expose(), None, StatusCode::OK),
        };
        if let Some(id) = new_cookie {
            session::set_cookie(
                &mut response,
                SessionKind::Authenticator,
                &id,
                state.session_cookie_max_age(),
            );
        }
        Ok(response)
    })();
    result.unwrap_or_else(|e| internal(&e))
}

#[derive(Deserialize)]
pub struct AuthenticatorLogin {
    csrf_token: String,
    username: String,
    password: super::login::Password,
}

pub async fn authenticator_login(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AuthenticatorLogin>,
) -> Response {
    let result = async {
        let session = state.current_session(SessionKind::Authenticator, &headers)?;
        let Some(session) = session.filter(|s| state.csrf_ok(s, &form.csrf_token)) else {
            return Ok(redirect_see_other("/authenticator"));
        };
        match state
            .check_credentials(&form.username, form.password.expose())
            .await?
        {
            Credentials::Valid(user) => {
                let (id, _, _) =
                    state.sign_in_session(SessionKind::Authenticator, Some(&session), user.id)?;
                let mut response = redirect_see_other("/authenticator");
                session::set_cookie(
                    &mut response,
                    SessionKind::Authenticator,
                    &id,
                    state.session_cookie_max_age(),
                );
                Ok(response)
            }
            Credentials::Invalid => {
                let csrf = state.new_csrf(&session)?;
                Ok(authenticator_signin(
                    csrf.expose(),
                    Some("That username and password did not match."),
                    StatusCode::UNAUTHORIZED,
                ))
            }
            Credentials::Throttled { retry_after } => {
                let csrf = state.new_csrf(&session)?;
                Ok(authenticator_signin(
                    csrf.expose(),
                    Some(&format!(
                        "Too many failed attempts. Try again in {retry_after} seconds."
                    )),
                    StatusCode::TOO_MANY_REQUESTS,
                ))
            }
        }
    };
    result.await.unwrap_or_else(|e: StoreError| internal(&e))
}

#[derive(Deserialize)]
pub struct Decision {
    csrf_token: String,
    id: String,
    decision: String,
}

pub async fn authenticator_decide(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Decision>,
) -> Response {
    let result = (|| -> Result<Response, MfaError> {
        let session = state.current_session(SessionKind::Authenticator, &headers)?;
        let Some(session) = session.filter(|s| state.csrf_ok(s, &form.csrf_token)) else {
            return Ok(error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "Reload the authenticator and try again.",
            ));
        };
        let Some(user_id) = session.user_id() else {
            return Ok(redirect_see_other("/authenticator"));
        };
        // A user may only answer their own requests.
        let record = state.store().mfa_by_id(&form.id)?;
        if record.as_ref().is_none_or(|r| r.user_id != user_id) {
            return Err(MfaError::NotFound);
        }
        match form.decision.as_str() {
            "approve" => state.approve_mfa(&form.id)?,
            "deny" => state.deny_mfa(&form.id)?,
            _ => {
                return Ok(error_page(
                    StatusCode::BAD_REQUEST,
                    "Unknown decision",
                    "Choose Approve or Deny.",
                ));
            }
        }
        Ok(redirect_see_other("/authenticator"))
    })();
    match result {
        Ok(r) => r,
        Err(MfaError::NotFound) => error_page(
            StatusCode::NOT_FOUND,
            "Unknown request",
            "That request does not exist.",
        ),
        Err(MfaError::NotPending | MfaError::NonePending(_)) => error_page(
            StatusCode::CONFLICT,
            "Request already answered",
            "That request was already answered or has expired.",
        ),
        Err(MfaError::Store(e)) => internal(&e),
    }
}

#[derive(Deserialize)]
pub struct Logout {
    csrf_token: String,
}

pub async fn authenticator_logout(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Logout>,
) -> Response {
    let result = (|| -> Result<Response, StoreError> {
        if let Some(session) = state.current_session(SessionKind::Authenticator, &headers)?
            && state.csrf_ok(&session, &form.csrf_token)
        {
            state.store().delete_session(&session.id_hash)?;
            let mut response = redirect_see_other("/authenticator");
            session::clear_cookie(&mut response, SessionKind::Authenticator);
            return Ok(response);
        }
        Ok(redirect_see_other("/authenticator"))
    })();
    result.unwrap_or_else(|e| internal(&e))
}

/// 303: after a POST, the browser follows with a GET.
fn redirect_see_other(location: &'static str) -> Response {
    let mut response = redirect(location);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}
