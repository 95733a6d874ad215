//! `bank config get|set|unset|list|path`: read and change profiles.
//!
//! These commands work on the configuration layers directly (not on a provider), so they run
//! even when the file is broken (`path`) or a profile does not exist yet (`set` creates it).
//! The precedence rules themselves live in `crate::config`.

pub mod get;
pub mod list;
pub mod path;
pub mod set;
pub mod unset;

use clap::builder::{PossibleValue, PossibleValuesParser};

use crate::config::{self, ConfigFile, Env, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// Read and change a profile's settings (every key is listed below)
///
/// Settings live per profile in `config.toml` in the config directory. Environment
/// variables (BANK_ISSUER, BANK_CLIENT_ID, BANK_AUDIENCE, BANK_API_URL, BANK_DPOP, BANK_PAR)
/// override the file; `--profile` / BANK_PROFILE choose the profile.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = after_help())]
pub enum ConfigCommand {
    Get(get::GetArgs),
    Set(set::SetArgs),
    Unset(unset::UnsetArgs),
    List(list::ListArgs),
    Path(path::PathArgs),
}

/// Every key of `config::KEYS`, in its order, with one line for people (at most 62
/// characters, so that `bank config --help` keeps each on one line of 80 columns).
const KEY_HELP: &[(&str, &str)] = &[
    (
        "issuer",
        "the authorization server's issuer identifier (exact string)",
    ),
    ("client_id", "the public OAuth client id"),
    ("audience", "the bank API's identifier (token audience)"),
    (
        "audience_param",
        "`resource` (RFC 8707) or `audience` (Auth0)",
    ),
    ("api_url", "the bank API's base URL"),
    ("scopes", "space-separated scopes of an everyday login"),
    (
        "callback_port",
        "fixed loopback port for the login redirect",
    ),
    (
        "dpop",
        "DPoP-bound tokens (RFC 9449): auto (default), always, never",
    ),
    (
        "par",
        "pushed requests (RFC 9126, PAR): auto (default), always, never",
    ),
    (
        "max_inline_payments",
        "batch payments approved one by one, at most (default 5)",
    ),
];

/// The KEY argument of `get`, `set` and `unset`: a known key, offered by the completions.
pub(crate) fn key_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        KEY_HELP
            .iter()
            .map(|(key, help)| PossibleValue::new(*key).help(*help)),
    )
}

fn after_help() -> String {
    let mut text = String::from("Keys:\n");
    for (key, help) in KEY_HELP {
        text.push_str(&format!("  {key:<15} {help}\n"));
    }
    text.push_str(
        "
Examples:
  bank config list
  bank config set issuer https://TENANT.auth0.com/
  bank config set audience_param audience
  bank --profile work config set api_url https://bank.example.com
  bank config unset callback_port
  bank config get issuer",
    );
    text
}

pub fn cmd_config(ui: &Ui, overrides: &Overrides, cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Get(args) => get::cmd_get(ui, overrides, args),
        ConfigCommand::Set(args) => set::cmd_set(ui, overrides, args),
        ConfigCommand::Unset(args) => unset::cmd_unset(ui, overrides, args),
        ConfigCommand::List(args) => list::cmd_list(ui, overrides, args),
        ConfigCommand::Path(args) => path::cmd_path(ui, args),
    }
}

/// The layers every config command starts from.
pub(crate) struct Layers {
    pub env: Env,
    pub file: ConfigFile,
}

pub(crate) fn layers() -> Result<Layers, CliError> {
    let env = Env::from_process();
    let path = config::config_file_path(&config::config_dir(&env)?);
    let file = ConfigFile::load(&path)?;
    Ok(Layers { env, file })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_key_has_its_help() {
        let keys: Vec<&str> = super::KEY_HELP.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, crate::config::KEYS);
        for (key, help) in super::KEY_HELP {
            assert!(help.chars().count() <= 62, "{key}: {help}");
        }
    }
}
