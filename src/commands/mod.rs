//! The command tree: global flags, `enum Command`, and the only dispatcher.
//!
//! Each leaf command lives in its own file with its `XxxArgs` (doc comments are the help
//! text) and one `cmd_xxx` function; groups are folders (`config/`). `demo` and `sandbox` slot
//! in here as further variants. Commands that need no provider or profile
//! (`completions`, `man`, `config`) run before the context is built, so a broken configuration file
//! can still be inspected and fixed with `bank config`.

pub mod balance;
pub mod completions;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod history;
pub mod login;
pub mod logout;
pub mod man;
pub mod new_profile;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod status;
pub mod token;
pub mod transfer;

use clap::{Parser, Subcommand};

use crate::config::Overrides;
pub use crate::context::Ctx;
use crate::error::CliError;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank login                      # sign in through the browser
  bank balance                    # Balance: 1,000.00 USD
  bank balance --json | jq -r .balance
  bank history --limit 5
  bank transfer --to bob --amount 25.00   # step-up: approve on your authenticator
  bank transfer --to bob --amount 5 --yes --json | jq -r .id
  bank transfer --batch payroll.csv        # many payments, one approval
  bank status >/dev/null 2>&1 || bank login   # log in only when needed
  bank demo --yes                 # the whole step-up story against a throwaway sandbox
  bank sandbox                    # run the local sandbox bank for manual use

  # the API with curl: a DPoP-bound token (the sandbox's) needs a proof per request
  u=http://127.0.0.1:8401/v1/balance
  t=$(bank token --json --dpop-proof --method GET --url $u)
  curl -H \"Authorization: DPoP $(echo \"$t\" | jq -r .access_token)\" \\
       -H \"DPoP: $(echo \"$t\" | jq -r .dpop_proof)\" $u
  # a bearer token (`bank token --json` says token_type Bearer):
  curl -H \"Authorization: Bearer $(bank token)\" $u

Environment:
  BANK_PROFILE      profile to use (like --profile)
  BANK_ISSUER, BANK_CLIENT_ID, BANK_AUDIENCE, BANK_API_URL, BANK_DPOP, BANK_PAR
                    override the profile's values (`bank login` creates a new
                    named profile from them)
  BANK_CONFIG_DIR   configuration directory (default: the platform's config dir + /bank)
  BANK_TOKEN        use this access token; skip the keyring (for CI)
  BANK_BROWSER, BROWSER
                    command that opens the login URL (else the system's)
  DISPLAY, WAYLAND_DISPLAY, SSH_CONNECTION, SSH_TTY
                    whether a browser can be shown here; if not, sign-in uses
                    the device flow (a code to enter on another device)
  TZ                time zone of the times shown (default: the system's)
  NO_COLOR          disable colour
  BANK_SANDBOX_DATA_DIR, BANK_SANDBOX_CONFIG, BANK_API_DATABASE_URL
                    `bank sandbox`: its data directory, configuration file and
                    bank database (see `bank sandbox --help`)

Exit codes:
  0    success
  1    other error (a bug, a local failure)
  2    usage or bad input: a flag, a setting, the configuration file, an issuer
       that does not match its discovery document, no keyring to store a login in,
       a sign-in that no browser or terminal here could finish, a batch file
       with a bad line, a batch the provider cannot approve
  3    login needed: not logged in, the refresh was refused, damaged credentials
  4    denied by you or the provider: MFA denied, access_denied, a sign-in or
       step-up that timed out or expired, a transfer declined at the prompt
  5    network or server failure: unreachable, 5xx
  6    refused by the bank: insufficient funds, unknown recipient (409, 422);
       a batch's refused payments are named by their lines in the file
  7    temporarily unavailable: a limit or a busy server; the message says when
  130  interrupted (Ctrl-C)";

/// A terminal banking client with OAuth step-up authentication.
///
/// `bank` signs you in through your browser (OAuth 2.0 authorization code + PKCE over a
/// loopback redirect), keeps the everyday token in the system keyring, and talks to the bank
/// API with it. It speaks only standard protocols, so it works with the local sandbox, Auth0,
/// Okta or Keycloak.
#[derive(Debug, Parser)]
#[command(name = "bank", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them
    // Not a file: the static completion scripts cannot list profiles, so offer nothing.
    #[arg(long, global = true, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub profile: Option<String>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Never prompt; fail instead of asking
    #[arg(long, global = true)]
    pub no_input: bool,

    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Login(login::LoginArgs),
    Logout(logout::LogoutArgs),
    Status(status::StatusArgs),
    Balance(balance::BalanceArgs),
    History(history::HistoryArgs),
    Transfer(transfer::TransferArgs),
    Token(token::TokenArgs),
    #[command(subcommand)]
    Config(config::ConfigCommand),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
    #[cfg(feature = "sandbox")]
    Demo(demo::DemoArgs),
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::SandboxArgs),
}

/// Dispatches one parsed command line.
pub async fn run(ui: &Ui, cli: Cli) -> Result<(), CliError> {
    let mut overrides = Overrides {
        profile: cli.global.profile.clone(),
        ..Overrides::default()
    };
    crate::error::set_profile(&overrides.profile_name(&crate::config::Env::from_process()));
    match cli.command {
        Command::Completions(args) => completions::cmd_completions(ui, args),
        Command::Man(args) => man::cmd_man(ui, args),
        Command::Config(cmd) => config::cmd_config(ui, &overrides, cmd),
        // Neither uses a profile: the demo builds its own, the sandbox is a server.
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::cmd_demo(ui, args).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::cmd_sandbox(ui, args).await,
        Command::Login(args) => {
            overrides.callback_port = args.callback_port;
            args.new_profile.apply(&mut overrides);
            let (ctx, new_profile) = Ctx::load_for_login(ui, &overrides)?;
            login::cmd_login(ui, &ctx, args, new_profile).await
        }
        Command::Logout(args) => logout::cmd_logout(ui, &Ctx::load(ui, &overrides)?, args).await,
        Command::Status(args) if args.all => status::cmd_status_all(ui, &overrides),
        Command::Status(args) => status::cmd_status(ui, &Ctx::load(ui, &overrides)?, args).await,
        Command::Balance(args) => balance::cmd_balance(ui, &Ctx::load(ui, &overrides)?, args).await,
        Command::History(args) => history::cmd_history(ui, &Ctx::load(ui, &overrides)?, args).await,
        Command::Transfer(args) => transfer::cmd_transfer(ui, &Ctx::load(ui, &overrides)?, args)
            .await
            .map_err(CliError::before_money_moved),
        Command::Token(args) => token::cmd_token(ui, &Ctx::load(ui, &overrides)?, args).await,
    }
}
