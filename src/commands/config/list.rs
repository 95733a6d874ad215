//! `bank config list`: every effective value with where it came from; `--profiles`: every
//! profile.

use serde_json::{Map, Value, json};

use crate::config::{self, KEYS, Overrides};
use crate::error::CliError;
use crate::ui::{Ui, columns};

/// List the effective settings of the profile and their sources
///
/// With `--profiles`, list every profile instead: `default` (which exists even when the file
/// has no table for it) and each one in the file, the current one marked `*`, with the
/// values the file gives it (BANK_ISSUER and friends, which override whichever profile is in
/// use, are not applied there).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  bank config list
  bank config list --json | jq -r .issuer.value
  bank config list --profiles
  bank config list --profiles --json | jq -r '.[].name'")]
pub struct ListArgs {
    /// List every profile (name, issuer, client id, API URL) instead of one profile's settings
    #[arg(long)]
    pub profiles: bool,
}

pub fn cmd_list(ui: &Ui, overrides: &Overrides, args: ListArgs) -> Result<(), CliError> {
    let layers = super::layers()?;
    if args.profiles {
        return list_profiles(ui, &layers, &overrides.profile_name(&layers.env));
    }
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

fn list_profiles(ui: &Ui, layers: &super::Layers, current: &str) -> Result<(), CliError> {
    let profiles = config::resolve_all(&layers.file);
    if ui.json() {
        let out: Vec<Value> = profiles
            .iter()
            .map(|(name, resolved)| {
                let mut entry = json!({
                    "name": name,
                    "current": name == current,
                    "in_file": layers.file.profiles.contains_key(name),
                });
                match resolved {
                    Ok(p) => {
                        entry["issuer"] = json!(p.issuer);
                        entry["client_id"] = json!(p.client_id);
                        entry["audience"] = json!(p.audience);
                        entry["api_url"] = json!(p.api_url);
                    }
                    Err(e) => entry["error"] = json!(e.to_string()),
                }
                entry
            })
            .collect();
        return ui.data_json(&out);
    }
    let mut rows = vec![vec![
        String::new(),
        "PROFILE".into(),
        "ISSUER".into(),
        "CLIENT ID".into(),
        "API URL".into(),
    ]];
    for (name, resolved) in &profiles {
        let mark = if name == current { "*" } else { "" };
        let mut row = vec![mark.to_owned(), name.clone()];
        match resolved {
            Ok(p) => {
                row.extend([p.issuer.clone(), p.client_id.clone(), p.api_url.clone()]);
                if !layers.file.profiles.contains_key(name) {
                    row.push("(built-in defaults)".into());
                }
            }
            Err(e) => row.push(format!("(unusable: {e})")),
        }
        rows.push(row);
    }
    for line in columns(&rows) {
        ui.data(line.trim_end())?;
    }
    if !layers.file.profiles.contains_key(current) && current != config::DEFAULT_PROFILE {
        ui.warn(&format!(
            "the current profile `{current}` does not exist; create it with `bank --profile {current} login --issuer URL --client-id ID`"
        ));
    }
    Ok(())
}
