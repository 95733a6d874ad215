//! `GET /v1/balance`: the caller's balance. Needs `view:balance`; the account is the
//! token's `sub`, never something the request names.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ApiState;
use super::auth::{RequireScope, ViewBalance};
use super::money::format_minor;
use crate::error::ApiError;

#[derive(Debug, Serialize)]
pub struct BalanceResponse {
    pub account: String,
    pub balance: String,
    pub currency: String,
}

pub async fn get_balance(
    State(state): State<ApiState>,
    RequireScope(claims, _): RequireScope<ViewBalance>,
) -> Result<Json<BalanceResponse>, ApiError> {
    let account = state.account_for(&claims).await?;
    Ok(Json(BalanceResponse {
        account: account.handle,
        balance: format_minor(account.balance_minor),
        currency: account.currency,
    }))
}
