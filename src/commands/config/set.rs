//! `bank config set KEY VALUE`: change a value in the profile's file table.

use crate::config::{self, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// Change a setting in the configuration file (creates the profile if needed)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  bank config set issuer https://TENANT.auth0.com/
  bank config set scopes \"openid profile offline_access view:balance\"
  bank --profile work config set callback_port 8765")]
pub struct SetArgs {
    /// The setting (see `bank config --help` for the keys)
    pub key: String,
    /// The new value
    pub value: String,
}

pub fn cmd_set(ui: &Ui, overrides: &Overrides, args: SetArgs) -> Result<(), CliError> {
    let mut layers = super::layers()?;
    let name = overrides
        .profile
        .clone()
        .or_else(|| layers.env.profile.clone())
        .unwrap_or_else(|| config::DEFAULT_PROFILE.to_owned());
    config::set_value(&mut layers.file, &name, &args.key, &args.value)?;
    layers.file.save(&layers.path)?;
    ui.success(&format!("Set {} for profile `{name}`", args.key));
    Ok(())
}
