//! The command context and the everyday token's life cycle.
//!
//! [`Ctx`] is what every command that talks to a provider or the bank receives (STYLE rule 6):
//! the `Ui`, the resolved profile, one HTTP client (redirects off: following them from an
//! OAuth or API endpoint invites SSRF and token leaks), and the token store. The functions
//! here decide which access token a request uses — `BANK_TOKEN` if set (for CI, like
//! `GH_TOKEN`; never refreshed, never stored), else the cached one — refresh it silently when
//! it has expired, under the store's cross-process lock, and retry an API call exactly once
//! after a `401 invalid_token`. The step-up layer (`stepup.rs`) wraps [`Ctx::try_call_api`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use oauth2::AccessToken;

use crate::api::{ApiClient, ClientError};
use crate::config::{self, ConfigFile, Env, Overrides, Profile};
use crate::error::{CliError, ErrorKind};
use crate::oauth::{self, Metadata, OAuthError, TokenSet};
use crate::token_store::{Key, Storage, StoreError, TokenBundle, TokenStore};
use crate::ui::Ui;

/// Treat a token as expired this long before it really is, so a request does not race it.
pub const EXPIRY_SKEW_SECS: i64 = 30;

/// Where the token used for a request came from.
#[derive(Clone, Debug)]
pub enum Credential {
    /// `BANK_TOKEN`.
    Env(AccessToken),
    Stored {
        bundle: TokenBundle,
        storage: Storage,
    },
}

impl Credential {
    pub fn access_token(&self) -> &AccessToken {
        match self {
            Credential::Env(t) => t,
            Credential::Stored { bundle, .. } => &bundle.access_token,
        }
    }
}

pub struct Ctx {
    pub ui: Ui,
    pub profile: Profile,
    pub config_dir: PathBuf,
    pub http: reqwest::Client,
    pub store: TokenStore,
    pub env_token: Option<AccessToken>,
}

/// The one HTTP client setup for talking to providers and the bank: redirects are never
/// followed (an open redirect must not carry a token or a code elsewhere: SSRF, token
/// leaks), and every wait is bounded.
pub fn http_client(user_agent: &str) -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(user_agent)
        .build()
        .map_err(|e| CliError::new(ErrorKind::General, "cannot set up HTTP").with_source(e))
}

impl Ctx {
    pub fn load(ui: &Ui, overrides: &Overrides) -> Result<Ctx, CliError> {
        let env = Env::from_process();
        let config_dir = config::config_dir(&env)?;
        let file = ConfigFile::load(&config::config_file_path(&config_dir))?;
        let profile = config::resolve(&file, &env, overrides)?;
        let env_token = std::env::var("BANK_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| AccessToken::new(t.trim().to_owned()));
        let store = TokenStore::new(&config_dir, false);
        // The keyring's D-Bus round trips (about a millisecond) start now, on a helper thread,
        // while this one builds the HTTP client; the first load of the token collects the
        // answer. `BANK_TOKEN` never needs the keyring, so it never connects to it.
        if env_token.is_none() {
            store.prefetch(&key_of(&profile));
        }
        let http = http_client(concat!("bank/", env!("CARGO_PKG_VERSION")))?;
        Ok(Ctx {
            ui: ui.clone(),
            store,
            profile,
            config_dir,
            http,
            env_token,
        })
    }

    pub fn key(&self) -> Key {
        key_of(&self.profile)
    }

    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.http.clone(), &self.profile.api_url)
    }

    pub async fn metadata(&self) -> Result<Metadata, OAuthError> {
        oauth::discovery::discover(&self.http, &self.profile.issuer).await
    }

    pub fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// Turns a token endpoint answer into what we cache. On a refresh, `previous` is the
    /// bundle being replaced: the user it names stays the login's user (OIDC Core §12.2: a
    /// refreshed ID token names the same `sub`), and its name fills in what the answer lacks.
    pub fn bundle_from(&self, tokens: TokenSet, previous: Option<&TokenBundle>) -> TokenBundle {
        let previous_sub = previous.and_then(|b| b.sub.clone());
        let previous_username = previous.and_then(|b| b.username.clone());
        TokenBundle {
            issuer: self.profile.issuer.clone(),
            client_id: self.profile.client_id.clone(),
            access_token: tokens.access_token,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
            refresh_token: tokens.refresh_token,
            username: tokens.username.or(previous_username),
            sub: previous_sub.or(tokens.subject),
        }
    }

    /// The stored bundle as it is (no refresh), or `None` when not logged in.
    pub fn stored(&self) -> Result<Option<(TokenBundle, Storage)>, CliError> {
        match self.store.load(&self.key()) {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A usable access token: `BANK_TOKEN`, else the cached one, refreshed if it expired.
    pub async fn credential(&self) -> Result<Credential, CliError> {
        if let Some(t) = &self.env_token {
            return Ok(Credential::Env(t.clone()));
        }
        let Some((bundle, storage)) = self.stored()? else {
            return Err(self.not_logged_in());
        };
        if bundle.is_expired(Self::now(), EXPIRY_SKEW_SECS) {
            return self.refresh(&bundle).await;
        }
        Ok(Credential::Stored { bundle, storage })
    }

    pub fn not_logged_in(&self) -> CliError {
        CliError::login_required(format!(
            "not logged in to {} (profile `{}`)",
            self.profile.issuer, self.profile.name
        ))
    }

    /// Refreshes `stale` under the cross-process lock. If another `bank` process refreshed
    /// while we waited, its (rotated) result is used instead of spending the old refresh
    /// token a second time — which a rotating provider would treat as replay.
    pub async fn refresh(&self, stale: &TokenBundle) -> Result<Credential, CliError> {
        let key = self.key();
        let _lock = match self.store.try_lock(&key)? {
            Some(lock) => lock,
            None => {
                self.ui
                    .debug("another bank process is refreshing the token; waiting for it");
                self.store.lock(&key)?
            }
        };
        let (current, storage) = match self.store.load(&key) {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(self.not_logged_in()),
            Err(e) => return Err(e.into()),
        };
        if current.access_token.secret() != stale.access_token.secret()
            && !current.is_expired(Self::now(), EXPIRY_SKEW_SECS)
        {
            self.ui
                .debug("another bank process refreshed the token; using its result");
            return Ok(Credential::Stored {
                bundle: current,
                storage,
            });
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(CliError::login_required("the session has expired"));
        };
        self.ui.debug("access token expired; refreshing");
        let metadata = self.metadata().await?;
        let tokens = match oauth::refresh(
            &self.http,
            &self.profile,
            &metadata,
            &refresh_token,
            &current.scopes,
        )
        .await
        {
            Ok(t) => t,
            Err(e @ OAuthError::RefreshRejected { .. }) => {
                return Err(CliError::login_required("the session has expired").with_source(e));
            }
            Err(e) => return Err(e.into()),
        };
        let bundle = self.bundle_from(tokens, Some(&current));
        let saved = self
            .store
            .save(&key, &bundle, matches!(storage, Storage::File(_)))?;
        if let Some(reason) = saved.fallback_reason {
            warn_fallback(&self.ui, &reason, &saved.storage);
        }
        Ok(Credential::Stored {
            bundle,
            storage: saved.storage,
        })
    }

    /// Calls the API with the current token. A `401 invalid_token` gets one refresh and one
    /// retry (the token may have been revoked or the keys rotated); a second one means the
    /// session is gone: exit 3.
    pub async fn call_api<T, F, Fut>(&self, call: F) -> Result<T, CliError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        self.try_call_api(call)
            .await
            .map(|(answer, _)| answer.map_err(CliError::from))?
    }

    /// [`Ctx::call_api`] for callers that act on the API's answer themselves (the step-up
    /// layer): the outer error is about our credentials (not logged in, refresh failed,
    /// rejected after the one refresh), the inner result is the API's answer to the call.
    /// Also returns which credential made the call (step-up is not attempted for
    /// `BANK_TOKEN`).
    pub async fn try_call_api<T, F, Fut>(
        &self,
        call: F,
    ) -> Result<(Result<T, ClientError>, Credential), CliError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let credential = self.credential().await?;
        match call(credential.access_token().clone()).await {
            Err(ClientError::InvalidToken { description }) => match credential {
                Credential::Env(_) => Err(CliError::new(
                    ErrorKind::LoginRequired,
                    format!(
                        "the bank API rejected the token in BANK_TOKEN{}",
                        description.map(|d| format!(": {d}")).unwrap_or_default()
                    ),
                )
                .hint("set BANK_TOKEN to a valid access token, or unset it and run `bank login`")),
                Credential::Stored { bundle, .. } => {
                    self.ui.debug("the API rejected the token; refreshing once");
                    let fresh = self.refresh(&bundle).await?;
                    match call(fresh.access_token().clone()).await {
                        Err(e @ ClientError::InvalidToken { .. }) => Err(CliError::login_required(
                            "the bank API does not accept the stored credentials",
                        )
                        .with_source(e)),
                        other => Ok((other, fresh)),
                    }
                }
            },
            other => Ok((other, credential)),
        }
    }
}

/// The token store key of a profile's everyday tokens.
fn key_of(profile: &Profile) -> Key {
    Key {
        issuer: profile.issuer.clone(),
        client_id: profile.client_id.clone(),
        profile: profile.name.clone(),
    }
}

/// The loud warning for a plain-text fallback (as `gh` prints it).
pub fn warn_fallback(ui: &Ui, reason: &StoreError, storage: &Storage) {
    let cause = std::error::Error::source(reason)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    ui.warn(&format!(
        "{reason}{cause}.\n         Tokens were stored in {storage}.\n         Anyone who can read that file can act as you until the tokens expire."
    ));
}
