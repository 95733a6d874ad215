//! The everyday login's life cycle: which token a request uses, and its refresh.
//!
//! A [`Session`] is the resolved profile, one HTTP client and the token store. It decides the
//! credential — `BANK_TOKEN` when set (for CI, like `GH_TOKEN`: never refreshed, never
//! stored), else the stored login — and refreshes the stored login under the store's
//! cross-process lock, so that two `bank` processes never spend one rotating refresh token
//! twice. It knows nothing of terminals: what it does is reported to an [`Observer`], and
//! what goes wrong is a [`SessionError`].

use std::path::PathBuf;
use std::time::Duration;

use oauth2::AccessToken;

use super::observer::{RefreshReason, RefreshStep};
use super::{Credential, Event, Observer, SessionError};
use crate::config::Profile;
use crate::dpop::DpopKey;
use crate::oauth::{self, Metadata, OAuthError, TokenSet};
use crate::token_store::{Key, Storage, StoreError, TokenBundle, TokenStore};

/// Treat a token as expired this long before it really is, so a request does not race it.
pub const EXPIRY_SKEW_SECS: i64 = 30;

pub struct Session {
    pub profile: Profile,
    pub config_dir: PathBuf,
    pub http: reqwest::Client,
    pub store: TokenStore,
    /// `BANK_TOKEN`.
    pub env_token: Option<AccessToken>,
}

/// The one HTTP client setup for talking to providers and the bank: redirects are never
/// followed (an open redirect must not carry a token or a code elsewhere: SSRF, token
/// leaks), and every wait is bounded.
pub fn http_client(user_agent: &str) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(user_agent)
        .build()
}

impl Session {
    /// The token store key of the profile's everyday tokens.
    pub fn key(&self) -> Key {
        key_of(&self.profile)
    }

    pub async fn metadata(&self) -> Result<Metadata, OAuthError> {
        oauth::discovery::discover(&self.http, &self.profile.issuer).await
    }

    pub fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    pub fn not_logged_in(&self) -> SessionError {
        SessionError::NotLoggedIn {
            issuer: self.profile.issuer.clone(),
            profile: self.profile.name.clone(),
        }
    }

    /// Turns a token endpoint answer into what we cache. On a refresh, `previous` is the
    /// bundle being replaced: the user it names stays the login's user (OIDC Core §12.2: a
    /// refreshed ID token names the same `sub`), and its name fills in what the answer lacks.
    /// `key` is the DPoP key the token request carried a proof of; it is kept only when the
    /// provider bound the tokens to it.
    pub fn bundle_from(
        &self,
        tokens: TokenSet,
        previous: Option<&TokenBundle>,
        key: Option<DpopKey>,
    ) -> TokenBundle {
        let previous_sub = previous.and_then(|b| b.sub.clone());
        let previous_username = previous.and_then(|b| b.username.clone());
        let previous_hint = previous.and_then(|b| b.login_hint.clone());
        TokenBundle {
            issuer: self.profile.issuer.clone(),
            client_id: self.profile.client_id.clone(),
            access_token: tokens.access_token,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
            refresh_token: tokens.refresh_token,
            username: tokens.username.or(previous_username),
            sub: previous_sub.or(tokens.subject),
            login_hint: tokens.login_name.or(previous_hint),
            dpop_key: key.filter(|_| tokens.bound),
        }
    }

    /// The stored bundle as it is (no refresh), or `None` when not logged in.
    pub fn stored(&self) -> Result<Option<(TokenBundle, Storage)>, SessionError> {
        match self.store.load(&self.key()) {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A usable credential: `BANK_TOKEN`, else the stored login, refreshed if it expired.
    pub async fn credential(&self, observer: &dyn Observer) -> Result<Credential, SessionError> {
        if let Some(t) = &self.env_token {
            return Ok(Credential::Env(t.clone()));
        }
        let Some((bundle, storage)) = self.stored()? else {
            return Err(self.not_logged_in());
        };
        if bundle.is_expired(Self::now(), EXPIRY_SKEW_SECS) {
            return self
                .refresh(&bundle, RefreshReason::Expired, observer)
                .await;
        }
        Ok(Credential::Stored {
            bundle: Box::new(bundle),
            storage,
        })
    }

    /// Refreshes `stale` under the cross-process lock. If another `bank` process refreshed
    /// while we waited, its (rotated) result is used instead of spending the old refresh
    /// token a second time — which a rotating provider would treat as replay.
    pub async fn refresh(
        &self,
        stale: &TokenBundle,
        reason: RefreshReason,
        observer: &dyn Observer,
    ) -> Result<Credential, SessionError> {
        let key = self.key();
        let _lock = match self.store.try_lock(&key)? {
            Some(lock) => lock,
            None => {
                observer.event(&Event::Refresh(RefreshStep::WaitingForOtherProcess));
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
            observer.event(&Event::Refresh(RefreshStep::OtherProcessRefreshed));
            return Ok(Credential::Stored {
                bundle: Box::new(current),
                storage,
            });
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(SessionError::Expired(None));
        };
        observer.event(&Event::Refresh(RefreshStep::Refreshing(reason)));
        let metadata = self.metadata().await?;
        let tokens = match oauth::refresh(
            &self.http,
            &self.profile,
            &metadata,
            &refresh_token,
            &current.scopes,
            current.dpop_key.as_ref(),
        )
        .await
        {
            Ok(t) => t,
            Err(e @ OAuthError::RefreshRejected { .. }) => {
                return Err(SessionError::Expired(Some(e)));
            }
            Err(e) => return Err(e.into()),
        };
        let bundle = self.bundle_from(tokens, Some(&current), current.dpop_key.clone());
        let saved = self
            .store
            .save(&key, &bundle, matches!(storage, Storage::File(_)))?;
        Ok(Credential::Stored {
            bundle: Box::new(bundle),
            storage: saved.storage,
        })
    }
}

/// The token store key of a profile's everyday tokens.
pub fn key_of(profile: &Profile) -> Key {
    Key {
        issuer: profile.issuer.clone(),
        client_id: profile.client_id.clone(),
        profile: profile.name.clone(),
    }
}
