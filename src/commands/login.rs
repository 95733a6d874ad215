//! `bank login`: sign in through the browser and cache the everyday token.

use std::time::Duration;

use bank_protocol::scopes::OPENID;
use serde_json::json;

use crate::commands::new_profile::{self, NewProfileArgs};
use crate::config::{self, NewProfile};
use crate::context::Ctx;
use crate::error::CliError;
use crate::oauth::{self, AuthParams, Browser, Interaction};
use crate::time_text::{parse_duration, rfc3339};
use crate::token_store::TokenStore;
use crate::ui::{Ui, warn_fallback};

const AFTER_HELP: &str = "\
Examples:
  bank login
  bank login --no-browser                 # only print the URL (e.g. over SSH)
  bank login --callback-port 8765         # providers that match the redirect port exactly
  BANK_BROWSER=firefox bank login
  bank --profile work login --timeout 2m
  bank --profile work login --issuer https://TENANT.auth0.com/ --client-id ID
                                          # creates profile `work` once you have signed in";

/// Sign in through your browser
///
/// Discovers the provider (OpenID Connect discovery, falling back to RFC 8414), starts a
/// one-shot listener on 127.0.0.1, and opens the authorization URL (authorization code +
/// PKCE S256). The URL is always printed on stderr so you can open it yourself. After you
/// sign in, the everyday token (`view:balance`) and its refresh token are stored in the
/// system keyring. If no keyring is available, bank warns and stores them in a file readable
/// only by you in the config directory; `--insecure-storage` chooses that file on purpose.
///
/// With `--issuer` and `--client-id` (or BANK_ISSUER and BANK_CLIENT_ID), a `--profile`
/// that does not exist yet is created once the sign-in succeeded. An existing profile is
/// never changed by login: a flag that differs from it is refused (use `bank config set`).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct LoginArgs {
    /// Print the URL but do not open a browser
    #[arg(long)]
    pub no_browser: bool,

    /// Listen for the redirect on this port instead of a random one
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub callback_port: Option<u16>,

    /// How long to wait for the browser (e.g. 300, 90s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Request an extra scope on top of the profile's (repeatable)
    ///
    /// Never `transfer:funds`: `bank transfer` obtains that for each transfer (step-up) and
    /// never stores it.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,

    /// Force a fresh sign-in even if the provider remembers you (prompt=login)
    #[arg(long)]
    pub force: bool,

    /// Store tokens in a plain-text file (0600) instead of the system keyring
    #[arg(long)]
    pub insecure_storage: bool,

    #[command(flatten)]
    pub new_profile: NewProfileArgs,
}

pub async fn cmd_login(
    ui: &Ui,
    ctx: &Ctx,
    args: LoginArgs,
    new_profile: Option<NewProfile>,
) -> Result<(), CliError> {
    let session = &ctx.session;
    let profile = &session.profile;
    if session.env_token.is_some() {
        ui.warn("BANK_TOKEN is set: commands will keep using it instead of the login stored now");
    }
    let mut scopes = profile.scopes.clone();
    // Always `openid`: the ID token's `sub` is what every later step-up is bound to, and a
    // login that does not record it could not step up at all.
    if !scopes.iter().any(|s| s == OPENID) {
        scopes.insert(0, OPENID.to_owned());
    }
    for s in args.scopes.iter().flat_map(|s| s.split_whitespace()) {
        if !scopes.iter().any(|have| have == s) {
            scopes.push(s.to_owned());
        }
    }
    // Before any network call: the login's token goes to the keyring, a transfer token never.
    if let Some(scope) = config::step_up_only_scope(&scopes) {
        let err = CliError::usage(format!(
            "refusing to request `{scope}` at login: transfer tokens are obtained per transfer by `bank transfer` and never stored"
        ));
        return Err(if profile.scopes.iter().any(|s| s == scope) {
            let profile_flag = if profile.name == config::DEFAULT_PROFILE {
                String::new()
            } else {
                format!("--profile {} ", profile.name)
            };
            err.hint(format!(
                "remove `{scope}` from the profile's scopes: bank {profile_flag}config set scopes \"{}\"",
                config::DEFAULT_SCOPES
            ))
        } else {
            err.hint("log in without `--scope`; `bank transfer` asks for the scope it needs when it needs it")
        });
    }
    let metadata = session.metadata().await?;
    let browser = Browser::from_env(args.no_browser);
    let key = oauth::dpop_key_for(profile, &metadata)?;
    let params = AuthParams {
        scopes,
        prompt_login: args.force,
        ..AuthParams::default()
    };
    let tokens = oauth::authorize(
        &session.http,
        profile,
        &metadata,
        &params,
        Interaction {
            person: ui,
            browser: &browser,
            timeout: args.timeout,
            callback_port: profile.callback_port,
            waiting_message: "Waiting for you to sign in in the browser… (Ctrl-C to cancel)".into(),
        },
        key.as_ref(),
    )
    .await?;

    new_profile::create(ui, session, new_profile.as_ref())?;
    let bundle = session.bundle_from(tokens, None, key);
    let store = TokenStore::new(&session.config_dir, args.insecure_storage);
    let saved = store.save(&session.key(), &bundle, false)?;
    if let Some(reason) = &saved.fallback_reason {
        warn_fallback(ui, reason, &saved.storage);
    } else if args.insecure_storage {
        ui.warn(&format!("tokens stored in {} as requested", saved.storage));
    }

    let user = bundle
        .username
        .clone()
        .unwrap_or_else(|| "an unknown user".into());
    if ui.json() {
        ui.data_json(&json!({
            "profile": profile.name,
            "issuer": profile.issuer,
            "user": bundle.username,
            "scopes": bundle.scopes,
            "expires_at": bundle.expires_at.and_then(rfc3339),
            "storage": saved.storage.kind(),
        }))?;
    }
    ui.success(&format!("Logged in to {} as {user}", profile.issuer));
    ui.debug(&format!("tokens stored in the {}", saved.storage));
    Ok(())
}
