//! `bank man DIR`: man pages, generated from the command tree like the completions.

use std::path::PathBuf;

use clap::CommandFactory as _;

use crate::commands::Cli;
use crate::error::{CliError, ErrorKind};
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank man ~/.local/share/man/man1 && man bank-transfer
  bank man /tmp/bank-man && man -l /tmp/bank-man/bank.1

Pre-generated pages are in the repository's man/ directory.";

/// Write man pages for bank and every subcommand into a directory
///
/// One page per command: bank.1, bank-login.1, bank-config-set.1 and so on, from the same
/// definitions as `--help`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ManArgs {
    /// The directory to write the pages into (created if missing)
    #[arg(value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}

/// Every page as (file name, roff), the command itself first.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(cmd, &mut out);
    out
}

fn collect(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render(&mut page);
    out.push((man.get_filename(), page));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub.clone(), out);
    }
}

pub fn cmd_man(ui: &Ui, args: ManArgs) -> Result<(), CliError> {
    let failed = |e: std::io::Error| {
        CliError::new(
            ErrorKind::General,
            format!("cannot write man pages to {}", args.dir.display()),
        )
        .with_source(e)
    };
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    let pages = pages();
    for (name, page) in &pages {
        std::fs::write(args.dir.join(name), page).map_err(failed)?;
    }
    ui.success(&format!(
        "Wrote {} man pages to {}",
        pages.len(),
        args.dir.display()
    ));
    Ok(())
}
