//! The login page (`GET/POST /login`) and the credential check it shares with the
//! authenticator's sign-in: argon2id verification off the async runtime, per-username
//! throttling of repeated failures, CSRF bound to the browser session, and session id
//! rotation on success.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::batch_view::{ApprovalView, BatchView, page_number};
use super::pages::{Nonce, error_page, page};
use super::secrets::{self, Secret};
use super::session::{self, Session, SessionKind};
use super::throttle::{Admission, Source};
use super::{AuthzEvent, AuthzState, LoginName};
use crate::error::OAuthError;
use crate::store::StoreError;
use crate::store::authz::{TxnRecord, UserRecord};

/// The outcome of checking a username and password.
pub(crate) enum Credentials {
    Valid(UserRecord),
    Invalid,
    /// Too many recent failures; the password was not even checked.
    Throttled {
        retry_after: i64,
    },
}

impl AuthzState {
    /// Checks credentials with throttling (see `throttle`): the attempt is counted before
    /// the password is checked. Unknown usernames are throttled and cost an argon2
    /// verification too, so neither timing nor throttling reveals who has an account.
    pub(crate) async fn check_credentials(
        &self,
        username: &str,
        password: &str,
        source: Source,
    ) -> Result<Credentials, StoreError> {
        // Longer names, or names with control characters, cannot exist (see `add_user`);
        // refusing them early also keeps the throttle table from growing by
        // attacker-chosen megabytes.
        if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
            return Ok(Credentials::Invalid);
        }
        let user = self.store().user_by_username(username)?;
        let (_slot, keys) = match self.admit_login(username, source)? {
            Admission::Check(slot, keys) => (slot, keys),
            Admission::Wait { retry_after } => {
                self.record(AuthzEvent::LoginThrottled {
                    username: self.login_name(username, user.as_ref()),
                });
                return Ok(Credentials::Throttled { retry_after });
            }
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let dummy = self.inner.dummy_password_hash.clone();
        let password = password.to_owned();
        // argon2 is deliberately slow: keep it off the async worker threads.
        let ok = tokio::task::spawn_blocking(move || {
            secrets::verify_password(&password, stored.as_deref(), &dummy)
        })
        .await
        .unwrap_or(false);
        match user {
            Some(user) if ok => {
                self.login_was_right(&keys)?;
                self.record(AuthzEvent::LoginSucceeded {
                    username: user.username.clone(),
                });
                Ok(Credentials::Valid(user))
            }
            user => {
                self.record(AuthzEvent::LoginFailed {
                    username: self.login_name(username, user.as_ref()),
                });
                Ok(Credentials::Invalid)
            }
        }
    }

    /// How the audit trail (and so the log) names a login attempt: an account's username
    /// as is, anything else only as a keyed fingerprint (it may be a mistyped password).
    fn login_name(&self, submitted: &str, user: Option<&UserRecord>) -> LoginName {
        match user {
            Some(user) => LoginName::Known(user.username.clone()),
            None => {
                let key = self.inner.login_name_key.expose().as_bytes();
                let digest = secrets::sha256(&[key, b"\0", submitted.as_bytes()].concat());
                LoginName::Unknown {
                    fingerprint: hex::encode(&digest[..4]),
                }
            }
        }
    }

    fn client_name(&self, client_id: &str) -> String {
        self.config()
            .client(client_id)
            .map_or_else(|| client_id.to_owned(), |c| c.name.clone())
    }
}

#[derive(Deserialize)]
pub struct TxnQuery {
    txn: String,
    /// The page of a batch's list.
    #[serde(default)]
    page: Option<String>,
}

/// The login page (`templates/login.html`).
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nonce: Nonce,
    client: String,
    error: Option<&'a str>,
    txn: &'a str,
    csrf: &'a str,
    username: &'a str,
    /// The only user who may sign in (`login_hint`): shown fixed.
    hint: Option<&'a str>,
    /// "Pay bob 25.00 USD" when this sign-in is a step-up for a payment (RFC 9396), the
    /// summary of a batch.
    payment: Option<String>,
    memo: Option<String>,
    /// More than one payment: the reference and the list, a page at a time.
    batch: Option<BatchView>,
    /// The sign-in is followed by an approval on the authenticator (the MFA rule).
    approval: bool,
}

/// The login form, with an error above it and the username kept after a failed try.
pub(crate) fn login_form(
    state: &AuthzState,
    txn: &TxnRecord,
    csrf: &Secret,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
    list_page: Option<usize>,
) -> Response {
    let link = |n: usize| format!("/login?txn={}&page={n}", txn.id);
    let shown = super::binding::details_of(txn.authorization_details.as_deref())
        .map(|a| ApprovalView::new(&a, list_page, &link, "payments"));
    page(status, |nonce| LoginPage {
        nonce,
        client: state.client_name(&txn.client_id),
        error,
        txn: &txn.id,
        csrf: csrf.expose(),
        username,
        hint: txn.login_hint.as_deref(),
        memo: shown.as_ref().and_then(|v| v.memo.clone()),
        payment: shown.as_ref().map(|v| v.headline.clone()),
        batch: shown.and_then(|v| v.batch),
        approval: state.mfa_required(txn),
    })
}

fn expired_txn_page() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "The sign-in request is unknown, finished or expired.",
    )
}

fn internal(err: &StoreError) -> Response {
    tracing::error!(error = %err, "login store failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

pub async fn login_page(
    State(state): State<AuthzState>,
    Query(q): Query<TxnQuery>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let Some(txn) = state.live_txn(&q.txn)? else {
            return Ok(expired_txn_page());
        };
        let (session, new_cookie) = state.session_for_form(SessionKind::Browser, &headers)?;
        let csrf = state.new_csrf(&session)?;
        let list_page = page_number(q.page.as_deref());
        let mut response = login_form(&state, &txn, &csrf, None, "", StatusCode::OK, list_page);
        if let Some(id) = new_cookie {
            session::set_cookie(
                &mut response,
                SessionKind::Browser,
                &id,
                state.session_cookie_max_age(),
            );
        }
        Ok(response)
    })();
    result.unwrap_or_else(|e: StoreError| internal(&e))
}

#[derive(Deserialize)]
pub struct LoginForm {
    txn: String,
    csrf_token: String,
    username: String,
    password: Password,
}

/// The submitted password: never printed.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

pub async fn login_submit(
    State(state): State<AuthzState>,
    source: Source,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    match submit(&state, source, &headers, form).await {
        Ok(response) => response,
        Err(LoginError::Store(e)) => internal(&e),
        Err(LoginError::OAuth(e)) => {
            tracing::warn!(error = %e, "login failed to finish");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    }
}

enum LoginError {
    Store(StoreError),
    OAuth(OAuthError),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Store(e)
    }
}

async fn submit(
    state: &AuthzState,
    source: Source,
    headers: &HeaderMap,
    form: LoginForm,
) -> Result<Response, LoginError> {
    let Some(txn) = state.live_txn(&form.txn)? else {
        return Ok(expired_txn_page());
    };
    let current: Option<Session> = state.current_session(SessionKind::Browser, headers)?;
    // Without the session the form was rendered for, or with a token not matching it, the
    // post did not come from our page (login CSRF): show a fresh form instead.
    let Some(current) = current.filter(|s| state.csrf_ok(s, &form.csrf_token)) else {
        let (session, new_cookie) = state.session_for_form(SessionKind::Browser, headers)?;
        let csrf = state.new_csrf(&session)?;
        let mut response = login_form(
            state,
            &txn,
            &csrf,
            Some("Your sign-in form expired. Please try again."),
            &form.username,
            StatusCode::FORBIDDEN,
            None,
        );
        if let Some(id) = new_cookie {
            session::set_cookie(
                &mut response,
                SessionKind::Browser,
                &id,
                state.session_cookie_max_age(),
            );
        }
        return Ok(response);
    };
    // A sign-in for a named user: anyone else is refused before a password is checked
    // or a push is sent.
    if let Some(hint) = txn.login_hint.as_deref()
        && form.username != hint
    {
        let csrf = state.new_csrf(&current)?;
        return Ok(login_form(
            state,
            &txn,
            &csrf,
            Some(&format!(
                "This sign-in is for {hint}. Sign in as {hint}, or start again from the application."
            )),
            hint,
            StatusCode::FORBIDDEN,
            None,
        ));
    }
    match state
        .check_credentials(&form.username, &form.password.0, source)
        .await?
    {
        Credentials::Valid(user) => {
            let (id, id_hash, auth_time) =
                state.sign_in_session(SessionKind::Browser, Some(&current), user.id)?;
            state
                .store()
                .bind_txn_user(&txn.id, user.id, auth_time, &id_hash)?;
            let txn = state.store().txn(&txn.id)?.ok_or(StoreError::NotFound)?;
            let mut response = match state.after_authentication(&txn, &user) {
                Ok(r) => r,
                Err(err) => {
                    let target = super::authorize::ErrorTarget {
                        redirect_uri: &txn.redirect_uri,
                        state: txn.state.as_deref(),
                    };
                    if err.kind == crate::error::OAuthErrorKind::ServerError {
                        return Err(LoginError::OAuth(err));
                    }
                    state.error_redirect(&target, &err)
                }
            };
            session::set_cookie(
                &mut response,
                SessionKind::Browser,
                &id,
                state.session_cookie_max_age(),
            );
            Ok(response)
        }
        Credentials::Invalid => {
            let csrf = state.new_csrf(&current)?;
            Ok(login_form(
                state,
                &txn,
                &csrf,
                Some("That username and password did not match. Please try again."),
                &form.username,
                StatusCode::UNAUTHORIZED,
                None,
            ))
        }
        Credentials::Throttled { retry_after } => {
            let csrf = state.new_csrf(&current)?;
            let mut response = login_form(
                state,
                &txn,
                &csrf,
                Some(&format!(
                    "Too many failed attempts. Try again in {retry_after} seconds."
                )),
                &form.username,
                StatusCode::TOO_MANY_REQUESTS,
                None,
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            Ok(response)
        }
    }
}
