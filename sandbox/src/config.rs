//! The sandbox's configuration: listen addresses, data dir, and the two halves' settings.
//!
//! Precedence, lowest first: built-in defaults (the protocol contract; no file needed) →
//! the optional TOML file (`--config`) → the environment (`BANK_API_DATABASE_URL` for the
//! bank API's `[api] database`) → command-line flags (`--data-dir`, `--authz-addr`,
//! `--api-addr`, `--allow-non-loopback`, `--in-memory`, `--database`), applied by `serve::config`. A missing
//! field keeps its default; an unknown field is an error, so typos do not silently do
//! nothing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{api, authz};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Default 127.0.0.1:8400; port 0 picks a free port.
    pub authz_addr: SocketAddr,
    /// Default 127.0.0.1:8401; port 0 picks a free port.
    pub api_addr: SocketAddr,
    /// Where `authz.sqlite3`, `bank.sqlite3` and `admin-token` live; `None` = in memory.
    pub data_dir: Option<PathBuf>,
    /// Listening on a non-loopback address needs this, and logs a warning.
    pub allow_non_loopback: bool,
    /// Run the bank API with the defaults of `bank-sandbox api --issuer …`, as if the
    /// sandbox's own authorization server were someone else's: assurance from the
    /// provider's rule, RAR and DPoP optional, provisioned accounts. With the `[authz]`
    /// settings that play a provider's behaviours, this is how `bank` is tried against one.
    pub api_as_external: bool,
    pub authz: authz::AuthzConfig,
    pub api: api::ApiConfig,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            authz_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8400)),
            api_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8401)),
            data_dir: None,
            allow_non_loopback: false,
            api_as_external: false,
            authz: authz::AuthzConfig::default(),
            api: api::ApiConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
}

impl SandboxConfig {
    /// In-memory stores, ephemeral loopback ports, cheap password hashing: for tests and
    /// `bank demo`. The cheap argon2 parameters are safe only because the database and
    /// its (public demo) passwords vanish with the process.
    pub fn ephemeral() -> Self {
        let mut config = Self {
            authz_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Self::default()
        };
        config.authz.password_hashing = authz::PasswordHashing::fast_for_tests();
        config
    }

    /// Reads a TOML file; fields it does not set keep their defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults_and_unknown_fields_are_errors() {
        let config = SandboxConfig::from_toml("").expect("empty is fine");
        assert_eq!(config.authz_addr.port(), 8400);
        assert_eq!(config.authz.clients[0].client_id, "bank-cli");
        let config = SandboxConfig::from_toml(
            "api_addr = \"127.0.0.1:9001\"\n[authz]\naccess_token_lifetime_secs = 60\n",
        )
        .expect("partial config");
        assert_eq!(config.api_addr.port(), 9001);
        assert_eq!(config.authz.access_token_lifetime_secs, 60);
        assert_eq!(config.authz.step_up_token_lifetime_secs, 300);
        assert!(SandboxConfig::from_toml("authz_adr = \"x\"").is_err());
    }

    #[test]
    fn the_api_section_names_its_ledger_and_durability() {
        let config = SandboxConfig::from_toml(
            "[api]\ndatabase = \"postgres://bank:pw@%2Frun%2Fpg/bank\"\n\
             durability = \"relaxed\"\nopen_accounts = \"provisioned\"\n",
        )
        .expect("api section");
        assert!(matches!(
            config.api.database,
            Some(crate::api::Database::Postgres(_))
        ));
        assert_eq!(config.api.durability, crate::api::Durability::Relaxed);
        assert_eq!(
            config.api.open_accounts,
            Some(crate::api::OpenAccounts::Provisioned)
        );
        assert!(
            !format!("{config:?}").contains("pw@"),
            "no password in Debug"
        );
        let defaults = SandboxConfig::from_toml("").expect("empty");
        assert_eq!(defaults.api.durability, crate::api::Durability::Full);
        assert!(SandboxConfig::from_toml("[api]\ndatabase = \"mysql://x\"").is_err());
        assert!(SandboxConfig::from_toml("[api]\ndurability = \"fast\"").is_err());
    }
}
