//! `bank config set KEY VALUE`: change a value in the profile's file table.

use crate::config::{self, ConfigDocument, Env, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// Change a setting in the configuration file (creates the profile if needed)
///
/// Only that key's line changes: comments, the order of the tables and the other profiles
/// stay as they were, and the file is replaced atomically.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  bank config set issuer https://TENANT.auth0.com/
  bank config set scopes \"openid profile offline_access view:balance\"
  bank --profile work config set callback_port 8765")]
pub struct SetArgs {
    /// The setting (see `bank config --help` for the keys)
    #[arg(value_parser = super::key_parser())]
    pub key: String,
    /// The new value
    pub value: String,
}

pub fn cmd_set(ui: &Ui, overrides: &Overrides, args: SetArgs) -> Result<(), CliError> {
    let env = Env::from_process();
    let name = overrides.profile_name(&env);
    let mut doc = ConfigDocument::load(&config::config_file_path(&config::config_dir(&env)?))?;
    doc.set(&name, &args.key, &args.value)?;
    doc.save()?;
    ui.success(&format!("Set {} for profile `{name}`", args.key));
    Ok(())
}
