//! `bank config get|set|list|path`: read and change profiles.
//!
//! These commands work on the configuration layers directly (not on a provider), so they run
//! even when the file is broken (`path`) or a profile does not exist yet (`set` creates it).
//! The precedence rules themselves live in `crate::config`.

pub mod get;
pub mod list;
pub mod path;
pub mod set;

use crate::config::{self, ConfigFile, Env, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// Read and change settings (issuer, client id, audience, API URL, scopes, callback port)
///
/// Settings live per profile in `config.toml` in the config directory. Environment
/// variables (BANK_ISSUER, BANK_CLIENT_ID, BANK_AUDIENCE, BANK_API_URL, BANK_PAR) override the file;
/// `--profile` / BANK_PROFILE choose the profile.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "\
Keys:
  issuer          the authorization server's issuer identifier (exact string)
  client_id       the public OAuth client id
  audience        the bank API's identifier (token audience)
  audience_param  `resource` (RFC 8707) or `audience` (Auth0)
  api_url         the bank API's base URL
  scopes          space-separated scopes of an everyday login
  callback_port   fixed loopback port for the login redirect
  dpop            DPoP-bound tokens (RFC 9449): auto, always or never
  par             push authorization requests to the provider first (RFC 9126):
                  `auto` (where offered, the default), `always` or `never`

Examples:
  bank config list
  bank config set issuer https://TENANT.auth0.com/
  bank config set audience_param audience
  bank --profile work config set api_url https://bank.example.com
  bank config get issuer")]
pub enum ConfigCommand {
    Get(get::GetArgs),
    Set(set::SetArgs),
    List(list::ListArgs),
    Path(path::PathArgs),
}

pub fn cmd_config(ui: &Ui, overrides: &Overrides, cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Get(args) => get::cmd_get(ui, overrides, args),
        ConfigCommand::Set(args) => set::cmd_set(ui, overrides, args),
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
