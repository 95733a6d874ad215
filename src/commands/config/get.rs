//! `bank config get KEY`: one effective value.

use serde_json::json;

use crate::config;
use crate::config::Overrides;
use crate::error::{CliError, ErrorKind};
use crate::ui::Ui;

/// Print the effective value of a setting (after environment overrides)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  bank config get issuer\n  bank --profile work config get api_url"
)]
pub struct GetArgs {
    /// The setting (see `bank config --help` for the keys)
    #[arg(value_parser = super::key_parser())]
    pub key: String,
}

pub fn cmd_get(ui: &Ui, overrides: &Overrides, args: GetArgs) -> Result<(), CliError> {
    let layers = super::layers()?;
    let profile = config::resolve(&layers.file, &layers.env, overrides)?;
    let value = profile.get(&args.key)?;
    if ui.json() {
        return ui.data_json(&json!({
            "key": args.key,
            "value": value,
            "source": profile.source(&args.key),
        }));
    }
    match value {
        Some(v) => ui.data(&v),
        None => Err(CliError::new(
            ErrorKind::General,
            format!("`{}` is not set", args.key),
        )),
    }
}
