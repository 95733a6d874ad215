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

mod account_ids;
mod assurance;
pub mod auth;
mod balance;
mod batches;
mod config;
mod details;
pub mod dpop;
pub mod extract;
pub mod jwks;
mod require;
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
use axum::routing::{get, post};

use self::auth::TokenVerifier;
pub use self::auth::{Claims, Clock, RequireScope, StepUpPolicy, TransferToken, ValidatedClaims};
use self::config::validate_config;
pub use self::config::{
    AccountSeed, ApiConfig, ApiProofPolicy, DpopMode, IssuerKind, OpenAccounts,
};
use self::dpop::SenderConstraint;
use self::jwks::KeyCache;
pub use self::token_cache::TokenCacheStats;
use crate::error::{ApiError, AuthChallenge, AuthScheme};
use crate::store::StoreError;
use crate::store::bank::{BankStore, Opened, SeedError};
pub use crate::store::bank::{Database, Durability, LedgerSummary, MIGRATIONS};

/// How many request records the in-memory audit trail keeps.
const AUDIT_CAPACITY: usize = 1024;

/// Why the API could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApiInitError {
    #[error("invalid bank API configuration: {0}")]
    Config(String),
    #[error("could not build the HTTP client for the issuer's keys")]
    Http(#[source] reqwest::Error),
    #[error("could not seed account")]
    Seed(#[source] SeedError),
    #[error("could not open the bank database")]
    Store(#[source] StoreError),
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
    sender: SenderConstraint,
    store: BankStore,
    open_accounts: OpenAccounts,
    audit: Mutex<VecDeque<ApiRequestRecord>>,
    account_ids: account_ids::AccountIds,
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
    /// Builds the state over an open store and seeds the configured accounts. No call to
    /// the issuer happens here: its keys are fetched on the first request that needs them.
    /// `open_accounts` left unset means `provisioned`, `dpop` left unset `optional`;
    /// `public_url` is required (the caller knows where it listens).
    pub async fn new(config: ApiConfig, store: BankStore) -> Result<ApiState, ApiInitError> {
        validate_config(&config)?;
        let Some(public_url) = config.public_url.as_deref() else {
            return Err(ApiInitError::Config(
                "public_url is required: the URL clients reach this API at".into(),
            ));
        };
        let keys = KeyCache::new(
            config.issuer.clone(),
            config.jwks_refresh_burst,
            Duration::from_secs(config.jwks_min_refresh_secs),
            Duration::from_secs(config.jwks_max_age_secs),
        )
        .map_err(ApiInitError::Http)?;
        let clock = Clock::default();
        let verifier = TokenVerifier::new(
            config.issuer.clone(),
            config.audience.clone(),
            config.leeway_secs,
            keys,
            clock.clone(),
        )
        .with_cache(config.verified_token_cache_capacity)
        .with_max_batch_payments(config.max_batch_payments);
        // Every instance on one database must accept the nonces the others hand out.
        let nonce_key = store
            .server_secret("dpop-nonce-key", &hex::encode(rand::random::<[u8; 32]>()))
            .await
            .map_err(ApiInitError::Store)?;
        let nonce_key: [u8; 32] =
            <sha2::Sha256 as sha2::Digest>::digest(nonce_key.as_bytes()).into();
        let sender = SenderConstraint::new(
            config.dpop.unwrap_or(DpopMode::Optional),
            &config.dpop_proofs,
            public_url,
            nonce_key,
            clock,
        )?;
        let policy = config.step_up_policy();
        for seed in &config.accounts {
            let Some(sub) = &seed.sub else { continue };
            // Seeds are idempotent: an existing account keeps its balance.
            let _: Opened = store
                .open_account(sub, &seed.handle, &config.currency, seed.balance_minor)
                .await
                .map_err(ApiInitError::Seed)?;
        }
        let open_accounts = config.open_accounts.unwrap_or(OpenAccounts::Provisioned);
        Ok(ApiState {
            inner: Arc::new(Inner {
                config,
                verifier,
                policy,
                sender,
                store,
                open_accounts,
                audit: Mutex::new(VecDeque::with_capacity(AUDIT_CAPACITY)),
                account_ids: account_ids::AccountIds::default(),
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

    /// The ledger, for reads from any engine (`store().balance_of(h).await`).
    pub fn store(&self) -> &BankStore {
        &self.inner.store
    }

    /// The balance of the account named `handle`, in minor units, read synchronously (the
    /// demo and tests). SQLite only: on PostgreSQL use [`ApiState::store`].
    pub fn balance_of(&self, handle: &str) -> Option<i64> {
        let Some(store) = self.inner.store.as_sqlite() else {
            tracing::error!("balance_of is for SQLite; use store().balance_of on PostgreSQL");
            return None;
        };
        store.balance_of(handle).unwrap_or_else(|err| {
            tracing::error!(error = %err, "balance_of failed");
            None
        })
    }

    /// Totals for invariant checks (sum of balances = sum of openings), read synchronously.
    /// SQLite only: on PostgreSQL use [`ApiState::store`].
    pub fn ledger_summary(&self) -> LedgerSummary {
        let summary = match self.inner.store.as_sqlite() {
            Some(store) => store.ledger_summary(),
            None => Err(StoreError::Config(
                "ledger_summary is for SQLite; use store().ledger_summary on PostgreSQL".into(),
            )),
        };
        summary.unwrap_or_else(|err| {
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

    /// The DPoP rules: the mode, the proof verifier, the public URL.
    pub fn sender(&self) -> &SenderConstraint {
        &self.inner.sender
    }

    /// The caller's account. Unknown `sub`s get one only under `on-first-use`, with the
    /// configured opening balance and a handle the issuer vouches for.
    pub(crate) async fn account_for(
        &self,
        claims: &Claims,
    ) -> Result<crate::store::bank::Account, ApiError> {
        let store = &self.inner.store;
        if let Some(account) = store
            .account_by_sub(&claims.sub)
            .await
            .map_err(store_error)?
        {
            return Ok(account);
        }
        if self.inner.open_accounts == OpenAccounts::Provisioned {
            return Err(ApiError::AccountNotOpen);
        }
        let config = &self.inner.config;
        let candidates = vouched_handles(claims, config.handle_from_preferred_username);
        let fallback = {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(claims.sub.as_bytes());
            format!("user-{}", &hex::encode(digest)[..12])
        };
        store
            .account_on_first_use(
                &claims.sub,
                &candidates,
                &fallback,
                &config.currency,
                config.opening_balance_minor,
            )
            .await
            .map_err(store_error)
    }

    /// The id of the account `claims` sends from (opened on first use like
    /// [`ApiState::account_for`]), remembered by this instance once known.
    pub(crate) async fn account_id_for(&self, claims: &Claims) -> Result<i64, ApiError> {
        if let Some(id) = self.inner.account_ids.get(&claims.sub) {
            return Ok(id);
        }
        let account = self.account_for(claims).await?;
        self.inner.account_ids.remember(&claims.sub, account.id);
        Ok(account.id)
    }

    fn audit(&self) -> std::sync::MutexGuard<'_, VecDeque<ApiRequestRecord>> {
        // Records are pushed whole; a poisoned lock still holds a consistent deque.
        self.inner.audit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handles a token's issuer vouches for, best first. `nickname` and an unverified `email`
/// are whatever the user typed at the issuer, so they never name an account: whoever
/// typed `alice` first would own the handle.
fn vouched_handles(claims: &Claims, trust_preferred_username: bool) -> Vec<String> {
    let username = claims
        .preferred_username
        .as_deref()
        .filter(|_| trust_preferred_username);
    let email = claims.email.as_deref().filter(|_| claims.email_verified);
    [username, email]
        .into_iter()
        .flatten()
        .filter_map(normalize_handle)
        .collect()
}

/// A store failure as an answer: contention and an unreachable database are a 503 the
/// client may retry (nothing half-done), anything else a 500.
pub(crate) fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Busy { .. } | StoreError::Unavailable(_) => {
            tracing::warn!(error = %err, "bank database busy or unavailable");
            ApiError::Busy
        }
        other => ApiError::internal(other),
    }
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
        .route(
            "/v1/transfer-batches",
            post(batches::create_batch).layer(DefaultBodyLimit::max(batches::body_limit(
                state.config().max_batch_payments,
            ))),
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

/// What the token extractors learned about a request, for the answer's challenges and the
/// audit record.
#[derive(Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<SlotData>>);

#[derive(Default)]
struct SlotData {
    jti: Option<String>,
    scheme: Option<AuthScheme>,
    /// Only DPoP-bound tokens are accepted here (the extractor of the endpoint said so).
    bearer_refused: bool,
}

impl AuditSlot {
    fn data(&self) -> std::sync::MutexGuard<'_, SlotData> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_jti(&self, jti: Option<String>) {
        self.data().jti = jti;
    }

    pub(crate) fn set_scheme(&self, scheme: AuthScheme) {
        self.data().scheme = Some(scheme);
    }

    pub(crate) fn refuse_bearer(&self) {
        self.data().bearer_refused = true;
    }

    fn take_jti(&self) -> Option<String> {
        self.data().jti.take()
    }
}

/// Renders the challenge of a refusal for the scheme the request used and the schemes the
/// endpoint accepts (`error::challenges`), and hands out the current DPoP nonce while one
/// is demanded (RFC 9449 §9: on any answer, so clients follow its changes).
fn finish_challenges(state: &ApiState, slot: &AuditSlot, response: &mut Response) {
    if let Some(challenge) = response.extensions_mut().remove::<AuthChallenge>() {
        let (scheme, bearer_refused) = {
            let data = slot.data();
            (data.scheme.unwrap_or(AuthScheme::None), data.bearer_refused)
        };
        let bearer_allowed = !bearer_refused && state.sender().mode() != DpopMode::Required;
        let headers = response.headers_mut();
        headers.remove(header::WWW_AUTHENTICATE);
        for value in crate::error::challenges(&challenge, scheme, bearer_allowed) {
            if let Some(value) = crate::error::challenge_header(&value) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
    }
    if let Some(nonce) = state.sender().nonce()
        && !response
            .headers()
            .contains_key(bank_protocol::dpop::NONCE_HEADER)
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response
            .headers_mut()
            .insert(bank_protocol::dpop::NONCE_HEADER, value);
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
    finish_challenges(&state, &slot, &mut response);
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

    fn store() -> BankStore {
        BankStore::from_sqlite(crate::store::open(None, MIGRATIONS).expect("in-memory db"))
    }

    async fn state() -> ApiState {
        // Port 9 (discard) is never contacted: these requests carry no token.
        let config = ApiConfig {
            issuer: "http://127.0.0.1:9".into(),
            public_url: Some("http://127.0.0.1:9".into()),
            ..ApiConfig::default()
        };
        ApiState::new(config, store()).await.expect("state")
    }

    #[tokio::test]
    async fn router_answers_without_a_network() {
        use axum::body::Body;
        use tower::ServiceExt as _;

        let app = router(state().await);
        let request = Request::get("/v1/balance")
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), 401);
        let challenges: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(challenges, ["Bearer", r#"DPoP algs="ES256""#]);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

        let request = Request::get("/healthz")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn config_is_validated() {
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
                ApiState::new(bad, store()).await,
                Err(ApiInitError::Config(_))
            ));
        }
    }

    #[tokio::test]
    async fn the_issuer_needs_tls_unless_it_is_on_loopback() {
        for issuer in [
            "http://idp.example.test",
            "http://idp.example.test:8400/",
            "http://10.0.0.8",
            "http://127.0.0.1.nip.io",
            "http://localhost.example",
        ] {
            let config = ApiConfig {
                issuer: issuer.into(),
                ..ApiConfig::default()
            };
            let err = ApiState::new(config, store())
                .await
                .expect_err(issuer)
                .to_string();
            assert!(
                err.contains("issuer") && err.contains("https") && err.contains(issuer),
                "{issuer}: {err}"
            );
        }
        for issuer in [
            "https://tenant.auth0.com/",
            "http://127.0.0.1:8400",
            "http://127.9.9.9",
            "http://[::1]:8400",
            "http://localhost:8400",
        ] {
            let config = ApiConfig {
                issuer: issuer.into(),
                public_url: Some("http://127.0.0.1:9".into()),
                ..ApiConfig::default()
            };
            assert!(ApiState::new(config, store()).await.is_ok(), "{issuer}");
        }
    }

    #[test]
    fn config_from_toml_keeps_defaults_and_refuses_typos() {
        let config: ApiConfig =
            toml::from_str("audience = \"https://other.example/api\"\nmax_auth_age_secs = 120")
                .expect("valid config");
        assert_eq!(config.audience, "https://other.example/api");
        assert_eq!(config.max_auth_age_secs, 120);
        assert_eq!(config.require_mfa_for_transfers, None);
        assert_eq!(config.accounts.len(), 2);
        assert!(toml::from_str::<ApiConfig>("require_mfa = false").is_err());
    }
}
