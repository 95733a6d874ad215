//! The admin API behind `bank-sandbox mfa list|approve|deny`: the "phone" for people
//! driving the sandbox from a terminal.
//!
//! Never an open endpoint: every call needs `Authorization: Bearer <admin token>`, a random
//! token the server writes to `<data dir>/admin-token` (mode 0600) at start. Only its
//! SHA-256 is held in memory and it is compared in constant time. Without a data dir (the
//! in-memory sandbox of tests) there is no token and these routes answer 404.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::secrets::{Secret, ct_eq};
use super::{AuthzState, MfaError};
use crate::store::authz::SecretHash;

/// The admin API's access: the token's hash, and the data dir `bank-sandbox mfa` must be
/// told (`None` when it is the default, which the command finds by itself).
pub struct Admin {
    pub token_hash: SecretHash,
    pub data_dir: Option<std::path::PathBuf>,
}

impl AuthzState {
    /// The command that approves a push with `code` from a terminal, exactly as it can be
    /// pasted; `None` when there is no admin API (an in-memory sandbox).
    pub(super) fn approve_command(&self, code: &str) -> Option<String> {
        let admin = self.inner.admin.as_ref()?;
        let mut command = format!("bank-sandbox mfa approve --code {code}");
        if let Some(dir) = &admin.data_dir {
            command.push_str(" --data-dir ");
            command.push_str(&shell_word(&dir.to_string_lossy()));
        }
        Some(command)
    }

    /// `None` when the caller presented the admin token; otherwise the refusal to send.
    fn admin_refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(expected) = self.inner.admin.as_ref().map(|a| a.token_hash) else {
            return Some(StatusCode::NOT_FOUND.into_response());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Secret::from_wire(t.trim()).hash());
        match presented {
            Some(hash) if ct_eq(&hash, &expected) => None,
            _ => Some(
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        "Bearer realm=\"bank-sandbox-admin\"",
                    )],
                    Json(json!({ "error": "unauthorized" })),
                )
                    .into_response(),
            ),
        }
    }
}

/// `s` as one POSIX shell word: as is when it is only safe characters, else single-quoted.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    user: Option<String>,
}

pub async fn list(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Some(denied) = state.admin_refusal(&headers) {
        return denied;
    }
    let devices: Vec<_> = state
        .pending_devices()
        .into_iter()
        .filter(|d| q.user.is_none() || d.username == q.user)
        .collect();
    Json(json!({ "pending": state.pending_mfa(q.user.as_deref()), "devices": devices }))
        .into_response()
}

#[derive(Deserialize)]
pub struct DecideBody {
    /// `approve` or `deny`.
    decision: String,
    /// A request id; without it, `user`'s request (by number to approve, oldest to deny),
    /// or without either the one pending push of anyone showing the number.
    id: Option<String>,
    user: Option<String>,
    /// The number the browser shows: required to approve (number matching, see `binding`).
    code: Option<String>,
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn decide(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    Json(body): Json<DecideBody>,
) -> Response {
    if let Some(denied) = state.admin_refusal(&headers) {
        return denied;
    }
    let id = body.id.as_deref();
    let user = body.user.as_deref();
    // A device authorization is approved by its person on the device page only; from here
    // it can be denied.
    if let Some(device) = id.filter(|id| id.starts_with("dev_")) {
        if body.decision != "deny" {
            return refusal(
                StatusCode::BAD_REQUEST,
                "a device request is approved on the device page; it can only be denied here",
            );
        }
        return match state.deny_device(device) {
            Ok(true) => Json(json!({ "decided": null, "decision": "deny" })).into_response(),
            Ok(false) => refusal(
                StatusCode::CONFLICT,
                "no pending device request with that id",
            ),
            Err(_) => refusal(StatusCode::INTERNAL_SERVER_ERROR, "store failure"),
        };
    }
    let result = match body.decision.as_str() {
        // Approving "the oldest" is what let someone else's push through: an approval names
        // the number the person sees in their browser; the number alone is enough when one
        // pending push shows it, as the waiting page's hint says.
        "approve" => match (body.code.as_deref(), id, user) {
            (None, _, _) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "approving needs the number shown in the browser (--code NN)",
                );
            }
            (Some(code), Some(id), _) => state.approve_with_code(id, code).map(Some),
            (Some(code), None, Some(user)) => state.approve_pending_with_code(user, code).map(Some),
            (Some(code), None, None) => state.approve_any_with_code(code).map(Some),
        },
        "deny" => match (id, user) {
            (Some(id), _) => {
                let info = state.pending_mfa(None).into_iter().find(|r| r.id == id);
                state.deny_mfa(id).map(|()| info)
            }
            (None, Some(user)) => state.deny_pending(user).map(Some),
            // The oldest pending request of anyone: denying never lets anything through.
            (None, None) => match state.pending_mfa(None).into_iter().next() {
                Some(first) => state.deny_mfa(&first.id).map(|()| Some(first)),
                None => Err(MfaError::NonePending("anyone".into())),
            },
        },
        _ => return refusal(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    };
    match result {
        Ok(info) => Json(json!({ "decided": info, "decision": body.decision })).into_response(),
        Err(err) => {
            let status = match err {
                MfaError::NotFound => StatusCode::NOT_FOUND,
                MfaError::NotPending | MfaError::NonePending(_) | MfaError::Ambiguous => {
                    StatusCode::CONFLICT
                }
                MfaError::WrongCode { .. } | MfaError::WrongCodeDenied(_) => StatusCode::FORBIDDEN,
                MfaError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            refusal(status, &err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_data_dir_is_one_shell_word() {
        assert_eq!(super::shell_word("/tmp/sandbox-1"), "/tmp/sandbox-1");
        assert_eq!(super::shell_word("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(super::shell_word("/tmp/it's"), "'/tmp/it'\\''s'");
    }
}
