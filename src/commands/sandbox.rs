//! `bank sandbox`: run the local bank (authorization server + bank API) in the foreground.
//!
//! A thin wrapper: the flags, the banner, start, Ctrl-C and shutdown are the sandbox
//! library's (`bank_sandbox::serve`), the same code as `bank-sandbox serve`, bundled into
//! `bank` so one binary is enough to try the whole story. What this adds is the mapping of
//! its errors onto the CLI's exit codes and hints.

use bank_sandbox::serve::{self, CommonArgs, ServeArgs, ServeError};

use crate::error::{CliError, ErrorKind};
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank sandbox                                   # 127.0.0.1:8400 (issuer) and :8401 (API)
  bank sandbox --in-memory                       # forget everything on exit
  bank sandbox --authz-addr 127.0.0.1:0 --api-addr 127.0.0.1:0 --json";

/// Run the local sandbox bank in the foreground
///
/// Starts the sandbox's authorization server (a stand-in for an Auth0 tenant, with a login
/// page, push MFA and the demo users alice/wonderland and bob/builder) and its bank API, the
/// same as `bank-sandbox serve`, then prints what to run in a second terminal. Data is kept
/// in the platform's data directory (e.g. ~/.local/share/bank-sandbox) unless `--data-dir`
/// or `--in-memory` says otherwise. With `--json`, stdout gets one line with the addresses.
/// Ctrl-C stops it.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub async fn cmd_sandbox(ui: &Ui, args: SandboxArgs) -> Result<(), CliError> {
    serve::run(&args.common, args.serve, ui.json())
        .await
        .map_err(cli_error)
}

fn cli_error(err: ServeError) -> CliError {
    let kind = if err.is_usage() {
        ErrorKind::Usage
    } else {
        ErrorKind::General
    };
    let busy = err.is_bind();
    let message = err.to_string();
    let out = match err {
        ServeError::Config(source) => CliError::new(kind, message).with_source(source),
        ServeError::Start(source) => CliError::new(kind, message).with_source(source),
        ServeError::DatabaseEnv(source) => CliError::new(kind, message).with_source(source),
        ServeError::Signal(source) | ServeError::Stdout(source) => {
            CliError::new(kind, message).with_source(source)
        }
        ServeError::NoDataDir | ServeError::Conflict(_) => CliError::new(kind, message),
    };
    if busy {
        out.hint("is another sandbox running? Pick other ports with --authz-addr/--api-addr")
    } else {
        out
    }
}
