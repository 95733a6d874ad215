//! The one error type commands return, and the one place that decides exit codes.
//!
//! Library modules (`oauth`, `token_store`, `api`, `config`) keep their own thiserror enums
//! whose variants mean something; the `From` impls below are where those meanings become a
//! [`ErrorKind`] (and so an exit code, DESIGN.md "Conventions") plus the hints a person needs.
//! Nothing here inspects message strings: classification happens on variants only.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

use crate::api::ClientError;
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
            | ConfigError::UnknownProfile(_) => ErrorKind::Usage,
            _ => ErrorKind::General,
        };
        let hint = match &err {
            ConfigError::UnknownKey(_) => Some("run `bank config list` to see the keys"),
            ConfigError::Parse { .. } => Some("fix the file, or move it away to start over"),
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
            E::StateMismatch | E::IssuerMixUp { .. } => (
                ErrorKind::Denied,
                Some("the callback did not come from the login this command started; run `bank login` again".into()),
            ),
            E::Timeout(_) => (
                ErrorKind::General,
                Some("finish the login in the browser sooner, or pass a longer `--timeout`".into()),
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
            E::TokenEndpoint { .. } => (ErrorKind::Network, None),
            E::InsecureEndpoint { .. } | E::IssuerMismatch { .. } | E::NoS256 => {
                (ErrorKind::General, None)
            }
            E::Browser(_) | E::Loopback(_) | E::BadUrl(_) => (ErrorKind::General, None),
        };
        let out = CliError::wrap(kind, err);
        match hint {
            Some(h) => out.hint(h),
            None => out,
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

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        use ClientError as E;
        let (kind, hint): (ErrorKind, Option<String>) = match &err {
            E::InvalidToken { .. } => (ErrorKind::LoginRequired, Some("run `bank login`".into())),
            E::StepUpRequired { .. } | E::Forbidden { .. } => (ErrorKind::Denied, None),
            E::BadRequest { .. } => (ErrorKind::Usage, None),
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
