//! The bank's ledger: accounts, transfers, spent step-up tokens and idempotency keys.
//!
//! It offers operations, not SQL, so that the API layer cannot get the money rules wrong by
//! forgetting a statement: [`BankStore::consume_jti_and_transfer`] is the one place where a
//! transfer happens, and it records the spent token, the debit, the credit, the ledger entry
//! and the idempotency record in a single transaction, so either all of them happen or none
//! does.
//!
//! Two engines sit behind the one [`BankStore`], chosen at start-up from the database URL:
//! SQLite (`sqlite`, the embedded default: one process, one file) and PostgreSQL
//! (`postgres`, for several API instances sharing one ledger). Both keep the same rules with
//! the same order of checks; their migrations are listed side by side below.
//!
//! A transfer made with a DPoP-bound token also records its proof (a hash of the proof's
//! key and `jti`, in `dpop_proofs`) in that same transaction: the proof is spent exactly
//! when the money moves or the attempt is refused there, at the transfer's durability, and
//! every instance on the database refuses it afterwards. Proofs of requests that move no
//! money are remembered per API instance, in memory (`api::dpop`), never here.

mod batch;
mod database;
mod postgres;
mod precheck;
mod replay;
mod sqlite;

use std::sync::Arc;

use rand::RngCore;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use self::batch::{
    BatchCommand, BatchError, BatchOutcome, BatchRecord, PaymentRefusal, PlannedBatch,
    PlannedPayment,
};
pub use self::database::{Database, Durability};
pub use self::postgres::PgBank;
pub use self::precheck::{PlannedTransfer, Precheck};
pub use self::replay::PaidRetry;
pub use self::sqlite::SqliteBank;
use super::{Migration, StoreError};

/// The SQLite schema, applied in order at open (recorded in `PRAGMA user_version`).
pub const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        name: "001_init",
        sql: include_str!("../../../migrations/bank/sqlite/001_init.sql"),
    },
    Migration {
        name: "002_transfer_function",
        sql: include_str!("../../../migrations/bank/sqlite/002_transfer_function.sql"),
    },
    Migration {
        name: "003_dpop",
        sql: include_str!("../../../migrations/bank/sqlite/003_dpop.sql"),
    },
    Migration {
        name: "004_transfer_batch",
        sql: include_str!("../../../migrations/bank/sqlite/004_transfer_batch.sql"),
    },
    Migration {
        name: "005_idempotency_payer",
        sql: include_str!("../../../migrations/bank/sqlite/005_idempotency_payer.sql"),
    },
    Migration {
        name: "006_dpop_in_transfer",
        sql: include_str!("../../../migrations/bank/sqlite/006_dpop_in_transfer.sql"),
    },
    Migration {
        name: "007_transfer_batches",
        sql: include_str!("../../../migrations/bank/sqlite/007_transfer_batches.sql"),
    },
];

/// The same schema for PostgreSQL (recorded in `bank_schema_migrations`). Every SQLite
/// migration has its PostgreSQL twin under the same name and number.
pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        name: "001_init",
        sql: include_str!("../../../migrations/bank/postgres/001_init.sql"),
    },
    Migration {
        name: "002_transfer_function",
        sql: include_str!("../../../migrations/bank/postgres/002_transfer_function.sql"),
    },
    Migration {
        name: "003_dpop",
        sql: include_str!("../../../migrations/bank/postgres/003_dpop.sql"),
    },
    Migration {
        name: "004_transfer_batch",
        sql: include_str!("../../../migrations/bank/postgres/004_transfer_batch.sql"),
    },
    Migration {
        name: "005_idempotency_payer",
        sql: include_str!("../../../migrations/bank/postgres/005_idempotency_payer.sql"),
    },
    Migration {
        name: "006_dpop_in_transfer",
        sql: include_str!("../../../migrations/bank/postgres/006_dpop_in_transfer.sql"),
    },
    Migration {
        name: "007_transfer_batches",
        sql: include_str!("../../../migrations/bank/postgres/007_transfer_batches.sql"),
    },
];

/// The SQLite migrations under their historical name (`store::open(path, MIGRATIONS)`).
pub const MIGRATIONS: &[Migration] = SQLITE_MIGRATIONS;

/// An account as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub sub: String,
    pub handle: String,
    pub currency: String,
    pub balance_minor: i64,
}

/// One ledger entry, with the handles resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount_minor: i64,
    pub currency: String,
    pub memo: Option<String>,
    /// The sender's balance right after this transfer.
    pub from_balance_after: i64,
    pub created_at: String,
    /// The batch (`bt_…`) the transfer was part of, if any.
    pub batch: Option<String>,
}

/// Totals for invariant checks: the sum of balances must always equal the sum of openings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSummary {
    pub accounts: i64,
    pub transfers: i64,
    pub total_balance_minor: i64,
    pub total_opening_minor: i64,
}

/// Everything a transfer needs, already validated by the API layer.
#[derive(Debug, Clone)]
pub struct TransferCommand<'a> {
    /// `iss` of the token, so two issuers' `jti`s can never collide.
    pub issuer: &'a str,
    /// The token's single-use identifier (its `jti`, or a digest when it has none).
    pub token_id: &'a str,
    /// Unix time after which the token can no longer validate (exp + leeway): until then
    /// the spent-token record must be kept.
    pub token_expires_at: i64,
    pub from_account: i64,
    pub to_handle: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub memo: Option<&'a str>,
    pub idempotency_key: &'a str,
    /// Digest of the canonical request: same key + same digest = the same transfer.
    pub request_hash: [u8; 32],
    /// The DPoP proof that came with a bound token, spent in the transfer's transaction.
    pub dpop_proof: Option<ProofSpend>,
}

/// A DPoP proof to record as spent: the hash of its key and `jti`, and the last second it
/// could pass the proof window (the record is kept at least that long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofSpend {
    pub key: [u8; 32],
    pub expires_at: i64,
}

/// A transfer that happened now, or the one this idempotency key created earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    Created(TransferRecord),
    Replayed(TransferRecord),
}

/// Why a transfer did not happen. Apart from `TokenAlreadyUsed`, `ProofAlreadyUsed`,
/// `TokenExpired` and `Store`, the token and the DPoP proof *were* consumed: they
/// authorized one attempt, and that attempt was made.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("token already used")]
    TokenAlreadyUsed,
    /// The DPoP proof was spent before, by this or another instance: nothing happened.
    #[error("DPoP proof already used")]
    ProofAlreadyUsed,
    /// The token expired between its verification and this transaction.
    #[error("token expired")]
    TokenExpired,
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("unknown recipient")]
    UnknownRecipient,
    #[error("same account")]
    SameAccount,
    #[error("currency mismatch")]
    CurrencyMismatch,
    #[error("insufficient funds")]
    InsufficientFunds,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for TransferError {
    fn from(err: rusqlite::Error) -> Self {
        TransferError::Store(err.into())
    }
}

/// Why an account could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("handle {handle:?} already belongs to another account")]
    HandleTaken { handle: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SeedError {
    fn from(err: rusqlite::Error) -> Self {
        SeedError::Store(err.into())
    }
}

impl From<tokio_postgres::Error> for SeedError {
    fn from(err: tokio_postgres::Error) -> Self {
        SeedError::Store(err.into())
    }
}

/// What [`BankStore::open_account`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A new account, with the given opening balance.
    New,
    /// `sub` already had an account (under this handle); nothing changed, balances are
    /// never reset.
    Existing { handle: String },
}

/// The bank database: one interface over both engines.
#[derive(Debug, Clone)]
pub enum BankStore {
    Sqlite(Arc<SqliteBank>),
    Postgres(Arc<PgBank>),
}

impl BankStore {
    /// Opens (and migrates) the database. `pool_size` only matters for PostgreSQL.
    pub async fn open(
        database: &Database,
        durability: Durability,
        pool_size: usize,
    ) -> Result<BankStore, StoreError> {
        match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                let conn = tokio::task::spawn_blocking(move || {
                    SqliteBank::open(path.as_deref(), durability)
                })
                .await
                .map_err(|err| StoreError::Unavailable(Box::new(err)))??;
                Ok(BankStore::Sqlite(Arc::new(conn)))
            }
            Database::Postgres(url) => Ok(BankStore::Postgres(Arc::new(
                PgBank::connect(url, durability, pool_size).await?,
            ))),
        }
    }

    /// Wraps a SQLite connection opened with `store::open(path, MIGRATIONS)`.
    pub fn from_sqlite(conn: rusqlite::Connection) -> BankStore {
        BankStore::Sqlite(Arc::new(SqliteBank::new(conn)))
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self {
            BankStore::Sqlite(_) => "sqlite",
            BankStore::Postgres(_) => "postgres",
        }
    }

    /// The engine's own durability setting as it reports it now (`PRAGMA synchronous`,
    /// `SHOW synchronous_commit`), so tests check what the database does, not our config.
    pub async fn durability_setting(&self) -> Result<String, StoreError> {
        match self {
            BankStore::Sqlite(s) => blocking(s, |s| s.synchronous_setting()).await?,
            BankStore::Postgres(p) => p.synchronous_setting().await,
        }
    }

    /// Opens the account of `sub` under `handle` unless `sub` has one (balances are never
    /// reset). Fails if `handle` belongs to a different `sub`.
    pub async fn open_account(
        &self,
        sub: &str,
        handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Opened, SeedError> {
        match self {
            BankStore::Sqlite(s) => {
                let (sub, handle, currency) =
                    (sub.to_owned(), handle.to_owned(), currency.to_owned());
                blocking(s, move |s| {
                    s.open_account(&sub, &handle, &currency, opening_minor)
                })
                .await?
            }
            BankStore::Postgres(p) => p.open_account(sub, handle, currency, opening_minor).await,
        }
    }

    /// The account of `sub`, if it has one.
    pub async fn account_by_sub(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                // A point read by a unique key through a prepared statement takes
                // microseconds, far less than handing it to another thread and back, so it
                // runs here unless a transfer holds the connection.
                if let Some(result) = s.try_account_by_sub(sub) {
                    return result;
                }
                let sub = sub.to_owned();
                blocking(s, move |s| s.account_by_sub(&sub)).await?
            }
            BankStore::Postgres(p) => p.account_by_sub(sub).await,
        }
    }

    /// The account of `sub`, opening it (with `opening_minor`) on first sight. The handle
    /// is the first free one among `handle_candidates`, else `fallback_handle`; a handle
    /// that belongs to someone else is never handed out.
    pub async fn account_on_first_use(
        &self,
        sub: &str,
        handle_candidates: &[String],
        fallback_handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Account, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let (sub, candidates, fallback, currency) = (
                    sub.to_owned(),
                    handle_candidates.to_vec(),
                    fallback_handle.to_owned(),
                    currency.to_owned(),
                );
                blocking(s, move |s| {
                    s.account_for_sub(&sub, &candidates, &fallback, &currency, opening_minor)
                })
                .await?
            }
            BankStore::Postgres(p) => {
                p.account_on_first_use(
                    sub,
                    handle_candidates,
                    fallback_handle,
                    currency,
                    opening_minor,
                )
                .await
            }
        }
    }

    /// The balance of the account named `handle`, in minor units.
    pub async fn balance_of(&self, handle: &str) -> Result<Option<i64>, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let handle = handle.to_owned();
                blocking(s, move |s| s.balance_of(&handle)).await?
            }
            BankStore::Postgres(p) => p.balance_of(handle).await,
        }
    }

    /// The account's transfers (sent and received), newest first.
    pub async fn list_transfers(
        &self,
        account_id: i64,
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                blocking(s, move |s| s.list_transfers(account_id, limit)).await?
            }
            BankStore::Postgres(p) => p.list_transfers(account_id, limit).await,
        }
    }

    pub async fn ledger_summary(&self) -> Result<LedgerSummary, StoreError> {
        match self {
            BankStore::Sqlite(s) => blocking(s, |s| s.ledger_summary()).await?,
            BankStore::Postgres(p) => p.ledger_summary().await,
        }
    }

    /// Whether a transfer with this id is in the ledger (for crash tests and audits).
    pub async fn transfer_exists(&self, transfer_id: &str) -> Result<bool, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let id = transfer_id.to_owned();
                blocking(s, move |s| s.transfer_exists(&id)).await?
            }
            BankStore::Postgres(p) => p.transfer_exists(transfer_id).await,
        }
    }

    /// Spends a step-up token without moving anything: it was presented for a transfer it
    /// does not authorize (RFC 9396 details), and whoever tried may not try again. Returns
    /// false when it had already been spent.
    pub async fn spend_token(
        &self,
        issuer: &str,
        token_id: &str,
        token_expires_at: i64,
    ) -> Result<bool, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let (issuer, token_id) = (issuer.to_owned(), token_id.to_owned());
                blocking(s, move |s| {
                    s.spend_token(&issuer, &token_id, token_expires_at)
                })
                .await?
            }
            BankStore::Postgres(p) => p.spend_token(issuer, token_id, token_expires_at).await,
        }
    }

    /// Spends the step-up token and performs the transfer, atomically.
    ///
    /// Order matters: the DPoP proof and the token are consumed first (a replay of either
    /// changes nothing), so a replayed token never even learns
    /// whether its idempotency key exists; then an earlier result for the same key and
    /// request is returned unchanged (no money moves), a different request under the same
    /// key is refused; only then are recipient and funds checked and the money moved.
    /// Business refusals commit the spent token (the attempt used it) but nothing else.
    pub async fn consume_jti_and_transfer(
        &self,
        cmd: &TransferCommand<'_>,
        now_unix: i64,
    ) -> Result<TransferOutcome, TransferError> {
        match self {
            BankStore::Sqlite(s) => {
                let owned = OwnedTransferCommand::from(cmd);
                blocking(s, move |s| {
                    s.consume_jti_and_transfer(&owned.borrow(), now_unix)
                })
                .await
                .map_err(TransferError::Store)?
            }
            // A lane's worker runs the transaction: a client that hangs up mid-request
            // drops only the wait for its outcome.
            BankStore::Postgres(p) => {
                p.consume_jti_and_transfer(OwnedTransferCommand::from(cmd), now_unix)
                    .await
            }
        }
    }

    /// The secret `name` of this bank: `candidate` if there was none yet, else the one
    /// stored first, so every process on this database gets the same.
    pub async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let (name, candidate) = (name.to_owned(), candidate.to_owned());
                blocking(s, move |s| s.server_secret(&name, &candidate)).await?
            }
            BankStore::Postgres(p) => p.server_secret(name, candidate).await,
        }
    }

    /// SQLite only: direct access for the synchronous helpers of `ApiState` (the demo and
    /// the CLI's tests read balances without an async context).
    pub fn as_sqlite(&self) -> Option<&SqliteBank> {
        match self {
            BankStore::Sqlite(s) => Some(s),
            BankStore::Postgres(_) => None,
        }
    }
}

/// How long an expired DPoP proof record is kept before it is pruned: an instance whose
/// clock is behind another's by less than this still finds the record of a proof it would
/// accept.
const DPOP_PRUNE_MARGIN_SECS: i64 = 300;
/// How often one process prunes expired DPoP proof records.
const DPOP_PRUNE_EVERY_SECS: i64 = 30;

/// Whether it is this caller's turn to prune (at most once per `every` seconds per
/// process).
fn prune_due(next_at: &std::sync::atomic::AtomicI64, now: i64, every: i64) -> bool {
    use std::sync::atomic::Ordering;
    let due = next_at.load(Ordering::Relaxed);
    now >= due
        && next_at
            .compare_exchange(due, now + every, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Runs a SQLite operation on the blocking pool: SQLite calls block, and the connection's
/// mutex must never be held on an async worker.
async fn blocking<T, F>(store: &Arc<SqliteBank>, op: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&SqliteBank) -> T + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || op(&store))
        .await
        .map_err(|err| StoreError::Unavailable(Box::new(err)))
}

/// A [`TransferCommand`] that can move to the blocking pool or a PostgreSQL lane.
struct OwnedTransferCommand {
    issuer: String,
    token_id: String,
    token_expires_at: i64,
    from_account: i64,
    to_handle: String,
    amount_minor: i64,
    currency: String,
    memo: Option<String>,
    idempotency_key: String,
    request_hash: [u8; 32],
    dpop_proof: Option<ProofSpend>,
}

impl From<&TransferCommand<'_>> for OwnedTransferCommand {
    fn from(cmd: &TransferCommand<'_>) -> Self {
        OwnedTransferCommand {
            issuer: cmd.issuer.to_owned(),
            token_id: cmd.token_id.to_owned(),
            token_expires_at: cmd.token_expires_at,
            from_account: cmd.from_account,
            to_handle: cmd.to_handle.to_owned(),
            amount_minor: cmd.amount_minor,
            currency: cmd.currency.to_owned(),
            memo: cmd.memo.map(str::to_owned),
            idempotency_key: cmd.idempotency_key.to_owned(),
            request_hash: cmd.request_hash,
            dpop_proof: cmd.dpop_proof,
        }
    }
}

impl OwnedTransferCommand {
    fn borrow(&self) -> TransferCommand<'_> {
        TransferCommand {
            issuer: &self.issuer,
            token_id: &self.token_id,
            token_expires_at: self.token_expires_at,
            from_account: self.from_account,
            to_handle: &self.to_handle,
            amount_minor: self.amount_minor,
            currency: &self.currency,
            memo: self.memo.as_deref(),
            idempotency_key: &self.idempotency_key,
            request_hash: self.request_hash,
            dpop_proof: self.dpop_proof,
        }
    }
}

/// `tr_` + 24 hex characters of OS randomness: unguessable, so ids leak nothing.
fn new_transfer_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("tr_{}", hex::encode(bytes))
}

/// RFC 3339 UTC with whole seconds, e.g. `2025-01-31T12:00:00Z`.
fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_migrations() {
        let names = |m: &[Migration]| m.iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names(SQLITE_MIGRATIONS), names(POSTGRES_MIGRATIONS));
    }
}
