//! `GET /v1/balance`: the caller's balance. Needs `view:balance`; the account is the
//! token's `sub`, never something the request names.

use axum::Json;
use axum::extract::State;
use bank_protocol::{Balance, format_minor};

use super::ApiState;
use super::auth::{RequireScope, ViewBalance};
use crate::error::ApiError;

pub async fn get_balance(
    State(state): State<ApiState>,
    RequireScope(claims, _): RequireScope<ViewBalance>,
) -> Result<Json<Balance>, ApiError> {
    let account = state.account_for(&claims).await?;
    Ok(Json(Balance {
        account: account.handle,
        balance: format_minor(account.balance_minor),
        currency: account.currency,
    }))
}
