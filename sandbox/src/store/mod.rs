//! Persistence for both halves of the sandbox.
//!
//! The authorization server and the bank API keep separate databases (`authz.sqlite3` and
//! `bank.sqlite3` in the data dir, or PostgreSQL for the bank), because they are separate
//! trust domains: the bank must never be able to read password hashes, and the
//! authorization server must never touch money. This module owns what they share: opening
//! a SQLite connection with the right pragmas, running numbered migrations, and the error
//! type. Each half's operations live in its own submodule and expose operations
//! (`consume_jti_and_transfer`), never SQL.

pub mod authz;
pub mod bank;

use std::path::Path;

use rusqlite::Connection;

/// Errors that mean something to callers; everything else is `Sqlite`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("could not open database {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database migration {name} failed")]
    Migration {
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("database error")]
    Postgres(#[source] tokio_postgres::Error),
    #[error("database migration {name} failed")]
    PostgresMigration {
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database could not be reached in time (pool timeout, server gone).
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Conflicting transactions kept failing each other through every retry.
    #[error("database busy after {attempts} attempts")]
    Busy { attempts: u32 },
    #[error("invalid database setting: {0}")]
    Config(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            other => StoreError::Sqlite(other),
        }
    }
}

/// A closed connection, an I/O error, a connection exception (SQLSTATE class 08) or an
/// operator's intervention (class 57: a terminated backend, a shutdown, a cancelled
/// statement): the database is unreachable rather than wrong, and the caller may try
/// again later.
pub(crate) fn database_unreachable(err: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>());
    let class = err.code().map(|code| &code.code()[..2]);
    err.is_closed() || io || matches!(class, Some("08" | "57"))
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        if database_unreachable(&err) {
            StoreError::Unavailable(Box::new(err))
        } else {
            StoreError::Postgres(err)
        }
    }
}

/// A numbered migration: applied once, in order, recorded in `PRAGMA user_version`.
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Opens `path` (or a private in-memory database when `None`) and brings its schema up to
/// date. WAL lets readers proceed while a transfer commits; `synchronous=NORMAL` is the
/// documented safe pairing with WAL (durable across application crashes).
pub fn open(path: Option<&Path>, migrations: &[Migration]) -> Result<Connection, StoreError> {
    open_with(path, migrations, "NORMAL")
}

/// [`open`] with the given `PRAGMA synchronous` (`FULL` makes every commit wait for an
/// fsync of the WAL, so a committed transaction survives a power cut, not only a crash).
pub fn open_with(
    path: Option<&Path>,
    migrations: &[Migration],
    synchronous: &str,
) -> Result<Connection, StoreError> {
    let mut conn = match path {
        Some(path) => Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?,
        None => Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?,
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn, migrations)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), StoreError> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, migration) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)
            .map_err(|source| StoreError::Migration {
                name: migration.name,
                source,
            })?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}
