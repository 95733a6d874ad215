//! Login throttling, and the installation secret that keys it. Rows are keyed by keyed
//! hashes (of the submitted name, alone or with the source address): what was typed may be
//! a mistyped password, so it is never stored.

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

/// A throttle row that has counted no attempt for this long, and makes nobody wait, is
/// forgotten by `purge_expired`: its failures no longer count.
pub const FORGET_AFTER_SECS: i64 = 24 * 3600;

/// One throttle row an attempt counts against, and how many failures it allows before
/// tries must wait.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKey {
    pub key: SecretHash,
    pub max_failures: u32,
}

/// The waits past a limit: `base` seconds, doubling with every further failure, at most
/// `cap`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: i64,
    pub cap: i64,
}

/// Whether a login attempt may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted as a failure until [`AuthzStore::login_succeeded`] takes it back.
    Counted,
    /// A key is waiting out a failure: refused, and not counted.
    Wait { retry_after: i64 },
}

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

    /// Counts a login attempt against every key, atomically, before its password is
    /// checked, so concurrent attempts cannot all pass a check made before any of them
    /// failed. An attempt while any key is waiting is refused and not counted (hammering
    /// does not lengthen the wait). From a key's `max_failures`-th failure on, it waits
    /// `backoff.base` seconds, doubling with each further failure.
    pub fn begin_login_attempt(
        &self,
        keys: &[ThrottleKey],
        now: i64,
        backoff: Backoff,
    ) -> Result<Attempt, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut wait_until = 0;
        for k in keys {
            wait_until = wait_until.max(locked_until(&tx, &k.key)?);
        }
        if wait_until > now {
            return Ok(Attempt::Wait {
                retry_after: wait_until - now,
            });
        }
        for k in keys {
            let failures: i64 = tx.query_row(
                "INSERT INTO login_throttle (name_hash, failures, locked_until, last_attempt_at)
                 VALUES (?1, 1, 0, ?2)
                 ON CONFLICT(name_hash) DO UPDATE SET failures = failures + 1,
                     last_attempt_at = excluded.last_attempt_at
                 RETURNING failures",
                params![&k.key[..], now],
                |r| r.get(0),
            )?;
            let over = failures - i64::from(k.max_failures);
            if over >= 0 {
                let wait = backoff
                    .base
                    .saturating_mul(1i64 << over.min(30))
                    .min(backoff.cap);
                tx.execute(
                    "UPDATE login_throttle SET locked_until = ?2 WHERE name_hash = ?1",
                    params![&k.key[..], now + wait],
                )?;
            }
        }
        tx.commit()?;
        Ok(Attempt::Counted)
    }

    /// Takes back a counted attempt whose password was right: `forget` starts afresh (the
    /// source that knows the password), `uncount` loses this attempt's failure and, below
    /// its limit again, its wait.
    pub fn login_succeeded(
        &self,
        forget: &SecretHash,
        uncount: &ThrottleKey,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM login_throttle WHERE name_hash = ?1",
            [&forget[..]],
        )?;
        tx.execute(
            "UPDATE login_throttle SET failures = failures - 1,
                locked_until = CASE WHEN failures - 1 < ?2 THEN 0 ELSE locked_until END
             WHERE name_hash = ?1 AND failures > 0",
            params![&uncount.key[..], uncount.max_failures],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Takes back one counted attempt of `key` that was no failure, and its wait once below
    /// the limit again; unlike [`AuthzStore::login_succeeded`] nothing starts afresh, so a
    /// success cannot buy further tries.
    pub fn uncount_attempt(&self, key: &ThrottleKey) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE login_throttle SET failures = failures - 1,
                locked_until = CASE WHEN failures - 1 < ?2 THEN 0 ELSE locked_until END
             WHERE name_hash = ?1 AND failures > 0",
            params![&key.key[..], key.max_failures],
        )?;
        Ok(())
    }
}

fn locked_until(tx: &Transaction<'_>, key: &SecretHash) -> Result<i64, StoreError> {
    Ok(tx
        .query_row(
            "SELECT locked_until FROM login_throttle WHERE name_hash = ?1",
            [&key[..]],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: 30,
        cap: 3600,
    };

    fn key(byte: u8, max_failures: u32) -> ThrottleKey {
        ThrottleKey {
            key: [byte; 32],
            max_failures,
        }
    }

    #[test]
    fn attempts_wait_from_the_limit_on_and_the_wait_doubles() {
        let store = store();
        let bob = [key(7, 5)];
        for _ in 0..4 {
            assert_eq!(
                store.begin_login_attempt(&bob, 1000, BACKOFF).expect("q"),
                Attempt::Counted
            );
        }
        // The fifth is counted (its password is checked) and starts a 30 s wait.
        assert_eq!(
            store.begin_login_attempt(&bob, 1000, BACKOFF).expect("q"),
            Attempt::Counted
        );
        assert_eq!(
            store.begin_login_attempt(&bob, 1010, BACKOFF).expect("q"),
            Attempt::Wait { retry_after: 20 }
        );
        // Refused attempts are not counted: the next allowed one doubles the wait once.
        assert_eq!(
            store.begin_login_attempt(&bob, 1030, BACKOFF).expect("q"),
            Attempt::Counted
        );
        assert_eq!(
            store.begin_login_attempt(&bob, 1031, BACKOFF).expect("q"),
            Attempt::Wait { retry_after: 59 }
        );
        // Another key is independent.
        assert_eq!(
            store
                .begin_login_attempt(&[key(8, 5)], 1031, BACKOFF)
                .expect("q"),
            Attempt::Counted
        );
    }

    #[test]
    fn any_waiting_key_refuses_and_success_takes_the_attempt_back() {
        let store = store();
        let source = key(1, 2);
        let account = key(2, 3);
        let both = [source, account];
        assert_eq!(
            store.begin_login_attempt(&both, 0, BACKOFF).expect("q"),
            Attempt::Counted
        );
        assert_eq!(
            store.begin_login_attempt(&both, 0, BACKOFF).expect("q"),
            Attempt::Counted
        );
        assert!(matches!(
            store.begin_login_attempt(&both, 1, BACKOFF).expect("q"),
            Attempt::Wait { .. }
        ));
        // A success from another source: its own row goes, the account loses one failure.
        let other = key(3, 2);
        assert_eq!(
            store
                .begin_login_attempt(&[other, account], 1, BACKOFF)
                .expect("q"),
            Attempt::Counted
        );
        store.login_succeeded(&other.key, &account).expect("ok");
        assert_eq!(
            store
                .begin_login_attempt(&[other, account], 2, BACKOFF)
                .expect("q"),
            Attempt::Counted,
            "account back at 2 of 3 failures"
        );
        assert!(matches!(
            store
                .begin_login_attempt(&[key(4, 2), account], 2, BACKOFF)
                .expect("q"),
            Attempt::Wait { .. }
        ));
    }

    #[test]
    fn a_row_is_forgotten_only_after_a_quiet_day_without_a_wait() {
        let store = store();
        let (bob, t) = ([key(7, 3)], 1_000_000);
        let attempt = |now| store.begin_login_attempt(&bob, now, BACKOFF).expect("q");
        for _ in 0..3 {
            attempt(t);
        }
        // Not a day quiet yet: the failures still count, the next one waits twice as long.
        let now = t + FORGET_AFTER_SECS - 1;
        store.purge_expired(now).expect("purge");
        assert_eq!(attempt(now), Attempt::Counted);
        assert_eq!(attempt(now + 1), Attempt::Wait { retry_after: 59 });
        // A quiet day after that: forgotten, and a fresh count waits from its own third
        // failure on, for the first wait again.
        let now = now + 60 + FORGET_AFTER_SECS;
        store.purge_expired(now).expect("purge");
        for _ in 0..3 {
            assert_eq!(attempt(now), Attempt::Counted);
        }
        assert_eq!(attempt(now), Attempt::Wait { retry_after: 30 });

        // A wait longer than a day is never cut short by forgetting.
        let long = Backoff {
            base: 2 * FORGET_AFTER_SECS,
            cap: 2 * FORGET_AFTER_SECS,
        };
        let carol = [key(9, 1)];
        store.begin_login_attempt(&carol, t, long).expect("q");
        store
            .purge_expired(t + FORGET_AFTER_SECS + 1)
            .expect("purge");
        assert_eq!(
            store
                .begin_login_attempt(&carol, t + FORGET_AFTER_SECS + 1, long)
                .expect("q"),
            Attempt::Wait {
                retry_after: FORGET_AFTER_SECS - 1
            }
        );
    }

    #[test]
    fn server_secrets_are_created_once() {
        let store = store();
        assert_eq!(store.server_secret("k", "first").expect("create"), "first");
        assert_eq!(store.server_secret("k", "second").expect("read"), "first");
    }
}
