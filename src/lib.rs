//! `bank`: a terminal banking client that shows OAuth step-up authentication done right.
//!
//! [`run`] is the whole program: parse the command line, dispatch (`commands`), and send
//! every error through one [`report`], which prints `error: …`, `caused by: …` and hints on
//! stderr and picks the exit code. Nothing below it prints errors or exits.
//!
//! The layers, from the person down (docs/ARCHITECTURE.md):
//! - `commands` — one module per command; the only code that knows the terminal (`ui`)
//!   and maps errors to exit codes (`error`); `context` is what they receive (`Ctx`);
//! - `client` — the one client for the bank API, made of layers: credentials, step-up,
//!   refresh, transport, with an observer that sees each step;
//! - `oauth` — discovery, the authorization code flow through a loopback redirect, the device
//!   flow, refresh, revocation; the person's part is a small trait the caller implements;
//! - `token_store` — the keyring, or a plain file only when chosen; `config` — profiles;
//!   `challenge` — `WWW-Authenticate`; `time_text` — durations for people; `qr` — the device
//!   flow's QR code;
//! - the wire contract itself is the `bank-protocol` crate, shared with the sandbox.

pub mod batch_file;
pub mod challenge;
pub mod client;
pub mod commands;
pub mod config;
pub mod context;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod dpop;
pub mod error;
pub mod oauth;
pub mod qr;
pub mod time_text;
pub mod token_store;
pub mod ui;

use std::process::ExitCode;

use clap::Parser as _;

use crate::commands::Cli;
use crate::error::{CliError, ErrorKind};
use crate::ui::Ui;

/// Runs the CLI with the process's arguments and environment.
pub fn run() -> ExitCode {
    // First, while this is the only thread.
    time_text::init_local_offset();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let ui = Ui::new(cli.global.json, cli.global.no_input, cli.global.verbose);
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
    match err.kind {
        ErrorKind::Interrupted => ui.status(err.interrupted_words()),
        ErrorKind::StdoutClosed => {}
        _ => ui.error(&err),
    }
    err.exit_code()
}
