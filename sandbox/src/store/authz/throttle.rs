//! Login throttling, keyed by a keyed hash of the submitted name (it may be a mistyped
//! password), and the installation secret that keys it.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

impl AuthzStore {
    /// The installation's secret called `name`: `candidate` the first time, the stored
    /// value ever after.
    pub fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO server_secrets (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [name, candidate],
        )?;
        Ok(conn.query_row(
            "SELECT value FROM server_secrets WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?)
    }

    /// Unix time until which logins for the submitted name are refused (0 = not locked).
    /// Names are keyed hashes: see `AuthzState::throttle_name`.
    pub fn locked_until(&self, name: &SecretHash) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT locked_until FROM login_throttle WHERE name_hash = ?1",
                [&name[..]],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Counts a failure; from the `max_failures`-th consecutive one on, locks the name
    /// for `base_lockout` seconds, doubling with each further failure (capped at 1 hour).
    /// Returns the new `locked_until`.
    pub fn record_login_failure(
        &self,
        name: &SecretHash,
        now: i64,
        max_failures: u32,
        base_lockout: i64,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        let failures: i64 = conn.query_row(
            "INSERT INTO login_throttle (name_hash, failures, locked_until) VALUES (?1, 1, 0)
             ON CONFLICT(name_hash) DO UPDATE SET failures = failures + 1
             RETURNING failures",
            [&name[..]],
            |r| r.get(0),
        )?;
        let over = failures - i64::from(max_failures);
        let locked_until = if over >= 0 {
            let factor = 1i64 << over.min(20);
            now + (base_lockout.saturating_mul(factor)).min(3600)
        } else {
            0
        };
        conn.execute(
            "UPDATE login_throttle SET locked_until = ?2 WHERE name_hash = ?1",
            params![&name[..], locked_until],
        )?;
        Ok(locked_until)
    }

    pub fn clear_login_failures(&self, name: &SecretHash) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM login_throttle WHERE name_hash = ?1",
            [&name[..]],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;

    #[test]
    fn throttle_locks_after_max_failures_and_doubles() {
        let store = store();
        let bob = [7u8; 32];
        for _ in 0..4 {
            assert_eq!(
                store.record_login_failure(&bob, 1000, 5, 30).expect("fail"),
                0
            );
        }
        assert_eq!(
            store.record_login_failure(&bob, 1000, 5, 30).expect("fail"),
            1030
        );
        assert_eq!(
            store.record_login_failure(&bob, 1000, 5, 30).expect("fail"),
            1060
        );
        assert_eq!(store.locked_until(&bob).expect("q"), 1060);
        assert_eq!(store.locked_until(&[8u8; 32]).expect("q"), 0);
        store.clear_login_failures(&bob).expect("clear");
        assert_eq!(store.locked_until(&bob).expect("q"), 0);
    }

    #[test]
    fn server_secrets_are_created_once() {
        let store = store();
        assert_eq!(store.server_secret("k", "first").expect("create"), "first");
        assert_eq!(store.server_secret("k", "second").expect("read"), "first");
    }
}
