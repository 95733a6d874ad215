//! Limits on guessing and on pushing: the login throttle (per account and source address,
//! and per account over all sources, counted before the password is checked), a bound on
//! password checks in flight per account, and the per-user limit on MFA pushes.
//!
//! A lockout that any stranger can trigger would hand them the real user's account to
//! deny; so the strict limit is per source, and only the looser account-wide one, which
//! bounds guessing spread over many machines, slows down everyone.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::{AuthzState, secrets};
use crate::store::StoreError;
use crate::store::authz::{Attempt, Backoff, SecretHash, ThrottleKey};

/// The address a request came from, when the server knows it (the sandbox's listeners
/// record it; a router driven without a socket, as in unit tests, does not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_canonical()),
        ))
    }
}

/// Password checks in flight, per account key.
#[derive(Default)]
pub(super) struct InFlight(Mutex<HashMap<SecretHash, u32>>);

/// One password check in flight; the slot is freed on drop, whatever happens.
pub(crate) struct Verifying<'a> {
    in_flight: &'a InFlight,
    account: SecretHash,
}

impl Drop for Verifying<'_> {
    fn drop(&mut self) {
        let mut map = self
            .in_flight
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

/// The throttle rows one login attempt counts against: the account from this source,
/// and the account from everywhere.
pub(crate) struct AttemptKeys {
    source: ThrottleKey,
    account: ThrottleKey,
}

/// What the throttle says about a login attempt.
pub(crate) enum Admission<'a> {
    /// Counted; check the password while holding the slot, then report the outcome.
    Check(Verifying<'a>, AttemptKeys),
    /// Refused without checking the password.
    Wait { retry_after: i64 },
}

impl AuthzState {
    /// Admits a login attempt for `username` from `source`, or says how long to wait.
    pub(crate) fn admit_login(
        &self,
        username: &str,
        source: Source,
    ) -> Result<Admission<'_>, StoreError> {
        let config = &self.config().login_throttle;
        // Distinct prefixes keep the two kinds of key apart whatever a name contains.
        let account = self.throttle_name(&format!("account\0{username}"));
        let Some(slot) = self.verifying_slot(account, config.max_concurrent) else {
            // Checks already in flight for this account: one second is enough to retry.
            return Ok(Admission::Wait { retry_after: 1 });
        };
        let source_name = match source.0 {
            Some(ip) => format!("{ip}"),
            None => "unknown".to_owned(),
        };
        let keys = AttemptKeys {
            source: ThrottleKey {
                key: self.throttle_name(&format!("source\0{source_name}\0{username}")),
                max_failures: config.max_failures,
            },
            account: ThrottleKey {
                key: account,
                max_failures: config.account_max_failures,
            },
        };
        let backoff = Backoff {
            base: i64::try_from(config.lockout_secs).unwrap_or(30),
            cap: i64::try_from(config.max_lockout_secs).unwrap_or(3600),
        };
        match self
            .store()
            .begin_login_attempt(&[keys.source, keys.account], self.now(), backoff)?
        {
            Attempt::Counted => Ok(Admission::Check(slot, keys)),
            Attempt::Wait { retry_after } => Ok(Admission::Wait { retry_after }),
        }
    }

    /// The password was right: the attempt was no failure after all.
    pub(crate) fn login_was_right(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        self.store()
            .login_succeeded(&keys.source.key, &keys.account)
    }

    fn verifying_slot(&self, account: SecretHash, max: u32) -> Option<Verifying<'_>> {
        let in_flight = &self.inner.verifying;
        let mut map = in_flight.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(account).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(Verifying { in_flight, account })
    }

    /// The login throttle's key for a submitted name: a keyed hash, because what was typed
    /// there may be a password and must not be stored.
    pub(super) fn throttle_name(&self, submitted: &str) -> SecretHash {
        let key = self.inner.throttle_key.expose().as_bytes();
        secrets::sha256(&[key, b"\0", submitted.as_bytes()].concat())
    }

    /// Whether one more MFA push may be sent to the user now: `None` if so, else the
    /// seconds until a push leaves the window.
    pub(crate) fn push_wait(&self, user_id: i64) -> Result<Option<i64>, StoreError> {
        let limit = &self.config().mfa_push_limit;
        let window = i64::try_from(limit.window_secs).unwrap_or(600);
        let now = self.now();
        let Some(max) = limit.max_pushes.checked_sub(1) else {
            return Ok(Some(window));
        };
        // With `max_pushes` in the window, a place frees when the oldest of them leaves.
        Ok(self
            .store()
            .nth_newest_mfa_since(user_id, now - window, max)?
            .map(|created| (created + window - now).max(1)))
    }
}
