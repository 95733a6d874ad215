//! `bank demo`: the whole step-up story against a throwaway sandbox (the story is `demo`).

use crate::demo::{self, Options};
use crate::error::CliError;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank demo             # opens your browser where it can; asks you to approve the MFA push
  bank demo --yes       # unattended: signs in over HTTP and approves everything (CI)";

/// Watch OAuth step-up authentication happen, start to finish
///
/// Starts the sandbox bank in this process on free loopback ports, with a temporary data
/// directory and a temporary `demo` profile whose tokens go to a throwaway file (never your
/// keyring or your profiles), and walks through the story, narrating each step on stderr:
/// sign in for an everyday token (view:balance) → read the balance → try a transfer → 403
/// insufficient_scope → step up with MFA → the retry succeeds → the used token is refused on
/// replay → final balances. Where a browser can be opened, it is, and the MFA push is a
/// terminal prompt; elsewhere (no display, SSH, `--yes`) the demo signs in over HTTP itself.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// Approve everything and run unattended: no browser, no prompt
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn cmd_demo(ui: &Ui, args: DemoArgs) -> Result<(), CliError> {
    demo::run(ui, Options { yes: args.yes }).await
}
