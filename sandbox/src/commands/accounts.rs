//! `bank-sandbox accounts open`: the bank opens an account for a subject of its issuer.
//! It writes to the API's ledger directly (the SQLite file or the PostgreSQL database), so
//! it works while the API runs; the API reads accounts on every request.

use anyhow::{Context, bail};
use bank_protocol::{Amount, format_minor};
use bank_sandbox::api::Database;
use bank_sandbox::serve::CommonArgs;
use bank_sandbox::store::bank::{BankStore, Opened, SeedError};
use clap::{Args, Subcommand};

use super::api::DatabaseArg;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Open an account at the bank API for a subject (`sub`) of its issuer.
    Open(OpenArgs),
}

#[derive(Args)]
pub struct OpenArgs {
    /// The account holder's `sub`, exactly as the issuer puts it in their tokens.
    #[arg(long)]
    sub: String,
    /// The name others send money to: 1-64 of a-z 0-9 . _ - + @.
    #[arg(long, value_name = "NAME")]
    handle: String,
    /// Opening balance, e.g. 250.00 [default: [api] opening_balance_minor].
    #[arg(long, value_name = "AMOUNT")]
    balance: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
}

pub async fn cmd_accounts(common: &CommonArgs, command: AccountsCommand) -> anyhow::Result<()> {
    let AccountsCommand::Open(args) = command;
    let config = common.load_config()?;
    let sub = args.sub.trim();
    if sub.is_empty() {
        bail!("--sub must not be empty");
    }
    if bank_protocol::text::normalize_handle(&args.handle).as_deref() != Some(args.handle.as_str())
    {
        bail!(
            "--handle {:?} must be 1-64 of a-z 0-9 . _ - + @ (lowercase)",
            args.handle
        );
    }
    let balance = match args.balance.as_deref().map(str::trim) {
        None => config.api.opening_balance_minor,
        Some("0" | "0.0" | "0.00") => 0,
        Some(text) => Amount::parse(text, i64::MAX / 4)
            .with_context(|| format!("--balance {text}"))?
            .minor_units(),
    };
    let database = args.database.resolve(common, &config)?;
    if let Database::Sqlite(Some(path)) = &database
        && !path.exists()
    {
        bail!(
            "no bank database at {} — start `bank-sandbox api` (or `serve`) with this data dir \
             once first, or pass --database",
            path.display()
        );
    }
    let store = BankStore::open(&database, config.api.durability, 1)
        .await
        .with_context(|| format!("could not open the bank database {}", database.redacted()))?;
    let currency = &config.api.currency;
    match store
        .open_account(sub, &args.handle, currency, balance)
        .await
    {
        Ok(Opened::New) => {
            println!("{}", args.handle);
            eprintln!(
                "Opened account {} for {sub} with {} {currency}.",
                args.handle,
                format_minor(balance)
            );
            Ok(())
        }
        Ok(Opened::Existing { handle }) if handle == args.handle => {
            eprintln!("{sub} already has the account {handle}; its balance is unchanged.");
            Ok(())
        }
        Ok(Opened::Existing { handle }) => {
            bail!("{sub} already has an account, under the handle {handle}")
        }
        Err(SeedError::HandleTaken { handle }) => {
            bail!("the handle {handle} belongs to another account")
        }
        Err(SeedError::Store(err)) => Err(err).context("could not open the account"),
    }
}
