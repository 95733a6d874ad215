//! The person's side of a device authorization: `/device`, where the user code is entered
//! (CSRF-bound to the browser session, wrong codes throttled per source address), and
//! `/device/confirm`, where the signed-in person approves or denies what the device asked
//! for, in words.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::{AuthzState, format_user_code, normalize_user_code, user_code_hash};
use crate::authz::AuthzEvent;
use crate::authz::batch_view::{ApprovalView, BatchView, page_number};
use crate::authz::pages::{Nonce, error_page, page};
use crate::authz::secrets;
use crate::authz::session::{self, Session, SessionKind};
use crate::authz::throttle::Source;
use crate::error::OAuthError;
use crate::store::StoreError;
use crate::store::authz::{
    Attempt, Backoff, DeviceRecord, DeviceStatus, GrantRecord, ThrottleKey, TxnRecord,
};

/// `templates/device.html`: the code entry form.
#[derive(Template)]
#[template(path = "device.html")]
struct EntryPage<'a> {
    nonce: Nonce,
    csrf: &'a str,
    /// Pre-filled from `verification_uri_complete`: the person checks it against the device.
    code: &'a str,
    error: Option<&'a str>,
    /// How an earlier sign-in for a device ended (`data-device-result`), if it failed.
    result: Option<(&'static str, &'static str)>,
}

/// `templates/device_confirm.html`: what the device asked for, to approve or deny.
#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    nonce: Nonce,
    txn: &'a str,
    csrf: &'a str,
    user: &'a str,
    client: String,
    /// Every scope, in words.
    wants: Vec<String>,
    payment: Option<String>,
    memo: Option<String>,
    /// More than one payment: the reference and the list, a page at a time.
    batch: Option<BatchView>,
    when: String,
    approve: String,
}

/// `templates/device_done.html`.
#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage {
    nonce: Nonce,
    result: &'static str,
    heading: &'static str,
    line: &'static str,
}

/// The answer on every device page when the device flow is off.
fn switched_off() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not available",
        "This server does not offer signing in devices with a code.",
    )
}

fn internal(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "device page failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

/// What an error redirect of a device sign-in (`redirect_uri` is `/device`) means, in
/// fixed words: the description in the URL is anybody's to write, so it is not shown.
fn result_of(error: &str) -> (&'static str, &'static str) {
    match error {
        "access_denied" => (
            "denied",
            "The request was denied on your authenticator, or it expired. Nothing was authorized.",
        ),
        "temporarily_unavailable" => (
            "unavailable",
            "Too many approval requests were sent to this account. Try again in a few minutes.",
        ),
        _ => (
            "failed",
            "The sign-in for your device could not be completed. Start again on your device.",
        ),
    }
}

impl AuthzState {
    fn entry_form(
        &self,
        headers: &HeaderMap,
        code: &str,
        error: Option<&str>,
        result: Option<(&'static str, &'static str)>,
        status: StatusCode,
    ) -> Result<Response, StoreError> {
        let (session, new_cookie) = self.session_for_form(SessionKind::Browser, headers)?;
        let csrf = self.new_csrf(&session)?;
        let mut response = page(status, |nonce| EntryPage {
            nonce,
            csrf: csrf.expose(),
            code,
            error,
            result,
        });
        if let Some(id) = new_cookie {
            session::set_cookie(
                &mut response,
                SessionKind::Browser,
                &id,
                self.session_cookie_max_age(),
            );
        }
        Ok(response)
    }

    /// The throttle row for user codes from `source`.
    fn user_code_key(&self, source: Source) -> ThrottleKey {
        let from = source
            .0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        ThrottleKey {
            key: self.throttle_name(&format!("device\0{from}")),
            max_failures: self.config().device.max_wrong_codes,
        }
    }

    /// A submitted user code: throttled, looked up, then a transaction for this browser.
    async fn enter_code(
        &self,
        source: Source,
        headers: &HeaderMap,
        form: EntryForm,
    ) -> Result<Response, OAuthError> {
        let current: Option<Session> = self.current_session(SessionKind::Browser, headers)?;
        if !current.is_some_and(|s| self.csrf_ok(&s, &form.csrf_token)) {
            return Ok(self.entry_form(
                headers,
                &form.user_code,
                Some("Your form expired. Please enter the code again."),
                None,
                StatusCode::FORBIDDEN,
            )?);
        }
        let key = self.user_code_key(source);
        let limits = &self.config().login_throttle;
        let backoff = Backoff {
            base: i64::try_from(limits.lockout_secs).unwrap_or(30),
            cap: i64::try_from(limits.max_lockout_secs).unwrap_or(3600),
        };
        // Counted before the code is looked up, as passwords are, so parallel guesses
        // cannot outrun the count.
        if let Attempt::Wait { retry_after } =
            self.store()
                .begin_login_attempt(&[key], self.now(), backoff)?
        {
            self.record(AuthzEvent::UserCodeThrottled);
            let mut response = self.entry_form(
                headers,
                &form.user_code,
                Some(&format!(
                    "Too many wrong codes. Try again in {retry_after} seconds."
                )),
                None,
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(response);
        }
        let now = self.now();
        let device = match normalize_user_code(&form.user_code) {
            Some(code) => self
                .store()
                .device_by_user_code(&user_code_hash(&code))?
                .filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now),
            None => None,
        };
        let Some(device) = device else {
            self.record(AuthzEvent::UserCodeRejected);
            return Ok(self.entry_form(
                headers,
                &form.user_code,
                Some("That code is not valid or has expired. Check the code your device shows and try again."),
                None,
                StatusCode::BAD_REQUEST,
            )?);
        };
        // A right code is no failure; it does not wipe earlier wrong ones either (anyone can
        // get right codes by starting device authorizations of their own).
        self.store().uncount_attempt(&key)?;
        let txn = self.device_txn(&device);
        if !self.store().bind_device_txn(&device.id, &txn.id, now)? {
            return Ok(self.entry_form(
                headers,
                "",
                Some("That code has just expired. Start again on your device."),
                None,
                StatusCode::BAD_REQUEST,
            )?);
        }
        self.record(AuthzEvent::DeviceCodeEntered {
            id: device.id.clone(),
        });
        match self.route_new_transaction(txn, headers) {
            Ok(response) => Ok(response),
            Err(err) => {
                tracing::info!(error = %err, "device sign-in ended");
                Ok(self.entry_form(
                    headers,
                    "",
                    None,
                    Some(result_of(err.kind.code())),
                    StatusCode::BAD_REQUEST,
                )?)
            }
        }
    }

    /// The device authorization a finished sign-in in `txn` may now decide, with the
    /// transaction, for this browser only.
    fn decidable(
        &self,
        txn_id: &str,
        headers: &HeaderMap,
    ) -> Result<Result<(TxnRecord, DeviceRecord, Session), Response>, StoreError> {
        let refused = |status, heading, line| Ok(Err(error_page(status, heading, line)));
        let (Some(txn), Some(device)) = (
            self.store().txn(txn_id)?,
            self.store().device_by_txn(txn_id)?,
        ) else {
            return refused(
                StatusCode::NOT_FOUND,
                "Unknown request",
                "There is no device request here. Start again on your device.",
            );
        };
        let session = self.current_session(SessionKind::Browser, headers)?;
        let Some(session) = session.filter(|s| self.txn_belongs_to(&txn, Some(s))) else {
            return refused(
                StatusCode::FORBIDDEN,
                "Wrong browser",
                "Continue in the browser where you entered the code.",
            );
        };
        if device.status != DeviceStatus::Pending
            || device.expires_at <= self.now()
            || device.user_id.is_none()
        {
            return refused(
                StatusCode::BAD_REQUEST,
                "Request already finished",
                "This device request was already decided, replaced or has expired. Start again on your device.",
            );
        }
        Ok(Ok((txn, device, session)))
    }

    fn confirm_page(
        &self,
        txn: &TxnRecord,
        device: &DeviceRecord,
        session: &Session,
        list_page: Option<usize>,
    ) -> Result<Response, StoreError> {
        let user = device
            .user_id
            .and_then(|id| self.store().user_by_id(id).ok().flatten())
            .ok_or(StoreError::NotFound)?;
        let csrf = self.new_csrf(session)?;
        let client = self.client_display_name(&device.client_id);
        let link = |n: usize| format!("/device/confirm?txn={}&page={n}", txn.id);
        let approval = super::super::binding::details_of(device.authorization_details.as_deref());
        let shown = approval
            .as_ref()
            .map(|a| ApprovalView::new(a, list_page, &link, "payments"));
        let approve = match (&approval, &shown) {
            (Some(a), Some(v)) if v.batch.is_some() => format!("Approve {} payments", a.count()),
            (_, Some(v)) => format!("Approve: {}", v.headline),
            _ => format!("Approve access for {client}"),
        };
        Ok(page(StatusCode::OK, |nonce| ConfirmPage {
            nonce,
            txn: &txn.id,
            csrf: csrf.expose(),
            user: &user.username,
            wants: device
                .scope
                .split(' ')
                .map(|s| self.config().scope_description(s).to_owned())
                .collect(),
            client,
            payment: shown.as_ref().map(|v| v.headline.clone()),
            memo: shown.as_ref().and_then(|v| v.memo.clone()),
            batch: shown.and_then(|v| v.batch),
            when: super::super::clock_time(device.created_at),
            approve,
        }))
    }

    /// The person's decision on `/device/confirm`.
    pub(super) fn decide_device(
        &self,
        txn: &TxnRecord,
        device: &DeviceRecord,
        approve: bool,
    ) -> Result<Response, StoreError> {
        let now = self.now();
        let done = |result, heading, line| {
            page(StatusCode::OK, |nonce| DonePage {
                nonce,
                result,
                heading,
                line,
            })
        };
        if !approve {
            if self.store().deny_device(&device.id, Some(&txn.id), now)? {
                self.record(AuthzEvent::DeviceDenied {
                    id: device.id.clone(),
                });
            }
            return Ok(done(
                "denied",
                "Request denied",
                "Nothing was authorized. Your device will say so.",
            ));
        }
        let (Some(user_id), Some(auth_time), Some(amr), Some(acr)) = (
            device.user_id,
            device.auth_time,
            device.amr.clone(),
            device.acr.clone(),
        ) else {
            return Err(StoreError::NotFound);
        };
        // The grant keeps what its tokens carry: a batch without its list.
        let details =
            crate::authz::binding::granted_details(device.authorization_details.as_deref())
                .map_err(|err| {
                    tracing::error!(error = %err, "stored authorization_details");
                    StoreError::NotFound
                })?;
        let grant = GrantRecord {
            id: secrets::random_id("grt_"),
            user_id,
            client_id: device.client_id.clone(),
            scope: device.scope.clone(),
            audience: device.audience.clone(),
            auth_time,
            amr,
            acr,
            authorization_details: details,
            // Bound when the device redeems its code, to the key of that request's proof.
            dpop_jkt: None,
            revoked_at: None,
        };
        if !self
            .store()
            .approve_device(&device.id, &txn.id, &grant, now)?
        {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Request already finished",
                "This device request was already decided, replaced or has expired. Start again on your device.",
            ));
        }
        let username = self
            .store()
            .user_by_id(user_id)?
            .map_or_else(String::new, |u| u.username);
        self.record(AuthzEvent::DeviceApproved {
            id: device.id.clone(),
            username,
        });
        // After a step-up for a payment, say what was approved, not just "Approved".
        let approval = super::super::binding::details_of(device.authorization_details.as_deref());
        Ok(match approval {
            Some(a) if a.single().is_none() => done(
                "approved",
                "Payments approved",
                "Return to your device: it makes the payments and shows the result.",
            ),
            Some(_) => done(
                "approved",
                "Payment approved",
                "Return to your device: it makes the payment and shows the result.",
            ),
            None => done(
                "approved",
                "Approved",
                "You can return to your device: it continues on its own.",
            ),
        })
    }
}

#[derive(Deserialize)]
pub struct EntryQuery {
    user_code: Option<String>,
    error: Option<String>,
}

/// `GET /device`: the form, pre-filled from `verification_uri_complete`, or the end of a
/// sign-in that failed.
pub async fn device_page(
    State(state): State<AuthzState>,
    Query(q): Query<EntryQuery>,
    headers: HeaderMap,
) -> Response {
    if !state.config().device.enabled {
        return switched_off();
    }
    // Only a well-formed code is echoed back, in its canonical form.
    let code = q
        .user_code
        .as_deref()
        .and_then(normalize_user_code)
        .map(|c| format_user_code(&c))
        .unwrap_or_default();
    let result = q.error.as_deref().map(result_of);
    state
        .entry_form(&headers, &code, None, result, StatusCode::OK)
        .unwrap_or_else(|e| internal(&e))
}

#[derive(Deserialize)]
pub struct EntryForm {
    csrf_token: String,
    user_code: String,
}

/// `POST /device`.
pub async fn device_submit(
    State(state): State<AuthzState>,
    source: Source,
    headers: HeaderMap,
    axum::Form(form): axum::Form<EntryForm>,
) -> Response {
    if !state.config().device.enabled {
        return switched_off();
    }
    state
        .enter_code(source, &headers, form)
        .await
        .unwrap_or_else(|e| internal(&e))
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    txn: String,
    /// The page of a batch's list.
    #[serde(default)]
    page: Option<String>,
}

/// `GET /device/confirm`.
pub async fn device_confirm_page(
    State(state): State<AuthzState>,
    Query(q): Query<ConfirmQuery>,
    headers: HeaderMap,
) -> Response {
    if !state.config().device.enabled {
        return switched_off();
    }
    let result = state
        .decidable(&q.txn, &headers)
        .and_then(|found| match found {
            Ok((txn, device, session)) => {
                state.confirm_page(&txn, &device, &session, page_number(q.page.as_deref()))
            }
            Err(refusal) => Ok(refusal),
        });
    result.unwrap_or_else(|e| internal(&e))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    txn: String,
    csrf_token: String,
    decision: String,
}

/// `POST /device/confirm`.
pub async fn device_confirm_submit(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<ConfirmForm>,
) -> Response {
    if !state.config().device.enabled {
        return switched_off();
    }
    let result = state.decidable(&form.txn, &headers).and_then(|found| {
        let (txn, device, session) = match found {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        // A decision posted from elsewhere (CSRF) shows the page again instead.
        if !state.csrf_ok(&session, &form.csrf_token) {
            return state.confirm_page(&txn, &device, &session, None);
        }
        match form.decision.as_str() {
            "approve" => state.decide_device(&txn, &device, true),
            "deny" => state.decide_device(&txn, &device, false),
            _ => Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "Choose approve or deny.",
            )),
        }
    });
    result.unwrap_or_else(|e| internal(&e))
}

#[cfg(test)]
mod tests {
    use super::result_of;

    #[test]
    fn failed_sign_ins_are_told_in_fixed_words() {
        assert_eq!(result_of("access_denied").0, "denied");
        assert_eq!(result_of("temporarily_unavailable").0, "unavailable");
        assert_eq!(result_of("<script>").0, "failed");
    }
}
