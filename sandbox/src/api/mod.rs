//! The bank API: a resource server that validates every token itself and enforces step-up.
//!
//! It knows only an issuer URL and an audience (so it can sit behind Auth0, Okta or
//! Keycloak as well as behind the sandbox's own authorization server) and keeps its own
//! state ([`ApiState`]: config, the issuer's key cache, the ledger, an audit trail),
//! separate from the authorization server's: the trust boundary between them is HTTP.
//! Layers: `auth` decides whether a token is good enough, `balance` / `transfers` are thin
//! handlers, `store::bank` keeps the money rules atomic, `error::problem` renders answers.
//!
//! | request | needs | answer |
//! |---|---|---|
//! | `GET /healthz` | nothing | `{"status":"ok"}` |
//! | `GET /v1/balance` | `view:balance` | `{"account","balance","currency"}` |
//! | `GET /v1/transfers?limit=N` | `view:balance` | the account's transfers, newest first |
//! | `POST /v1/transfers` + `Idempotency-Key` | `transfer:funds`, MFA, single use | `201` |

pub mod auth;
mod balance;
pub mod extract;
pub mod jwks;
pub mod token_cache;
mod transfers;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use self::auth::TokenVerifier;
pub use self::auth::{Claims, Clock, RequireScope, RequireStepUp, StepUpPolicy, ValidatedClaims};
use self::jwks::KeyCache;
pub use self::token_cache::TokenCacheStats;
use crate::error::ApiError;
use crate::store::StoreError;
use crate::store::bank::{BankStore, SeedError};
pub use crate::store::bank::{LedgerSummary, MIGRATIONS};

/// How many request records the in-memory audit trail keeps.
const AUDIT_CAPACITY: usize = 1024;

/// The bank API's configuration. Every field has a default (`#[serde(default)]`), so a
/// TOML section only names what it changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// The issuer whose tokens are accepted, compared as an exact string with `iss`
    /// (e.g. `http://127.0.0.1:8400`, or `https://TENANT.auth0.com/` with its slash).
    /// Filled in by `Sandbox::start` when the sandbox's own issuer is used.
    pub issuer: String,
    /// Our API identifier; tokens must carry it in `aud` (string or array).
    pub audience: String,
    /// Accounts created at start (unless they exist). Seeds without a `sub` are skipped:
    /// the sandbox fills them in from its user store.
    pub accounts: Vec<AccountSeed>,
    /// RFC 9470 policy for transfers: demand MFA evidence (`amr` has `mfa` or the
    /// multi-factor `acr`). On in the sandbox.
    pub require_mfa_for_transfers: bool,
    /// Refuse transfer tokens that are not bound to the transfer by RFC 9396
    /// `authorization_details` (`payment_initiation`). Unset: on for the sandbox's own
    /// issuer, off for `bank-sandbox api --issuer …` (providers without RAR).
    pub require_authorization_details: Option<bool>,
    /// RFC 9470 policy for transfers: the user must have authenticated at most this many
    /// seconds ago (`auth_time`). `None` disables the check.
    pub max_auth_age_secs: Option<u64>,
    /// Clock-skew allowance for `exp`, `nbf`, `iat` (at most 60 s is accepted).
    pub leeway_secs: u64,
    /// Balance of an account opened on the first request of a new `sub`, in minor units.
    pub opening_balance_minor: i64,
    /// The one currency of this bank (ISO 4217).
    pub currency: String,
    /// Largest amount of a single transfer, in minor units.
    pub max_transfer_minor: i64,
    /// Key fetches allowed at once (e.g. right after a key rotation)...
    pub jwks_refresh_burst: u32,
    /// ...then at most one per this many seconds, so made-up `kid`s cannot hammer the
    /// issuer. Zero disables the limit.
    pub jwks_min_refresh_secs: u64,
    /// Cached keys older than this are refreshed on next use (kept if the issuer is down).
    pub jwks_max_age_secs: u64,
    /// How many verified tokens to remember, so that a token used again skips the signature
    /// check (never the time, scope, step-up or single-use checks); 0 disables the cache.
    pub verified_token_cache_capacity: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            issuer: String::new(),
            audience: "https://bank.example/api".into(),
            // The demo users of DESIGN.md. Their `sub`s live in the authorization server's
            // store, so the sandbox fills them in at start; against an external issuer
            // they are skipped and accounts open on first use instead.
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
            require_mfa_for_transfers: true,
            require_authorization_details: None,
            max_auth_age_secs: Some(300),
            leeway_secs: 60,
            opening_balance_minor: 100_000,
            currency: "USD".into(),
            max_transfer_minor: 1_000_000,
            jwks_refresh_burst: 3,
            jwks_min_refresh_secs: 10,
            jwks_max_age_secs: 3600,
            verified_token_cache_capacity: 10_000,
        }
    }
}

/// An account to create at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    pub handle: String,
    pub sub: Option<String>,
    pub balance_minor: i64,
}

/// Why the API could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApiInitError {
    #[error("invalid bank API configuration: {0}")]
    Config(String),
    #[error("could not build the HTTP client for the issuer's keys")]
    Http(#[source] reqwest::Error),
    #[error("could not seed account")]
    Seed(#[source] SeedError),
}

/// One answered request, for tests and the demo. Never contains a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub www_authenticate: Option<String>,
    /// The `jti` of the request's token, once it verified.
    pub jti: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Clone-able handle on the API's state.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ApiConfig,
    verifier: TokenVerifier,
    policy: StepUpPolicy,
    store: Arc<BankStore>,
    audit: Mutex<VecDeque<ApiRequestRecord>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// Builds the state over a connection from `store::open(path, store::bank::MIGRATIONS)`
    /// and seeds the configured accounts. No network call happens here: the issuer's keys
    /// are fetched on the first request that needs them.
    pub fn new(config: ApiConfig, conn: rusqlite::Connection) -> Result<ApiState, ApiInitError> {
        validate_config(&config)?;
        let keys = KeyCache::new(
            config.issuer.clone(),
            config.jwks_refresh_burst,
            Duration::from_secs(config.jwks_min_refresh_secs),
            Duration::from_secs(config.jwks_max_age_secs),
        )
        .map_err(ApiInitError::Http)?;
        let verifier = TokenVerifier::new(
            config.issuer.clone(),
            config.audience.clone(),
            config.leeway_secs,
            keys,
            Clock::default(),
        )
        .with_cache(config.verified_token_cache_capacity);
        let policy = StepUpPolicy {
            require_mfa: config.require_mfa_for_transfers,
            require_authorization_details: config.require_authorization_details.unwrap_or(false),
            max_auth_age_secs: config.max_auth_age_secs,
            leeway_secs: config.leeway_secs,
        };
        let store = BankStore::new(conn);
        for seed in &config.accounts {
            let Some(sub) = &seed.sub else { continue };
            store
                .seed_account(sub, &seed.handle, &config.currency, seed.balance_minor)
                .map_err(ApiInitError::Seed)?;
        }
        Ok(ApiState {
            inner: Arc::new(Inner {
                config,
                verifier,
                policy,
                store: Arc::new(store),
                audit: Mutex::new(VecDeque::with_capacity(AUDIT_CAPACITY)),
            }),
        })
    }

    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The API's clock; tests advance it to age tokens without sleeping.
    pub fn clock(&self) -> &Clock {
        self.inner.verifier.clock()
    }

    /// Hits, misses and size of the verified-token cache.
    pub fn token_cache_stats(&self) -> TokenCacheStats {
        self.inner.verifier.cache_stats()
    }

    /// The bounded audit trail of answered requests, oldest first.
    pub fn requests(&self) -> Vec<ApiRequestRecord> {
        self.audit().iter().cloned().collect()
    }

    /// The balance of the account named `handle`, in minor units.
    pub fn balance_of(&self, handle: &str) -> Option<i64> {
        self.inner.store.balance_of(handle).unwrap_or_else(|err| {
            tracing::error!(error = %err, "balance_of failed");
            None
        })
    }

    /// Totals for invariant checks (sum of balances = sum of openings).
    pub fn ledger_summary(&self) -> LedgerSummary {
        self.inner.store.ledger_summary().unwrap_or_else(|err| {
            tracing::error!(error = %err, "ledger_summary failed");
            LedgerSummary {
                accounts: 0,
                transfers: 0,
                total_balance_minor: 0,
                total_opening_minor: 0,
            }
        })
    }

    pub(crate) fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }

    pub(crate) fn step_up_policy(&self) -> &StepUpPolicy {
        &self.inner.policy
    }

    /// Runs a store operation on the blocking pool: SQLite calls block, and the store's
    /// mutex must never be held on an async worker.
    pub(crate) async fn with_store<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&BankStore) -> T + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .map_err(ApiError::internal)
    }

    /// The caller's account, opened on first sight of a new `sub` (with the configured
    /// opening balance and a handle from `preferred_username`, `nickname` or `email`).
    pub(crate) async fn account_for(
        &self,
        claims: &Claims,
    ) -> Result<crate::store::bank::Account, ApiError> {
        // The common case, an existing account, without a trip to the blocking pool.
        match self.inner.store.try_account_by_sub(&claims.sub) {
            Some(Ok(Some(account))) => return Ok(account),
            Some(Err(err)) => return Err(ApiError::internal(err)),
            Some(Ok(None)) | None => {}
        }
        let sub = claims.sub.clone();
        let candidates: Vec<String> = [&claims.preferred_username, &claims.nickname, &claims.email]
            .into_iter()
            .flatten()
            .filter_map(|name| normalize_handle(name))
            .collect();
        let fallback = {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(sub.as_bytes());
            format!("user-{}", &hex::encode(digest)[..12])
        };
        let currency = self.inner.config.currency.clone();
        let opening = self.inner.config.opening_balance_minor;
        self.with_store(move |store| {
            store.account_for_sub(&sub, &candidates, &fallback, &currency, opening)
        })
        .await?
        .map_err(|err: StoreError| ApiError::internal(err))
    }

    fn audit(&self) -> std::sync::MutexGuard<'_, VecDeque<ApiRequestRecord>> {
        // Records are pushed whole; a poisoned lock still holds a consistent deque.
        self.inner.audit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn validate_config(config: &ApiConfig) -> Result<(), ApiInitError> {
    let bad = |msg: &str| Err(ApiInitError::Config(msg.to_owned()));
    if config.issuer.is_empty() {
        return bad("issuer is required");
    }
    if !(config.issuer.starts_with("https://") || config.issuer.starts_with("http://")) {
        return bad("issuer must be an http(s) URL");
    }
    if config.audience.is_empty() {
        return bad("audience is required");
    }
    // RFC 9068 / common practice: clock skew allowances beyond a minute only widen replay
    // and expiry windows.
    if config.leeway_secs > 60 {
        return bad("leeway_secs must be at most 60");
    }
    if config.opening_balance_minor < 0 || config.max_transfer_minor <= 0 {
        return bad("opening balance must be >= 0 and max transfer > 0");
    }
    if config.currency.len() != 3 || !config.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return bad("currency must be a three-letter ISO 4217 code");
    }
    for seed in &config.accounts {
        if normalize_handle(&seed.handle).as_deref() != Some(seed.handle.as_str()) {
            return Err(ApiInitError::Config(format!(
                "account handle {:?} must be 1-64 of a-z 0-9 . _ - + @",
                seed.handle
            )));
        }
        if seed.balance_minor < 0 {
            return bad("seed balances must be >= 0");
        }
    }
    Ok(())
}

pub(crate) use bank_protocol::text::normalize_handle;

/// The bank API's routes, with the body limit, audit trail and `Cache-Control: no-store`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/balance", get(balance::get_balance))
        .route(
            "/v1/transfers",
            get(transfers::list_transfers).post(transfers::create_transfer),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit_and_headers,
        ))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed(uri: Uri) -> Response {
    let allow = if uri.path() == "/v1/transfers" {
        "GET, POST"
    } else {
        "GET"
    };
    let mut response = ApiError::MethodNotAllowed.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Where the token extractor leaves the verified `jti` for the audit record.
#[derive(Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<Option<String>>>);

impl AuditSlot {
    pub(crate) fn set_jti(&self, jti: Option<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = jti;
    }

    fn take_jti(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Records every answered request (never a token) and marks every answer `no-store`:
/// balances and transfer receipts must not sit in shared caches (RFC 9111 §5.2.2.5).
async fn audit_and_headers(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(255).collect());

    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

    let record = ApiRequestRecord {
        method,
        path,
        status: response.status().as_u16(),
        www_authenticate: response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        jti: slot.take_jti(),
        idempotency_key,
    };
    let mut audit = state.audit();
    if audit.len() == AUDIT_CAPACITY {
        audit.pop_front();
    }
    audit.push_back(record);
    drop(audit);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ApiState {
        let conn = crate::store::open(None, MIGRATIONS).expect("in-memory db");
        // Port 9 (discard) is never contacted: these requests carry no token.
        let config = ApiConfig {
            issuer: "http://127.0.0.1:9".into(),
            ..ApiConfig::default()
        };
        ApiState::new(config, conn).expect("state")
    }

    #[tokio::test]
    async fn router_answers_without_a_network() {
        use axum::body::Body;
        use tower::ServiceExt as _;

        let app = router(state());
        let request = Request::get("/v1/balance")
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

        let request = Request::get("/healthz")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), 200);
    }

    #[test]
    fn config_is_validated() {
        let conn = || crate::store::open(None, MIGRATIONS).expect("in-memory db");
        for bad in [
            ApiConfig::default(),
            ApiConfig {
                issuer: "ftp://x".into(),
                ..ApiConfig::default()
            },
            ApiConfig {
                issuer: "http://127.0.0.1:9".into(),
                leeway_secs: 61,
                ..ApiConfig::default()
            },
        ] {
            assert!(matches!(
                ApiState::new(bad, conn()),
                Err(ApiInitError::Config(_))
            ));
        }
    }

    #[test]
    fn config_from_toml_keeps_defaults_and_refuses_typos() {
        let config: ApiConfig =
            toml::from_str("audience = \"https://other.example/api\"\nmax_auth_age_secs = 120")
                .expect("valid config");
        assert_eq!(config.audience, "https://other.example/api");
        assert_eq!(config.max_auth_age_secs, Some(120));
        assert!(config.require_mfa_for_transfers);
        assert_eq!(config.accounts.len(), 2);
        assert!(toml::from_str::<ApiConfig>("require_mfa = false").is_err());
    }
}
