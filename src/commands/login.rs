//! `bank login`: sign in through the browser, or with a code on another device (RFC 8628),
//! and cache the everyday token.

use std::time::Duration;

use bank_protocol::scopes::OPENID;
use serde_json::json;

use crate::commands::new_profile::{self, NewProfileArgs};
use crate::config::{self, NewProfile};
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind};
use crate::oauth::device::{self, DevicePrompt, Flow};
use crate::oauth::{self, AuthParams, Browser, Interaction, Person, Waiting};
use crate::time_text::{parse_duration, rfc3339};
use crate::token_store::TokenStore;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank login
  bank login --device                     # a code to enter on your phone or another computer
  bank login --no-browser                 # no browser here: the device flow where offered
  bank login --device --json | head -1    # the code and links as JSON, for a script
  bank login --callback-port 8765         # providers that match the redirect port exactly
  BANK_BROWSER=firefox bank login
  bank --profile work login --timeout 2m
  bank --profile work login --issuer https://TENANT.auth0.com/ --client-id ID
                                          # creates profile `work` once you have signed in";

/// Sign in through your browser, or with a code on another device
///
/// Discovers the provider (OpenID Connect discovery, falling back to RFC 8414), starts a
/// one-shot listener on 127.0.0.1, and opens the authorization URL (authorization code +
/// PKCE S256). The URL is always printed on stderr so you can open it yourself.
///
/// Where no browser can be opened here (`--no-browser`, no DISPLAY or WAYLAND_DISPLAY on
/// Linux, an SSH session without one) and the provider offers the device flow (RFC 8628),
/// or with `--device`, bank instead shows a code and a page to enter it on — any phone or
/// computer — with a QR code when stderr is a terminal, and waits while you approve there.
/// With `--json` the code and links come first, as one line of JSON on stdout. After you
/// sign in, the everyday token (`view:balance`), its refresh token and the DPoP key are
/// stored in the system keyring. With no keyring reachable, login fails before you sign in
/// (exit 2): start one, or choose a plain file readable only by you in the config directory
/// with `--insecure-storage`, knowingly. bank never writes that file unasked.
///
/// With `--issuer` and `--client-id` (or BANK_ISSUER and BANK_CLIENT_ID), a `--profile`
/// that does not exist yet is created once the sign-in succeeded. An existing profile is
/// never changed by login: a flag that differs from it is refused (use `bank config set`).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct LoginArgs {
    /// Do not open a browser: use the device flow where the provider offers it, else print
    /// the URL
    #[arg(long)]
    pub no_browser: bool,

    /// Sign in on another device with a code (RFC 8628 device flow)
    #[arg(long)]
    pub device: bool,

    /// Listen for the redirect on this port instead of a random one
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub callback_port: Option<u16>,

    /// How long to wait for the sign-in (e.g. 300, 90s, 5m)
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
    // Where the tokens will go is known now: no keyring (and no `--insecure-storage`) fails
    // before anyone signs in, rather than after, or by writing them in plain text unasked.
    let store = TokenStore::new(&session.config_dir, args.insecure_storage);
    store.check_writable()?;
    let metadata = session.metadata().await?;
    let browser = Browser::from_env(args.no_browser);
    let key = oauth::dpop_key_for(profile, &metadata)?;
    let params = AuthParams {
        scopes,
        prompt_login: args.force,
        ..AuthParams::default()
    };
    let flow = device::choose(args.device, &browser, &metadata)?;
    // A URL that no browser opens and nobody at a terminal reads would be waited on until the
    // timeout. `--no-browser` asked for exactly that wait: the URL is opened elsewhere.
    if flow == Flow::Browser && !args.no_browser && !browser.can_open() && !ui.person_present() {
        return Err(CliError::usage(
            "no browser can be opened here and no terminal is there to open the sign-in URL: nothing would finish this login",
        )
        .hint(format!(
            "this provider offers no device flow (`--device`): run `{}` in a terminal, set BANK_BROWSER to a command that opens URLs, or pass `--no-browser` to print the URL and wait while it is opened elsewhere",
            crate::error::bank("login"),
        )));
    }
    let waiting_message = match flow {
        Flow::Browser => "Waiting for you to sign in in the browser… (Ctrl-C to cancel)",
        Flow::Device => "Waiting for you to sign in on the other device… (Ctrl-C to cancel)",
    };
    let person = LoginPerson { ui };
    let tokens = device::sign_in(
        flow,
        &session.http,
        profile,
        &metadata,
        &params,
        Interaction {
            person: &person,
            browser: &browser,
            timeout: args.timeout,
            callback_port: profile.callback_port,
            waiting_message: waiting_message.into(),
        },
        key.as_ref(),
    )
    .await?;

    new_profile::create(ui, session, new_profile.as_ref())?;
    let bundle = session.bundle_from(tokens, None, key);
    let saved = store.save(&session.key(), &bundle, false)?;
    if args.insecure_storage {
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

/// The terminal, plus what `--json` adds for a script: the device flow's codes as one line
/// of JSON on stdout, before the wait, so the script can hand them on.
struct LoginPerson<'a> {
    ui: &'a Ui,
}

impl Person for LoginPerson<'_> {
    fn notice(&self, message: &str) {
        Person::notice(self.ui, message);
    }

    fn warn(&self, message: &str) {
        Person::warn(self.ui, message);
    }

    fn wait(&self, message: &str) -> Box<dyn Waiting> {
        Person::wait(self.ui, message)
    }

    fn device_code(&self, prompt: &DevicePrompt) {
        if self.ui.json() {
            match self.ui.data_json_line(prompt) {
                Ok(()) => end_when_stdout_closes(),
                // `| head -1` that has already gone: nobody is left to hand the codes to.
                Err(err) if err.kind == ErrorKind::StdoutClosed => {
                    std::process::exit(ErrorKind::StdoutClosed.exit_code().into())
                }
                Err(err) => self.ui.warn(&format!(
                    "could not print the code as JSON: {}",
                    err.message
                )),
            }
        }
        Person::device_code(self.ui, prompt);
    }
}

/// The codes went to a script (`bank --json login --device | head -1`): once it stops
/// reading, the wait has nobody to finish it, so the process ends quietly, as a closed
/// stdout ends every command. The pipe's write end reports an error when its reader goes;
/// stdout that cannot be watched (a regular file) is simply not watched.
fn end_when_stdout_closes() {
    #[cfg(unix)]
    tokio::spawn(async {
        use tokio::io::Interest;
        use tokio::io::unix::AsyncFd;
        // Deprecated for fds that may close while registered; fd 1 stays open for the
        // process's life (a `Stdout` handle never closes it), so this one cannot.
        #[allow(deprecated)]
        let Ok(stdout) = AsyncFd::with_interest(std::io::stdout(), Interest::ERROR) else {
            return;
        };
        if stdout.ready(Interest::ERROR).await.is_ok() {
            std::process::exit(ErrorKind::StdoutClosed.exit_code().into());
        }
    });
}
