//! Authorization transactions: a validated `/authorize` request, kept between the login
//! page and the redirect back to the client.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

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
    /// OIDC `login_hint`: the only username that may sign in for this transaction.
    pub login_hint: Option<String>,
    /// RFC 9396 `authorization_details` as validated JSON (one `payment_initiation`).
    pub authorization_details: Option<String>,
    /// RFC 9449 §10 `dpop_jkt`: only a proof by this key may redeem the code.
    pub dpop_jkt: Option<String>,
    pub session_hash: Option<Vec<u8>>,
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

impl AuthzStore {
    pub fn insert_txn(&self, t: &TxnRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO transactions (id, client_id, redirect_uri, scope, audience, state, nonce,
                code_challenge, acr_values, max_age, prompt, session_hash, user_id, auth_time,
                created_at, expires_at, completed_at, login_hint, authorization_details, dpop_jkt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20)",
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
                t.completed_at,
                t.login_hint,
                t.authorization_details,
                t.dpop_jkt
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
                    expires_at, completed_at, login_hint, authorization_details, dpop_jkt
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
                        login_hint: r.get(17)?,
                        authorization_details: r.get(18)?,
                        dpop_jkt: r.get(19)?,
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
}
