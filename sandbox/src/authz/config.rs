//! What the authorization server is configured with: the API it issues tokens for, its
//! clients and their MFA rules, the seeded users, token lifetimes, login throttling and the
//! MFA push limit.
//!
//! The defaults are the sandbox's protocol contract (docs/ARCHITECTURE.md), including the
//! seed article's rule (client `bank-cli` requesting `transfer:funds` must pass MFA, never remembered), so
//! the sandbox needs no configuration file at all. Everything here deserializes from the
//! `[authz]` table of the sandbox's TOML file.

use serde::{Deserialize, Serialize};

/// The `acr` value for a multi-factor authentication (OpenID PAPE policy URI, the value
/// Auth0 uses and `acr_values` names to ask for MFA).
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
/// The `acr` value for password-only authentication. There is no registered URI for
/// "password only", so the sandbox uses its own URN; clients should only ever compare
/// against [`ACR_MFA`].
pub const ACR_PWD: &str = "urn:bank:acr:pwd";

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthzConfig {
    /// The API identifier: the `aud` of access tokens, named by `audience` or `resource`.
    pub api_identifier: String,
    /// Scopes the server knows, with the words the MFA and authenticator pages use.
    pub scopes: Vec<ScopeConfig>,
    /// Scopes whose tokens are short-lived and never come with a refresh token.
    pub step_up_scopes: Vec<String>,
    pub clients: Vec<ClientConfig>,
    /// Users created at start when their username does not exist yet.
    pub users: Vec<UserSeed>,
    pub access_token_lifetime_secs: u64,
    /// Lifetime of access tokens carrying a `step_up_scopes` scope.
    pub step_up_token_lifetime_secs: u64,
    pub id_token_lifetime_secs: u64,
    pub refresh_token_lifetime_secs: u64,
    /// Authorization codes are single-use and short-lived (RFC 6749 §4.1.2 recommends ≤ 10 min).
    pub code_lifetime_secs: u64,
    /// How long a push MFA request waits for an answer before it expires.
    pub mfa_timeout_secs: u64,
    /// How long a login page / authorization transaction stays usable.
    pub transaction_lifetime_secs: u64,
    pub session_lifetime_secs: u64,
    pub login_throttle: ThrottleConfig,
    /// At most so many MFA pushes per user in a window, against push fatigue.
    pub mfa_push_limit: PushLimit,
    /// RFC 8628 device authorizations (`[authz.device]`).
    pub device: DeviceConfig,
    /// Only the user an authorization request names in `login_hint` may sign in for it.
    /// `false` treats the hint as advisory, as OIDC Core §3.1.2.1 allows and some
    /// providers do: for testing a client's own check of who signed in.
    pub enforce_login_hint: bool,
    pub password_hashing: PasswordHashing,
    /// Accept and advertise RFC 9396 `authorization_details` (type `payment_initiation`).
    /// Off, the server behaves as a provider without RAR: details are refused as unknown and
    /// clients fall back to the scope alone.
    pub authorization_details: bool,
    /// Most `payment_initiation` details one authorization request may list (each shown and
    /// approved with the others, once).
    pub max_inline_payments: usize,
    /// Most payments in one `payment_batch` detail; 0 leaves the type out, as a provider
    /// that only knows `payment_initiation`.
    pub max_batch_payments: usize,
    /// RFC 9449 sender-constrained tokens at the token endpoint: `optional` binds the tokens
    /// of every request that carries a DPoP proof, `required` refuses requests without one,
    /// `off` behaves as a provider without DPoP (proofs ignored, nothing advertised).
    pub dpop: DpopSupport,
    /// The proof window and the nonce demand of the token endpoint.
    pub dpop_proofs: crate::dpop::ProofPolicy,
    /// Offer RFC 9126 pushed authorization requests (`POST /oauth/par`, advertised in the
    /// metadata). Off, the server behaves as a provider without PAR: clients fall back to
    /// the plain authorization URL.
    pub pushed_authorization_requests: bool,
    /// How long a pushed request's `request_uri` may be used (RFC 9126 §2.2), 1–600 s.
    pub request_uri_lifetime_secs: u64,
    /// A provider that refuses authorization requests for `openid` without a `nonce` (OIDC
    /// Core makes it optional for the code flow; several providers insist on it).
    pub nonce_required: bool,
    /// Access tokens with only what RFC 9068 requires (and `scope`, `jti`, `cnf`, the
    /// details): no `amr`, `acr`, `auth_time` or `preferred_username`, as Auth0's default
    /// access tokens (those claims are in its ID token only).
    pub minimal_access_tokens: bool,
    /// Which parameters name the API: both `audience` and `resource` (RFC 8707), only
    /// `audience` (Auth0: `resource` is ignored, and without `audience` the token is for
    /// the user info endpoint) or only `resource`.
    pub api_parameter: ApiParameter,
    /// The issuer identifier ends with a slash, as Auth0's `https://TENANT.auth0.com/`
    /// does; endpoints stay where they are.
    pub issuer_trailing_slash: bool,
    /// Library and benchmark use only: approve every MFA request the moment it is
    /// created (still recorded in the events). Never enable this for a demo of step-up.
    pub mfa_auto_approve: bool,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        let scope = |name: &str, description: &str| ScopeConfig {
            name: name.into(),
            description: description.into(),
        };
        Self {
            api_identifier: "https://bank.example/api".into(),
            scopes: vec![
                scope("openid", "sign you in"),
                scope("profile", "see your name and username"),
                scope("offline_access", "stay signed in"),
                scope("view:balance", "view your balance and transfers"),
                scope("transfer:funds", "transfer funds from your account"),
            ],
            step_up_scopes: vec!["transfer:funds".into()],
            clients: vec![ClientConfig::default()],
            users: vec![
                UserSeed {
                    username: "alice".into(),
                    password: Password::new("wonderland"),
                    display_name: "Alice Liddell".into(),
                },
                UserSeed {
                    username: "bob".into(),
                    password: Password::new("builder"),
                    display_name: "Bob Builder".into(),
                },
            ],
            // Minutes, not an hour: the bank API verifies signatures and cannot learn of a
            // revocation, so a revoked grant's access tokens live on until they expire.
            access_token_lifetime_secs: 600,
            step_up_token_lifetime_secs: 300,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            code_lifetime_secs: 60,
            mfa_timeout_secs: 120,
            transaction_lifetime_secs: 15 * 60,
            session_lifetime_secs: 8 * 3600,
            login_throttle: ThrottleConfig::default(),
            mfa_push_limit: PushLimit::default(),
            device: DeviceConfig::default(),
            enforce_login_hint: true,
            password_hashing: PasswordHashing::default(),
            authorization_details: true,
            max_inline_payments: bank_protocol::DEFAULT_MAX_INLINE_PAYMENTS,
            max_batch_payments: bank_protocol::DEFAULT_MAX_BATCH_PAYMENTS,
            dpop: DpopSupport::Optional,
            dpop_proofs: crate::dpop::ProofPolicy::default(),
            pushed_authorization_requests: true,
            request_uri_lifetime_secs: 60,
            nonce_required: false,
            minimal_access_tokens: false,
            api_parameter: ApiParameter::Both,
            issuer_trailing_slash: false,
            mfa_auto_approve: false,
        }
    }
}

impl AuthzConfig {
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
    /// What an authorization request's details may hold here.
    pub fn detail_limits(&self) -> bank_protocol::DetailLimits {
        bank_protocol::DetailLimits {
            // The authorization server does not know the API's own limit; the contract's
            // default bounds what a person can be asked to approve, and the API applies its
            // own limit to the transfer itself.
            per_payment_minor: bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR,
            max_inline: self.max_inline_payments,
            max_batch: self.max_batch_payments,
        }
    }

    /// The `authorization_details_types_supported` this server advertises (RFC 9396 §10).
    pub fn details_types(&self) -> Vec<&'static str> {
        match (self.authorization_details, self.max_batch_payments) {
            (false, _) => Vec::new(),
            (true, 0) => vec![bank_protocol::PAYMENT_INITIATION],
            (true, _) => vec![
                bank_protocol::PAYMENT_INITIATION,
                bank_protocol::PAYMENT_BATCH,
            ],
        }
    }

    pub fn scope_description<'a>(&'a self, scope: &'a str) -> &'a str {
        self.scopes
            .iter()
            .find(|s| s.name == scope)
            .map_or(scope, |s| s.description.as_str())
    }
}

impl std::fmt::Debug for AuthzConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzConfig")
            .field("api_identifier", &self.api_identifier)
            .field("clients", &self.clients)
            .field("users", &self.users)
            .field("mfa_auto_approve", &self.mfa_auto_approve)
            .field("enforce_login_hint", &self.enforce_login_hint)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

/// Which authorization request parameters name the API (`[authz] api_parameter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiParameter {
    Both,
    Audience,
    Resource,
}

/// What the authorization server does with DPoP proofs (`[authz] dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpopSupport {
    /// Bind the tokens of every token request that carries a proof; accept requests without.
    Optional,
    /// Refuse token requests without a proof (`invalid_dpop_proof`).
    Required,
    /// A provider without DPoP: proofs and `dpop_jkt` are ignored and tokens are bearer
    /// tokens. For testing a client's fallback.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    pub name: String,
    pub description: String,
}

/// A registered client. Only public clients (no secret, PKCE S256) are supported, which is
/// what a CLI is (RFC 8252 §8.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// Shown to the user: "bank CLI wants to transfer funds".
    pub name: String,
    /// Exact redirect URIs. Loopback ones (`http://127.0.0.1/…`, `http://[::1]/…`) match
    /// any port (RFC 8252 §7.3); everything else must match byte for byte.
    pub redirect_uris: Vec<String>,
    /// The rule: requesting any of these scopes requires MFA, every time (Auth0's
    /// `allowRememberBrowser: false`).
    pub mfa_scopes: Vec<String>,
    /// RFC 9126 §6: this client may pass authorization requests only by pushing them; a
    /// plain `/authorize` for it is refused with `invalid_request`.
    pub require_pushed_authorization_requests: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_id: "bank-cli".into(),
            name: "bank CLI".into(),
            redirect_uris: vec![
                "http://127.0.0.1/callback".into(),
                "http://[::1]/callback".into(),
            ],
            mfa_scopes: vec!["transfer:funds".into()],
            require_pushed_authorization_requests: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub username: String,
    pub password: Password,
    #[serde(default)]
    pub display_name: String,
}

/// Failed-login throttling (`[authz.login_throttle]`). Every attempt counts as a failure
/// before its password is checked (a success takes it back), so parallel guesses cannot
/// outrun the count. Failures are counted per account and source address, so a stranger's
/// guesses slow down the stranger rather than the real user, and per account over all
/// sources, with a higher limit, so guessing spread over many machines is bounded too.
/// Past a limit each further try must wait: `lockout_secs`, doubling with every failure,
/// at most `max_lockout_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failures of one account from one source address before tries must wait.
    pub max_failures: u32,
    /// Failures of one account from all sources together before tries must wait.
    pub account_max_failures: u32,
    /// The first wait; doubles with every further failure.
    pub lockout_secs: u64,
    /// The longest wait.
    pub max_lockout_secs: u64,
    /// Password checks in flight at once for one account; more are refused at once.
    pub max_concurrent: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            account_max_failures: 50,
            lockout_secs: 30,
            max_lockout_secs: 3600,
            max_concurrent: 2,
        }
    }
}

/// MFA pushes per user (`[authz.mfa_push_limit]`): a sign-in that would send one more is
/// refused with `temporarily_unavailable`, so nobody can wear a user down with pushes
/// until one is approved by mistake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushLimit {
    pub max_pushes: u32,
    /// At most `transaction_lifetime_secs`: pushes are counted while their sign-in is kept.
    pub window_secs: u64,
}

impl Default for PushLimit {
    fn default() -> Self {
        Self {
            max_pushes: 10,
            window_secs: 600,
        }
    }
}

/// The device authorization grant (`[authz.device]`, RFC 8628): how long a device's codes
/// live, how often it may poll, and how many wrong user codes one source address may enter
/// before it must wait (`login_throttle.lockout_secs`, doubling, at most
/// `login_throttle.max_lockout_secs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// Off, the server behaves as a provider without the device flow: no
    /// `device_authorization_endpoint` in its metadata, and the grant is unsupported.
    pub enabled: bool,
    /// `expires_in` of the device code and user code (RFC 8628 §3.2).
    pub code_lifetime_secs: u64,
    /// The `interval` a device must leave between polls; polling sooner is `slow_down`.
    pub interval_secs: u64,
    /// Wrong user codes from one source address before tries must wait.
    pub max_wrong_codes: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            code_lifetime_secs: 600,
            interval_secs: 5,
            max_wrong_codes: 5,
        }
    }
}

/// argon2id cost parameters. The defaults are OWASP's recommendation (19 MiB, 2 passes,
/// 1 lane), which is also `argon2::Params::default()`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            parallelism: argon2::Params::DEFAULT_P_COST,
        }
    }
}

impl PasswordHashing {
    /// Cheap parameters for the in-memory test sandbox only: its passwords are the public
    /// demo ones and its database vanishes with the process, so the cost protects nothing,
    /// while dozens of logins per test run on a shared 2-core machine add up.
    pub fn fast_for_tests() -> Self {
        Self {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// A password: never printed, compared only through argon2.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
