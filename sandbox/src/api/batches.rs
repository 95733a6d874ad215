//! `POST /v1/transfer-batches`: many transfers of one account, approved once (one step-up
//! whose `authorization_details` bind exactly this batch), made all or nothing.
//!
//! The order of the checks is the single transfer's (`transfers`): validate, then step
//! up. The token's DPoP binding (the extractor), the batch's contract, the approval the
//! token carries, the currency, then a look at the ledger for the whole batch (recipients,
//! the total against the balance, the key) — and only then the scope and the step-up
//! policy, so a batch the bank would refuse never reaches an approval. The ledger makes
//! the batch in one transaction (`store::bank::batch`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bank_protocol::{
    BatchOrder, BatchReceipt, InvalidBatch, Mismatch, PaymentProblem, TransferBatchRequest,
    TransferReceipt, format_minor, group_thousands,
};
use sha2::{Digest, Sha256};

use super::auth::TransferToken;
use super::extract::{AppJson, IdempotencyKey, MAX_BODY_BYTES};
use super::transfers::{refuse_unapproved, spend_retry_proof};
use super::{ApiState, store_error};
use crate::error::ApiError;
use crate::store::bank::{
    BatchCommand, BatchError, BatchOutcome, BatchRecord, PaidRetry, PaymentRefusal, PlannedBatch,
    PlannedPayment, Precheck, ProofSpend,
};

/// Body bytes allowed per payment of a batch: a payment with a 64-character handle and a
/// 140-character memo written entirely in `\u` escapes of astral characters (12 bytes
/// each) still fits.
const BODY_BYTES_PER_PAYMENT: usize = 2 * 1024;

/// The body limit of the batch endpoint for batches of at most `max_payments`.
pub fn body_limit(max_payments: usize) -> usize {
    MAX_BODY_BYTES.max(max_payments.saturating_mul(BODY_BYTES_PER_PAYMENT))
}

pub async fn create_batch(
    State(state): State<ApiState>,
    token: TransferToken,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    AppJson(request): AppJson<TransferBatchRequest>,
) -> Result<Response, ApiError> {
    let claims = &token.0;
    let config = state.config();
    // The wire contract, every payment at once: nothing to approve in a batch with a bad
    // line, so this comes before any step-up.
    let batch = BatchOrder::from_request(
        &request,
        &config.currency,
        config.max_transfer_minor,
        config.max_batch_payments,
    )
    .map_err(invalid_batch)?;
    // A token bound to payments executes exactly those or nothing (see `transfers`).
    if let Some(approval) = &claims.approval
        && let Err(mismatch) = approval.check_batch(&batch).and_then(|()| {
            if approval.is_for(&config.audience) {
                Ok(())
            } else {
                Err(Mismatch::Location)
            }
        })
    {
        return Err(refuse_unapproved(&state, claims, approval, mismatch).await);
    }
    let foreign: Vec<usize> = (1..=batch.len())
        .filter(|i| batch.orders()[i - 1].currency != config.currency)
        .collect();
    if !foreign.is_empty() {
        return Err(payments_refused(
            PaymentRefusal::CurrencyMismatch,
            foreign
                .into_iter()
                .map(|i| (i, PaymentRefusal::CurrencyMismatch))
                .collect(),
        ));
    }

    let request_hash: [u8; 32] = Sha256::digest(batch.canonical_json()).into();
    let from_account = state.account_id_for(claims).await?;
    let plan = PlannedBatch {
        from_account,
        payments: batch
            .orders()
            .iter()
            .map(|o| PlannedPayment {
                to_handle: o.to.clone(),
                amount_minor: o.amount.minor_units(),
                currency: o.currency.clone(),
                memo: o.memo.clone(),
            })
            .collect(),
        idempotency_key: idempotency_key.clone(),
        request_hash,
    };
    let precheck = state
        .store()
        .precheck_batch(&plan)
        .await
        .map_err(|err| refusal(err, &batch))?;
    token.authorize(&state)?;

    // A lost answer: the batch this very token paid for, asked again under its key.
    let paid = PaidRetry {
        from_account,
        idempotency_key,
        request_hash,
        issuer: claims.issuer.clone(),
        token_id: claims.token_id.clone(),
    };
    let now = state.verifier().clock().now();
    if precheck == Precheck::AlreadyMade
        && let Some(record) = paid_batch(&state, &paid).await?
    {
        return replay_paid(&state, token.1, record, &batch, now).await;
    }
    let leeway = state.verifier().leeway_secs() as i64;
    let cmd = BatchCommand {
        plan,
        issuer: claims.issuer.clone(),
        token_id: claims.token_id.clone(),
        token_expires_at: claims.exp.saturating_add(leeway),
        dpop_proof: token.1,
    };
    match state.store().execute_batch(cmd, now).await {
        Ok(BatchOutcome::Created(record)) => Ok(receipt(record, &batch, false)),
        Ok(BatchOutcome::Replayed(record)) => Ok(receipt(record, &batch, true)),
        // The first send of this very request committed after this one's precheck.
        Err(BatchError::TokenAlreadyUsed) => match paid_batch(&state, &paid).await? {
            Some(record) => replay_paid(&state, token.1, record, &batch, now).await,
            None => Err(ApiError::TokenAlreadyUsed),
        },
        Err(err) => Err(refusal(err, &batch)),
    }
}

async fn paid_batch(state: &ApiState, paid: &PaidRetry) -> Result<Option<BatchRecord>, ApiError> {
    state.store().paid_batch(paid).await.map_err(store_error)
}

/// The receipt of the batch a retry's spent token paid for.
async fn replay_paid(
    state: &ApiState,
    proof: Option<ProofSpend>,
    record: BatchRecord,
    batch: &BatchOrder,
    now: i64,
) -> Result<Response, ApiError> {
    spend_retry_proof(state, proof, now).await?;
    Ok(receipt(record, batch, true))
}

fn invalid_batch(err: InvalidBatch) -> ApiError {
    ApiError::InvalidBatch {
        detail: format!("{err}."),
        payments: err.problems(),
    }
}

/// The answer for a batch the ledger refused (or would refuse).
fn refusal(err: BatchError, batch: &BatchOrder) -> ApiError {
    match err {
        BatchError::TokenAlreadyUsed => ApiError::TokenAlreadyUsed,
        BatchError::ProofAlreadyUsed => ApiError::InvalidDpopProof(crate::dpop::PROOF_REPLAYED),
        BatchError::TokenExpired => ApiError::InvalidToken("token expired"),
        BatchError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
        BatchError::Payments(refused) => match refused.first() {
            Some((_, first)) => payments_refused(*first, refused),
            None => ApiError::internal(BatchError::Payments(refused)),
        },
        BatchError::InsufficientFunds => {
            let totals: Vec<String> = batch
                .totals()
                .iter()
                .map(|t| format!("{} {}", group_thousands(&t.amount), t.currency))
                .collect();
            ApiError::BatchRefused {
                refusal: Box::new(ApiError::InsufficientFunds),
                detail: format!(
                    "The account balance does not cover the batch's total of {}; nothing was moved.",
                    totals.join(" and ")
                ),
                payments: Vec::new(),
            }
        }
        BatchError::Store(err) => store_error(err),
    }
}

/// A refusal naming every payment that cannot be made; its type is the first one's.
fn payments_refused(first: PaymentRefusal, refused: Vec<(usize, PaymentRefusal)>) -> ApiError {
    let answer = |r: PaymentRefusal| match r {
        PaymentRefusal::UnknownRecipient => ApiError::UnknownRecipient,
        PaymentRefusal::SameAccount => ApiError::SameAccount,
        PaymentRefusal::CurrencyMismatch => ApiError::CurrencyMismatch,
    };
    let words = |r: PaymentRefusal| match r {
        PaymentRefusal::UnknownRecipient => "no account has this recipient's handle",
        PaymentRefusal::SameAccount => "the recipient is the sending account",
        PaymentRefusal::CurrencyMismatch => "payments must be in the account's currency",
    };
    let (first_index, _) = refused[0];
    ApiError::BatchRefused {
        refusal: Box::new(answer(first)),
        detail: format!(
            "{} of the batch's payments cannot be made (the first: payment {first_index}: {}); \
             nothing was moved.",
            refused.len(),
            words(first)
        ),
        payments: refused
            .into_iter()
            .map(|(index, r)| PaymentProblem {
                index,
                detail: format!("{}.", capitalized(words(r))),
            })
            .collect(),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `201` with every transfer's receipt in input order (`Idempotent-Replayed: true` for
/// the original answer of an earlier request).
fn receipt(record: BatchRecord, batch: &BatchOrder, replayed: bool) -> Response {
    let balance_after = record
        .transfers
        .last()
        .map(|t| format_minor(t.from_balance_after))
        .unwrap_or_default();
    let body = BatchReceipt {
        reference: batch.reference(),
        count: record.transfers.len(),
        totals: batch.totals(),
        transfers: record
            .transfers
            .into_iter()
            .map(|t| TransferReceipt {
                id: t.id,
                from: t.from,
                to: t.to,
                amount: format_minor(t.amount_minor),
                currency: t.currency,
                memo: t.memo,
                balance_after: format_minor(t.from_balance_after),
                created_at: t.created_at,
                batch: t.batch,
            })
            .collect(),
        id: record.id,
        from: record.from,
        balance_after,
        created_at: record.created_at,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
