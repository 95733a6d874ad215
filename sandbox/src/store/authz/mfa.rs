//! Push MFA requests: one per transaction that needs a second factor, decided once.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::AuthzStore;

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
    /// The two-digit number the browser shows and the approver must type.
    pub binding_code: String,
    /// The transaction's RFC 9396 details (JSON), shown with the push.
    pub authorization_details: Option<String>,
}

impl AuthzStore {
    pub fn insert_mfa(
        &self,
        id: &str,
        txn_id: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
        binding_code: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO mfa_requests (id, txn_id, user_id, status, created_at, expires_at,
                binding_code)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
            params![id, txn_id, user_id, now, expires_at, binding_code],
        )?;
        Ok(())
    }

    const MFA_SELECT: &'static str = "SELECT m.id, m.txn_id, m.user_id, u.username, t.client_id,
            t.scope, m.status, m.created_at, m.expires_at, m.binding_code,
            t.authorization_details
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

    /// When the user's `n`-th newest MFA request (0 = newest) created after `since` was
    /// created, if there are that many.
    pub fn nth_newest_mfa_since(
        &self,
        user_id: i64,
        since: i64,
        n: u32,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT created_at FROM mfa_requests WHERE user_id = ?1 AND created_at > ?2
                 ORDER BY created_at DESC LIMIT 1 OFFSET ?3",
                params![user_id, since, n],
                |r| r.get(0),
            )
            .optional()?)
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

    /// Counts a wrong number typed for a pending request; at `limit` wrong numbers the
    /// request is denied. Returns whether it was denied now.
    pub fn wrong_mfa_code(&self, id: &str, limit: u32, now: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE mfa_requests SET wrong_codes = wrong_codes + 1
             WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
            params![id, now],
        )?;
        let denied = tx.execute(
            "UPDATE mfa_requests SET status = 'denied', decided_at = ?2
             WHERE id = ?1 AND status = 'pending' AND wrong_codes >= ?3",
            params![id, now, limit],
        )?;
        tx.commit()?;
        Ok(denied == 1)
    }

    /// How many wrong numbers were typed for a request (0 when there is no such request).
    pub fn mfa_wrong_codes(&self, id: &str) -> Result<u32, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT wrong_codes FROM mfa_requests WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }
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
    String,
    Option<String>,
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
        r.get(9)?,
        r.get(10)?,
    ))
}

fn finish_mfa(row: MfaRow) -> Result<MfaRecord, StoreError> {
    let (
        id,
        txn_id,
        user_id,
        username,
        client_id,
        scope,
        status,
        created_at,
        expires_at,
        binding_code,
        authorization_details,
    ) = row;
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
        binding_code,
        authorization_details,
    })
}
