//! `bank status`: who am I, where, with what, and where are the tokens kept.

use serde_json::json;

use crate::client::Session;
use crate::client::session::EXPIRY_SKEW_SECS;
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind};
use crate::time_text::{relative, rfc3339};
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank status
  bank status --json | jq -r .user
  bank status || bank login       # exit 3 when not logged in";

/// Show the login state of the current profile
///
/// Prints the profile, issuer, user, granted scopes, access token expiry and where the
/// tokens are stored. Exits with 3 when not logged in. Nothing secret is printed.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct StatusArgs {}

/// RFC 3339 text for unix seconds.
pub async fn cmd_status(ui: &Ui, ctx: &Ctx, _args: StatusArgs) -> Result<(), CliError> {
    let session = &ctx.session;
    let profile = &session.profile;
    if session.env_token.is_some() {
        if ui.json() {
            ui.data_json(&json!({
                "profile": profile.name,
                "issuer": profile.issuer,
                "api_url": profile.api_url,
                "logged_in": true,
                "user": null,
                "scopes": null,
                "expires_at": null,
                "storage": "env",
            }))?;
        } else {
            ui.data(&format!("Profile:  {}", profile.name))?;
            ui.data(&format!("Issuer:   {}", profile.issuer))?;
            ui.data(
                "Token:    from the BANK_TOKEN environment variable (not stored, never refreshed)",
            )?;
        }
        return Ok(());
    }
    let Some((bundle, storage)) = session.stored()? else {
        if ui.json() {
            ui.data_json(&json!({
                "profile": profile.name,
                "issuer": profile.issuer,
                "api_url": profile.api_url,
                "logged_in": false,
            }))?;
        }
        return Err(session.not_logged_in().into());
    };
    let now = Session::now();
    let expired = bundle.is_expired(now, EXPIRY_SKEW_SECS);
    // An expired token with nothing to refresh it is "not logged in" (exit 3), in JSON too.
    let outcome = if expired && bundle.refresh_token.is_none() {
        Err(
            CliError::new(ErrorKind::LoginRequired, "the session has expired")
                .hint("run `bank login`"),
        )
    } else {
        Ok(())
    };
    if ui.json() {
        ui.data_json(&json!({
            "profile": profile.name,
            "issuer": profile.issuer,
            "api_url": profile.api_url,
            "logged_in": true,
            "user": bundle.username,
            "scopes": bundle.scopes,
            "expires_at": bundle.expires_at.and_then(rfc3339),
            "expired": expired,
            "refresh_token": bundle.refresh_token.is_some(),
            "dpop_jkt": bundle.dpop_key.as_ref().map(|k| k.thumbprint()),
            "storage": storage.kind(),
        }))?;
        return outcome;
    }
    let expiry = match bundle.expires_at {
        Some(at) => {
            let when = rfc3339(at).unwrap_or_else(|| at.to_string());
            let state = if expired && bundle.refresh_token.is_some() {
                " — expired; refreshed automatically on next use"
            } else if expired {
                " — expired; run `bank login`"
            } else {
                ""
            };
            format!("{when} ({}){state}", relative(at - now))
        }
        None => "not given by the provider".into(),
    };
    ui.data(&format!("Profile:  {}", profile.name))?;
    ui.data(&format!("Issuer:   {}", profile.issuer))?;
    ui.data(&format!(
        "User:     {}",
        bundle.username.as_deref().unwrap_or("unknown")
    ))?;
    ui.data(&format!("Scopes:   {}", bundle.scopes.join(" ")))?;
    ui.data(&format!("Expires:  {expiry}"))?;
    ui.data(&format!(
        "Refresh:  {}",
        if bundle.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        }
    ))?;
    ui.data(&format!(
        "Tokens:   {}",
        match &bundle.dpop_key {
            Some(key) => format!("DPoP-bound to this CLI's key {}", key.thumbprint()),
            None => "bearer (usable by whoever holds them)".into(),
        }
    ))?;
    ui.data(&format!("Storage:  {storage}"))?;
    outcome
}
