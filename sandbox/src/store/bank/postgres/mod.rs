//! The ledger on PostgreSQL, shared by any number of API instances.
//!
//! Transactions run at READ COMMITTED with explicit locks, which is what makes one ledger
//! safe across instances without making every hot account a stream of serialization
//! failures (the steps are in the `bank_transfer` function of the schema):
//!
//! - both accounts are locked in id order (an advisory lock per account id, then the rows
//!   `FOR UPDATE`; one order for every transfer, so two opposite transfers cannot
//!   deadlock), and balances are read under that lock;
//! - the step-up token is spent under those locks by `INSERT … ON CONFLICT DO NOTHING` on
//!   its primary key: a second transaction with the same token (the same sender) waits
//!   for the first and then inserts nothing, so exactly one of them goes on;
//! - the idempotency key is looked up *after* the sender is locked: a transaction that
//!   created a transfer under this key held the same lock until it committed, so its
//!   record is visible (each READ COMMITTED statement takes a fresh snapshot).
//!
//! Transfers waiting on one instance at the same moment share one transaction and one
//! commit (`group_commit`), and the account locks are never held across a round trip to
//! an API instance (`transfer`). Deadlocks, serialization failures and unique violations
//! (which these rules should make impossible) roll back the whole attempt, which is
//! retried a bounded number of times with jitter; a transaction that keeps losing answers
//! `StoreError::Busy` (a 503 the client may retry with the same key), never a half-done
//! transfer and never a 500.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{Row, SimpleQueryMessage};

mod batch;
mod group_commit;
mod precheck;
mod replay;
mod tls;
mod transfer;

use self::tls::MakeRustls;
pub use self::tls::parse_link;

use self::group_commit::Lanes;
use super::{
    Account, Durability, LedgerSummary, Opened, OwnedTransferCommand, POSTGRES_MIGRATIONS,
    SeedError, TransferError, TransferOutcome, TransferRecord, now_rfc3339,
};
use crate::store::StoreError;

/// Attempts of one transfer before giving up with `Busy`.
const MAX_ATTEMPTS: u32 = 12;
/// How often one instance prunes expired spent tokens.
const PRUNE_EVERY_SECS: i64 = 30;
/// Spent tokens are kept this long past their own expiry before being pruned, so that an
/// instance whose clock is behind another's by less than this still finds the record of a
/// token it would consider valid.
const PRUNE_MARGIN_SECS: i64 = 300;
/// `pg_advisory_xact_lock` key that serializes migrations of instances starting together;
/// far above any account id (`bank_transfer` takes advisory locks keyed by account id).
const MIGRATION_LOCK_KEY: i64 = 0x62_61_6e_6b_00_01;

pub(super) const ACCOUNT_COLUMNS: &str = "id, sub, handle, currency, balance_minor";

pub(super) const TRANSFER_SELECT: &str =
    "SELECT t.id, f.handle, r.handle, t.amount_minor, t.currency,
        t.memo, t.from_balance_after, t.created_at, t.batch_id
    FROM transfers t
    JOIN accounts f ON f.id = t.from_account
    JOIN accounts r ON r.id = t.to_account";

/// The PostgreSQL ledger: a connection pool.
pub struct PgBank {
    pool: Pool,
    /// Where this instance's transfers queue to commit together.
    lanes: Lanes,
}

impl std::fmt::Debug for PgBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBank").finish_non_exhaustive()
    }
}

impl PgBank {
    /// Connects a pool of at most `pool_size` connections and migrates the schema.
    pub async fn connect(
        url: &str,
        durability: Durability,
        pool_size: usize,
    ) -> Result<PgBank, StoreError> {
        let link = parse_link(url)?;
        let tls = MakeRustls::new(&link.tls)?;
        let mut config = link.config;
        if config.get_application_name().is_none() {
            config.application_name("bank-sandbox api");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let pool = pool_of(config, tls, durability, pool_size)?;
        let bank = PgBank {
            lanes: Lanes::start(&pool),
            pool,
        };
        bank.migrate().await?;
        Ok(bank)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        checkout(&self.pool).await
    }

    /// Applies the missing migrations in one transaction, under an advisory lock so that
    /// instances starting at the same moment migrate one after the other.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY});
             CREATE TABLE IF NOT EXISTS bank_schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .await?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM bank_schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let applied = usize::try_from(applied).unwrap_or(0);
        for (index, migration) in POSTGRES_MIGRATIONS.iter().enumerate().skip(applied) {
            tx.batch_execute(migration.sql).await.map_err(|source| {
                StoreError::PostgresMigration {
                    name: migration.name,
                    source,
                }
            })?;
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO bank_schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &migration.name],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `synchronous_commit` as the server applies it to our sessions.
    pub async fn synchronous_setting(&self) -> Result<String, StoreError> {
        let client = self.client().await?;
        let messages = client.simple_query("SHOW synchronous_commit").await?;
        Ok(messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_default())
    }

    pub async fn open_account(
        &self,
        sub: &str,
        handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Opened, SeedError> {
        let client = self.client().await?;
        if let Some(existing) = account_by_sub(&client, sub).await? {
            return Ok(Opened::Existing {
                handle: existing.handle,
            });
        }
        if insert_account(&client, sub, handle, currency, opening_minor)
            .await?
            .is_some()
        {
            return Ok(Opened::New);
        }
        // Nothing inserted: either this sub was opened at the same moment elsewhere, or
        // the handle is someone else's.
        match account_by_sub(&client, sub).await? {
            Some(existing) => Ok(Opened::Existing {
                handle: existing.handle,
            }),
            None => Err(SeedError::HandleTaken {
                handle: handle.to_owned(),
            }),
        }
    }

    pub async fn account_by_sub(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        let client = self.client().await?;
        Ok(account_by_sub(&client, sub).await?)
    }

    pub async fn account_on_first_use(
        &self,
        sub: &str,
        handle_candidates: &[String],
        fallback_handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Account, StoreError> {
        let client = self.client().await?;
        if let Some(account) = account_by_sub(&client, sub).await? {
            return Ok(account);
        }
        // Each insert is its own statement: the unique constraints on `sub` and `handle`
        // decide races between instances, and a taken handle is simply skipped.
        for candidate in handle_candidates
            .iter()
            .map(String::as_str)
            .chain([fallback_handle])
        {
            if let Some(account) =
                insert_account(&client, sub, candidate, currency, opening_minor).await?
            {
                return Ok(account);
            }
            if let Some(account) = account_by_sub(&client, sub).await? {
                return Ok(account);
            }
        }
        Err(StoreError::NotFound)
    }

    pub async fn balance_of(&self, handle: &str) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT balance_minor FROM accounts WHERE handle = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&handle])
            .await?
            .map(|row| row.get(0)))
    }

    pub async fn list_transfers(
        &self,
        account_id: i64,
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{TRANSFER_SELECT} WHERE t.from_account = $1 OR t.to_account = $1
                 ORDER BY t.seq DESC LIMIT $2"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&account_id, &i64::from(limit)])
            .await?;
        Ok(rows.iter().map(transfer_from_row).collect())
    }

    pub async fn ledger_summary(&self) -> Result<LedgerSummary, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT COUNT(*) FROM accounts),
                        (SELECT COUNT(*) FROM transfers),
                        (SELECT COALESCE(SUM(balance_minor), 0)::BIGINT FROM accounts),
                        (SELECT COALESCE(SUM(opening_balance_minor), 0)::BIGINT FROM accounts)",
                &[],
            )
            .await?;
        Ok(LedgerSummary {
            accounts: row.get(0),
            transfers: row.get(1),
            total_balance_minor: row.get(2),
            total_opening_minor: row.get(3),
        })
    }

    pub async fn transfer_exists(&self, transfer_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM transfers WHERE id = $1)",
                &[&transfer_id],
            )
            .await?
            .get(0))
    }

    /// See `BankStore::spend_token`.
    pub async fn spend_token(
        &self,
        issuer: &str,
        token_id: &str,
        token_expires_at: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&issuer, &token_id, &token_expires_at, &now_rfc3339()],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// See `BankStore::server_secret`.
    pub async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &candidate],
            )
            .await?;
        Ok(client
            .query_one("SELECT value FROM server_secrets WHERE name = $1", &[&name])
            .await?
            .get(0))
    }

    /// See `BankStore::consume_jti_and_transfer`: queued on the sender's lane, committed
    /// with whatever else is waiting there (see `group_commit`).
    pub(in crate::store::bank) async fn consume_jti_and_transfer(
        &self,
        cmd: OwnedTransferCommand,
        now_unix: i64,
    ) -> Result<TransferOutcome, TransferError> {
        // As on SQLite: a token that expired on its way here might have had its record
        // pruned, so it is refused before it can be spent a second time.
        if cmd.token_expires_at < now_unix {
            return Err(TransferError::TokenExpired);
        }
        self.lanes.transfer(cmd, now_unix).await
    }
}

/// A pool of at most `size` connections whose sessions commit with `durability`'s
/// `synchronous_commit`, set at connect time so that it holds whatever the server's default.
fn pool_of(
    mut config: tokio_postgres::Config,
    tls: MakeRustls,
    durability: Durability,
    size: usize,
) -> Result<Pool, StoreError> {
    let synchronous_commit = match durability {
        Durability::Full => "on",
        Durability::Relaxed => "off",
    };
    let options = format!(
        "{} -c synchronous_commit={synchronous_commit}",
        config.get_options().unwrap_or_default()
    );
    config.options(options.trim_start());
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|err| StoreError::Config(err.to_string()))
}

async fn checkout(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(|err| match err {
        deadpool_postgres::PoolError::Backend(err) => StoreError::from(err),
        other => StoreError::Unavailable(Box::new(other)),
    })
}

pub(super) fn account_from_row(row: &Row) -> Account {
    Account {
        id: row.get(0),
        sub: row.get(1),
        handle: row.get(2),
        currency: row.get(3),
        balance_minor: row.get(4),
    }
}

pub(super) fn transfer_from_row(row: &Row) -> TransferRecord {
    TransferRecord {
        id: row.get(0),
        from: row.get(1),
        to: row.get(2),
        amount_minor: row.get(3),
        currency: row.get(4),
        memo: row.get(5),
        from_balance_after: row.get(6),
        created_at: row.get(7),
        batch: row.get(8),
    }
}

async fn account_by_sub(
    client: &Object,
    sub: &str,
) -> Result<Option<Account>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE sub = $1"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&sub])
        .await?
        .as_ref()
        .map(account_from_row))
}

/// Inserts the account unless `sub` or `handle` is taken (then `None`).
async fn insert_account(
    client: &Object,
    sub: &str,
    handle: &str,
    currency: &str,
    opening_minor: i64,
) -> Result<Option<Account>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO accounts (sub, handle, currency, balance_minor, opening_balance_minor,
                                   created_at)
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT DO NOTHING
             RETURNING {ACCOUNT_COLUMNS}"
        ))
        .await?;
    Ok(client
        .query_opt(
            &stmt,
            &[&sub, &handle, &currency, &opening_minor, &now_rfc3339()],
        )
        .await?
        .as_ref()
        .map(account_from_row))
}
