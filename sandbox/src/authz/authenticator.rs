//! The authenticator page (`/authenticator`): the user's "phone", where pushes are
//! approved or denied. It stands for a separate device: it has its own session cookie and
//! CSRF tokens (see `session`), so it always asks for its own sign-in — the browser's
//! fresh login never approves its own push — and it never touches the browser's login
//! session. It is still unlocked by the user's password, so it demonstrates the flow
//! rather than providing a real possession factor.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::AuthzState;
use super::batch_view::{ApprovalView, BatchView, page_number};
use super::login::Credentials;
use super::mfa::{MfaError, internal};
use super::pages::{Nonce, error_page, page, redirect};
use super::session::{self, SessionKind};
use super::throttle::Source;
use crate::store::StoreError;
use crate::store::authz::UserRecord;

/// The authenticator's sign-in (`templates/authenticator_signin.html`).
#[derive(Template)]
#[template(path = "authenticator_signin.html")]
struct SignInPage<'a> {
    nonce: Nonce,
    csrf: &'a str,
    error: Option<&'a str>,
}

fn authenticator_signin(csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    page(status, |nonce| SignInPage { nonce, csrf, error })
}

/// The signed-in authenticator (`templates/authenticator.html`).
#[derive(Template)]
#[template(path = "authenticator.html")]
struct ListPage<'a> {
    nonce: Nonce,
    user: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    requests: Vec<RequestView>,
}

/// One pending request as the authenticator shows it: the same words as the waiting page
/// (who asks, what, when), but never the number, which only the browser shows.
struct RequestView {
    id: String,
    client: String,
    /// "Pay bob 25.00 USD" when the request is bound to a payment (RFC 9396), the summary
    /// of a batch.
    payment: Option<String>,
    memo: Option<String>,
    /// More than one payment: the reference and the list, a page at a time.
    batch: Option<BatchView>,
    wants: Vec<String>,
    when: String,
}

fn authenticator_list(
    state: &AuthzState,
    user: &UserRecord,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
    list: &ListQuery,
) -> Response {
    let requests = state
        .pending_mfa(Some(&user.username))
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            // Paging moves through one request's list; the others show their first page.
            let page = match &list.request {
                Some(id) if *id == r.id => page_number(list.page.as_deref()),
                _ => None,
            };
            let link = |n: usize| format!("/authenticator?request={}&page={n}", r.id);
            let anchor = format!("payments-{}", i + 1);
            let shown = r
                .authorization_details
                .as_ref()
                .map(|a| ApprovalView::new(a, page, &link, &anchor));
            (r, shown)
        })
        .map(|(r, shown)| RequestView {
            payment: shown.as_ref().map(|v| v.headline.clone()),
            memo: shown.as_ref().and_then(|v| v.memo.clone()),
            batch: shown.and_then(|v| v.batch),
            wants: state.describe_scopes(&r.scopes.join(" ")),
            when: super::binding::clock_time(r.created_at),
            id: r.id,
            client: r.client_name,
        })
        .collect();
    page(status, |nonce| ListPage {
        nonce,
        user: &user.username,
        csrf,
        error,
        requests,
    })
}

/// `/authenticator?request=mfa_…&page=2`: a page of one request's batch.
#[derive(Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub async fn authenticator_page(
    State(state): State<AuthzState>,
    Query(list): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, StoreError> {
        let (session, new_cookie) = state.session_for_form(SessionKind::Authenticator, &headers)?;
        let csrf = state.new_csrf(&session)?;
        let user = match session.user_id() {
            Some(id) => state.store().user_by_id(id)?,
            None => None,
        };
        let mut response = match user {
            Some(user) => {
                authenticator_list(&state, &user, csrf.expose(), None, StatusCode::OK, &list)
            }
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
    source: Source,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AuthenticatorLogin>,
) -> Response {
    let result = async {
        let session = state.current_session(SessionKind::Authenticator, &headers)?;
        let Some(session) = session.filter(|s| state.csrf_ok(s, &form.csrf_token)) else {
            return Ok(redirect_see_other("/authenticator"));
        };
        match state
            .check_credentials(&form.username, form.password.expose(), source)
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
    /// The number shown in the browser, typed to approve.
    #[serde(default)]
    code: String,
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
            "approve" => match state.approve_with_code(&form.id, &form.code) {
                Ok(_) => {}
                Err(err @ (MfaError::WrongCode { .. } | MfaError::WrongCodeDenied(_))) => {
                    let user = state
                        .store()
                        .user_by_id(user_id)?
                        .ok_or(StoreError::NotFound)?;
                    let csrf = state.new_csrf(&session)?;
                    let message = wrong_number(&err);
                    return Ok(authenticator_list(
                        &state,
                        &user,
                        csrf.expose(),
                        Some(&message),
                        StatusCode::FORBIDDEN,
                        &ListQuery::default(),
                    ));
                }
                Err(other) => return Err(other),
            },
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
        Err(
            MfaError::NotPending
            | MfaError::NonePending(_)
            | MfaError::Ambiguous
            | MfaError::WrongCode { .. }
            | MfaError::WrongCodeDenied(_),
        ) => error_page(
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

/// What the phone says after a wrong number: how many tries are left, or that the request
/// is now denied.
fn wrong_number(err: &MfaError) -> String {
    match err {
        MfaError::WrongCode { left } => format!(
            "That number does not match the one your browser shows. {} left before the request is denied.",
            super::mfa::tries(*left)
        ),
        _ => format!(
            "That number does not match either, so after {} wrong numbers the request was denied. Start again where you began.",
            super::MAX_WRONG_CODES
        ),
    }
}

/// 303: after a POST, the browser follows with a GET.
fn redirect_see_other(location: &'static str) -> Response {
    let mut response = redirect(location);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}
