//! The authorization server: a stand-in for an Auth0 tenant that issues RFC 9068 access
//! tokens for the bank API, with push-style MFA for high-value scopes.
//!
//! [`AuthzState`] is the one handle on everything the server knows (config, store, keys,
//! the audit trail, the MFA change signal); [`router`] maps URLs onto the handler modules.
//! Each module owns one part of the protocol: `discovery` and `jwks` publish metadata,
//! `authorize` takes requests (`validate` holds their rules) and decides what happens next, `login` and `session`
//! authenticate people, `mfa` runs push approval (answered on the `authenticator` page) and
//! `binding` ties each push to its browser by a number and to its payment by RFC 9396 details,
//! `device` runs the RFC 8628 device flow on top of all that, `token` and `revoke` are the
//! client-facing endpoints (`par` takes pushed authorization requests, `dpop` checks the
//! proofs of RFC 9449), `admin` serves the `bank-sandbox mfa` commands. Handlers parse; the
//! `impl AuthzState` blocks in those modules decide; `store::authz` persists.

mod admin;
mod authenticator;
mod authorize;
mod batch_view;
mod binding;
pub mod config;
mod device;
mod discovery;
mod dpop;
mod events;
pub mod keys;
mod login;
mod mfa;
mod pages;
mod par;
mod revoke;
pub mod secrets;
mod session;
mod throttle;
mod token;
mod validate;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use rusqlite::Connection;
use tokio::sync::watch;

pub use admin::Admin;
pub use binding::{MAX_WRONG_CODES, clock_time};
pub use config::{
    ACR_MFA, ACR_PWD, ApiParameter, AuthzConfig, ClientConfig, DeviceConfig, DpopSupport, Password,
    PasswordHashing, PushLimit, ScopeConfig, ThrottleConfig, UserSeed,
};
pub use device::{DEVICE_CODE_GRANT, DeviceRequestInfo, USER_CODE_ALPHABET};
pub use events::{AuthzEvent, LoginName};
pub use mfa::{MfaError, MfaRequestInfo, MfaStatusView};

use crate::store::StoreError;
use crate::store::authz::AuthzStore;

/// How many events the in-memory audit trail keeps (oldest dropped first).
const EVENT_CAPACITY: usize = 1000;

pub use crate::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum AuthzInitError {
    #[error("authz store failed")]
    Store(#[from] StoreError),
    #[error("signing key setup failed")]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Password(#[from] secrets::PasswordHashError),
    #[error("invalid authz configuration: {0}")]
    Config(String),
}

/// A cheap, clonable handle on the authorization server's state.
#[derive(Clone)]
pub struct AuthzState {
    inner: Arc<Inner>,
}

struct Inner {
    config: AuthzConfig,
    issuer: String,
    store: AuthzStore,
    clock: Clock,
    events: Mutex<VecDeque<AuthzEvent>>,
    /// When expired rows were last purged (Unix seconds).
    last_purge: AtomicI64,
    /// Bumped whenever an MFA request is created or decided; waiters watch it.
    mfa_changes: watch::Sender<u64>,
    /// A hash of a password nobody has, verified against when the username is unknown so
    /// that response time does not reveal which usernames exist.
    dummy_password_hash: String,
    /// The admin token's hash and where it is, when the admin endpoints are enabled.
    admin: Option<Admin>,
    /// Keys the fingerprints that stand for unknown usernames in the audit trail; never
    /// persisted, so old logs cannot be checked against guesses after a restart either.
    login_name_key: secrets::Secret,
    /// Keys the names in the login throttle table (persisted, so lockouts survive a
    /// restart): what was typed as a username may be a password, and is never stored.
    throttle_key: secrets::Secret,
    /// Password checks in flight per account, bounded by `login_throttle.max_concurrent`.
    verifying: throttle::InFlight,
    /// RFC 9449 proofs at the token endpoint (and any endpoint that accepts one).
    dpop: crate::dpop::ProofVerifier,
}

impl AuthzState {
    /// Opens the server over `conn`: creates the first signing key if there is none and
    /// seeds the configured users that do not exist yet. CPU-heavy (argon2): call it from a
    /// blocking context. `issuer` is used verbatim (no trailing slash added or removed).
    pub fn new(
        config: AuthzConfig,
        issuer: String,
        conn: Connection,
        admin: Option<Admin>,
    ) -> Result<Self, AuthzInitError> {
        validate_config(&config)?;
        let store = AuthzStore::new(conn);
        let clock = Clock::default();
        let now = clock.now();
        keys::ensure_key(&store, now)?;
        for seed in &config.users {
            if store.user_by_username(&seed.username)?.is_none() {
                let hash =
                    secrets::hash_password(seed.password.expose(), &config.password_hashing)?;
                let display = if seed.display_name.is_empty() {
                    &seed.username
                } else {
                    &seed.display_name
                };
                store.create_user_if_absent(
                    &secrets::new_sub(),
                    &seed.username,
                    display,
                    &hash,
                    now,
                )?;
            }
        }
        let dummy_password_hash =
            secrets::hash_password(&secrets::random_b64(16), &config.password_hashing)?;
        let throttle_key = secrets::Secret::from_wire(
            store.server_secret("login-throttle-key", &secrets::random_b64(32))?,
        );
        let dpop = crate::dpop::ProofVerifier::new(
            config.dpop_proofs.clone(),
            secrets::Secret::from_wire(
                store.server_secret("dpop-nonce-key", &secrets::random_b64(32))?,
            )
            .hash(),
            clock.clone(),
        );
        let (mfa_changes, _) = watch::channel(0);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                issuer,
                store,
                clock,
                events: Mutex::new(VecDeque::new()),
                last_purge: AtomicI64::new(0),
                mfa_changes,
                dummy_password_hash,
                admin,
                login_name_key: secrets::Secret::generate(),
                throttle_key,
                verifying: throttle::InFlight::default(),
                dpop,
            }),
        })
    }

    /// The issuer identifier, exactly as tokens carry it (with Auth0's trailing slash when
    /// `issuer_trailing_slash` is set).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Where the endpoints are: the issuer without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.inner.issuer.trim_end_matches('/')
    }
    pub fn config(&self) -> &AuthzConfig {
        &self.inner.config
    }
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
    pub(crate) fn store(&self) -> &AuthzStore {
        &self.inner.store
    }
    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The bounded in-memory audit trail, oldest first. Events never contain secrets.
    pub fn events(&self) -> Vec<AuthzEvent> {
        self.events_lock().iter().cloned().collect()
    }

    pub(crate) fn record(&self, event: AuthzEvent) {
        tracing::info!(event = ?event, "authz");
        let mut events = self.events_lock();
        if events.len() == EVENT_CAPACITY {
            events.pop_front();
        }
        events.push_back(event);
    }

    fn events_lock(&self) -> std::sync::MutexGuard<'_, VecDeque<AuthzEvent>> {
        // Events are plain data: a panic mid-push cannot leave them inconsistent.
        self.inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `sub` of a user, for seeding the bank's accounts.
    pub fn user_sub(&self, username: &str) -> Result<Option<String>, StoreError> {
        Ok(self.store().user_by_username(username)?.map(|u| u.sub))
    }

    /// Adds a user (argon2id-hashed password); returns its new `sub`, or `None` when the
    /// username is taken.
    pub fn add_user(
        &self,
        username: &str,
        display_name: &str,
        password: &Password,
    ) -> Result<Option<String>, AuthzInitError> {
        add_user(
            self.store(),
            &self.inner.config,
            username,
            display_name,
            password,
            self.now(),
        )
    }

    /// Adds a new signing key; the previous one stays published until its tokens expire.
    pub fn rotate_keys(&self) -> Result<String, keys::KeyError> {
        let kid = keys::add_new_key(self.store(), self.now())?;
        self.record(AuthzEvent::KeyRotated { kid: kid.clone() });
        Ok(kid)
    }

    /// Whether the grant behind an access token was revoked (code replay, refresh-token
    /// reuse, RFC 7009 revocation). Unknown `jti`s count as revoked.
    pub fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store().access_token_revoked(jti)
    }

    /// Purges expired rows at most once a minute; called as new transactions arrive, so
    /// an idle server does no work and a busy one stays small.
    pub(crate) fn maybe_purge(&self) {
        let now = self.now();
        let last = self.inner.last_purge.load(Ordering::Relaxed);
        if now - last < 60
            || self
                .inner
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(err) = self.store().purge_expired(now) {
            tracing::warn!(error = %err, "purging expired rows failed");
        }
    }

    /// The longest lifetime of anything this server signs: how long a retired key stays
    /// in the JWKS.
    pub(crate) fn max_signed_lifetime(&self) -> i64 {
        let c = &self.inner.config;
        let secs = c
            .access_token_lifetime_secs
            .max(c.step_up_token_lifetime_secs)
            .max(c.id_token_lifetime_secs);
        // Plus a minute of leeway for resource servers' clock skew.
        i64::try_from(secs).unwrap_or(i64::MAX / 4) + 60
    }
}

/// Creates a user directly in a store (also used by `bank-sandbox users add`).
pub fn add_user(
    store: &AuthzStore,
    config: &AuthzConfig,
    username: &str,
    display_name: &str,
    password: &Password,
    now: i64,
) -> Result<Option<String>, AuthzInitError> {
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AuthzInitError::Config(
            "usernames are 1-64 characters of letters, digits, '.', '_' and '-'".into(),
        ));
    }
    let hash = secrets::hash_password(password.expose(), &config.password_hashing)?;
    let sub = secrets::new_sub();
    let display = if display_name.is_empty() {
        username
    } else {
        display_name
    };
    Ok(store
        .create_user_if_absent(&sub, username, display, &hash, now)?
        .then_some(sub))
}

fn validate_config(config: &AuthzConfig) -> Result<(), AuthzInitError> {
    let bad = |m: String| Err(AuthzInitError::Config(m));
    if config.api_identifier.is_empty() {
        return bad("api_identifier must not be empty".into());
    }
    for client in &config.clients {
        for uri in &client.redirect_uris {
            if !(uri.starts_with("http://") || uri.starts_with("https://")) || uri.contains('#') {
                return bad(format!(
                    "client {}: redirect URI {uri} must be an absolute http(s) URI without fragment",
                    client.client_id
                ));
            }
        }
    }
    if let Some(problem) = config.dpop_proofs.problem() {
        return bad(format!("authz.{problem}"));
    }
    par::check_config(config).map_err(AuthzInitError::Config)?;
    if config.code_lifetime_secs == 0 || config.mfa_timeout_secs == 0 {
        return bad("lifetimes must be positive".into());
    }
    // Each pending push shows its own two-digit number: more pushes than numbers cannot be
    // told apart (and the last one could not be drawn). Auto-approved pushes are decided
    // at once and never hold a number.
    if !config.mfa_auto_approve && config.mfa_push_limit.max_pushes > binding::MAX_PUSHES_BOUND {
        return bad(format!(
            "mfa_push_limit.max_pushes must be at most {} (each pending push needs its own two-digit number)",
            binding::MAX_PUSHES_BOUND
        ));
    }
    // Pushes are counted over the MFA requests still kept, which go with their transaction.
    if config.mfa_push_limit.window_secs > config.transaction_lifetime_secs {
        return bad(format!(
            "mfa_push_limit.window_secs must be at most transaction_lifetime_secs ({})",
            config.transaction_lifetime_secs
        ));
    }
    Ok(())
}

/// The authorization server's routes.
pub fn router(state: AuthzState) -> Router {
    // A device's request carries a batch's full list, as a push does: the same limit.
    let device_request_limit =
        axum::extract::DefaultBodyLimit::max(par::max_request_bytes(state.config()));
    par::routes(&state)
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::oauth_authorization_server),
        )
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/authorize", get(authorize::authorize))
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/mfa/wait", get(mfa::wait_page))
        .route("/mfa/status", get(mfa::status))
        .route("/mfa/continue", get(mfa::continue_flow))
        .route("/authenticator", get(authenticator::authenticator_page))
        .route(
            "/authenticator/login",
            post(authenticator::authenticator_login),
        )
        .route(
            "/authenticator/decide",
            post(authenticator::authenticator_decide),
        )
        .route(
            "/authenticator/logout",
            post(authenticator::authenticator_logout),
        )
        .route("/oauth/token", post(token::token))
        .route(
            "/oauth/device/code",
            post(device::device_authorization).layer(device_request_limit),
        )
        .route(
            "/device",
            get(device::device_page).post(device::device_submit),
        )
        .route(
            "/device/confirm",
            get(device::device_confirm_page).post(device::device_confirm_submit),
        )
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/admin/mfa", get(admin::list))
        .route("/admin/mfa/decide", post(admin::decide))
        .route("/healthz", get(|| async { "ok" }))
        .route("/", get(|| async { pages::redirect("/authenticator") }))
        .with_state(state)
}
