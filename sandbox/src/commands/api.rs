//! `bank-sandbox api`: only the bank API, trusting an external issuer.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use bank_sandbox::serve::CommonArgs;
use bank_sandbox::{BANK_DB, api, store};
use clap::Args;

#[derive(Args)]
pub struct ApiArgs {
    /// The issuer whose tokens the API accepts, exactly as in its tokens' `iss`.
    #[arg(long)]
    issuer: String,
    /// The API identifier tokens must carry in `aud`.
    #[arg(long, default_value = "https://bank.example/api")]
    audience: String,
    /// Refuse transfer tokens without RFC 9396 `authorization_details` (only for an issuer
    /// that supports them; also `[api] require_authorization_details`).
    #[arg(long)]
    require_authorization_details: bool,
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8401")]
    api_addr: SocketAddr,
}

pub async fn cmd_api(common: &CommonArgs, args: ApiArgs) -> anyhow::Result<()> {
    let mut config = common.load_config()?;
    if !args.api_addr.ip().is_loopback() && !config.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {} (set allow_non_loopback in the config)",
            args.api_addr
        );
    }
    let dir = common.data_dir(&config)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    config.api.issuer = args.issuer.clone();
    config.api.audience = args.audience.clone();
    // Off unless asked for: many providers cannot put details into their tokens.
    config.api.require_authorization_details = Some(
        args.require_authorization_details
            || config.api.require_authorization_details.unwrap_or(false),
    );
    let conn = store::open(Some(&dir.join(BANK_DB)), api::MIGRATIONS)?;
    let state = api::ApiState::new(config.api, conn)?;
    let listener = tokio::net::TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("could not listen on {}", args.api_addr))?;
    let addr = listener.local_addr()?;
    println!(
        "\nbank API is running on http://{addr}\n\n\
         \x20 Trusted issuer  {}\n\
         \x20 Audience        {}\n\n\
         Press Ctrl-C to stop.",
        args.issuer, args.audience
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
