//! Layer 3: one silent refresh when the API refuses the stored login's token.
//!
//! A `401 invalid_token` for the stored login means it was revoked, or the issuer's keys
//! rotated: refresh once (under the session's lock) and retry once; a second refusal means
//! the session is gone (exit 3). `BANK_TOKEN` is never refreshed — the environment is in
//! charge of it — and neither is a step-up or fixed token: their refusal is final.

use super::SessionError;
use super::observer::RefreshReason;
use super::request::{ApiRequest, ApiResponse};
use super::session::Session;
use super::{ApiError, ClientError};
use super::{BoxFuture, Layer, Next};

pub struct Refresh<'s> {
    session: &'s Session,
}

impl<'s> Refresh<'s> {
    pub fn new(session: &'s Session) -> Refresh<'s> {
        Refresh { session }
    }
}

impl Layer for Refresh<'_> {
    fn handle<'a>(
        &'a self,
        request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>> {
        Box::pin(async move {
            let operation = request.operation.clone();
            let stored = request.stored_login();
            let from_env = request.is_from_env();
            let description = match next.run(request).await {
                Err(ClientError::Api(ApiError::InvalidToken { description })) => description,
                other => return other,
            };
            if from_env {
                return Err(SessionError::EnvTokenRejected { description }.into());
            }
            let Some(stale) = stored else {
                // A step-up or fixed token: its refusal is final.
                return Err(ApiError::InvalidToken { description }.into());
            };
            let fresh = self
                .session
                .refresh(&stale, RefreshReason::Rejected, next.observer())
                .await?;
            match next
                .run(ApiRequest::new(operation).with_credential(fresh))
                .await
            {
                Err(ClientError::Api(e @ ApiError::InvalidToken { .. })) => {
                    Err(SessionError::Rejected(e).into())
                }
                other => other,
            }
        })
    }
}
