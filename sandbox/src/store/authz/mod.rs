//! The authorization server's persistence: users, login throttling, signing keys, browser
//! sessions, authorization transactions, MFA requests, RFC 8628 device authorizations, and
//! grants with the codes and tokens that hang off them.
//!
//! Callers get operations that mean something in the protocol (`consume_code`,
//! `rotate_refresh_token`, `revoke_grant`), never SQL. Every secret that leaves the server
//! (session id, CSRF token, code, refresh token) arrives here already hashed: this module
//! never sees a usable secret except the signing keys. The connection sits behind a
//! `std::sync::Mutex` held only for the duration of one operation, never across `.await`.
//!
//! One file per aggregate; each adds its operations to [`AuthzStore`] in its own
//! `impl` block, so callers see one store.

use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use super::{Migration, StoreError};

mod device;
mod dpop;
mod grants;
mod keys;
mod mfa;
mod pushed;
mod refresh;
mod sessions;
mod throttle;
mod transactions;
mod users;

pub use device::{DevicePoll, DeviceRecord, DeviceStatus};
pub use grants::{CodeRecord, CodeUse, GrantRecord};
pub use keys::SigningKeyRecord;
pub use mfa::{MfaRecord, MfaStatus};
pub use pushed::PushedUse;
pub use refresh::RefreshUse;
pub use sessions::SessionRecord;
pub use throttle::{Attempt, Backoff, ThrottleKey};
pub use transactions::TxnRecord;
pub use users::UserRecord;

/// The authorization server's migrations, applied in order by [`super::open`].
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "authz/0001_init",
        sql: include_str!("../../../migrations/authz/0001_init.sql"),
    },
    Migration {
        name: "authz/0002_throttle_by_keyed_hash",
        sql: include_str!("../../../migrations/authz/0002_throttle_by_keyed_hash.sql"),
    },
    Migration {
        name: "authz/0003_mfa_requests_by_user",
        sql: include_str!("../../../migrations/authz/0003_mfa_requests_by_user.sql"),
    },
    Migration {
        name: "authz/0004_login_hint",
        sql: include_str!("../../../migrations/authz/0004_login_hint.sql"),
    },
    Migration {
        name: "authz/0005_authorization_details",
        sql: include_str!("../../../migrations/authz/0005_authorization_details.sql"),
    },
    Migration {
        name: "authz/0006_dpop",
        sql: include_str!("../../../migrations/authz/0006_dpop.sql"),
    },
    Migration {
        name: "authz/0007_pushed_requests",
        sql: include_str!("../../../migrations/authz/0007_pushed_requests.sql"),
    },
    Migration {
        name: "authz/0008_device_authorizations",
        sql: include_str!("../../../migrations/authz/0008_device_authorizations.sql"),
    },
    Migration {
        name: "authz/0009_throttle_forgets",
        sql: include_str!("../../../migrations/authz/0009_throttle_forgets.sql"),
    },
];

/// A SHA-256 digest of a secret (session id, CSRF token, code, refresh token).
pub type SecretHash = [u8; 32];

pub struct AuthzStore {
    conn: Mutex<Connection>,
}

impl AuthzStore {
    pub fn new(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions
        // roll back on drop), so a poisoned lock is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Deletes what can no longer be used: expired sessions, transactions (and their MFA
    /// requests), refresh tokens, access-token records, remembered DPoP proofs and pushed
    /// authorization requests. Codes are kept a day past expiry so a late replay is still
    /// recognised as one. Grants stay (they are small and record revocations).
    pub fn purge_expired(&self, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM transactions WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM access_tokens WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM pushed_requests WHERE expires_at <= ?1", [now])?;
        tx.execute(
            "DELETE FROM device_authorizations WHERE expires_at <= ?1",
            [now],
        )?;
        tx.execute(
            "DELETE FROM auth_codes WHERE expires_at <= ?1",
            [now - 24 * 3600],
        )?;
        tx.execute("DELETE FROM dpop_proofs WHERE expires_at < ?1", [now])?;
        tx.execute(
            "DELETE FROM login_throttle WHERE locked_until <= ?1 AND last_attempt_at <= ?2",
            [now, now - throttle::FORGET_AFTER_SECS],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh in-memory store with the schema applied.
    pub(super) fn store() -> AuthzStore {
        AuthzStore::new(super::super::open(None, MIGRATIONS).expect("in-memory store"))
    }

    #[test]
    fn purge_drops_expired_sessions_only() {
        let store = store();
        store
            .create_session(&[1; 32], None, &[9; 32], 0, 100)
            .expect("session");
        store
            .create_session(&[2; 32], None, &[9; 32], 0, 1000)
            .expect("session");
        store.purge_expired(500).expect("purge");
        assert!(store.session(&[1; 32], 0).expect("query").is_none());
        assert!(store.session(&[2; 32], 0).expect("query").is_some());
    }
}
