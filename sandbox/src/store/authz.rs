//! The authorization server's persistence: users, login throttling, signing keys, browser
//! sessions, authorization transactions, MFA requests, and grants with the codes and tokens
//! that hang off them.
//!
//! Callers get operations that mean something in the protocol (`consume_code`,
//! `rotate_refresh_token`, `revoke_grant`), never SQL. Every secret that leaves the server
//! (session id, CSRF token, code, refresh token) arrives here already hashed: this module
//! never sees a usable secret except the signing keys. The connection sits behind a
//! `std::sync::Mutex` held only for the duration of one operation, never across `.await`.

use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Migration, StoreError};

/// The authorization server's migrations, applied in order by [`super::open`].
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "authz/0001_init",
        sql: include_str!("../../migrations/authz/0001_init.sql"),
    },
    Migration {
        name: "authz/0002_throttle_by_keyed_hash",
        sql: include_str!("../../migrations/authz/0002_throttle_by_keyed_hash.sql"),
    },
];

/// A SHA-256 digest of a secret (session id, CSRF token, code, refresh token).
pub type SecretHash = [u8; 32];

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub sub: String,
    pub username: String,
    pub display_name: String,
    /// PHC string (argon2id); not a secret in itself, but never logged either.
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub csrf_hash: Vec<u8>,
    pub expires_at: i64,
}

/// A validated authorization request, persisted between `/authorize` and the redirect.
#[derive(Debug, Clone)]
pub struct TxnRecord {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audience: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub acr_values: Option<String>,
    pub max_age: Option<i64>,
    pub prompt: Option<String>,
    pub session_hash: Option<Vec<u8>>,
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaStatus {
    Pending,
    Approved,
    Denied,
}

impl MfaStatus {
    fn as_str(self) -> &'static str {
        match self {
            MfaStatus::Pending => "pending",
            MfaStatus::Approved => "approved",
            MfaStatus::Denied => "denied",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(MfaStatus::Pending),
            "approved" => Ok(MfaStatus::Approved),
            "denied" => Ok(MfaStatus::Denied),
            _ => Err(StoreError::Sqlite(rusqlite::Error::InvalidColumnType(
                0,
                "status".into(),
                rusqlite::types::Type::Text,
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MfaRecord {
    pub id: String,
    pub txn_id: String,
    pub user_id: i64,
    pub username: String,
    pub client_id: String,
    pub scope: String,
    pub status: MfaStatus,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: String,
    pub user_id: i64,
    pub client_id: String,
    pub scope: String,
    pub audience: String,
    pub auth_time: i64,
    /// Space-separated `amr` values.
    pub amr: String,
    pub acr: String,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub pkcs8_der: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// What presenting an authorization code found.
#[derive(Debug)]
pub enum CodeUse {
    /// First use: the code is now spent.
    Fresh(Box<CodeRecord>, Box<GrantRecord>),
    /// The code was already spent: the grant has just been revoked (RFC 6749 §4.1.2).
    Replayed {
        grant_id: String,
    },
    Unknown,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshUse {
    /// Valid: the token is now spent and must be replaced by a new one.
    Fresh(Box<GrantRecord>),
    /// Already rotated away: the family has just been revoked (RFC 9700 §4.14.2).
    Reused { grant_id: String },
    /// Unknown, expired, or from a revoked grant.
    Invalid,
}

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

    // ---- users -------------------------------------------------------------------

    /// Creates the user unless the username is taken; returns whether it was created.
    pub fn create_user_if_absent(
        &self,
        sub: &str,
        username: &str,
        display_name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT INTO users (sub, username, display_name, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(username) DO NOTHING",
            params![sub, username, display_name, password_hash, now],
        )?;
        Ok(n == 1)
    }

    pub fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("username = ?1", username)
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("id = ?1", id)
    }

    fn user_where(
        &self,
        cond: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT id, sub, username, display_name, password_hash FROM users WHERE {cond}"
        );
        Ok(self
            .conn()
            .query_row(&sql, [value], |r| {
                Ok(UserRecord {
                    id: r.get(0)?,
                    sub: r.get(1)?,
                    username: r.get(2)?,
                    display_name: r.get(3)?,
                    password_hash: r.get(4)?,
                })
            })
            .optional()?)
    }

    pub fn usernames(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT username FROM users ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- login throttling ----------------------------------------------------------

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

    // ---- signing keys --------------------------------------------------------------

    /// Adds a new current signing key and retires the previous one(s) at `now`.
    pub fn add_signing_key(&self, kid: &str, pkcs8_der: &[u8], now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL",
            [now],
        )?;
        tx.execute(
            "INSERT INTO signing_keys (kid, pkcs8_der, created_at) VALUES (?1, ?2, ?3)",
            params![kid, pkcs8_der, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The current signing key, if any.
    pub fn current_signing_key(&self) -> Result<Option<SigningKeyRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT kid, pkcs8_der, created_at, retired_at FROM signing_keys
                 WHERE retired_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [],
                key_row,
            )
            .optional()?)
    }

    /// Keys to publish: the current one plus any retired after `retired_after` (tokens
    /// signed with them may still be alive), newest first.
    pub fn published_signing_keys(
        &self,
        retired_after: i64,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kid, pkcs8_der, created_at, retired_at FROM signing_keys
             WHERE retired_at IS NULL OR retired_at > ?1
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([retired_after], key_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- sessions ------------------------------------------------------------------

    pub fn create_session(
        &self,
        id_hash: &SecretHash,
        user: Option<(i64, i64)>,
        csrf_hash: &SecretHash,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO sessions (id_hash, user_id, auth_time, csrf_hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                &id_hash[..],
                user.map(|u| u.0),
                user.map(|u| u.1),
                &csrf_hash[..],
                now,
                expires_at
            ],
        )?;
        Ok(())
    }

    /// The session, unless unknown or expired.
    pub fn session(
        &self,
        id_hash: &SecretHash,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id, auth_time, csrf_hash, expires_at FROM sessions
                 WHERE id_hash = ?1 AND expires_at > ?2",
                params![&id_hash[..], now],
                |r| {
                    Ok(SessionRecord {
                        user_id: r.get(0)?,
                        auth_time: r.get(1)?,
                        csrf_hash: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn set_session_csrf(
        &self,
        id_hash: &SecretHash,
        csrf_hash: &SecretHash,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET csrf_hash = ?2 WHERE id_hash = ?1",
            params![&id_hash[..], &csrf_hash[..]],
        )?;
        Ok(())
    }

    pub fn delete_session(&self, id_hash: &SecretHash) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash[..]])?;
        Ok(())
    }

    // ---- authorization transactions -------------------------------------------------

    pub fn insert_txn(&self, t: &TxnRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO transactions (id, client_id, redirect_uri, scope, audience, state, nonce,
                code_challenge, acr_values, max_age, prompt, session_hash, user_id, auth_time,
                created_at, expires_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                t.id,
                t.client_id,
                t.redirect_uri,
                t.scope,
                t.audience,
                t.state,
                t.nonce,
                t.code_challenge,
                t.acr_values,
                t.max_age,
                t.prompt,
                t.session_hash,
                t.user_id,
                t.auth_time,
                t.created_at,
                t.expires_at,
                t.completed_at
            ],
        )?;
        Ok(())
    }

    pub fn txn(&self, id: &str) -> Result<Option<TxnRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, client_id, redirect_uri, scope, audience, state, nonce, code_challenge,
                    acr_values, max_age, prompt, session_hash, user_id, auth_time, created_at,
                    expires_at, completed_at
                 FROM transactions WHERE id = ?1",
                [id],
                |r| {
                    Ok(TxnRecord {
                        id: r.get(0)?,
                        client_id: r.get(1)?,
                        redirect_uri: r.get(2)?,
                        scope: r.get(3)?,
                        audience: r.get(4)?,
                        state: r.get(5)?,
                        nonce: r.get(6)?,
                        code_challenge: r.get(7)?,
                        acr_values: r.get(8)?,
                        max_age: r.get(9)?,
                        prompt: r.get(10)?,
                        session_hash: r.get(11)?,
                        user_id: r.get(12)?,
                        auth_time: r.get(13)?,
                        created_at: r.get(14)?,
                        expires_at: r.get(15)?,
                        completed_at: r.get(16)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records who authenticated for this transaction, in which browser session.
    pub fn bind_txn_user(
        &self,
        id: &str,
        user_id: i64,
        auth_time: i64,
        session_hash: &SecretHash,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE transactions SET user_id = ?2, auth_time = ?3, session_hash = ?4 WHERE id = ?1",
            params![id, user_id, auth_time, &session_hash[..]],
        )?;
        Ok(())
    }

    /// Marks the transaction finished; returns false if it already was (so a transaction
    /// yields at most one code or error redirect).
    pub fn complete_txn(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE transactions SET completed_at = ?2 WHERE id = ?1 AND completed_at IS NULL",
            params![id, now],
        )?;
        Ok(n == 1)
    }

    // ---- MFA requests ---------------------------------------------------------------

    pub fn insert_mfa(
        &self,
        id: &str,
        txn_id: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO mfa_requests (id, txn_id, user_id, status, created_at, expires_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
            params![id, txn_id, user_id, now, expires_at],
        )?;
        Ok(())
    }

    const MFA_SELECT: &'static str = "SELECT m.id, m.txn_id, m.user_id, u.username, t.client_id,
            t.scope, m.status, m.created_at, m.expires_at
         FROM mfa_requests m JOIN users u ON u.id = m.user_id
         JOIN transactions t ON t.id = m.txn_id";

    pub fn mfa_by_id(&self, id: &str) -> Result<Option<MfaRecord>, StoreError> {
        self.mfa_one(&format!("{} WHERE m.id = ?1", Self::MFA_SELECT), id)
    }

    pub fn mfa_by_txn(&self, txn_id: &str) -> Result<Option<MfaRecord>, StoreError> {
        self.mfa_one(&format!("{} WHERE m.txn_id = ?1", Self::MFA_SELECT), txn_id)
    }

    fn mfa_one(&self, sql: &str, key: &str) -> Result<Option<MfaRecord>, StoreError> {
        let raw = self.conn().query_row(sql, [key], mfa_row).optional()?;
        raw.map(finish_mfa).transpose()
    }

    /// Pending, unexpired requests (optionally for one user), oldest first.
    pub fn pending_mfa(
        &self,
        username: Option<&str>,
        now: i64,
    ) -> Result<Vec<MfaRecord>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "{} WHERE m.status = 'pending' AND m.expires_at > ?1 AND (?2 IS NULL OR u.username = ?2)
             ORDER BY m.created_at, m.rowid",
            Self::MFA_SELECT
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![now, username], mfa_row)?;
        let raw: Vec<_> = rows.collect::<Result<_, _>>()?;
        raw.into_iter().map(finish_mfa).collect()
    }

    /// Moves a pending, unexpired request to `status`; returns false when it was not
    /// pending any more (decided or expired), so a decision is taken exactly once.
    pub fn decide_mfa(&self, id: &str, status: MfaStatus, now: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE mfa_requests SET status = ?2, decided_at = ?3
             WHERE id = ?1 AND status = 'pending' AND expires_at > ?3",
            params![id, status.as_str(), now],
        )?;
        Ok(n == 1)
    }

    // ---- grants, codes, tokens ------------------------------------------------------

    /// Creates a grant and the authorization code that redeems it, atomically.
    pub fn create_grant_with_code(
        &self,
        grant: &GrantRecord,
        code_hash: &SecretHash,
        code: &CodeRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO grants (id, user_id, client_id, scope, audience, auth_time, amr, acr, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                grant.id,
                grant.user_id,
                grant.client_id,
                grant.scope,
                grant.audience,
                grant.auth_time,
                grant.amr,
                grant.acr,
                now
            ],
        )?;
        tx.execute(
            "INSERT INTO auth_codes (code_hash, grant_id, redirect_uri, code_challenge, nonce, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                &code_hash[..],
                grant.id,
                code.redirect_uri,
                code.code_challenge,
                code.nonce,
                code.expires_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Spends an authorization code. A second presentation revokes everything the code
    /// produced (RFC 6749 §4.1.2: "SHOULD revoke (when possible) all tokens previously
    /// issued based on that authorization code").
    pub fn consume_code(&self, code_hash: &SecretHash, now: i64) -> Result<CodeUse, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT grant_id, redirect_uri, code_challenge, nonce, expires_at, used_at
                 FROM auth_codes WHERE code_hash = ?1",
                [&code_hash[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        CodeRecord {
                            redirect_uri: r.get(1)?,
                            code_challenge: r.get(2)?,
                            nonce: r.get(3)?,
                            expires_at: r.get(4)?,
                        },
                        r.get::<_, Option<i64>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((grant_id, code, used_at)) = row else {
            return Ok(CodeUse::Unknown);
        };
        if used_at.is_some() {
            revoke_grant_tx(&tx, &grant_id, now)?;
            tx.commit()?;
            return Ok(CodeUse::Replayed { grant_id });
        }
        tx.execute(
            "UPDATE auth_codes SET used_at = ?2 WHERE code_hash = ?1",
            params![&code_hash[..], now],
        )?;
        let grant = grant_tx(&tx, &grant_id)?;
        tx.commit()?;
        Ok(CodeUse::Fresh(Box::new(code), Box::new(grant)))
    }

    pub fn grant(&self, id: &str) -> Result<GrantRecord, StoreError> {
        let conn = self.conn();
        grant_tx(&conn, id)
    }

    /// Revokes a grant and every refresh and access token issued under it.
    pub fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        revoke_grant_tx(&tx, grant_id, now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn record_access_token(
        &self,
        jti: &str,
        grant_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (?1, ?2, ?3)",
            params![jti, grant_id, expires_at],
        )?;
        Ok(())
    }

    /// Whether the access token's grant has been revoked (unknown jtis count as revoked).
    pub fn access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let revoked: Option<Option<i64>> = self
            .conn()
            .query_row(
                "SELECT g.revoked_at FROM access_tokens a JOIN grants g ON g.id = a.grant_id
                 WHERE a.jti = ?1",
                [jti],
                |r| r.get(0),
            )
            .optional()?;
        Ok(!matches!(revoked, Some(None)))
    }

    pub fn insert_refresh_token(
        &self,
        token_hash: &SecretHash,
        grant_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![&token_hash[..], grant_id, now, expires_at],
        )?;
        Ok(())
    }

    /// Spends a refresh token for rotation. Presenting one that was already rotated away
    /// means two parties hold it: the whole family is revoked.
    pub fn use_refresh_token(
        &self,
        token_hash: &SecretHash,
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT r.grant_id, r.expires_at, r.used_at, g.revoked_at
                 FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = ?1",
                [&token_hash[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((grant_id, expires_at, used_at, revoked_at)) = row else {
            return Ok(RefreshUse::Invalid);
        };
        if revoked_at.is_some() || expires_at <= now {
            return Ok(RefreshUse::Invalid);
        }
        if used_at.is_some() {
            revoke_grant_tx(&tx, &grant_id, now)?;
            tx.commit()?;
            return Ok(RefreshUse::Reused { grant_id });
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
            params![&token_hash[..], now],
        )?;
        let grant = grant_tx(&tx, &grant_id)?;
        tx.commit()?;
        Ok(RefreshUse::Fresh(Box::new(grant)))
    }

    /// Deletes what can no longer be used: expired sessions, transactions (and their MFA
    /// requests), refresh tokens and access-token records. Codes are kept a day past
    /// expiry so a late replay is still recognised as one. Grants stay (they are small and
    /// record revocations).
    pub fn purge_expired(&self, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM transactions WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?;
        tx.execute("DELETE FROM access_tokens WHERE expires_at <= ?1", [now])?;
        tx.execute(
            "DELETE FROM auth_codes WHERE expires_at <= ?1",
            [now - 24 * 3600],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The grant a refresh token belongs to, if the token is known.
    pub fn refresh_token_grant(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT grant_id FROM refresh_tokens WHERE token_hash = ?1",
                [&token_hash[..]],
                |r| r.get(0),
            )
            .optional()?)
    }
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: r.get(0)?,
        pkcs8_der: r.get(1)?,
        created_at: r.get(2)?,
        retired_at: r.get(3)?,
    })
}

type MfaRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

fn mfa_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MfaRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn finish_mfa(row: MfaRow) -> Result<MfaRecord, StoreError> {
    let (id, txn_id, user_id, username, client_id, scope, status, created_at, expires_at) = row;
    Ok(MfaRecord {
        id,
        txn_id,
        user_id,
        username,
        client_id,
        scope,
        status: MfaStatus::parse(&status)?,
        created_at,
        expires_at,
    })
}

fn grant_tx(conn: &Connection, id: &str) -> Result<GrantRecord, StoreError> {
    Ok(conn.query_row(
        "SELECT id, user_id, client_id, scope, audience, auth_time, amr, acr, revoked_at
         FROM grants WHERE id = ?1",
        [id],
        |r| {
            Ok(GrantRecord {
                id: r.get(0)?,
                user_id: r.get(1)?,
                client_id: r.get(2)?,
                scope: r.get(3)?,
                audience: r.get(4)?,
                auth_time: r.get(5)?,
                amr: r.get(6)?,
                acr: r.get(7)?,
                revoked_at: r.get(8)?,
            })
        },
    )?)
}

fn revoke_grant_tx(conn: &Connection, grant_id: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![grant_id, now],
    )?;
    // Spend every refresh token of the family so none can be rotated again.
    conn.execute(
        "UPDATE refresh_tokens SET used_at = COALESCE(used_at, ?2) WHERE grant_id = ?1",
        params![grant_id, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AuthzStore {
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
