//! Browser sessions at the authorization server, keyed by the hash of the session cookie.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub csrf_hash: Vec<u8>,
    pub expires_at: i64,
}

impl AuthzStore {
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
}
