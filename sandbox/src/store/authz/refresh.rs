//! Refresh tokens: rotated on every use; a reused one revokes its whole family.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::grants::{grant_tx, revoke_grant_tx};
use super::{AuthzStore, GrantRecord, SecretHash};

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

impl AuthzStore {
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
}

impl AuthzStore {
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
