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

use crate::client::{ApiError, ClientError, NotPossible, SessionError, StepUpError};
use crate::config::ConfigError;
use crate::oauth::OAuthError;
use crate::token_store::StoreError;

/// What went wrong, from the caller's point of view. Maps one-to-one onto exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything without a more specific meaning (exit 1).
    General,
    /// Bad command line or bad input (exit 2).
    Usage,
    /// No usable credentials: run `bank login` (exit 3).
    LoginRequired,
    /// The user, the authorization server or the API said no (exit 4).
    Denied,
    /// Network failure or a server error (exit 5).
    Network,
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
            ErrorKind::Interrupted => 130,
            ErrorKind::StdoutClosed => 0,
        }
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
        CliError::new(ErrorKind::LoginRequired, message).hint("run `bank login`")
    }

    pub fn interrupted() -> Self {
        CliError::new(ErrorKind::Interrupted, "interrupted")
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
            | ConfigError::ProfileConflict { .. } => ErrorKind::Usage,
            _ => ErrorKind::General,
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
            E::Authorization { .. } => (ErrorKind::Denied, None),
            E::InvalidIdToken { .. } => (ErrorKind::Denied, None),
            E::IssuerMixUp { .. } => (
                ErrorKind::Denied,
                Some("the callback did not come from the login this command started; run `bank login` again".into()),
            ),
            E::Timeout(_) => (
                ErrorKind::General,
                Some("if the browser showed the provider's error page instead of coming back (\"redirect_uri mismatch\", \"callback URL not allowed\"), the provider compares the redirect URI exactly, port included: register http://127.0.0.1:PORT/callback there and give bank the same port (`bank config set callback_port PORT`, or `--callback-port PORT`); otherwise finish the sign-in sooner, or pass a longer `--timeout`".into()),
            ),
            E::DeviceCodeExpired { .. } => (
                ErrorKind::General,
                Some("run the command again and enter the code sooner".into()),
            ),
            E::NoDeviceFlow => (
                ErrorKind::Usage,
                Some("run `bank login` without `--device`, and open the printed URL in a browser on any machine".into()),
            ),
            E::CallbackPortBusy { .. } => (
                ErrorKind::General,
                Some("choose another port with `--callback-port`, or stop what is using it".into()),
            ),
            E::RefreshRejected { .. } => (ErrorKind::LoginRequired, Some("run `bank login`".into())),
            E::Discovery { .. } | E::Http { .. } => (
                ErrorKind::Network,
                Some("check that the issuer is reachable (`bank config get issuer`)".into()),
            ),
            E::TokenEndpoint { .. } | E::Revocation { .. } => (ErrorKind::Network, None),
            E::ParRequired | E::ParUnavailable { .. } => (
                ErrorKind::Usage,
                Some("`par = auto` pushes exactly where the provider offers it: bank config set par auto".into()),
            ),
            E::PushRefused { error, .. } => match error.as_str() {
                "invalid_client" | "unauthorized_client" => (
                    ErrorKind::Usage,
                    Some("check the profile's client id (`bank config get client_id`) and the client's settings at the provider; where it may not push requests at all, `bank config set par never` sends the plain URL".into()),
                ),
                "server_error" | "temporarily_unavailable" => (ErrorKind::Network, None),
                _ => (ErrorKind::Denied, None),
            },
            E::DpopUnsupported | E::NotBound => (
                ErrorKind::Usage,
                Some("use another provider or client that binds tokens, or allow bearer tokens: `bank config set dpop auto`".into()),
            ),
            E::DpopRequired => (
                ErrorKind::Usage,
                Some("let bank bind its tokens where the provider offers it: `bank config set dpop auto` (or unset BANK_DPOP)".into()),
            ),
            E::InsecureEndpoint { .. }
            | E::IssuerMismatch { .. }
            | E::NoS256
            | E::UnexpectedTokenType { .. } => (ErrorKind::General, None),
            E::Browser(_) | E::Loopback(_) | E::BadUrl(_) => (ErrorKind::General, None),
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

impl From<StepUpError> for CliError {
    fn from(err: StepUpError) -> Self {
        match err {
            StepUpError::Authorization(e) => e.into(),
            StepUpError::WrongUser { ref expected, .. } => {
                let hint = format!(
                    "sign in as {expected} when asked to approve, or run `bank login` to switch accounts"
                );
                CliError::wrap(ErrorKind::Denied, err).hint(hint)
            }
            StepUpError::UnknownUser => CliError::wrap(ErrorKind::Denied, err)
                .hint("the provider must return an ID token when `openid` is requested"),
            StepUpError::Unbound => CliError::wrap(ErrorKind::LoginRequired, err)
                .hint("run `bank login` again, so that bank records who you are"),
            StepUpError::NotPossible { reason, .. } => {
                CliError::wrap(ErrorKind::Denied, err).hint(not_possible_hint(reason))
            }
        }
    }
}

/// What to do when a step-up cannot run here.
pub fn not_possible_hint(reason: NotPossible) -> &'static str {
    match reason {
        NotPossible::EnvToken => {
            "BANK_TOKEN is set, so bank does not step up; give it a token that already allows this (for a transfer: `transfer:funds` with multi-factor authentication), or unset it to use `bank login`'s session"
        }
        NotPossible::NoInputNoBrowser => {
            "--no-input is set and no browser can be opened for the step-up; set BANK_BROWSER, or run without --no-input and open the printed URL"
        }
    }
}

impl From<SessionError> for CliError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(e) => e.into(),
            SessionError::OAuth(e) => e.into(),
            SessionError::EnvTokenRejected { .. } => CliError::wrap(ErrorKind::LoginRequired, err)
                .hint("set BANK_TOKEN to a valid access token, or unset it and run `bank login`"),
            SessionError::NotLoggedIn { .. }
            | SessionError::Expired(_)
            | SessionError::Rejected(_) => {
                CliError::wrap(ErrorKind::LoginRequired, err).hint("run `bank login`")
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
        let out = CliError::wrap(ErrorKind::General, err);
        out.hint(
            "`--insecure-storage` stores tokens in a 0600 file in the config directory instead",
        )
    }
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        use ApiError as E;
        let (kind, hint): (ErrorKind, Option<String>) = match &err {
            E::InvalidToken { .. } => (ErrorKind::LoginRequired, Some("run `bank login`".into())),
            E::StepUpRequired { .. } | E::Forbidden { .. } => (ErrorKind::Denied, None),
            E::BadRequest { .. } => (ErrorKind::Usage, None),
            E::ProofRefused { .. } => (
                ErrorKind::Denied,
                Some("a DPoP proof carries the time: check this computer's clock; if it is right, run `bank login` again".into()),
            ),
            E::DpopRequired { .. } => (
                ErrorKind::Usage,
                Some("this login holds bearer tokens: where the provider offers DPoP, `bank config set dpop auto` (or unset BANK_DPOP) and `bank login` again".into()),
            ),
            E::UseDpopNonce { .. } => (ErrorKind::Network, None),
            E::Server { .. } | E::UnexpectedResponse { .. } => (ErrorKind::Network, None),
            E::Network { url, .. } => (
                ErrorKind::Network,
                Some(format!(
                    "is the bank API running at {url}? (`bank config get api_url`)"
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
