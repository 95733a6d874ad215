//! `bank login`'s flags that name a provider, and the profile they create.
//!
//! `bank --profile work login --issuer URL --client-id ID` signs in to profile `work`,
//! creating it when it does not exist; the rules (never changing an existing profile, what
//! the environment may create, writing only after the sign-in succeeded) are
//! `config::create`'s.

use crate::client::Session;
use crate::config::{self, NewProfile, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Creating a profile (when --profile names a new one)")]
pub struct NewProfileArgs {
    /// The authorization server's issuer identifier (exact string; https except loopback)
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,

    /// The public OAuth client id registered for bank
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// The bank API's identifier (the access token's audience)
    #[arg(long, value_name = "ID")]
    pub audience: Option<String>,

    /// The bank API's base URL (https except loopback)
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}

impl NewProfileArgs {
    /// Puts the flags into the configuration layers (they beat the environment and file).
    pub fn apply(&self, overrides: &mut Overrides) {
        overrides.issuer.clone_from(&self.issuer);
        overrides.client_id.clone_from(&self.client_id);
        overrides.audience.clone_from(&self.audience);
        overrides.api_url.clone_from(&self.api_url);
    }
}

/// Writes the new profile after the sign-in succeeded (before its tokens are stored, so a
/// stored login always has its profile) and says so.
pub fn create(ui: &Ui, session: &Session, new: Option<&NewProfile>) -> Result<(), CliError> {
    let Some(new) = new else {
        return Ok(());
    };
    let path = config::config_file_path(&session.config_dir);
    if new.write(&path)? {
        ui.success(&format!(
            "Created profile `{}` in {}",
            new.name,
            path.display()
        ));
    }
    Ok(())
}
