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

impl AuthzState {
    /// `None` when the caller presented the admin token; otherwise the refusal to send.
    fn admin_refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(expected) = self.inner.admin_token_hash else {
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
    Json(json!({ "pending": state.pending_mfa(q.user.as_deref()) })).into_response()
}

#[derive(Deserialize)]
pub struct DecideBody {
    /// `approve` or `deny`.
    decision: String,
    /// A request id; without it, the oldest pending request of `user`.
    id: Option<String>,
    user: Option<String>,
}

pub async fn decide(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    Json(body): Json<DecideBody>,
) -> Response {
    if let Some(denied) = state.admin_refusal(&headers) {
        return denied;
    }
    let approve = match body.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "decision must be approve or deny" })),
            )
                .into_response();
        }
    };
    let result = match (body.id.as_deref(), body.user.as_deref()) {
        (Some(id), _) => {
            let info = state.pending_mfa(None).into_iter().find(|r| r.id == id);
            let decided = if approve {
                state.approve_mfa(id)
            } else {
                state.deny_mfa(id)
            };
            decided.map(|()| info)
        }
        (None, Some(user)) => {
            let decided = if approve {
                state.approve_pending(user)
            } else {
                state.deny_pending(user)
            };
            decided.map(Some)
        }
        (None, None) => {
            // The oldest pending request of anyone: convenient with a single demo user.
            match state.pending_mfa(None).into_iter().next() {
                Some(first) => {
                    let decided = if approve {
                        state.approve_mfa(&first.id)
                    } else {
                        state.deny_mfa(&first.id)
                    };
                    decided.map(|()| Some(first))
                }
                None => Err(MfaError::NonePending("anyone".into())),
            }
        }
    };
    match result {
        Ok(info) => Json(json!({ "decided": info, "decision": body.decision })).into_response(),
        Err(err) => {
            let status = match err {
                MfaError::NotFound => StatusCode::NOT_FOUND,
                MfaError::NotPending | MfaError::NonePending(_) => StatusCode::CONFLICT,
                MfaError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, Json(json!({ "error": err.to_string() }))).into_response()
        }
    }
}
