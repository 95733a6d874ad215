//! `bank-sandbox api`: only the bank API, trusting an external issuer. Several instances
//! may share one PostgreSQL ledger (`--database postgres://…`) behind a proxy.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use bank_sandbox::api::{self, Database, DpopMode, OpenAccounts};
use bank_sandbox::serve::CommonArgs;
use bank_sandbox::store::bank::BankStore;
use clap::Args;

#[derive(Args)]
pub struct ApiArgs {
    /// The issuer whose tokens the API accepts, exactly as in its tokens' `iss` (https,
    /// except on loopback).
    #[arg(long)]
    issuer: String,
    /// The API identifier tokens must carry in `aud`.
    #[arg(long, default_value = "https://bank.example/api")]
    audience: String,
    /// Refuse transfer tokens without RFC 9396 `authorization_details` (only for an issuer
    /// that supports them; also `[api] require_authorization_details`).
    #[arg(long)]
    require_authorization_details: bool,
    /// Which tokens must be DPoP-bound (RFC 9449): required (all), transfers (moving money),
    /// optional (bound tokens are held to their key, bearer tokens work) [default: [api]
    /// dpop, else optional].
    #[arg(long, value_enum, value_name = "MODE")]
    dpop: Option<DpopMode>,
    /// The URL clients reach this API at, which their DPoP proofs name (behind a proxy, the
    /// proxy's) [default: [api] public_url, else http:// and the listen address].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8401")]
    api_addr: SocketAddr,
    #[command(flatten)]
    database: DatabaseArg,
}

/// The ledger's location, shared by `api` and `accounts open` so both name it alike.
#[derive(Args, Clone, Debug, Default)]
pub struct DatabaseArg {
    /// Where the ledger lives: sqlite:PATH or postgres://USER@HOST/DB [default: [api]
    /// database, else bank.sqlite3 in the data dir]. Instances sharing one PostgreSQL
    /// database share one ledger.
    // The value may hold a password: never shown in --help.
    #[arg(
        long,
        env = "BANK_API_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = bank_sandbox::serve::DatabaseParser
    )]
    pub database: Option<Database>,
}

impl DatabaseArg {
    /// The flag (or environment), else the config file's `[api] database`, else
    /// `bank.sqlite3` in the data dir.
    pub fn resolve(
        &self,
        common: &CommonArgs,
        config: &bank_sandbox::SandboxConfig,
    ) -> anyhow::Result<Database> {
        if let Some(database) = self
            .database
            .clone()
            .or_else(|| config.api.database.clone())
        {
            return Ok(database);
        }
        let dir = common.data_dir(config)?;
        Ok(Database::Sqlite(Some(dir.join(bank_sandbox::BANK_DB))))
    }
}

fn dpop_words(mode: DpopMode) -> &'static str {
    match mode {
        DpopMode::Required => "required: every request needs a DPoP-bound token",
        DpopMode::Transfers => "transfers need a DPoP-bound token",
        DpopMode::Optional => "optional: bound tokens need their proof, bearer tokens work",
    }
}

pub async fn cmd_api(common: &CommonArgs, args: ApiArgs) -> anyhow::Result<()> {
    let mut config = common.load_config()?;
    if !args.api_addr.ip().is_loopback() && !config.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {} (set allow_non_loopback in the config)",
            args.api_addr
        );
    }
    config.api.issuer = args.issuer.clone();
    config.api.audience = args.audience.clone();
    if args.require_authorization_details {
        config.api.require_authorization_details = Some(true);
    }
    if let Some(mode) = args.dpop {
        config.api.dpop = Some(mode);
    }
    // Unset settings take an external issuer's defaults: nobody is a customer until the
    // bank says so, RAR and DPoP are optional, and the provider's MFA rule is the evidence.
    config.api.apply_defaults(api::IssuerKind::External);
    let policy = config
        .api
        .open_accounts
        .unwrap_or(OpenAccounts::Provisioned);
    let dpop = config.api.dpop.unwrap_or(DpopMode::Optional);
    if let Some(url) = args.public_url {
        config.api.public_url = Some(url);
    }
    // Settings first, so a refused issuer is reported before any database is touched.
    config.api.validate()?;
    let database = args.database.resolve(common, &config)?;
    if let Database::Sqlite(Some(path)) = &database
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let store = BankStore::open(
        &database,
        config.api.durability,
        config.api.database_pool_size,
    )
    .await
    .with_context(|| format!("could not open the bank database {}", database.redacted()))?;
    let durability = config.api.durability;
    let assurance = config.api.step_up_policy().describe();
    let listener = tokio::net::TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("could not listen on {}", args.api_addr))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .api
        .public_url
        .get_or_insert_with(|| format!("http://{addr}"))
        .clone();
    let state = api::ApiState::new(config.api, store).await?;
    let accounts = match policy {
        OpenAccounts::Provisioned => {
            "provisioned (bank-sandbox accounts open --sub SUB --handle NAME)"
        }
        OpenAccounts::OnFirstUse => "opened on first use (a sandbox convenience)",
    };
    println!(
        "\nbank API is running on http://{addr}\n\n\
         \x20 Trusted issuer  {}\n\
         \x20 Audience        {}\n\
         \x20 Ledger          {} (durability {durability:?})\n\
         \x20 Accounts        {accounts}\n\
         \x20 DPoP            {dpop} (proofs name {public_url})\n\
         \x20 Transfers       {assurance}\n\n\
         Press Ctrl-C to stop.",
        args.issuer,
        args.audience,
        database.redacted(),
        dpop = dpop_words(dpop),
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
