//! `bank config unset KEY`: remove a value from the profile's file table.

use crate::config::{self, ConfigDocument, Env, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// Remove a setting from the configuration file (the default applies again)
///
/// Only that key's line goes: comments, the order of the tables and the other profiles stay
/// as they were, and the file is replaced atomically. A key that is not set is left alone.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  bank config unset callback_port
  bank --profile work config unset audience_param")]
pub struct UnsetArgs {
    /// The setting (see `bank config --help` for the keys)
    #[arg(value_parser = super::key_parser())]
    pub key: String,
}

pub fn cmd_unset(ui: &Ui, overrides: &Overrides, args: UnsetArgs) -> Result<(), CliError> {
    let env = Env::from_process();
    let name = overrides.profile_name(&env);
    let mut doc = ConfigDocument::load(&config::config_file_path(&config::config_dir(&env)?))?;
    if doc.unset(&name, &args.key)? {
        doc.save()?;
        ui.success(&format!("Removed {} from profile `{name}`", args.key));
    } else {
        ui.status(&format!(
            "Nothing to remove: `{}` is not set for profile `{name}`",
            args.key
        ));
    }
    Ok(())
}
