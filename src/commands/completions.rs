//! `bank completions <shell>`: shell completion scripts, generated from the command tree.

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::commands::Cli;
use crate::error::CliError;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank completions bash > ~/.local/share/bash-completion/completions/bank
  bank completions zsh > \"${fpath[1]}/_bank\"
  bank completions fish > ~/.config/fish/completions/bank.fish

Pre-generated scripts are in the repository's completions/ directory.";

/// Print a shell completion script
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The script for `shell`, as bytes (also used to check `completions/` is current).
pub fn render(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bank", &mut out);
    out
}

pub fn cmd_completions(ui: &Ui, args: CompletionsArgs) -> Result<(), CliError> {
    let script = render(args.shell);
    let text = String::from_utf8_lossy(&script);
    ui.data(text.trim_end_matches('\n'))
}
