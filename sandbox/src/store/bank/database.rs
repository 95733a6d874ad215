//! The ledger's location and durability, as settings: `sqlite:PATH` or `postgres://…`
//! (flag, environment or `[api] database`), and `full` or `relaxed`. Kept apart from the
//! store so that parsing and redaction (a URL may carry a password) sit in one place.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// How hard a commit tries to survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A 201 means the transfer is on disk: SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on` (each commit waits for its WAL fsync).
    #[default]
    Full,
    /// Survives a crash of the process, not of the machine: SQLite `synchronous=NORMAL`,
    /// PostgreSQL `synchronous_commit=off` (a transfer answered 201 can be lost in a power
    /// cut, never half-applied).
    Relaxed,
}

/// Where the ledger lives: `sqlite:PATH` or `postgres://…` (also `postgresql://…`).
/// In TOML it is that string; `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Database {
    /// A SQLite file; `None` keeps it in memory (tests, the demo).
    Sqlite(Option<PathBuf>),
    /// A PostgreSQL connection URL; `sslmode` and `sslrootcert` in its query say how its
    /// link is encrypted (`store::bank::postgres::tls`), the rest goes to `tokio-postgres`.
    Postgres(String),
}

impl Database {
    /// Parses a database setting. SQLite is `sqlite:PATH` (or `sqlite::memory:`).
    pub fn parse(value: &str) -> Result<Database, StoreError> {
        let value = value.trim();
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            // Parsed now, so a typo or a remote host without a TLS choice fails at start-up
            // with a clear message, not at the first request.
            super::postgres::parse_link(value)?;
            return Ok(Database::Postgres(value.to_owned()));
        }
        if let Some(path) = value.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return match path {
                "" => Err(StoreError::Config("sqlite: needs a path".into())),
                ":memory:" => Ok(Database::Sqlite(None)),
                path => Ok(Database::Sqlite(Some(PathBuf::from(path)))),
            };
        }
        Err(StoreError::Config(
            "the database must be sqlite:PATH or postgres://…".into(),
        ))
    }

    /// The setting with any password replaced, for banners and logs.
    pub fn redacted(&self) -> String {
        match self {
            Database::Sqlite(None) => "sqlite::memory:".into(),
            Database::Sqlite(Some(path)) => format!("sqlite:{}", path.display()),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

impl TryFrom<String> for Database {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, StoreError> {
        Database::parse(&value)
    }
}

impl From<Database> for String {
    fn from(database: Database) -> String {
        match database {
            Database::Postgres(url) => url,
            sqlite => sqlite.redacted(),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`, and the same
/// for a `password=` query parameter.
fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "postgres://[unparsable URL]".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("[redacted]"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("password") {
                "[redacted]".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_settings_parse_and_never_show_a_password() {
        assert_eq!(
            Database::parse("sqlite:/tmp/bank.sqlite3").expect("sqlite"),
            Database::Sqlite(Some("/tmp/bank.sqlite3".into()))
        );
        assert_eq!(
            Database::parse("sqlite::memory:").expect("memory"),
            Database::Sqlite(None)
        );
        let pg = Database::parse("postgres://bank:s3cret@127.0.0.1:5432/bank").expect("pg");
        assert!(matches!(pg, Database::Postgres(_)));
        assert!(!format!("{pg:?}").contains("s3cret"), "{pg:?}");
        let pg = Database::parse("postgresql://bank@%2Frun%2Fpg/bank?password=s3cret")
            .expect("pg with a socket dir");
        assert!(!pg.redacted().contains("s3cret"), "{}", pg.redacted());
        for bad in [
            "",
            "bank.sqlite3",
            "sqlite:",
            "mysql://x",
            "postgres://[bad",
        ] {
            assert!(Database::parse(bad).is_err(), "{bad:?}");
        }
    }
}
