//! Token signing keys: one current key, and retired ones kept while tokens they signed
//! may still be alive.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::AuthzStore;

#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub pkcs8_der: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl AuthzStore {
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
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: r.get(0)?,
        pkcs8_der: r.get(1)?,
        created_at: r.get(2)?,
        retired_at: r.get(3)?,
    })
}
