//! Layer 4: one resend of a transfer (or a batch) whose answer was lost.
//!
//! When the connection breaks after a transfer was sent, the bank may have made it. The
//! request carries an `Idempotency-Key`, and the bank answers the same request under the
//! same key with the receipt, also when the step-up token that paid for it is spent
//! (sandbox/API.md, "Step-up and single use"): so the very same request — same credential,
//! key and body — is sent once more, and a transfer made once is reported made, without a
//! second approval. Never twice: a second failure is reported as the first, with the key.
//!
//! It sits below the step-up and refresh layers, so it resends the credential they chose
//! and they see one answer; and above the DPoP layer, which signs a fresh proof for the
//! resend (a proof is single-use).

use super::observer::Event;
use super::request::{ApiRequest, ApiResponse, Operation};
use super::{ApiError, BoxFuture, ClientError, Layer, Next};

#[derive(Default)]
pub struct Resend;

impl Resend {
    pub fn new() -> Resend {
        Resend
    }
}

impl Layer for Resend {
    fn handle<'a>(
        &'a self,
        request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>> {
        Box::pin(async move {
            // A batch is resent the same way: one key for the whole batch, all or nothing.
            let Some(key) = request.operation.key().cloned() else {
                return next.run(request).await;
            };
            let batch = matches!(request.operation, Operation::TransferBatch { .. });
            let again = request.for_retry();
            let lost = match next.run(request).await {
                Err(ClientError::Api(e @ ApiError::Network { .. }))
                    if e.may_have_reached_server() =>
                {
                    e
                }
                other => return other,
            };
            next.observe(Event::AnswerLost { key: &key, batch });
            match next.run(again).await {
                Ok(response) => Ok(ApiResponse {
                    recovered: true,
                    ..response
                }),
                // Whatever the resend met, the first send may have made the transfer: that
                // is what the caller must hear about, with the key.
                Err(_) => Err(ClientError::Api(lost)),
            }
        })
    }
}
