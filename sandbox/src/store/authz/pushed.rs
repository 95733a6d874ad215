//! Pushed authorization requests (RFC 9126): the parameters a client pushed, under the hash
//! of the `request_uri` handed out for them, each usable once before it expires.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::{AuthzStore, SecretHash};

/// What presenting a `request_uri` at the authorization endpoint found.
#[derive(Debug, PartialEq, Eq)]
pub enum PushedUse {
    /// First use within its lifetime, by the client that pushed it: now spent. The
    /// parameters as pushed, form-encoded.
    Fresh(String),
    /// Pushed by another client; left unspent (RFC 9126 §2.2: bound to its client).
    OtherClient,
    AlreadyUsed,
    Expired,
    Unknown,
}

impl AuthzStore {
    pub fn insert_pushed_request(
        &self,
        uri_hash: &SecretHash,
        client_id: &str,
        params: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO pushed_requests (uri_hash, client_id, params, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![&uri_hash[..], client_id, params, now, expires_at],
        )?;
        Ok(())
    }

    /// Spends a pushed request for `client_id`, atomically: of two uses racing, one wins.
    pub fn use_pushed_request(
        &self,
        uri_hash: &SecretHash,
        client_id: &str,
        now: i64,
    ) -> Result<PushedUse, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT client_id, params, expires_at, used_at FROM pushed_requests
                 WHERE uri_hash = ?1",
                [&uri_hash[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((owner, params, expires_at, used_at)) = row else {
            return Ok(PushedUse::Unknown);
        };
        let outcome = if owner != client_id {
            PushedUse::OtherClient
        } else if used_at.is_some() {
            PushedUse::AlreadyUsed
        } else if expires_at <= now {
            PushedUse::Expired
        } else {
            tx.execute(
                "UPDATE pushed_requests SET used_at = ?2 WHERE uri_hash = ?1 AND used_at IS NULL",
                params![&uri_hash[..], now],
            )?;
            PushedUse::Fresh(params)
        };
        tx.commit()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::*;

    #[test]
    fn a_pushed_request_is_used_once_by_its_client_before_it_expires() {
        let store = store();
        store
            .insert_pushed_request(&[1; 32], "bank-cli", "scope=view%3Abalance", 100, 160)
            .expect("insert");
        assert_eq!(
            store
                .use_pushed_request(&[1; 32], "other", 110)
                .expect("use"),
            PushedUse::OtherClient
        );
        assert_eq!(
            store
                .use_pushed_request(&[1; 32], "bank-cli", 110)
                .expect("use"),
            PushedUse::Fresh("scope=view%3Abalance".into())
        );
        assert_eq!(
            store
                .use_pushed_request(&[1; 32], "bank-cli", 111)
                .expect("use"),
            PushedUse::AlreadyUsed
        );
        assert_eq!(
            store
                .use_pushed_request(&[2; 32], "bank-cli", 111)
                .expect("use"),
            PushedUse::Unknown
        );
        store
            .insert_pushed_request(&[3; 32], "bank-cli", "", 100, 160)
            .expect("insert");
        assert_eq!(
            store
                .use_pushed_request(&[3; 32], "bank-cli", 160)
                .expect("use"),
            PushedUse::Expired
        );
        store.purge_expired(160).expect("purge");
        assert_eq!(
            store
                .use_pushed_request(&[1; 32], "bank-cli", 100)
                .expect("use"),
            PushedUse::Unknown,
            "expired pushes are purged"
        );
    }
}
