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
//! The authenticator page (the "phone") lives in `authenticator`.

use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::authorize::ErrorTarget;
use super::batch_view::{ApprovalView, BatchView, page_number};
use super::pages::{Nonce, error_page, page, redirect};
use super::session::SessionKind;
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
    /// The RFC 9396 details the push approves (payments listed one by one, or a
    /// `payment_batch` with its list), if any. Never the number to match: that is only in
    /// the browser that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<bank_protocol::Approval>,
    /// The details in words, as every approval surface shows them ("Pay 20 payments,
    /// 1,234.56 USD in total, to 7 payees").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approves: Option<String>,
    /// The batch's reference (`3F9A-21C7`), to compare with the terminal's; none for one
    /// payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
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
    #[error("that number does not match the one shown in the browser ({} left)", tries(*left))]
    WrongCode { left: u32 },
    #[error("that number does not match; after {0} wrong numbers the request is denied")]
    WrongCodeDenied(u32),
    #[error("several pending requests show that number: name the user (--user) or the ID")]
    Ambiguous,
    #[error("MFA store failure")]
    Store(#[from] StoreError),
}

/// "1 try", "2 tries".
pub(crate) fn tries(n: u32) -> String {
    format!("{n} {}", if n == 1 { "try" } else { "tries" })
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
    pub(super) fn info(&self, r: &MfaRecord) -> MfaRequestInfo {
        let approval = super::binding::details_of(r.authorization_details.as_deref());
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
            approves: approval.as_ref().map(bank_protocol::Approval::summary),
            reference: approval
                .as_ref()
                .and_then(bank_protocol::Approval::reference),
            authorization_details: approval,
        }
    }

    /// Sends the push: one MFA request per transaction. `false` when it cannot be sent
    /// because the user's pending pushes show every number already.
    pub(crate) fn start_mfa(&self, txn: &TxnRecord, user: &UserRecord) -> Result<bool, StoreError> {
        if self.store().mfa_by_txn(&txn.id)?.is_some() {
            return Ok(true);
        }
        let id = super::secrets::random_id("mfa_");
        let now = self.now();
        let expires = now + i64::try_from(self.config().mfa_timeout_secs).unwrap_or(120);
        let Some(code) = self.new_binding_code(&user.username)? else {
            return Ok(false);
        };
        self.store()
            .insert_mfa(&id, &txn.id, user.id, now, expires, &code)?;
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
        Ok(true)
    }

    pub(super) fn decide(&self, id: &str, status: MfaStatus) -> Result<(), MfaError> {
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

    pub(super) fn describe_scopes(&self, scope: &str) -> Vec<String> {
        scope
            .split(' ')
            .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
            .map(|s| self.config().scope_description(s).to_owned())
            .collect()
    }
}

#[derive(Deserialize)]
pub struct TxnQuery {
    pub(super) txn: String,
    /// The page of a batch's list (the waiting page only).
    #[serde(default)]
    page: Option<String>,
}

pub(super) fn internal(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "mfa failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

/// The waiting page (`templates/mfa_wait.html`).
#[derive(Template)]
#[template(path = "mfa_wait.html")]
struct WaitPage<'a> {
    nonce: Nonce,
    txn: &'a str,
    heading: &'static str,
    line: &'static str,
    user: &'a str,
    client: String,
    wants: Vec<String>,
    /// "Pay bob 25.00 USD" when the request is bound to a payment (RFC 9396), the summary
    /// of a batch.
    payment: Option<String>,
    memo: Option<String>,
    /// More than one payment: the reference and the list, a page at a time.
    batch: Option<BatchView>,
    /// When the push was sent, and when it expires (with their zone).
    when: String,
    expires: String,
    /// The number to type on the authenticator; only this browser shows it.
    code: &'a str,
    /// The terminal's way to approve, as it can be pasted (`None` without an admin API).
    approve_command: Option<String>,
    /// The spinner turns, and the number and the ways to approve show, only while pending.
    pending: bool,
    /// Whether the page polls for the decision (it does until one is known).
    poll: bool,
    /// What to do now that it was denied or expired.
    after: Option<&'static str>,
}

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
    let approval = super::binding::details_of(record.authorization_details.as_deref());
    let link = |n: usize| format!("/mfa/wait?txn={}&page={n}", txn.id);
    let shown = approval
        .as_ref()
        .map(|a| ApprovalView::new(a, page_number(q.page.as_deref()), &link, "payments"));
    let several = shown.as_ref().is_some_and(|v| v.batch.is_some());
    let (heading, line) = match (status, shown.is_some()) {
        (MfaStatusView::Pending, true) if several => (
            "Approve these payments",
            "Waiting for your approval on your authenticator…",
        ),
        (MfaStatusView::Pending, true) => (
            "Approve this payment",
            "Waiting for your approval on your authenticator…",
        ),
        (MfaStatusView::Pending, false) => (
            "Check your authenticator",
            "Waiting for your approval on your authenticator…",
        ),
        (MfaStatusView::Approved, _) => ("Approved", "Approved. Returning you to the application…"),
        (MfaStatusView::Denied, _) => ("Request denied", "The request was denied."),
        (MfaStatusView::Expired, _) => (
            "Request expired",
            "This request expired before it was approved.",
        ),
    };
    // A payment that was not approved did not happen: say so, and how to try again.
    let after = match (status, shown.is_some()) {
        (MfaStatusView::Pending | MfaStatusView::Approved, _) => None,
        (_, true) => Some("No money moved. To try again, run the command again in your terminal."),
        (_, false) => Some("Return to the application you came from and start again."),
    };
    page(StatusCode::OK, |nonce| WaitPage {
        nonce,
        txn: &txn.id,
        heading,
        line,
        user: &record.username,
        client,
        wants: state.describe_scopes(&txn.scope),
        payment: shown.as_ref().map(|v| v.headline.clone()),
        memo: shown.as_ref().and_then(|v| v.memo.clone()),
        batch: shown.and_then(|v| v.batch),
        when: super::binding::clock_time(record.created_at),
        expires: super::binding::clock_time(record.expires_at),
        code: &record.binding_code,
        approve_command: state.approve_command(&record.binding_code),
        pending: status == MfaStatusView::Pending,
        poll: matches!(status, MfaStatusView::Pending | MfaStatusView::Approved),
        after,
    })
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
