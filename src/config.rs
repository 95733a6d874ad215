//! Profiles: which provider and which bank API a `bank` command talks to.
//!
//! A profile names an issuer, a client id, the API's identifier (and how the provider wants it
//! named on the authorization request), the bank API's base URL, the scopes of an everyday
//! login and an optional fixed callback port. Values are layered, later wins:
//!
//! 1. built-in defaults — the sandbox's default addresses, so local use needs no setup;
//! 2. the file `config.toml` in the config directory (`BANK_CONFIG_DIR`, else the platform's
//!    config dir + `bank`), table `[profiles.<name>]`;
//! 3. environment: `BANK_ISSUER`, `BANK_CLIENT_ID`, `BANK_AUDIENCE`, `BANK_API_URL`,
//!    `BANK_DPOP`, `BANK_PAR`
//!    (the profile itself comes from `--profile`, else `BANK_PROFILE`, else `default`);
//! 4. command-line flags (`--callback-port`; `bank login`'s `--issuer`, `--client-id`,
//!    `--audience`, `--api-url`).
//!
//! `BANK_TOKEN` is not a profile value: it replaces the cached token entirely (see
//! `session.rs`). Nothing secret is ever written here; tokens live in `token_store`.
//! A missing file is fine; an unreadable or malformed one is a clear error.
//!
//! The parts beside this file: `document` writes the file back keeping the person's
//! comments and layout; `create` decides when `bank login` makes a new profile.

mod create;
mod document;
mod set;

pub use create::{LoginProfile, NewProfile, plan_login_profile};
pub use document::ConfigDocument;
pub use set::set_value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the sandbox listens by default (docs/ARCHITECTURE.md, "The sandbox").
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8400";
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8401";
pub const DEFAULT_CLIENT_ID: &str = "bank-cli";
pub const DEFAULT_AUDIENCE: &str = "https://bank.example/api";
pub const DEFAULT_SCOPES: &str = "openid profile offline_access view:balance";
pub const DEFAULT_PROFILE: &str = "default";

/// Scopes that only a step-up obtains, for one operation, and that are never stored
/// (`client::step_up`): an everyday login must not ask for them, or its token —
/// kept in the keyring and refreshed for weeks — would move money without MFA.
pub const STEP_UP_ONLY_SCOPES: &[&str] = &[bank_protocol::scopes::TRANSFER_FUNDS];

/// The first of `scopes` that only a step-up may request, if any.
pub fn step_up_only_scope<'a, I>(scopes: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a String>,
{
    scopes
        .into_iter()
        .map(String::as_str)
        .find(|s| STEP_UP_ONLY_SCOPES.contains(s))
}

/// The keys `bank config get|set|list` know, in display order.
pub const KEYS: &[&str] = &[
    "issuer",
    "client_id",
    "audience",
    "audience_param",
    "api_url",
    "scopes",
    "callback_port",
    "dpop",
    "par",
    "max_inline_payments",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find a configuration directory; set BANK_CONFIG_DIR")]
    NoConfigDir,
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot edit {}: {reason}", path.display())]
    Uneditable { path: PathBuf, reason: String },
    #[error("{} is not valid configuration", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    #[error("invalid value for `{key}`: {reason}")]
    InvalidValue { key: String, reason: String },
    #[error(
        "profile `{0}` does not exist; create it with `bank --profile {0} login --issuer URL --client-id ID`"
    )]
    UnknownProfile(String),
    #[error("cannot create profile `{name}`: {} {} needed", missing.join(" and "), if missing.len() == 1 { "is" } else { "are" })]
    IncompleteProfile {
        name: String,
        /// The flags (and their variables) that were not given, e.g. `--client-id (BANK_CLIENT_ID)`.
        missing: Vec<&'static str>,
    },
    #[error(
        "profile `{name}` already has {key} = {current}; `bank login` does not change it to {requested}"
    )]
    ProfileConflict {
        name: String,
        key: &'static str,
        current: String,
        requested: String,
    },
}

/// How the API identifier is sent on the authorization request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AudienceParam {
    /// RFC 8707 `resource` (Okta, Keycloak, the sandbox).
    #[default]
    Resource,
    /// Auth0's `audience` (the sandbox accepts it too).
    Audience,
}

impl fmt::Display for AudienceParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AudienceParam::Resource => "resource",
            AudienceParam::Audience => "audience",
        })
    }
}

/// Whether a protocol extension the provider may offer is used: `auto` when its metadata
/// advertises it, `always` (a provider without it is refused, never silently downgraded),
/// or `never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    #[default]
    Auto,
    Always,
    Never,
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Use::Auto => "auto",
            Use::Always => "always",
            Use::Never => "never",
        })
    }
}

impl Use {
    pub(crate) fn parse(value: &str) -> Option<Use> {
        match value {
            "auto" => Some(Use::Auto),
            "always" => Some(Use::Always),
            "never" => Some(Use::Never),
            _ => None,
        }
    }
}

pub(crate) const USE_VALUES: &str =
    "expected `auto` (where the provider offers it, the default), `always` or `never`";

/// One `[profiles.NAME]` table as written in the file: every key optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_param: Option<AudienceParam>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_port: Option<u16>,
    /// RFC 9449 sender-constrained tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop: Option<Use>,
    /// RFC 9126 pushed authorization requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub par: Option<Use>,
    /// Most payments of a batch approved one by one (`payment_initiation` each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inline_payments: Option<usize>,
}

/// The whole `config.toml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileFile>,
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The profiles a person can choose: `default` (which exists even without a table)
    /// first, then the file's, in name order.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names = vec![DEFAULT_PROFILE.to_owned()];
        names.extend(
            self.profiles
                .keys()
                .filter(|n| n.as_str() != DEFAULT_PROFILE)
                .cloned(),
        );
        names
    }
}

/// Where a resolved value came from (shown by `bank config list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        })
    }
}

/// A fully resolved profile: every value present, each with its origin.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub audience: String,
    pub audience_param: AudienceParam,
    pub api_url: String,
    pub scopes: Vec<String>,
    pub callback_port: Option<u16>,
    pub dpop: Use,
    pub par: Use,
    /// Past this many payments, a batch is approved as one `payment_batch`.
    pub max_inline_payments: usize,
    pub sources: BTreeMap<&'static str, Source>,
}

impl Profile {
    /// The value of `key` as text (`bank config get`); `None` for an unset optional value.
    pub fn get(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(match key {
            "issuer" => Some(self.issuer.clone()),
            "client_id" => Some(self.client_id.clone()),
            "audience" => Some(self.audience.clone()),
            "audience_param" => Some(self.audience_param.to_string()),
            "api_url" => Some(self.api_url.clone()),
            "scopes" => Some(self.scopes.join(" ")),
            "callback_port" => self.callback_port.map(|p| p.to_string()),
            "dpop" => Some(self.dpop.to_string()),
            "par" => Some(self.par.to_string()),
            "max_inline_payments" => Some(self.max_inline_payments.to_string()),
            other => return Err(ConfigError::UnknownKey(other.to_owned())),
        })
    }

    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).copied().unwrap_or(Source::Default)
    }
}

/// The environment variables that feed configuration, captured once so tests and code paths
/// never read the process environment behind the resolver's back.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub profile: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
    pub api_url: Option<String>,
    pub dpop: Option<String>,
    pub par: Option<String>,
    pub config_dir: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Env {
            profile: var("BANK_PROFILE"),
            issuer: var("BANK_ISSUER"),
            client_id: var("BANK_CLIENT_ID"),
            audience: var("BANK_AUDIENCE"),
            api_url: var("BANK_API_URL"),
            dpop: var("BANK_DPOP"),
            par: var("BANK_PAR"),
            config_dir: var("BANK_CONFIG_DIR").map(PathBuf::from),
        }
    }
}

/// The configuration directory: `BANK_CONFIG_DIR`, else `<platform config dir>/bank`.
pub fn config_dir(env: &Env) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = &env.config_dir {
        return Ok(dir.clone());
    }
    dirs::config_dir()
        .map(|d| d.join("bank"))
        .ok_or(ConfigError::NoConfigDir)
}

pub fn config_file_path(dir: &Path) -> PathBuf {
    dir.join("config.toml")
}

/// Flags that override configuration.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub callback_port: Option<u16>,
    /// `bank login --issuer` and friends: the profile's values for this run (and, for a new
    /// profile, what is written).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
    pub api_url: Option<String>,
}

impl Overrides {
    /// The profile these flags and `env` select.
    pub fn profile_name(&self, env: &Env) -> String {
        self.profile
            .clone()
            .or_else(|| env.profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned())
    }
}

/// Applies the layers in the order written in the module docs.
pub fn resolve(file: &ConfigFile, env: &Env, flags: &Overrides) -> Result<Profile, ConfigError> {
    let name = flags.profile_name(env);
    let from_file = match file.profiles.get(&name) {
        Some(p) => p.clone(),
        None if name == DEFAULT_PROFILE => ProfileFile::default(),
        None => return Err(ConfigError::UnknownProfile(name)),
    };
    let mut sources = BTreeMap::new();
    let mut pick = |key: &'static str,
                    default: &str,
                    file: Option<String>,
                    env: &Option<String>,
                    flag: &Option<String>| {
        let (value, source) = match (flag, env, file) {
            (Some(v), _, _) => (v.clone(), Source::Flag),
            (None, Some(v), _) => (v.clone(), Source::Env),
            (None, None, Some(v)) => (v, Source::File),
            (None, None, None) => (default.to_owned(), Source::Default),
        };
        sources.insert(key, source);
        value
    };
    let issuer = pick(
        "issuer",
        DEFAULT_ISSUER,
        from_file.issuer,
        &env.issuer,
        &flags.issuer,
    );
    let client_id = pick(
        "client_id",
        DEFAULT_CLIENT_ID,
        from_file.client_id,
        &env.client_id,
        &flags.client_id,
    );
    let audience = pick(
        "audience",
        DEFAULT_AUDIENCE,
        from_file.audience,
        &env.audience,
        &flags.audience,
    );
    let api_url = pick(
        "api_url",
        DEFAULT_API_URL,
        from_file.api_url,
        &env.api_url,
        &flags.api_url,
    );
    validate(&labelled("issuer", &sources), &issuer)?;
    validate(&labelled("api_url", &sources), &api_url)?;

    let audience_param = match from_file.audience_param {
        Some(p) => {
            sources.insert("audience_param", Source::File);
            p
        }
        None => AudienceParam::default(),
    };
    let scopes = match from_file.scopes {
        Some(s) => {
            sources.insert("scopes", Source::File);
            s
        }
        None => split_scopes(DEFAULT_SCOPES),
    };
    let callback_port = match (flags.callback_port, from_file.callback_port) {
        (Some(p), _) => {
            sources.insert("callback_port", Source::Flag);
            Some(p)
        }
        (None, Some(p)) => {
            sources.insert("callback_port", Source::File);
            Some(p)
        }
        (None, None) => None,
    };
    let mut setting = |key: &'static str, env: &Option<String>, file: Option<Use>| match (env, file)
    {
        (Some(value), _) => {
            sources.insert(key, Source::Env);
            Use::parse(value).ok_or_else(|| ConfigError::InvalidValue {
                key: labelled(key, &sources),
                reason: USE_VALUES.to_owned(),
            })
        }
        (None, Some(p)) => {
            sources.insert(key, Source::File);
            Ok(p)
        }
        (None, None) => Ok(Use::default()),
    };
    let dpop = setting("dpop", &env.dpop, from_file.dpop)?;
    let par = setting("par", &env.par, from_file.par)?;
    let max_inline_payments = match from_file.max_inline_payments {
        Some(n) => {
            sources.insert("max_inline_payments", Source::File);
            n
        }
        None => bank_protocol::DEFAULT_MAX_INLINE_PAYMENTS,
    };
    Ok(Profile {
        name,
        issuer,
        client_id,
        audience,
        audience_param,
        api_url,
        scopes,
        callback_port,
        dpop,
        par,
        max_inline_payments,
        sources,
    })
}

/// Every profile a person can choose (see [`ConfigFile::profile_names`]), each resolved from
/// the file and the built-in defaults alone: `BANK_ISSUER` and friends override whichever
/// profile a command uses, so applied here they would make every profile look alike.
pub fn resolve_all(file: &ConfigFile) -> Vec<(String, Result<Profile, ConfigError>)> {
    file.profile_names()
        .into_iter()
        .map(|name| {
            let flags = Overrides {
                profile: Some(name.clone()),
                ..Overrides::default()
            };
            let resolved = resolve(file, &Env::default(), &flags);
            (name, resolved)
        })
        .collect()
}

pub fn split_scopes(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// A key named with where its value came from, for the error: `issuer (from BANK_ISSUER)`.
fn labelled(key: &str, sources: &BTreeMap<&'static str, Source>) -> String {
    match sources.get(key) {
        Some(Source::Env) => format!("{key} (from BANK_{})", key.to_ascii_uppercase()),
        Some(Source::File) => format!("{key} (from the configuration file)"),
        Some(Source::Flag) => format!("{key} (from --{})", key.replace('_', "-")),
        _ => key.to_owned(),
    }
}

/// Checks a URL-valued key: https, or plain http only to a loopback address — a token or a
/// code sent in clear text to anywhere else can be read and replayed by whoever is on the way.
pub(crate) fn validate(key: &str, value: &str) -> Result<(), ConfigError> {
    bank_protocol::https::check_str(value)
        .map(drop)
        .map_err(|e| ConfigError::InvalidValue {
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests;
