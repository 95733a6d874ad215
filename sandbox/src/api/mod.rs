//! PLACEHOLDER written by the authz helper so that `Sandbox` compiles before the bank API
//! is merged: the real module (issue 3) replaces this file wholesale. It keeps only the
//! integration points `Sandbox::start` uses: `ApiConfig` (+ `AccountSeed`), `ApiState::new`,
//! `ApiInitError`, `router`, `MIGRATIONS`, and the contract's inspection methods.

use axum::Router;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::store::Migration;

/// The bank database's migrations (the real API module defines them).
pub const MIGRATIONS: &[Migration] = &[];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Filled by `Sandbox::start` with the authorization server's issuer.
    pub issuer: String,
    pub audience: String,
    pub accounts: Vec<AccountSeed>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: "https://bank.example/api".into(),
            accounts: vec![
                AccountSeed {
                    handle: "alice".into(),
                    sub: None,
                    balance_minor: 100_000,
                },
                AccountSeed {
                    handle: "bob".into(),
                    sub: None,
                    balance_minor: 50_000,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountSeed {
    pub handle: String,
    /// The owner's `sub`; `Sandbox::start` fills it from the authz user store.
    pub sub: Option<String>,
    pub balance_minor: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("bank API initialisation failed")]
pub struct ApiInitError;

#[derive(Debug, Clone)]
pub struct ApiRequestRecord;

#[derive(Debug, Clone, Default)]
pub struct LedgerSummary;

#[derive(Clone)]
pub struct ApiState {
    config: std::sync::Arc<ApiConfig>,
}

impl ApiState {
    pub fn new(config: ApiConfig, _conn: rusqlite::Connection) -> Result<ApiState, ApiInitError> {
        Ok(Self {
            config: std::sync::Arc::new(config),
        })
    }
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }
    pub fn requests(&self) -> Vec<ApiRequestRecord> {
        Vec::new()
    }
    pub fn balance_of(&self, _handle: &str) -> Option<i64> {
        None
    }
    pub fn ledger_summary(&self) -> LedgerSummary {
        LedgerSummary
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}
