//! `bank-sandbox users`: manage the authorization server's users.

use std::io::BufRead;

use anyhow::{Context, anyhow, bail};
use bank_sandbox::authz::{self, Password};
use bank_sandbox::serve::CommonArgs;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        username: String,
        /// Shown on pages; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

pub fn cmd_users(common: &CommonArgs, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            username,
            display_name,
        } => add_user(common, &username, display_name.as_deref()),
    }
}

fn add_user(common: &CommonArgs, username: &str, display_name: Option<&str>) -> anyhow::Result<()> {
    let (config, store) = super::open_authz(common)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!(
            "empty password: pipe it on standard input, e.g. `echo secret | bank-sandbox users add {username}`"
        );
    }
    let sub = authz::add_user(
        &store,
        &config.authz,
        username,
        display_name.unwrap_or(""),
        &Password::new(password),
        super::now(),
    )?
    .ok_or_else(|| anyhow!("user {username} already exists"))?;
    println!("{sub}");
    eprintln!(
        "Added {username} ({sub}). {}",
        account_note(&config.api, username, &sub)
    );
    Ok(())
}

/// What the bank API of `serve` will do for the new user, as configured: `serve` opens
/// accounts on first use unless the config says `provisioned`.
fn account_note(api: &bank_sandbox::api::ApiConfig, username: &str, sub: &str) -> String {
    use bank_sandbox::api::OpenAccounts;
    match api.open_accounts.unwrap_or(OpenAccounts::OnFirstUse) {
        OpenAccounts::OnFirstUse => format!(
            "The sandbox's bank API opens an account for them on their first request \
             ({} {}), named {username} unless that handle is taken.",
            bank_protocol::format_minor(api.opening_balance_minor),
            api.currency,
        ),
        OpenAccounts::Provisioned => format!(
            "The bank API serves no account for them until one is opened: \
             bank-sandbox accounts open --sub {sub} --handle {username}"
        ),
    }
}
