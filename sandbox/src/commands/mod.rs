//! The command tree of `bank-sandbox`: the global options, `enum Command`, the only
//! dispatcher, and the one place errors become an exit code. Each command lives in its own
//! file with its arguments; serving itself is the library's (`bank_sandbox::serve`), shared
//! with `bank sandbox`.

mod accounts;
mod api;
mod keys;
mod mfa;
mod serve;
mod users;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use bank_sandbox::serve::{CommonArgs, ServeArgs};
use bank_sandbox::{AUTHZ_DB, SandboxConfig, store};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

/// A local authorization server and bank API for the bank CLI: an Auth0 tenant on your laptop.
#[derive(Parser)]
#[command(
    name = "bank-sandbox",
    version,
    long_about = "A local authorization server (a stand-in for an Auth0 tenant) and a bank API \
(a resource server), for developing and demonstrating the bank CLI offline.\n\n\
With no command, `serve` runs both on 127.0.0.1:8400 (issuer) and 127.0.0.1:8401 (API), \
seeding the demo users alice/wonderland and bob/builder on first start. Transfers need \
push MFA: approve them on http://127.0.0.1:8400/authenticator or with `bank-sandbox mfa approve`.",
    after_help = "Examples:\n  bank-sandbox                          # serve with defaults\n  \
bank-sandbox serve --authz-addr 127.0.0.1:0 --api-addr 127.0.0.1:0\n  \
bank-sandbox mfa approve --user alice --code 47   # approve alice's push showing 47\n  \
bank-sandbox api --issuer https://TENANT.auth0.com/ --audience https://bank.example/api\n  \
echo 'secret' | bank-sandbox users add carol"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// `serve`'s options, also accepted with no command (or before `serve`).
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the authorization server and the bank API in the foreground (the default).
    Serve(ServeArgs),
    /// Run only the bank API, trusting an external issuer (Auth0, Okta, Keycloak…).
    Api(api::ApiArgs),
    /// Answer push MFA requests from the terminal (talks to a running sandbox).
    #[command(subcommand)]
    Mfa(mfa::MfaCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage the bank API's accounts (works while the API runs).
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
}

impl Cli {
    /// The command to run and its common options. `serve`'s options given before the
    /// `serve` command are folded into it; before any other command they would mean
    /// nothing, so they are a usage error rather than silently ignored.
    fn resolve(self) -> Result<(CommonArgs, Command), clap::Error> {
        let command = match self.command {
            None => Command::Serve(self.serve),
            Some(Command::Serve(inner)) => Command::Serve(inner.or(self.serve)),
            Some(other) => match self.serve.first_given() {
                Some(flag) => {
                    return Err(Cli::command().error(
                        ErrorKind::ArgumentConflict,
                        format!("{flag} is an option of `serve`, not of this command"),
                    ));
                }
                None => other,
            },
        };
        if let Command::Serve(args) = &command
            && let Some(message) = args.conflict(&self.common)
        {
            return Err(Cli::command().error(ErrorKind::ArgumentConflict, message));
        }
        Ok((self.common, command))
    }
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("bank_sandbox=info,warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let (common, command) = Cli::parse().resolve().unwrap_or_else(|err| err.exit());
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(&common, command)),
        Err(err) => Err(anyhow!(err).context("could not start the async runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(common: &CommonArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::cmd_serve(common, args).await,
        Command::Api(args) => api::cmd_api(common, args).await,
        Command::Mfa(command) => mfa::cmd_mfa(common, command).await,
        Command::Keys(command) => keys::cmd_keys(common, command),
        Command::Users(command) => users::cmd_users(common, command),
        Command::Accounts(command) => accounts::cmd_accounts(common, command).await,
    }
}

/// The configuration and the authorization server's store of a sandbox that has been
/// served at least once (commands that change it work while it runs).
fn open_authz(common: &CommonArgs) -> anyhow::Result<(SandboxConfig, store::authz::AuthzStore)> {
    let config = common.load_config()?;
    let dir = common.data_dir(&config)?;
    let path = dir.join(AUTHZ_DB);
    if !path.exists() {
        bail!(
            "no sandbox database at {} — run `bank-sandbox serve` once first",
            path.display()
        );
    }
    let conn = store::open(Some(&path), store::authz::MIGRATIONS)?;
    Ok((config, store::authz::AuthzStore::new(conn)))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Parses as `main` does, minus the environment (hermetic: the environment running the
    /// tests may set `BANK_SANDBOX_DATA_DIR`).
    fn parse(args: &[&str]) -> Result<(CommonArgs, Command), clap::Error> {
        use clap::FromArgMatches;
        let matches = Cli::command()
            .mut_arg("data_dir", |a| a.env(None))
            .mut_arg("config", |a| a.env(None))
            .try_get_matches_from(std::iter::once("bank-sandbox").chain(args.iter().copied()))?;
        Cli::from_arg_matches(&matches)?.resolve()
    }

    fn data_dir_of(args: &[&str]) -> Option<PathBuf> {
        let (common, _) = parse(args).unwrap_or_else(|e| panic!("{args:?} parses: {e}"));
        common.data_dir
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn common_options_count_before_and_after_any_command() {
        let d = Some(PathBuf::from("/tmp/d"));
        for args in [
            &["--data-dir", "/tmp/d"][..],
            &["--data-dir", "/tmp/d", "serve"],
            &["serve", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "mfa", "list"],
            &[
                "mfa",
                "--data-dir",
                "/tmp/d",
                "approve",
                "--user",
                "alice",
                "--code",
                "47",
            ],
            &["mfa", "deny", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "keys", "rotate"],
            &["--data-dir", "/tmp/d", "users", "add", "carol"],
            &["--data-dir", "/tmp/d", "api", "--issuer", "https://i/"],
        ] {
            assert_eq!(data_dir_of(args), d, "{args:?}");
        }
        let (common, _) = parse(&["--config", "/tmp/c.toml", "mfa", "list"]).expect("parses");
        assert_eq!(common.config, Some(PathBuf::from("/tmp/c.toml")));
    }

    #[test]
    fn serve_options_before_serve_are_folded_in() {
        let (_, command) =
            parse(&["--in-memory", "--authz-addr", "127.0.0.1:0", "serve"]).expect("parses");
        let Command::Serve(args) = command else {
            panic!("serve");
        };
        assert!(args.in_memory);
        assert_eq!(args.authz_addr, Some("127.0.0.1:0".parse().expect("addr")));
        let (_, command) = parse(&[
            "--authz-addr",
            "127.0.0.1:1",
            "serve",
            "--authz-addr",
            "127.0.0.1:2",
            "--api-addr",
            "127.0.0.1:3",
        ])
        .expect("parses");
        let Command::Serve(args) = command else {
            panic!("serve");
        };
        assert_eq!(
            args.authz_addr,
            Some("127.0.0.1:2".parse().expect("addr")),
            "the innermost wins"
        );
        assert_eq!(args.api_addr, Some("127.0.0.1:3".parse().expect("addr")));
        let (_, command) = parse(&[]).expect("no command: serve");
        assert!(matches!(command, Command::Serve(args) if args == ServeArgs::default()));
    }

    #[test]
    fn serve_options_before_another_command_are_refused_not_ignored() {
        for args in [
            &["--authz-addr", "127.0.0.1:0", "mfa", "list"][..],
            &["--in-memory", "keys", "rotate"],
            &["--allow-non-loopback", "users", "add", "carol"],
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} is refused"));
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
            assert!(err.to_string().contains("option of `serve`"), "{err}");
        }
    }

    #[test]
    fn in_memory_and_a_data_dir_conflict_in_any_order() {
        for args in [
            &["--in-memory", "--data-dir", "/tmp/d"][..],
            &["serve", "--in-memory", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "serve", "--in-memory"],
            &["--in-memory", "serve", "--data-dir", "/tmp/d"],
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} is refused"));
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        }
    }
}
