//! `bank config path`: where the configuration file is.

use crate::config::{self, Env};
use crate::error::CliError;
use crate::ui::Ui;

/// Print the path of the configuration file
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  bank config path\n  $EDITOR \"$(bank config path)\"")]
pub struct PathArgs {}

pub fn cmd_path(ui: &Ui, _args: PathArgs) -> Result<(), CliError> {
    let dir = config::config_dir(&Env::from_process())?;
    ui.data(&config::config_file_path(&dir).display().to_string())
}
