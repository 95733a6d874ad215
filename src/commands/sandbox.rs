//! `bank sandbox`: run the local bank (authorization server + bank API) in the foreground.
//!
//! The same server as `bank-sandbox serve` — `bank_sandbox::Sandbox::start` with the same
//! defaults, flags and data directory (`bank_sandbox::default_data_dir`, so `bank-sandbox mfa
//! approve` finds the admin token) — bundled into `bank` so one binary is enough to try the
//! whole story. What this adds is the walkthrough for the `bank` CLI in a second terminal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bank_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use crate::config::{DEFAULT_API_URL, DEFAULT_ISSUER};
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
    /// Directory for authz.sqlite3, bank.sqlite3 and the admin token
    #[arg(long, env = "BANK_SANDBOX_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory: nothing is written, everything is gone on exit
    #[arg(long, conflicts_with = "data_dir")]
    pub in_memory: bool,

    /// Optional sandbox configuration file (TOML: clients, users, rules, lifetimes)
    #[arg(long, env = "BANK_SANDBOX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Authorization server listen address (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8400")]
    pub authz_addr: SocketAddr,

    /// Bank API listen address (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8401")]
    pub api_addr: SocketAddr,
}

pub async fn cmd_sandbox(ui: &Ui, args: SandboxArgs) -> Result<(), CliError> {
    let mut config = match &args.config {
        Some(path) => SandboxConfig::load(path).map_err(|e| {
            CliError::new(ErrorKind::Usage, "cannot load the sandbox configuration").with_source(e)
        })?,
        None => SandboxConfig::default(),
    };
    config.data_dir = if args.in_memory {
        None
    } else {
        Some(
            args.data_dir
                .clone()
                .or_else(|| config.data_dir.clone())
                .or_else(bank_sandbox::default_data_dir)
                .ok_or_else(|| {
                    CliError::usage("cannot find a data directory: pass --data-dir or --in-memory")
                })?,
        )
    };
    config.authz_addr = args.authz_addr;
    config.api_addr = args.api_addr;
    let users: Vec<(String, String)> = config
        .authz
        .users
        .iter()
        .map(|u| (u.username.clone(), u.password.expose().to_owned()))
        .collect();
    let data_dir = config.data_dir.clone();
    let sandbox = Sandbox::start(config).await.map_err(|e| {
        let busy = matches!(&e, bank_sandbox::SandboxError::Bind { .. });
        let err = CliError::new(ErrorKind::General, "cannot start the sandbox").with_source(e);
        if busy {
            err.hint("is another sandbox running? Pick other ports with --authz-addr/--api-addr")
        } else {
            err
        }
    })?;

    if ui.json() {
        ui.data(
            &json!({
                "issuer": sandbox.issuer(),
                "api_url": sandbox.api_url(),
                "data_dir": data_dir,
            })
            .to_string(),
        )?;
    }
    ui.status(&walkthrough(
        sandbox.issuer(),
        sandbox.api_url(),
        data_dir.as_deref(),
        args.data_dir.is_some(),
        &users,
    ));

    let stopped = tokio::signal::ctrl_c().await;
    ui.status("Stopping the sandbox…");
    sandbox.shutdown().await;
    stopped
        .map_err(|e| CliError::new(ErrorKind::General, "cannot wait for Ctrl-C").with_source(e))?;
    Ok(())
}

/// What to do next, in a second terminal. Every command shown works as printed.
fn walkthrough(
    issuer: &str,
    api_url: &str,
    data_dir: Option<&Path>,
    custom_data_dir: bool,
    users: &[(String, String)],
) -> String {
    let (user, password) = users
        .first()
        .map_or(("alice", "wonderland"), |(u, p)| (u.as_str(), p.as_str()));
    let others: Vec<String> = users.iter().map(|(u, p)| format!("{u} / {p}")).collect();
    let data = data_dir.map_or_else(
        || "in memory (nothing is kept)".to_owned(),
        |d| d.display().to_string(),
    );
    let mut out = format!(
        "\nThe sandbox bank is running.\n\n\
         \x20 Issuer (authorization server)  {issuer}\n\
         \x20 Bank API                       {api_url}\n\
         \x20 Data                           {data}\n\
         \x20 Demo users                     {}\n\n\
         In a second terminal:\n\n",
        others.join("    ")
    );
    if issuer != DEFAULT_ISSUER || api_url != DEFAULT_API_URL {
        out.push_str(&format!(
            "  export BANK_ISSUER={issuer} BANK_API_URL={api_url}\n"
        ));
    }
    out.push_str(&format!(
        "  bank login                               # sign in as {user} / {password} in the browser\n\
         \x20 bank balance                             # Balance: 1,000.00 USD\n\
         \x20 bank transfer --to bob --amount 25.00    # needs step-up: approve the MFA push\n\n\
         Approve the MFA push on the sandbox's \"phone\":\n\n\
         \x20 open {issuer}/authenticator and sign in as {user}\n"
    ));
    if data_dir.is_some() {
        let flag = match (custom_data_dir, data_dir) {
            (true, Some(d)) => format!(" --data-dir {}", d.display()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  or run: bank-sandbox mfa approve --user {user}{flag}\n"
        ));
    }
    out.push_str("\nPress Ctrl-C to stop.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<(String, String)> {
        vec![
            ("alice".into(), "wonderland".into()),
            ("bob".into(), "builder".into()),
        ]
    }

    #[test]
    fn default_addresses_need_no_exports() {
        let text = walkthrough(
            DEFAULT_ISSUER,
            DEFAULT_API_URL,
            Some(Path::new("/d")),
            false,
            &users(),
        );
        assert!(!text.contains("export"), "{text}");
        assert!(text.contains("  bank login  "), "{text}");
        assert!(
            text.contains("bank transfer --to bob --amount 25.00"),
            "{text}"
        );
        assert!(
            text.contains("open http://127.0.0.1:8400/authenticator"),
            "{text}"
        );
        assert!(
            text.contains("or run: bank-sandbox mfa approve --user alice\n"),
            "{text}"
        );
        assert!(text.contains("alice / wonderland    bob / builder"));
    }

    #[test]
    fn other_addresses_and_dirs_are_spelled_out() {
        let text = walkthrough(
            "http://127.0.0.1:1234",
            "http://127.0.0.1:1235",
            Some(Path::new("/tmp/sb")),
            true,
            &users(),
        );
        assert!(
            text.contains(
                "export BANK_ISSUER=http://127.0.0.1:1234 BANK_API_URL=http://127.0.0.1:1235"
            ),
            "{text}"
        );
        assert!(
            text.contains("bank-sandbox mfa approve --user alice --data-dir /tmp/sb"),
            "{text}"
        );
        let text = walkthrough(DEFAULT_ISSUER, DEFAULT_API_URL, None, false, &users());
        assert!(text.contains("in memory"), "{text}");
        assert!(!text.contains("bank-sandbox mfa approve"), "{text}");
    }
}
