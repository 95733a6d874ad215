//! The bank API's settings (`[api]` in the sandbox's TOML), their defaults, and the checks
//! made before anything is served: a refused setting is an error at start, never a
//! surprise at the first request.

use serde::{Deserialize, Serialize};

use super::{ApiInitError, jwks, normalize_handle};
use crate::dpop::ProofPolicy;
use crate::store::bank::{Database, Durability};

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
    /// Where the evidence of multi-factor authentication for a transfer comes from
    /// (`api::assurance`): `true`, the token's own claims (`amr` or an `acr` of
    /// `mfa_acr_values`, and `auth_time`); `false`, the provider's MFA rule for
    /// `transfer:funds`, with any `amr`/`acr`/`auth_time` present held to it. Unset: `true`
    /// for the sandbox's own issuer, `false` for `bank-sandbox api --issuer …`.
    pub require_mfa_for_transfers: Option<bool>,
    /// The `acr` values that mean multi-factor authentication (Keycloak: the level your
    /// realm maps to a second factor, e.g. `"2"`).
    pub mfa_acr_values: Vec<String>,
    /// Refuse transfer tokens that are not bound to the transfer by RFC 9396
    /// `authorization_details` (`payment_initiation`). Unset: on for the sandbox's own
    /// issuer, off for `bank-sandbox api --issuer …` (providers without RAR).
    pub require_authorization_details: Option<bool>,
    /// The person must have authenticated at most this many seconds before a transfer
    /// (`auth_time`: required when the claims are the evidence, checked when present
    /// otherwise); 0 means no limit.
    pub max_auth_age_secs: u64,
    /// Clock-skew allowance for `exp`, `nbf`, `iat` (at most 60 s is accepted).
    pub leeway_secs: u64,
    /// Balance of an account opened on the first request of a new `sub`, in minor units.
    pub opening_balance_minor: i64,
    /// The one currency of this bank (ISO 4217).
    pub currency: String,
    /// Largest amount of a single transfer, in minor units.
    pub max_transfer_minor: i64,
    /// Most payments in one batch (`POST /v1/transfer-batches`), and in the `payment_batch`
    /// a token may approve.
    pub max_batch_payments: usize,
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
    /// Where the ledger lives: `sqlite:PATH` or `postgres://…`. `None`: `bank.sqlite3` in
    /// the data dir (in memory without one). Also `--database` and `BANK_API_DATABASE_URL`.
    pub database: Option<Database>,
    /// Most connections one instance keeps to PostgreSQL.
    pub database_pool_size: usize,
    /// `full` (default): a 201 means the transfer reached the disk. `relaxed`: it survives
    /// a crash of the API, not a power cut of the database's machine.
    pub durability: Durability,
    /// Who gets an account. `None` means the mode's default: `on-first-use` for the
    /// sandbox's own `serve`, `provisioned` for `bank-sandbox api --issuer …`.
    pub open_accounts: Option<OpenAccounts>,
    /// RFC 9449 sender-constrained tokens: `required` (every request needs a DPoP-bound
    /// token), `transfers` (moving money does), `optional` (bound tokens are held to their
    /// key, bearer tokens still work). `None` means the mode's default: `transfers` for the
    /// sandbox's own issuer, `optional` for `bank-sandbox api --issuer …`.
    pub dpop: Option<DpopMode>,
    /// The proof window, the nonce demand and the replay cache for proofs sent with bound
    /// tokens.
    pub dpop_proofs: ApiProofPolicy,
    /// The URL clients reach this API at, which their proofs name in `htu` (behind a proxy
    /// or load balancer, its public address). `None`: `http://` and the listen address,
    /// filled in when the API starts. Never taken from a request's `Host` header.
    pub public_url: Option<String>,
    /// Whether `preferred_username` may name a new account's handle. Only for the sandbox's
    /// own issuer, whose usernames are unique and chosen by its administrator
    /// (`Sandbox::start` sets it); an external issuer's `preferred_username` is whatever the
    /// user typed. Never read from a file.
    #[serde(skip)]
    pub handle_from_preferred_username: bool,
}

/// Who gets an account at this bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpenAccounts {
    /// A sandbox convenience: the first request of an unknown `sub` opens an account with
    /// the opening balance, under a handle the issuer vouches for (`preferred_username`
    /// from the sandbox's own issuer, `email` only with `email_verified`), else a handle
    /// derived from `sub`. A handle that is taken is never handed out.
    OnFirstUse,
    /// Only accounts opened by the bank (`bank-sandbox accounts open`, or `[[api.accounts]]`
    /// seeds) are served; anyone else gets `403 account-not-open`.
    Provisioned,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            issuer: String::new(),
            audience: "https://bank.example/api".into(),
            // The demo users (alice, bob). Their `sub`s live in the authorization server's
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
            require_mfa_for_transfers: None,
            mfa_acr_values: vec![super::assurance::MFA_ACR.to_owned()],
            require_authorization_details: None,
            max_auth_age_secs: 300,
            leeway_secs: 60,
            opening_balance_minor: 100_000,
            currency: "USD".into(),
            max_transfer_minor: 1_000_000,
            max_batch_payments: bank_protocol::DEFAULT_MAX_BATCH_PAYMENTS,
            jwks_refresh_burst: 3,
            jwks_min_refresh_secs: 10,
            jwks_max_age_secs: 3600,
            verified_token_cache_capacity: 10_000,
            database: None,
            database_pool_size: 16,
            durability: Durability::Full,
            open_accounts: None,
            dpop: None,
            dpop_proofs: ApiProofPolicy::default(),
            public_url: None,
            handle_from_preferred_username: false,
        }
    }
}

/// `[api.dpop_proofs]`: the proof rules both servers share ([`ProofPolicy`]) and the bank
/// API's replay cache (`api::dpop`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiProofPolicy {
    /// See [`ProofPolicy::max_age_secs`].
    pub max_age_secs: u64,
    /// See [`ProofPolicy::max_clock_skew_secs`].
    pub max_clock_skew_secs: u64,
    /// See [`ProofPolicy::require_nonce`].
    pub require_nonce: bool,
    /// See [`ProofPolicy::nonce_period_secs`].
    pub nonce_period_secs: u64,
    /// Most proofs this instance remembers at once, each until its window has passed;
    /// when all are live a new proof is answered 503 (a live one is never forgotten).
    pub replay_cache_capacity: usize,
    /// Benchmarks only, never in production: accept replayed proofs on every request but a
    /// transfer (whose proof is still spent in its transaction), to measure what the
    /// in-process check costs.
    pub bench_skip_replay_check: bool,
}

impl Default for ApiProofPolicy {
    fn default() -> Self {
        let shared = ProofPolicy::default();
        ApiProofPolicy {
            max_age_secs: shared.max_age_secs,
            max_clock_skew_secs: shared.max_clock_skew_secs,
            require_nonce: shared.require_nonce,
            nonce_period_secs: shared.nonce_period_secs,
            // 16,000 proofs/s over the default 65 s window; about 50 MB when full.
            replay_cache_capacity: 1_048_576,
            bench_skip_replay_check: false,
        }
    }
}

impl ApiProofPolicy {
    /// The rules the proof verifier applies.
    pub fn proof_policy(&self) -> ProofPolicy {
        ProofPolicy {
            max_age_secs: self.max_age_secs,
            max_clock_skew_secs: self.max_clock_skew_secs,
            require_nonce: self.require_nonce,
            nonce_period_secs: self.nonce_period_secs,
        }
    }

    fn problem(&self) -> Option<&'static str> {
        if let Some(problem) = self.proof_policy().problem() {
            return Some(problem);
        }
        if !(1..=100_000_000).contains(&self.replay_cache_capacity) {
            return Some("dpop_proofs.replay_cache_capacity must be from 1 to 100000000");
        }
        None
    }
}

/// Which tokens must be DPoP-bound (`[api] dpop`, `--dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DpopMode {
    /// Every request needs a DPoP-bound token with its proof.
    Required,
    /// `POST /v1/transfers` needs a DPoP-bound token; reading works with bearer tokens.
    Transfers,
    /// Bound tokens need their proof; unbound bearer tokens are accepted everywhere.
    Optional,
}

/// An account to create at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    pub handle: String,
    pub sub: Option<String>,
    pub balance_minor: i64,
}

/// Whose tokens the API accepts, which decides the defaults of the settings left unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// The sandbox's own authorization server (`bank-sandbox serve`, `Sandbox::start`): it
    /// speaks RFC 9396, binds tokens to DPoP keys and puts `amr`/`auth_time` in them.
    Sandbox,
    /// Anyone else's (`bank-sandbox api --issuer …`): only what RFC 9068 makes mandatory.
    External,
}

impl ApiConfig {
    /// Fills every setting left unset with its default for `kind` (sandbox/API.md).
    pub fn apply_defaults(&mut self, kind: IssuerKind) {
        let own = kind == IssuerKind::Sandbox;
        self.require_mfa_for_transfers.get_or_insert(own);
        self.require_authorization_details.get_or_insert(own);
        self.open_accounts.get_or_insert(if own {
            OpenAccounts::OnFirstUse
        } else {
            OpenAccounts::Provisioned
        });
        self.dpop.get_or_insert(if own {
            DpopMode::Transfers
        } else {
            DpopMode::Optional
        });
    }

    /// The assurance policy these settings describe; settings left unset take the strict
    /// side (claims as evidence).
    pub fn step_up_policy(&self) -> super::StepUpPolicy {
        super::StepUpPolicy {
            evidence: if self.require_mfa_for_transfers.unwrap_or(true) {
                super::auth::Evidence::TokenClaims
            } else {
                super::auth::Evidence::ProviderRule
            },
            mfa_acr_values: self.mfa_acr_values.clone(),
            require_authorization_details: self.require_authorization_details.unwrap_or(false),
            max_auth_age_secs: (self.max_auth_age_secs > 0).then_some(self.max_auth_age_secs),
            leeway_secs: self.leeway_secs,
        }
    }

    /// The checks [`ApiState::new`] makes, for callers that want them before opening a
    /// database.
    pub fn validate(&self) -> Result<(), ApiInitError> {
        validate_config(self)
    }
}

pub(super) fn validate_config(config: &ApiConfig) -> Result<(), ApiInitError> {
    let bad = |msg: &str| Err(ApiInitError::Config(msg.to_owned()));
    if config.issuer.is_empty() {
        return bad("issuer is required");
    }
    if !(config.issuer.starts_with("https://") || config.issuer.starts_with("http://")) {
        return bad("issuer must be an http(s) URL");
    }
    // Discovery and the signing keys come from the issuer's URL: over plain http anyone on
    // the path could serve their own keys and have forged tokens accepted.
    if !jwks::acceptable_key_url(&config.issuer) {
        return Err(ApiInitError::Config(format!(
            "issuer (--issuer, [api] issuer) must use https unless it is a loopback address \
             (127.0.0.0/8, ::1, localhost): {}",
            config.issuer
        )));
    }
    if config.audience.is_empty() {
        return bad("audience is required");
    }
    if config.mfa_acr_values.iter().any(String::is_empty) {
        return bad("mfa_acr_values must not contain an empty value");
    }
    // RFC 9068 / common practice: clock skew allowances beyond a minute only widen replay
    // and expiry windows.
    if config.leeway_secs > 60 {
        return bad("leeway_secs must be at most 60");
    }
    if config.opening_balance_minor < 0 || config.max_transfer_minor <= 0 {
        return bad("opening balance must be >= 0 and max transfer > 0");
    }
    if config.max_batch_payments == 0 || config.max_batch_payments > 100_000 {
        return bad("max_batch_payments must be from 1 to 100000");
    }
    if config.currency.len() != 3 || !config.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return bad("currency must be a three-letter ISO 4217 code");
    }
    if let Some(problem) = config.dpop_proofs.problem() {
        return Err(ApiInitError::Config(format!("api.{problem}")));
    }
    if let Some(url) = &config.public_url {
        super::dpop::public_base(url)?;
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
