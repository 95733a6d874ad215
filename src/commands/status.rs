//! `bank status`: who am I, where, with what, and where are the tokens kept.

use serde_json::json;

use crate::client::observer::RefreshReason;
use crate::client::session::{EXPIRY_SKEW_SECS, key_of};
use crate::client::{Credential, Session, SessionError};
use crate::config::{self, ConfigFile, Env, Overrides};
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind, run_login};
use crate::time_text::{local_minute, relative, rfc3339};
use crate::token_store::{StoreError, TokenStore};
use crate::ui::{Ui, columns};

const AFTER_HELP: &str = "\
Examples:
  bank status
  bank status --json | jq -r .user
  bank status >/dev/null 2>&1 || bank login   # exit 3 when the login cannot be used
  bank status --offline           # what is stored, without asking the provider
  bank status --all               # every profile: who, until when, where
  bank status --all --json | jq -r '.[] | select(.logged_in) | .profile'";

/// Show the login state of the current profile
///
/// Prints the profile, issuer, user, granted scopes, access token expiry and where the
/// tokens are stored. Nothing secret is printed. When the access token has expired, the
/// refresh is tried first, as `bank balance` would, so the answer is whether the login can
/// still be used: exit 3 when it cannot (not logged in, the provider refused the refresh,
/// damaged stored credentials). `--offline` reports what is stored without asking anyone.
///
/// With `--all`, one line per profile (`default` and every profile in the configuration
/// file): who is signed in, when the access token expires and where the tokens are stored.
/// It reads the stored logins only (nothing is refreshed or sent) and exits 0 whoever is
/// signed in; the profiles' values are the file's, without BANK_ISSUER and friends.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct StatusArgs {
    /// Every profile, one line each (with `--json`: an array)
    #[arg(long)]
    pub all: bool,

    /// Do not refresh an expired access token: report the stored login as it is
    #[arg(long)]
    pub offline: bool,
}

pub async fn cmd_status(ui: &Ui, ctx: &Ctx, args: StatusArgs) -> Result<(), CliError> {
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
    // Not logged in, in `--json` too: `logged_in` false and why, then exit 3.
    let gone = |reason: &str, err: CliError| -> Result<(), CliError> {
        if ui.json() {
            ui.data_json(&json!({
                "profile": profile.name,
                "issuer": profile.issuer,
                "api_url": profile.api_url,
                "logged_in": false,
                "reason": reason,
            }))?;
        }
        Err(err)
    };
    let (mut bundle, mut storage) = match session.stored() {
        Ok(Some(found)) => found,
        Ok(None) => return gone("not_logged_in", session.not_logged_in().into()),
        Err(SessionError::Store(e)) if e.is_damaged() => return gone("damaged", e.into()),
        Err(e) => return Err(e.into()),
    };
    let now = Session::now();
    let mut expired = bundle.is_expired(now, EXPIRY_SKEW_SECS);
    let mut refreshed = false;
    if expired && bundle.refresh_token.is_none() {
        return gone(
            "expired",
            CliError::new(ErrorKind::LoginRequired, "the session has expired").hint(run_login()),
        );
    }
    if expired && !args.offline {
        match session.refresh(&bundle, RefreshReason::Expired, ui).await {
            Ok(Credential::Stored {
                bundle: fresh,
                storage: at,
            }) => {
                (bundle, storage) = (*fresh, at);
                expired = bundle.is_expired(Session::now(), EXPIRY_SKEW_SECS);
                refreshed = true;
            }
            Ok(_) => {}
            Err(e @ (SessionError::Expired(_) | SessionError::NotLoggedIn { .. })) => {
                return gone("refresh_refused", e.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let now = Session::now();
    if ui.json() {
        return ui.data_json(&json!({
            "profile": profile.name,
            "issuer": profile.issuer,
            "api_url": profile.api_url,
            "logged_in": true,
            "user": bundle.username,
            "scopes": bundle.scopes,
            "expires_at": bundle.expires_at.and_then(rfc3339),
            "expired": expired,
            "refreshed": refreshed,
            "refresh_token": bundle.refresh_token.is_some(),
            "dpop_jkt": bundle.dpop_key.as_ref().map(|k| k.thumbprint()),
            "storage": storage.kind(),
        }));
    }
    let expiry = match bundle.expires_at {
        Some(at) => {
            let when = rfc3339(at).map_or_else(|| at.to_string(), |t| local_minute(&t));
            let state = if expired {
                " — expired; refreshed automatically on next use (not checked: --offline)"
            } else if refreshed {
                " — just refreshed"
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
    Ok(())
}

/// `bank status --all`: every profile's stored login, read without refreshing anything.
pub fn cmd_status_all(ui: &Ui, overrides: &Overrides) -> Result<(), CliError> {
    let env = Env::from_process();
    let config_dir = config::config_dir(&env)?;
    let file = ConfigFile::load(&config::config_file_path(&config_dir))?;
    let current = overrides.profile_name(&env);
    let store = TokenStore::new(&config_dir, false);
    let now = Session::now();
    if std::env::var_os("BANK_TOKEN").is_some_and(|t| !t.is_empty()) {
        ui.warn("BANK_TOKEN is set: commands use it instead of the stored logins listed here");
    }
    let mut entries = Vec::new();
    let mut rows = vec![
        ["", "PROFILE", "ISSUER", "USER", "EXPIRES", "STORAGE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (name, resolved) in config::resolve_all(&file) {
        let mark = if name == current { "*" } else { "" }.to_owned();
        let profile = match resolved {
            Ok(profile) => profile,
            Err(e) => {
                entries.push(json!({
                    "profile": name,
                    "current": name == current,
                    "logged_in": false,
                    "error": e.to_string(),
                }));
                rows.push(vec![mark, name, format!("(unusable: {e})")]);
                continue;
            }
        };
        let loaded = store.load(&key_of(&profile));
        let (entry, row) = match loaded {
            Ok((bundle, storage)) => {
                let expired = bundle.is_expired(now, EXPIRY_SKEW_SECS);
                let expires = match bundle.expires_at {
                    Some(at) if expired && bundle.refresh_token.is_some() => {
                        format!("expired {}; refreshed on next use", relative(at - now))
                    }
                    Some(at) if expired => format!("expired {}; log in again", relative(at - now)),
                    Some(at) => rfc3339(at).map_or_else(
                        || relative(at - now),
                        |when| format!("{} ({})", local_minute(&when), relative(at - now)),
                    ),
                    None => "not given by the provider".into(),
                };
                (
                    json!({
                        "profile": profile.name,
                        "current": profile.name == current,
                        "issuer": profile.issuer,
                        "api_url": profile.api_url,
                        "logged_in": !expired || bundle.refresh_token.is_some(),
                        "user": bundle.username,
                        "scopes": bundle.scopes,
                        "expires_at": bundle.expires_at.and_then(rfc3339),
                        "expired": expired,
                        "refresh_token": bundle.refresh_token.is_some(),
                        "storage": storage.kind(),
                    }),
                    vec![
                        bundle.username.clone().unwrap_or_else(|| "unknown".into()),
                        expires,
                        storage.kind().to_owned(),
                    ],
                )
            }
            Err(StoreError::NotFound) => (
                json!({
                    "profile": profile.name,
                    "current": profile.name == current,
                    "issuer": profile.issuer,
                    "api_url": profile.api_url,
                    "logged_in": false,
                }),
                vec!["-".into(), "not logged in".into(), "-".into()],
            ),
            // One unreadable login (a damaged entry, a locked keyring) does not hide the others.
            Err(e) => (
                json!({
                    "profile": profile.name,
                    "current": profile.name == current,
                    "issuer": profile.issuer,
                    "api_url": profile.api_url,
                    "logged_in": false,
                    "error": e.to_string(),
                }),
                vec!["-".into(), format!("cannot read: {e}"), "-".into()],
            ),
        };
        entries.push(entry);
        let mut line = vec![mark, profile.name, profile.issuer];
        line.extend(row);
        rows.push(line);
    }
    if ui.json() {
        return ui.data_json(&entries);
    }
    for line in columns(&rows) {
        ui.data(line.trim_end())?;
    }
    Ok(())
}
