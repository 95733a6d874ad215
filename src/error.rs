//! The one error type commands return, and the one place that decides exit codes.
//!
//! Library modules (`oauth`, `token_store`, `client`, `config`) keep their own thiserror
//! enums whose variants mean something; the `From` impls below are where those meanings
//! become an [`ErrorKind`] (and so an exit code, as the README lists them) plus the hints a
//! person needs.
//! Nothing here inspects message strings: classification happens on variants only.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;
use std::sync::OnceLock;

use crate::client::{ApiError, ClientError, NotPossible, SessionError, StepUpError};
use crate::config::ConfigError;
use crate::oauth::OAuthError;
use crate::token_store::StoreError;

/// What went wrong, from the caller's point of view: one class per exit code, each one a
/// script can act on (README "Exit codes", and `bank --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything without a more specific meaning: a bug, a local failure (exit 1).
    General,
    /// Bad command line, bad input or a configuration to fix (exit 2).
    Usage,
    /// No usable login: sign in again (exit 3).
    LoginRequired,
    /// The person or the provider said no, or did not say yes in time (exit 4).
    Denied,
    /// The network or a server failed: unreachable, 5xx (exit 5).
    Network,
    /// The bank refused the operation itself: funds, recipient, currency, key reuse (exit 6).
    Refused,
    /// Not now: a limit or a busy server; the message says when to try again (exit 7).
    Unavailable,
    /// Ctrl-C (exit 130).
    Interrupted,
    /// Whoever read our stdout has gone (`bank history | head -1`): nothing to report, and
    /// nobody left to report it to. Exits 0 quietly, as `rg` and `ls` do.
    StdoutClosed,
}

impl ErrorKind {
    /// The process exit code for this kind (README "Exit codes").
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::General => 1,
            ErrorKind::Usage => 2,
            ErrorKind::LoginRequired => 3,
            ErrorKind::Denied => 4,
            ErrorKind::Network => 5,
            ErrorKind::Refused => 6,
            ErrorKind::Unavailable => 7,
            ErrorKind::Interrupted => 130,
            ErrorKind::StdoutClosed => 0,
        }
    }
}

/// The profile the command was given (`--profile` or BANK_PROFILE), when not the default:
/// a hint that says "run `bank login`" must sign in to that profile when pasted.
static PROFILE: OnceLock<Option<String>> = OnceLock::new();

/// Records the profile for hints; called once, before the command runs.
pub fn set_profile(name: &str) {
    let named = (name != crate::config::DEFAULT_PROFILE).then(|| name.to_owned());
    let _ = PROFILE.set(named);
}

/// `bank ARGS` as a person should paste it: with `--profile NAME` when one was given.
pub fn bank(args: &str) -> String {
    match PROFILE.get().and_then(Option::as_deref) {
        Some(name) => format!("bank --profile {name} {args}"),
        None => format!("bank {args}"),
    }
}

/// "run `bank login`", for this profile.
pub fn run_login() -> String {
    format!("run `{}`", bank("login"))
}

/// How to change a setting that an environment variable may override: with the variable set,
/// `bank config set` would change nothing, so the hint names the variable.
pub fn change_setting(key: &str, value: &str) -> String {
    let var = format!("BANK_{}", key.to_ascii_uppercase());
    if std::env::var_os(&var).is_some_and(|v| !v.is_empty()) {
        format!("unset {var} (it overrides the profile's `{key}`)")
    } else {
        format!("`{}`", bank(&format!("config set {key} {value}")))
    }
}

/// An error on its way to the user: a kind, a message chain and hints.
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            source: None,
            hints: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::Usage, message)
    }

    pub fn login_required(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::LoginRequired, message).hint(run_login())
    }

    pub fn interrupted() -> Self {
        CliError::new(ErrorKind::Interrupted, "interrupted")
    }

    /// Ctrl-C in `bank transfer`: its prompt and its step-up both come before the request
    /// that moves money, and whether money moved is what the person needs to know.
    pub fn before_money_moved(mut self) -> Self {
        if self.kind == ErrorKind::Interrupted {
            self.message = "Interrupted: no money moved.".into();
        }
        self
    }

    /// What Ctrl-C prints: "Interrupted.", or the words a command gave it.
    pub fn interrupted_words(&self) -> &str {
        if self.message.starts_with("Interrupted") {
            &self.message
        } else {
            "Interrupted."
        }
    }

    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Wraps a typed error: its `Display` becomes the message, its sources the causes.
    fn wrap(kind: ErrorKind, err: impl StdError + Send + Sync + 'static) -> Self {
        let message = err.to_string();
        let source = err.source().map(|_| ());
        let mut out = CliError::new(kind, message);
        if source.is_some() {
            out.source = Some(Box::new(SourceOnly(Box::new(err))));
        }
        out
    }

    /// The `caused by` chain, outermost first, without repeating the message itself.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(err) = next {
            let text = err.to_string();
            if !text.is_empty() && out.last() != Some(&text) && text != self.message {
                out.push(text);
            }
            next = err.source();
        }
        out
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }
}

/// Carries a wrapped error's *causes* without printing its own message twice.
struct SourceOnly(Box<dyn StdError + Send + Sync + 'static>);

impl fmt::Debug for SourceOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SourceOnly {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl StdError for SourceOnly {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("causes", &self.causes())
            .field("hints", &self.hints)
            .finish()
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> Self {
        let kind = match err {
            ConfigError::UnknownKey(_)
            | ConfigError::InvalidValue { .. }
            | ConfigError::UnknownProfile(_)
            | ConfigError::IncompleteProfile { .. }
            | ConfigError::ProfileConflict { .. }
            | ConfigError::Parse { .. }
            | ConfigError::Uneditable { .. }
            | ConfigError::NoConfigDir => ErrorKind::Usage,
            ConfigError::Read { .. } | ConfigError::Write { .. } => ErrorKind::General,
        };
        let hint: Option<String> = match &err {
            ConfigError::UnknownKey(_) => Some("run `bank config list` to see the keys".into()),
            ConfigError::Parse { .. } | ConfigError::Uneditable { .. } => {
                Some("fix the file, or move it away to start over".into())
            }
            ConfigError::ProfileConflict {
                name,
                key,
                requested,
                ..
            } => Some(format!(
                "to change it: bank --profile {name} config set {key} {requested} (then log in again); or sign in to a new profile: bank --profile NEW login …"
            )),
            _ => None,
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

impl From<OAuthError> for CliError {
    fn from(err: OAuthError) -> Self {
        use OAuthError as E;
        let (kind, hint): (ErrorKind, Option<String>) = match &err {
            E::Interrupted => (ErrorKind::Interrupted, None),
            E::Denied { .. } => (ErrorKind::Denied, None),
            E::Authorization { error, .. } | E::TokenEndpoint { error, .. }
                if error == "temporarily_unavailable" =>
            {
                (ErrorKind::Unavailable, None)
            }
            E::Authorization { .. } => (ErrorKind::Denied, None),
            E::InvalidIdToken { .. } => (ErrorKind::Denied, None),
            E::IssuerMixUp { .. } => (
                ErrorKind::Denied,
                Some(format!(
                    "the callback did not come from the login this command started; {} again",
                    run_login()
                )),
            ),
            E::Timeout(_) => (
                ErrorKind::Denied,
                Some(format!(
                    "if the browser showed the provider's error page instead of coming back (\"redirect_uri mismatch\", \"callback URL not allowed\"), the provider compares the redirect URI exactly, port included: register http://127.0.0.1:PORT/callback there and give bank the same port (`{}`, or `--callback-port PORT`); otherwise finish the sign-in sooner, or pass a longer `--timeout`",
                    bank("config set callback_port PORT")
                )),
            ),
            E::DeviceCodeExpired { .. } => (
                ErrorKind::Denied,
                Some("run the command again and enter the code sooner".into()),
            ),
            E::NoDeviceFlow => (
                ErrorKind::Usage,
                Some(format!(
                    "run `{}` without `--device` and open the printed URL in a browser on this machine (the sign-in comes back to it at 127.0.0.1); over SSH, forward a fixed port first: `ssh -L 8765:127.0.0.1:8765 HOST`, then `{}`",
                    bank("login"),
                    bank("login --callback-port 8765")
                )),
            ),
            E::CallbackPortBusy { .. } => (
                ErrorKind::General,
                Some("choose another port with `--callback-port`, or stop what is using it".into()),
            ),
            E::RefreshRejected { .. } => (ErrorKind::LoginRequired, Some(run_login())),
            // Nothing answered: the network. An answer that is no discovery document (a 404,
            // HTML, a wrong path): the issuer setting is wrong.
            E::Discovery {
                source: Some(source),
                ..
            } if !source.is_decode() => (
                ErrorKind::Network,
                Some(format!(
                    "check that the issuer is reachable (`{}`)",
                    bank("config get issuer")
                )),
            ),
            E::Revocation { .. } => (ErrorKind::Network, None),
            E::Discovery { .. } => (
                ErrorKind::Usage,
                Some(format!(
                    "check the issuer: it must be the provider's issuer identifier exactly (`{}`)",
                    bank("config get issuer")
                )),
            ),
            E::IssuerMismatch { found, .. } => (
                ErrorKind::Usage,
                Some(format!(
                    "use the issuer exactly as the provider names it, `{found}`: {}",
                    set_issuer(found)
                )),
            ),
            E::Http { .. } => (
                ErrorKind::Network,
                Some(format!(
                    "check that the issuer is reachable (`{}`)",
                    bank("config get issuer")
                )),
            ),
            E::TokenEndpoint { error, .. } if error == "server_error" => (ErrorKind::Network, None),
            E::TokenEndpoint { error, .. }
                if error == "invalid_client" || error == "unauthorized_client" =>
            {
                (
                    ErrorKind::Usage,
                    Some(format!(
                        "check the profile's client id (`{}`) and the client's settings at the provider",
                        bank("config get client_id")
                    )),
                )
            }
            E::TokenEndpoint { .. } => (ErrorKind::Denied, None),
            E::ParRequired | E::ParUnavailable { .. } => (
                ErrorKind::Usage,
                Some(format!(
                    "`par = auto` pushes exactly where the provider offers it: {}",
                    change_setting("par", "auto")
                )),
            ),
            E::PushRefused { error, .. } => match error.as_str() {
                "invalid_client" | "unauthorized_client" => (
                    ErrorKind::Usage,
                    Some(format!(
                        "check the profile's client id (`{}`) and the client's settings at the provider; where it may not push requests at all, {} sends the plain URL",
                        bank("config get client_id"),
                        change_setting("par", "never")
                    )),
                ),
                "temporarily_unavailable" => (ErrorKind::Unavailable, None),
                "server_error" => (ErrorKind::Network, None),
                _ => (ErrorKind::Denied, None),
            },
            E::DpopUnsupported | E::NotBound => (
                ErrorKind::Usage,
                Some(format!(
                    "use another provider or client that binds tokens, or allow bearer tokens: {}",
                    change_setting("dpop", "auto")
                )),
            ),
            E::DpopRequired => (
                ErrorKind::Usage,
                Some(format!(
                    "let bank bind its tokens where the provider offers it: {}",
                    change_setting("dpop", "auto")
                )),
            ),
            E::InsecureEndpoint { .. } => (ErrorKind::Usage, None),
            E::NoS256 | E::UnexpectedTokenType { .. } => (ErrorKind::General, None),
            E::Browser(_) | E::Loopback(_) | E::BadUrl(_) => (ErrorKind::General, None),
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

/// How to point the profile at `issuer`: BANK_ISSUER, when set, wins over the file.
fn set_issuer(issuer: &str) -> String {
    if std::env::var_os("BANK_ISSUER").is_some_and(|v| !v.is_empty()) {
        format!("set BANK_ISSUER={issuer}")
    } else {
        format!("`{}`", bank(&format!("config set issuer {issuer}")))
    }
}

impl From<StepUpError> for CliError {
    fn from(err: StepUpError) -> Self {
        match err {
            StepUpError::Authorization(e) => e.into(),
            StepUpError::WrongUser { ref expected, .. } => {
                let hint = format!(
                    "sign in as {expected} when asked to approve, or {} to switch accounts",
                    run_login()
                );
                CliError::wrap(ErrorKind::Denied, err).hint(hint)
            }
            StepUpError::UnknownUser => CliError::wrap(ErrorKind::Denied, err)
                .hint("the provider must return an ID token when `openid` is requested"),
            StepUpError::Unbound => CliError::wrap(ErrorKind::LoginRequired, err).hint(format!(
                "{} again, so that bank records who you are",
                run_login()
            )),
            StepUpError::NotPossible { reason, .. } => {
                CliError::wrap(not_possible_kind(reason), err).hint(not_possible_hint(reason))
            }
            // What this provider can approve is a setting to live with: split the batch.
            StepUpError::NoBatchApproval(ref e) => {
                let hint = crate::commands::transfer::batch::no_approval_hint(e);
                CliError::wrap(ErrorKind::Usage, err).hint(hint)
            }
            StepUpError::BatchNeedsPush {
                par_offered,
                max_inline,
            } => {
                let hint = match par_offered {
                    true => format!("let bank push it: {}", change_setting("par", "auto")),
                    false => format!(
                        "split the file into batches of at most {max_inline} payments, which are listed one by one"
                    ),
                };
                CliError::wrap(ErrorKind::Usage, err).hint(hint)
            }
            StepUpError::BatchNotCanonical => CliError::wrap(ErrorKind::General, err),
        }
    }
}

/// A step-up nobody could finish here is the environment to fix (2); a BANK_TOKEN without
/// the scope is a refusal of what that token may do (4).
pub fn not_possible_kind(reason: NotPossible) -> ErrorKind {
    match reason {
        NotPossible::EnvToken => ErrorKind::Denied,
        NotPossible::NoInputNoBrowser => ErrorKind::Usage,
    }
}

/// What to do when a step-up cannot run here.
pub fn not_possible_hint(reason: NotPossible) -> &'static str {
    match reason {
        NotPossible::EnvToken => {
            "BANK_TOKEN is set, so bank does not step up; give it a token that already allows this (for a transfer: `transfer:funds` with multi-factor authentication), or unset it to use `bank login`'s session"
        }
        NotPossible::NoInputNoBrowser => {
            "no browser can be opened for the step-up and nobody is at a terminal to open its URL (--no-input is set, or stdin is not a terminal); set BANK_BROWSER, or run the command in a terminal without --no-input and open the printed URL"
        }
    }
}

impl From<SessionError> for CliError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(e) => e.into(),
            SessionError::OAuth(e) => e.into(),
            SessionError::EnvTokenRejected { .. } => CliError::wrap(ErrorKind::LoginRequired, err)
                .hint(format!(
                    "set BANK_TOKEN to a valid access token, or unset it and {}",
                    run_login()
                )),
            SessionError::NotLoggedIn { .. }
            | SessionError::Expired(_)
            | SessionError::Rejected(_) => {
                CliError::wrap(ErrorKind::LoginRequired, err).hint(run_login())
            }
        }
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Api(e) | ClientError::AfterStepUp(e) => e.into(),
            ClientError::Session(e) => e.into(),
            ClientError::StepUp(e) => e.into(),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        use StoreError as E;
        let (kind, hint): (ErrorKind, Option<String>) = match &err {
            E::NotFound => (ErrorKind::LoginRequired, Some(run_login())),
            E::Corrupt => (
                ErrorKind::LoginRequired,
                Some(format!(
                    "log in again: `{}` deletes them, then `{}`",
                    bank("logout"),
                    bank("login")
                )),
            ),
            E::CorruptFile { .. } => (
                ErrorKind::LoginRequired,
                Some(format!(
                    "log in again: `{}` deletes the file, then `{}`",
                    bank("logout"),
                    bank("login --insecure-storage")
                )),
            ),
            E::Unavailable(_) | E::Timeout => (
                ErrorKind::Usage,
                Some(format!(
                    "bank keeps tokens in the system keyring only, unless told otherwise: start and unlock one (on Linux a Secret Service such as gnome-keyring on the session bus), or knowingly keep them in a plain 0600 file: `{}`",
                    bank("login --insecure-storage")
                )),
            ),
            E::Keyring(_) => (
                ErrorKind::General,
                Some(format!(
                    "`{}` keeps tokens in a 0600 file in the config directory instead",
                    bank("login --insecure-storage")
                )),
            ),
            E::File { .. } | E::LockTimeout { .. } => (ErrorKind::General, None),
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        use ApiError as E;
        let (kind, hint): (ErrorKind, Option<String>) = match &err {
            E::InvalidToken { .. } => (ErrorKind::LoginRequired, Some(run_login())),
            E::StepUpRequired { .. } | E::Forbidden { .. } => (ErrorKind::Denied, None),
            // 409 (a key reused with another body) and 422: the bank refused this operation.
            E::BadRequest { problem } if problem.status != 400 => (ErrorKind::Refused, None),
            E::BadRequest { .. } => (ErrorKind::Usage, None),
            E::ProofRefused { .. } => (
                ErrorKind::Denied,
                Some(format!(
                    "a DPoP proof carries the time: check this computer's clock; if it is right, {} again",
                    run_login()
                )),
            ),
            E::DpopRequired { .. } => (
                ErrorKind::Usage,
                Some(format!(
                    "this login holds bearer tokens: where the provider offers DPoP, {} and `{}` again",
                    change_setting("dpop", "auto"),
                    bank("login")
                )),
            ),
            E::UseDpopNonce { .. } => (ErrorKind::Network, None),
            E::Server {
                retry_after: Some(_),
                ..
            } => (ErrorKind::Unavailable, None),
            E::Server { .. } | E::UnexpectedResponse { .. } => (ErrorKind::Network, None),
            E::Network { url, .. } => (
                ErrorKind::Network,
                Some(format!(
                    "is the bank API running at {url}? (`{}`)",
                    bank("config get api_url")
                )),
            ),
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        CliError::wrap(ErrorKind::General, err)
    }
}

#[cfg(test)]
mod tests;
