//! `GET /v1/transfers` (history, `view:balance`) and `POST /v1/transfers` (move money:
//! `transfer:funds`, MFA, single-use token, `Idempotency-Key`).
//!
//! The handlers only parse and shape: the request is validated into a
//! [`TransferCommand`], and `store::bank` decides and persists atomically.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bank_protocol::{
    TransferList, TransferOrder, TransferReceipt, TransferRequest, TransferView, format_minor,
};
use sha2::{Digest, Sha256};

use super::auth::{RequireScope, TransferToken, ViewBalance};
use super::extract::{AppJson, IdempotencyKey};
use super::{ApiState, store_error};
use crate::error::ApiError;
use crate::store::bank::{
    PaidRetry, PlannedTransfer, Precheck, TransferCommand, TransferError, TransferOutcome,
    TransferRecord,
};

/// Default and largest page size of the history.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

pub async fn list_transfers(
    State(state): State<ApiState>,
    RequireScope(claims, _): RequireScope<ViewBalance>,
    RawQuery(query): RawQuery,
) -> Result<Json<TransferList>, ApiError> {
    let limit = parse_limit(query.as_deref())?;
    let account = state.account_for(&claims).await?;
    let id = account.id;
    let records = state
        .store()
        .list_transfers(id, limit)
        .await
        .map_err(store_error)?;
    Ok(Json(TransferList {
        account: account.handle,
        transfers: records
            .into_iter()
            .map(|r| TransferView {
                id: r.id,
                from: r.from,
                to: r.to,
                amount: format_minor(r.amount_minor),
                currency: r.currency,
                memo: r.memo,
                created_at: r.created_at,
                batch: r.batch,
            })
            .collect(),
    }))
}

/// `limit` is 1..=100 (default 20); anything else is a 400, not a silent clamp.
fn parse_limit(query: Option<&str>) -> Result<u32, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "limit" {
            limit = value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("limit must be an integer from 1 to {MAX_LIMIT}."))
                })?;
        }
    }
    Ok(limit)
}

pub async fn create_transfer(
    State(state): State<ApiState>,
    token: TransferToken,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    AppJson(request): AppJson<TransferRequest>,
) -> Result<Response, ApiError> {
    let claims = &token.0;
    let config = state.config();
    // The wire contract's rules, the very functions the CLI checks its input with.
    let order = TransferOrder::from_request(&request, &config.currency, config.max_transfer_minor)
        .map_err(|err| ApiError::InvalidBody(format!("{err}.")))?;
    // A token bound to one transfer (RFC 9396) executes that transfer or nothing, and this
    // comes before every business rule: a token for bob used to pay carol is refused the
    // same way whatever carol's account looks like, so it reveals nothing about it.
    // `locations` (RFC 9396 §2.2), when present, must name this API: a payment approved
    // for another bank is not executed here.
    if let Some(approval) = &claims.approval
        && let Err(mismatch) = approval.check_transfer(&order).and_then(|()| {
            if approval.is_for(&config.audience) {
                Ok(())
            } else {
                Err(bank_protocol::Mismatch::Location)
            }
        })
    {
        return Err(refuse_unapproved(&state, claims, approval, mismatch).await);
    }
    if order.currency != config.currency {
        return Err(ApiError::CurrencyMismatch);
    }
    let TransferOrder {
        to,
        amount,
        currency,
        memo,
    } = order;
    let amount_minor = amount.minor_units();

    // Same key + same canonical request = the same transfer. Hashing the parsed request
    // (not the raw bytes) makes "25" and "25.00" the same amount.
    let request_hash: [u8; 32] = Sha256::digest(
        serde_json::to_vec(&(&to, amount_minor, &currency, &memo)).map_err(ApiError::internal)?,
    )
    .into();

    let from_account = state.account_id_for(claims).await?;
    // A bank checks the payment, then asks for strong authentication: only a transfer it
    // would make gets the step-up challenge, so nobody approves one that is then refused.
    let plan = PlannedTransfer {
        from_account,
        to_handle: to.clone(),
        amount_minor,
        currency: currency.clone(),
        idempotency_key: idempotency_key.clone(),
        request_hash,
    };
    let precheck = state
        .store()
        .precheck_transfer(&plan)
        .await
        .map_err(refusal)?;
    token.authorize(&state)?;
    // A lost answer: the very transfer this token paid for, asked again under its key. It
    // gets its receipt, not a 401 for the spent token, so the client can retry by itself
    // without a second approval. Only the token recorded as the payer qualifies.
    let paid = PaidRetry {
        from_account,
        idempotency_key: idempotency_key.clone(),
        request_hash,
        issuer: claims.issuer.clone(),
        token_id: claims.token_id.clone(),
    };
    let leeway = state.verifier().leeway_secs() as i64;
    let now = state.verifier().clock().now();
    if precheck == Precheck::AlreadyMade
        && let Some(record) = paid_transfer(&state, &paid).await?
    {
        return replay_paid(&state, token.1, record, now).await;
    }
    let cmd = TransferCommand {
        issuer: &claims.issuer,
        token_id: &claims.token_id,
        token_expires_at: claims.exp.saturating_add(leeway),
        from_account,
        to_handle: &to,
        amount_minor,
        currency: &currency,
        memo: memo.as_deref(),
        idempotency_key: &idempotency_key,
        request_hash,
        dpop_proof: token.1,
    };
    let outcome = state.store().consume_jti_and_transfer(&cmd, now).await;

    match outcome {
        Ok(TransferOutcome::Created(record)) => Ok(receipt(StatusCode::CREATED, record, false)),
        Ok(TransferOutcome::Replayed(record)) => Ok(receipt(StatusCode::CREATED, record, true)),
        // The first send of this very request committed after this one's precheck (a
        // resend that overtook a slow original): the same receipt.
        Err(TransferError::TokenAlreadyUsed) => match paid_transfer(&state, &paid).await? {
            Some(record) => replay_paid(&state, token.1, record, now).await,
            None => Err(ApiError::TokenAlreadyUsed),
        },
        Err(err) => Err(refusal(err)),
    }
}

/// Spends a token presented for payments it did not approve (whoever tried may not try
/// again with it), and says what it did approve. Nothing moves.
pub(super) async fn refuse_unapproved(
    state: &ApiState,
    claims: &crate::api::auth::Claims,
    approval: &bank_protocol::Approval,
    mismatch: bank_protocol::Mismatch,
) -> ApiError {
    let expires = claims
        .exp
        .saturating_add(state.verifier().leeway_secs() as i64);
    match state
        .store()
        .spend_token(&claims.issuer, &claims.token_id, expires)
        .await
    {
        Ok(true) => ApiError::AuthorizationDetailsMismatch {
            field: mismatch.field(),
            approved: approval.action(),
        },
        Ok(false) => ApiError::TokenAlreadyUsed,
        Err(err) => store_error(err),
    }
}

async fn paid_transfer(
    state: &ApiState,
    paid: &PaidRetry,
) -> Result<Option<TransferRecord>, ApiError> {
    state.store().paid_transfer(paid).await.map_err(store_error)
}

/// The receipt of the transfer a retry's spent token paid for.
async fn replay_paid(
    state: &ApiState,
    proof: Option<crate::store::bank::ProofSpend>,
    record: TransferRecord,
    now: i64,
) -> Result<Response, ApiError> {
    spend_retry_proof(state, proof, now).await?;
    Ok(receipt(StatusCode::CREATED, record, true))
}

/// A retry's own proof, spent as the payment's would be, so a captured retry sent again is
/// a replay, refused on every instance.
pub(super) async fn spend_retry_proof(
    state: &ApiState,
    proof: Option<crate::store::bank::ProofSpend>,
    now: i64,
) -> Result<(), ApiError> {
    if let Some(proof) = proof
        && !state
            .store()
            .spend_retry_proof(proof, now)
            .await
            .map_err(store_error)?
    {
        return Err(ApiError::InvalidDpopProof(crate::dpop::PROOF_REPLAYED));
    }
    Ok(())
}

/// The answer for a transfer the ledger refused (or would refuse).
fn refusal(err: TransferError) -> ApiError {
    match err {
        TransferError::TokenAlreadyUsed => ApiError::TokenAlreadyUsed,
        TransferError::ProofAlreadyUsed => ApiError::InvalidDpopProof(crate::dpop::PROOF_REPLAYED),
        TransferError::TokenExpired => ApiError::InvalidToken("token expired"),
        TransferError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
        TransferError::UnknownRecipient => ApiError::UnknownRecipient,
        TransferError::SameAccount => ApiError::SameAccount,
        TransferError::CurrencyMismatch => ApiError::CurrencyMismatch,
        TransferError::InsufficientFunds => ApiError::InsufficientFunds,
        TransferError::Store(err) => store_error(err),
    }
}

/// The original answer, also for an idempotent replay (then marked `Idempotent-Replayed`).
fn receipt(status: StatusCode, record: TransferRecord, replayed: bool) -> Response {
    let body = TransferReceipt {
        id: record.id,
        from: record.from,
        to: record.to,
        amount: format_minor(record.amount_minor),
        currency: record.currency,
        memo: record.memo,
        balance_after: format_minor(record.from_balance_after),
        created_at: record.created_at,
        batch: record.batch,
    };
    let mut response = (status, Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
