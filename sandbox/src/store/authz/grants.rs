//! Grants, the authorization codes that create them and the access tokens issued under
//! them. Revoking a grant revokes everything that hangs off it.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

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
    /// RFC 9396 `authorization_details` (JSON), if the grant is bound to one transfer.
    pub authorization_details: Option<String>,
    /// The DPoP key (RFC 7638 thumbprint) its refresh tokens are bound to (RFC 9449 §5).
    pub dpop_jkt: Option<String>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// RFC 9449 §10: the key whose proof must come with the code.
    pub dpop_jkt: Option<String>,
    pub expires_at: i64,
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

impl AuthzStore {
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
        insert_grant(&tx, grant, now)?;
        tx.execute(
            "INSERT INTO auth_codes (code_hash, grant_id, redirect_uri, code_challenge, nonce, expires_at,
                dpop_jkt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                &code_hash[..],
                grant.id,
                code.redirect_uri,
                code.code_challenge,
                code.nonce,
                code.expires_at,
                code.dpop_jkt
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
                "SELECT grant_id, redirect_uri, code_challenge, nonce, expires_at, used_at, dpop_jkt
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
                            dpop_jkt: r.get(6)?,
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
}

pub(super) fn insert_grant(
    conn: &Connection,
    grant: &GrantRecord,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO grants (id, user_id, client_id, scope, audience, auth_time, amr, acr, created_at,
            authorization_details, dpop_jkt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            grant.id,
            grant.user_id,
            grant.client_id,
            grant.scope,
            grant.audience,
            grant.auth_time,
            grant.amr,
            grant.acr,
            now,
            grant.authorization_details,
            grant.dpop_jkt
        ],
    )?;
    Ok(())
}

pub(super) fn grant_tx(conn: &Connection, id: &str) -> Result<GrantRecord, StoreError> {
    Ok(conn.query_row(
        "SELECT id, user_id, client_id, scope, audience, auth_time, amr, acr, revoked_at,
            authorization_details, dpop_jkt
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
                authorization_details: r.get(9)?,
                dpop_jkt: r.get(10)?,
            })
        },
    )?)
}

pub(super) fn revoke_grant_tx(
    conn: &Connection,
    grant_id: &str,
    now: i64,
) -> Result<(), StoreError> {
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
