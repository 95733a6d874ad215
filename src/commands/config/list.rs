//! `bank config list`: every effective value with where it came from.

use serde_json::{Map, Value, json};

use crate::config::{self, KEYS, Overrides};
use crate::error::CliError;
use crate::ui::Ui;

/// List the effective settings of the profile and their sources
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  bank config list\n  bank config list --json | jq -r .issuer.value"
)]
pub struct ListArgs {}

pub fn cmd_list(ui: &Ui, overrides: &Overrides, _args: ListArgs) -> Result<(), CliError> {
    let layers = super::layers()?;
    let profile = config::resolve(&layers.file, &layers.env, overrides)?;
    if ui.json() {
        let mut out = Map::new();
        out.insert("profile".into(), Value::String(profile.name.clone()));
        for key in KEYS {
            out.insert(
                (*key).to_owned(),
                json!({"value": profile.get(key)?, "source": profile.source(key)}),
            );
        }
        return ui.data_json(&out);
    }
    ui.data(&format!("# profile: {}", profile.name))?;
    for key in KEYS {
        let line = match profile.get(key)? {
            Some(v) => format!("{key} = {v}  ({})", profile.source(key)),
            None => format!("{key} = (unset)"),
        };
        ui.data(&line)?;
    }
    Ok(())
}
