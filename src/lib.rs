//! `bank`: a terminal banking client that shows OAuth step-up authentication done right.
//!
//! [`run`] is the whole program: parse the command line, dispatch (`commands`), and send
//! every error through one [`report`], which prints `error: …`, `caused by: …` and hints on
//! stderr and picks the exit code (DESIGN.md "Conventions"). Nothing below it prints errors
//! or exits. The modules: `config` (profiles), `oauth` (discovery, login, refresh,
//! revocation), `token_store` (keyring with file fallback), `session` (which token a request
//! uses), `api` (bank API client), `challenge` (`WWW-Authenticate`), `stepup` (the step-up retry
//! layer around API calls), `ui` (output), `demo` (`bank demo`'s story and its scripted browser).

pub mod api;
pub mod challenge;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod oauth;
pub mod session;
pub mod stepup;
pub mod token_store;
pub mod ui;

use std::process::ExitCode;

use clap::Parser as _;

use crate::commands::Cli;
use crate::error::{CliError, ErrorKind};
use crate::ui::Ui;

/// Runs the CLI with the process's arguments and environment.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let ui = Ui::new(cli.global.json, cli.global.no_input, cli.global.verbose);
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(
                &ui,
                CliError::new(ErrorKind::General, "cannot start the async runtime").with_source(e),
            );
        }
    };
    match runtime.block_on(commands::run(&ui, cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&ui, err),
    }
}

/// The one place errors are printed and mapped to exit codes.
pub fn report(ui: &Ui, err: CliError) -> ExitCode {
    if err.kind != ErrorKind::Interrupted {
        ui.error(&err);
    } else {
        ui.status("Interrupted.");
    }
    err.exit_code()
}

/// `-v` shows this crate's debug events, `-vv` its trace events. Dependencies stay quiet:
/// HTTP libraries' traces can include headers, and headers carry tokens.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "bank=debug",
        _ => "bank=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .try_init();
}
