//! RFC 8628 device authorizations: the request a device made, the browser transaction of
//! the person who entered its user code, who signed in there, the decision, and the grant
//! the device code redeems exactly once.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::grants::{GrantRecord, grant_tx, insert_grant, revoke_grant_tx};
use super::{AuthzStore, SecretHash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// Approved and redeemed: the device code has yielded its token.
    Used,
}

impl DeviceStatus {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "denied" => Ok(Self::Denied),
            "used" => Ok(Self::Used),
            _ => Err(StoreError::Sqlite(rusqlite::Error::InvalidColumnType(
                0,
                "status".into(),
                rusqlite::types::Type::Text,
            ))),
        }
    }
}

/// A validated device authorization request and how far it got.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: String,
    pub client_id: String,
    pub scope: String,
    pub audience: String,
    pub acr_values: Option<String>,
    pub max_age: Option<i64>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    /// RFC 9396 details as validated JSON (one `payment_initiation`).
    pub authorization_details: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_secs: i64,
    pub status: DeviceStatus,
    /// The browser transaction of the latest person who entered the user code.
    pub txn_id: Option<String>,
    /// Who signed in (and passed MFA when asked) in that transaction, with how.
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub acr: Option<String>,
}

/// What a poll of the token endpoint found (RFC 8628 §3.5).
#[derive(Debug)]
pub enum DevicePoll {
    Unknown,
    /// The device code belongs to another client; nothing was recorded.
    OtherClient,
    Expired,
    /// Still waiting; `txn_id` is the browser transaction in progress, if any.
    Pending {
        id: String,
        txn_id: Option<String>,
    },
    /// Polled sooner than the interval allows; the interval is now 5 s longer.
    SlowDown,
    Denied,
    /// Approved: the code is now spent and this is its grant.
    Approved(Box<GrantRecord>),
    /// The code had already yielded a token: its grant has just been revoked.
    Replayed {
        grant_id: String,
    },
}

const SELECT: &str = "SELECT id, client_id, scope, audience, acr_values, max_age, prompt,
        login_hint, authorization_details, created_at, expires_at, interval_secs, status,
        txn_id, user_id, auth_time, amr, acr
     FROM device_authorizations";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DeviceRecord, String)> {
    Ok((
        DeviceRecord {
            id: r.get(0)?,
            client_id: r.get(1)?,
            scope: r.get(2)?,
            audience: r.get(3)?,
            acr_values: r.get(4)?,
            max_age: r.get(5)?,
            prompt: r.get(6)?,
            login_hint: r.get(7)?,
            authorization_details: r.get(8)?,
            created_at: r.get(9)?,
            expires_at: r.get(10)?,
            interval_secs: r.get(11)?,
            status: DeviceStatus::Pending,
            txn_id: r.get(13)?,
            user_id: r.get(14)?,
            auth_time: r.get(15)?,
            amr: r.get(16)?,
            acr: r.get(17)?,
        },
        r.get(12)?,
    ))
}

fn finish((mut record, status): (DeviceRecord, String)) -> Result<DeviceRecord, StoreError> {
    record.status = DeviceStatus::parse(&status)?;
    Ok(record)
}

impl AuthzStore {
    /// Stores a new device authorization; `false` when either code's hash is taken (the
    /// caller draws new codes).
    pub fn insert_device(
        &self,
        d: &DeviceRecord,
        device_code_hash: &SecretHash,
        user_code_hash: &SecretHash,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT INTO device_authorizations (id, device_code_hash, user_code_hash, client_id,
                scope, audience, acr_values, max_age, prompt, login_hint, authorization_details,
                created_at, expires_at, interval_secs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT DO NOTHING",
            params![
                d.id,
                &device_code_hash[..],
                &user_code_hash[..],
                d.client_id,
                d.scope,
                d.audience,
                d.acr_values,
                d.max_age,
                d.prompt,
                d.login_hint,
                d.authorization_details,
                d.created_at,
                d.expires_at,
                d.interval_secs
            ],
        )?;
        Ok(n == 1)
    }

    fn device_where(
        &self,
        clause: &str,
        key: &dyn rusqlite::ToSql,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let raw = self
            .conn()
            .query_row(&format!("{SELECT} WHERE {clause}"), [key], row)
            .optional()?;
        raw.map(finish).transpose()
    }

    pub fn device_by_user_code(
        &self,
        user_code_hash: &SecretHash,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        self.device_where("user_code_hash = ?1", &&user_code_hash[..])
    }

    pub fn device_by_id(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.device_where("id = ?1", &id)
    }

    /// The device authorization whose latest browser transaction is `txn_id`.
    pub fn device_by_txn(&self, txn_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.device_where("txn_id = ?1", &txn_id)
    }

    /// Pending, unexpired device authorizations, oldest first.
    pub fn pending_devices(&self, now: i64) -> Result<Vec<DeviceRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{SELECT} WHERE status = 'pending' AND expires_at > ?1 ORDER BY created_at, rowid"
        ))?;
        let raw: Vec<_> = stmt.query_map([now], row)?.collect::<Result<_, _>>()?;
        raw.into_iter().map(finish).collect()
    }

    /// A person entered the user code in a browser: `txn_id` is now the transaction that
    /// may finish the authorization, and whoever signed in through an earlier one no longer
    /// counts. Only while pending and unexpired.
    pub fn bind_device_txn(&self, id: &str, txn_id: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE device_authorizations
             SET txn_id = ?2, user_id = NULL, auth_time = NULL, amr = NULL, acr = NULL
             WHERE id = ?1 AND status = 'pending' AND expires_at > ?3",
            params![id, txn_id, now],
        )?;
        Ok(n == 1)
    }

    /// Records who authenticated in `txn_id`, and how (`amr`, `acr`), so the person can
    /// approve next. Only for the device's current transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn device_authenticated(
        &self,
        id: &str,
        txn_id: &str,
        user_id: i64,
        auth_time: i64,
        amr: &str,
        acr: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE device_authorizations SET user_id = ?3, auth_time = ?4, amr = ?5, acr = ?6
             WHERE id = ?1 AND txn_id = ?2 AND status = 'pending' AND expires_at > ?7",
            params![id, txn_id, user_id, auth_time, amr, acr, now],
        )?;
        Ok(n == 1)
    }

    /// The person approved in `txn_id`: creates `grant` for the device code to redeem.
    /// Refused (`false`) unless the authorization is still pending, unexpired, on this
    /// transaction and authenticated as the grant's user.
    pub fn approve_device(
        &self,
        id: &str,
        txn_id: &str,
        grant: &GrantRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_grant(&tx, grant, now)?;
        let n = tx.execute(
            "UPDATE device_authorizations SET status = 'approved', grant_id = ?3, decided_at = ?5
             WHERE id = ?1 AND txn_id = ?2 AND user_id = ?4 AND status = 'pending'
                AND expires_at > ?5",
            params![id, txn_id, grant.id, grant.user_id, now],
        )?;
        if n != 1 {
            // Dropping the transaction rolls the grant back.
            return Ok(false);
        }
        tx.commit()?;
        Ok(true)
    }

    /// Denies a pending authorization (on `txn_id` only, when given); `false` when it was
    /// not pending there any more.
    pub fn deny_device(
        &self,
        id: &str,
        txn_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE device_authorizations SET status = 'denied', decided_at = ?3
             WHERE id = ?1 AND (?2 IS NULL OR txn_id = ?2) AND status = 'pending'
                AND expires_at > ?3",
            params![id, txn_id, now],
        )?;
        Ok(n == 1)
    }

    /// One poll of the token endpoint with a device code, atomically: records the poll,
    /// enforces the interval (RFC 8628 §3.5: too soon is `slow_down`, and the interval
    /// grows by 5 s), and spends an approved code.
    pub fn poll_device(
        &self,
        device_code_hash: &SecretHash,
        client_id: &str,
        now: i64,
    ) -> Result<DevicePoll, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = tx
            .query_row(
                "SELECT id, client_id, status, expires_at, interval_secs, last_polled_at,
                    txn_id, grant_id
                 FROM device_authorizations WHERE device_code_hash = ?1",
                [&device_code_hash[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, owner, status, expires_at, interval, last_polled, txn_id, grant_id)) = found
        else {
            return Ok(DevicePoll::Unknown);
        };
        if owner != client_id {
            return Ok(DevicePoll::OtherClient);
        }
        let status = DeviceStatus::parse(&status)?;
        let too_soon = last_polled.is_some_and(|last| now - last < interval);
        tx.execute(
            "UPDATE device_authorizations SET last_polled_at = ?2,
                interval_secs = interval_secs + ?3
             WHERE id = ?1",
            params![id, now, if too_soon { 5 } else { 0 }],
        )?;
        let outcome = match (status, grant_id) {
            (DeviceStatus::Used, Some(grant_id)) => {
                revoke_grant_tx(&tx, &grant_id, now)?;
                DevicePoll::Replayed { grant_id }
            }
            _ if expires_at <= now => DevicePoll::Expired,
            (DeviceStatus::Pending, _) if too_soon => DevicePoll::SlowDown,
            (DeviceStatus::Pending, _) => DevicePoll::Pending { id, txn_id },
            (DeviceStatus::Approved, Some(grant_id)) => {
                tx.execute(
                    "UPDATE device_authorizations SET status = 'used' WHERE id = ?1",
                    [&id],
                )?;
                DevicePoll::Approved(Box::new(grant_tx(&tx, &grant_id)?))
            }
            _ => DevicePoll::Denied,
        };
        tx.commit()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::*;

    fn request(id: &str, now: i64) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            client_id: "bank-cli".into(),
            scope: "openid view:balance".into(),
            audience: "https://bank.example/api".into(),
            acr_values: None,
            max_age: None,
            prompt: None,
            login_hint: None,
            authorization_details: None,
            created_at: now,
            expires_at: now + 600,
            interval_secs: 5,
            status: DeviceStatus::Pending,
            txn_id: None,
            user_id: None,
            auth_time: None,
            amr: None,
            acr: None,
        }
    }

    #[test]
    fn codes_are_unique_and_polls_keep_their_interval() {
        let store = store();
        assert!(
            store
                .insert_device(&request("dev_1", 0), &[1; 32], &[2; 32])
                .expect("insert")
        );
        assert!(
            !store
                .insert_device(&request("dev_2", 0), &[3; 32], &[2; 32])
                .expect("insert"),
            "a user code that is taken is refused"
        );
        assert!(matches!(
            store.poll_device(&[1; 32], "other", 0).expect("poll"),
            DevicePoll::OtherClient
        ));
        assert!(matches!(
            store.poll_device(&[1; 32], "bank-cli", 0).expect("poll"),
            DevicePoll::Pending { .. }
        ));
        assert!(matches!(
            store.poll_device(&[1; 32], "bank-cli", 4).expect("poll"),
            DevicePoll::SlowDown
        ));
        // The interval is now 10 s, counted from the last poll.
        assert!(matches!(
            store.poll_device(&[1; 32], "bank-cli", 13).expect("poll"),
            DevicePoll::SlowDown
        ));
        assert!(matches!(
            store.poll_device(&[1; 32], "bank-cli", 28).expect("poll"),
            DevicePoll::Pending { .. }
        ));
        assert!(matches!(
            store.poll_device(&[1; 32], "bank-cli", 600).expect("poll"),
            DevicePoll::Expired
        ));
        assert!(matches!(
            store.poll_device(&[9; 32], "bank-cli", 0).expect("poll"),
            DevicePoll::Unknown
        ));
    }
}
