//! Serving the sandbox in the foreground: the one implementation behind `bank-sandbox serve`
//! and `bank sandbox`. Both take the same flags ([`CommonArgs`], [`ServeArgs`]), print the
//! same banner, and stop on Ctrl-C, so the two ways of running it cannot drift apart. The
//! callers only choose how errors are reported.
//!
//! Precedence, lowest first: built-in defaults → the `--config` file → flags.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{ConfigError, Sandbox, SandboxConfig, SandboxError};

/// Where the sandbox keeps its data and which configuration it reads: options of every
/// `bank-sandbox` command (global, so they count before or after a subcommand) and of
/// `bank sandbox`.
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct CommonArgs {
    /// Directory for authz.sqlite3, bank.sqlite3 and the admin token.
    #[arg(long, global = true, env = "BANK_SANDBOX_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Optional TOML configuration (clients, users, rules, lifetimes, limits, addresses).
    #[arg(long, global = true, env = "BANK_SANDBOX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl CommonArgs {
    /// The `--config` file, or the built-in defaults without one.
    pub fn load_config(&self) -> Result<SandboxConfig, ConfigError> {
        match &self.config {
            Some(path) => SandboxConfig::load(path),
            None => Ok(SandboxConfig::default()),
        }
    }

    /// The data dir: the flag, else the config file's, else the platform default.
    pub fn data_dir(&self, config: &SandboxConfig) -> Result<PathBuf, ServeError> {
        self.data_dir
            .clone()
            .or_else(|| config.data_dir.clone())
            .or_else(crate::default_data_dir)
            .ok_or(ServeError::NoDataDir)
    }
}

/// The options of serving, beyond [`CommonArgs`].
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeArgs {
    /// Authorization server listen address (default: the config file's, else port 8400 on
    /// 127.0.0.1; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub authz_addr: Option<SocketAddr>,
    /// Bank API listen address (default: the config file's, else port 8401 on 127.0.0.1;
    /// port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub api_addr: Option<SocketAddr>,
    /// Allow listening on non-loopback addresses (anyone who can reach them can use the demo accounts).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Keep everything in memory: nothing is written, everything is gone on exit.
    #[arg(long)]
    pub in_memory: bool,
    /// The bank API's ledger: sqlite:PATH or postgres://USER@HOST/DB [default: [api]
    /// database, else $BANK_API_DATABASE_URL, else bank.sqlite3 in the data dir].
    // No clap `env` here: these options are also read before any command, and an
    // environment variable must not make `bank-sandbox mfa list` a usage error.
    #[arg(long, value_name = "URL", value_parser = DatabaseParser)]
    pub database: Option<crate::api::Database>,
}

/// Parses a `--database` value as [`crate::api::Database::parse`] does. A refusal says why
/// without repeating the value (clap's own message would, and it may hold a password).
#[derive(Clone, Copy, Debug)]
pub struct DatabaseParser;

impl clap::builder::TypedValueParser for DatabaseParser {
    type Value = crate::api::Database;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let name = arg.map_or_else(|| "--database".to_owned(), ToString::to_string);
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{name}': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let value = value
            .to_str()
            .ok_or_else(|| refuse("not valid UTF-8".into()))?;
        crate::api::Database::parse(value).map_err(|err| refuse(err.to_string()))
    }
}

/// The environment variable naming the bank API's database, for `serve` and `api` alike.
pub const DATABASE_ENV: &str = "BANK_API_DATABASE_URL";

impl ServeArgs {
    /// These options, with `outer`'s filling the gaps (`bank-sandbox --in-memory serve`).
    pub fn or(self, outer: ServeArgs) -> ServeArgs {
        ServeArgs {
            authz_addr: self.authz_addr.or(outer.authz_addr),
            api_addr: self.api_addr.or(outer.api_addr),
            allow_non_loopback: self.allow_non_loopback || outer.allow_non_loopback,
            in_memory: self.in_memory || outer.in_memory,
            database: self.database.or(outer.database),
        }
    }

    /// The first option that was given, as typed.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.authz_addr.is_some(), "--authz-addr"),
            (self.api_addr.is_some(), "--api-addr"),
            (self.allow_non_loopback, "--allow-non-loopback"),
            (self.in_memory, "--in-memory"),
            (self.database.is_some(), "--database"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// Why these options cannot be used together with `common`, if they cannot.
    pub fn conflict(&self, common: &CommonArgs) -> Option<&'static str> {
        (self.in_memory && common.data_dir.is_some()).then_some(
            "--in-memory keeps nothing on disk: it cannot be combined with --data-dir \
             (or BANK_SANDBOX_DATA_DIR)",
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load the sandbox configuration")]
    Config(#[from] ConfigError),
    #[error("cannot find a data directory: pass --data-dir or set HOME")]
    NoDataDir,
    #[error("{0}")]
    Conflict(&'static str),
    /// The message never holds the value, which may hold a password.
    #[error("BANK_API_DATABASE_URL is not a usable database setting")]
    DatabaseEnv(#[source] crate::store::StoreError),
    #[error("cannot start the sandbox")]
    Start(#[source] SandboxError),
    #[error("cannot wait for Ctrl-C")]
    Signal(#[source] std::io::Error),
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
}

impl ServeError {
    /// Whether the configuration or the flags are at fault (a usage error to the caller).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ServeError::Config(_)
                | ServeError::NoDataDir
                | ServeError::Conflict(_)
                | ServeError::DatabaseEnv(_)
        )
    }

    /// Whether a listen address was taken or refused.
    pub fn is_bind(&self) -> bool {
        matches!(self, ServeError::Start(SandboxError::Bind { .. }))
    }
}

/// The configuration `serve` runs with: the file's, with the flags applied.
pub fn config(common: &CommonArgs, args: &ServeArgs) -> Result<SandboxConfig, ServeError> {
    if let Some(message) = args.conflict(common) {
        return Err(ServeError::Conflict(message));
    }
    let mut config = common.load_config()?;
    config.data_dir = if args.in_memory {
        None
    } else {
        Some(common.data_dir(&config)?)
    };
    if let Some(addr) = args.authz_addr {
        config.authz_addr = addr;
    }
    if let Some(addr) = args.api_addr {
        config.api_addr = addr;
    }
    config.allow_non_loopback |= args.allow_non_loopback;
    // Precedence: the flag, then the environment, then the file.
    let from_env = match std::env::var(DATABASE_ENV) {
        Ok(value) if !value.trim().is_empty() => {
            Some(crate::api::Database::parse(&value).map_err(ServeError::DatabaseEnv)?)
        }
        _ => None,
    };
    if let Some(database) = args.database.clone().or(from_env) {
        config.api.database = Some(database);
    }
    Ok(config)
}

/// Starts the sandbox, prints where it listens (with `json`, one JSON line on stdout, for
/// scripts; always the banner on stderr), and serves until Ctrl-C.
pub async fn run(common: &CommonArgs, args: ServeArgs, json: bool) -> Result<(), ServeError> {
    let config = config(common, &args)?;
    let users: Vec<(String, String)> = config
        .authz
        .users
        .iter()
        .map(|u| (u.username.clone(), u.password.expose().to_owned()))
        .collect();
    let audience = config.authz.api_identifier.clone();
    let client = config
        .authz
        .clients
        .first()
        .map_or_else(String::new, client_words);
    let data = config.data_dir.clone();
    let sandbox = Sandbox::start(config).await.map_err(ServeError::Start)?;
    if json {
        let line = serde_json::json!({
            "issuer": sandbox.issuer(),
            "api_url": sandbox.api_url(),
            "data_dir": data,
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(ServeError::Stdout)?;
    }
    let default_data = crate::default_data_dir();
    let transfers = sandbox.bank().config().step_up_policy().describe();
    let banner = Banner {
        transfers: &transfers,
        client: &client,
        issuer: sandbox.issuer(),
        api_url: sandbox.api_url(),
        audience: &audience,
        data: data.as_deref(),
        default_data: default_data.as_deref(),
        users: &users,
    };
    eprintln!("{banner}");
    let stopped = tokio::signal::ctrl_c().await;
    eprintln!("Stopping the sandbox…");
    sandbox.shutdown().await;
    stopped.map_err(ServeError::Signal)
}

/// "bank-cli (public, PKCE S256, redirect http://127.0.0.1/callback, any port)": what a
/// `bank` profile must match.
fn client_words(client: &crate::authz::ClientConfig) -> String {
    let redirects: Vec<String> = client
        .redirect_uris
        .iter()
        .map(|uri| {
            let any_port = ["http://127.0.0.1/", "http://[::1]/"]
                .iter()
                .any(|p| uri.starts_with(p));
            if any_port {
                format!("{uri}, any port")
            } else {
                format!("{uri}, exactly")
            }
        })
        .collect();
    format!(
        "{} (public, PKCE S256, redirect {})",
        client.client_id,
        redirects.first().cloned().unwrap_or_default()
    )
}

/// The addresses the `bank` CLI's default profile points at: nothing to export for them.
const DEFAULT_ISSUER: &str = "http://127.0.0.1:8400";
const DEFAULT_API_URL: &str = "http://127.0.0.1:8401";

/// What `serve` prints once both servers listen: where, who, and what to run in a second
/// terminal. Every command it shows works as printed: `bank-sandbox mfa` finds the admin
/// token in the data dir, so a non-default one is named, quoted for the shell.
pub struct Banner<'a> {
    pub issuer: &'a str,
    pub api_url: &'a str,
    pub audience: &'a str,
    /// The bank API's assurance policy for transfers, in words.
    pub transfers: &'a str,
    /// The registered client and its redirect URIs, in words.
    pub client: &'a str,
    /// `None`: in memory.
    pub data: Option<&'a Path>,
    /// Where `bank-sandbox mfa` looks without `--data-dir`.
    pub default_data: Option<&'a Path>,
    /// Username and password of the demo users.
    pub users: &'a [(String, String)],
}

impl std::fmt::Display for Banner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Banner {
            issuer,
            api_url,
            audience,
            transfers,
            client,
            data,
            default_data,
            users,
        } = *self;
        let (user, password) = users
            .first()
            .map_or(("alice", "wonderland"), |(u, p)| (u.as_str(), p.as_str()));
        let demo: Vec<String> = users.iter().map(|(u, p)| format!("{u} / {p}")).collect();
        let data_line = data.map_or_else(
            || "in memory (nothing is kept)".to_owned(),
            |d| d.display().to_string(),
        );
        write!(
            f,
            "\nThe sandbox bank is running.\n\n\
             \x20 Issuer (authorization server)  {issuer}\n\
             \x20 Bank API                       {api_url}\n\
             \x20 Audience                       {audience}\n\
             \x20 Transfers need                 {transfers}\n\
             \x20 Client                         {client}\n\
             \x20 Data                           {data_line}\n\
             \x20 Demo users                     {}\n\n\
             In a second terminal:\n\n",
            demo.join("    ")
        )?;
        // `bank`'s default profile already points at the default addresses; anything else
        // is named through the CLI's environment overrides.
        if issuer != DEFAULT_ISSUER || api_url != DEFAULT_API_URL {
            writeln!(f, "  export BANK_ISSUER={issuer} BANK_API_URL={api_url}")?;
        }
        write!(
            f,
            "  bank login                               # sign in as {user} / {password} in the browser\n\
             \x20 bank balance                             # Balance: 1,000.00 USD\n\
             \x20 bank transfer --to bob --amount 25.00    # needs step-up: approve the MFA push\n\n\
             Approve the MFA push on the sandbox's \"phone\":\n\n\
             \x20 open {base}/authenticator, sign in as {user}, type the number the browser shows\n",
            base = issuer.trim_end_matches('/')
        )?;
        match data {
            Some(dir) if Some(dir) == default_data => {
                writeln!(
                    f,
                    "  or run: bank-sandbox mfa approve --user {user} --code NN"
                )?;
            }
            Some(dir) => writeln!(
                f,
                "  or run: bank-sandbox mfa approve --user {user} --code NN --data-dir {}",
                shell_word(&dir.display().to_string())
            )?,
            // The admin API's token lives in the data dir: an in-memory sandbox has none.
            None => writeln!(
                f,
                "  (in memory: no admin API, so `bank-sandbox mfa` cannot reach this sandbox)"
            )?,
        }
        write!(f, "\nPress Ctrl-C to stop.")
    }
}

/// `s` as one POSIX shell word: as is when it holds only characters no shell treats
/// specially, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | ':' | '+' | ',' | '@' | '%')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<(String, String)> {
        vec![
            ("alice".into(), "wonderland".into()),
            ("bob".into(), "builder".into()),
        ]
    }

    const AUD: &str = "https://bank.example/api";

    fn banner(issuer: &str, api_url: &str, data: Option<&Path>, default: Option<&Path>) -> String {
        Banner {
            issuer,
            api_url,
            audience: AUD,
            transfers: "the token must show MFA",
            client: "bank-cli (public, PKCE S256, redirect http://127.0.0.1/callback, any port)",
            data,
            default_data: default,
            users: &users(),
        }
        .to_string()
    }

    #[test]
    fn default_addresses_need_no_exports() {
        let default = Path::new("/home/u/.local/share/bank-sandbox");
        let text = banner(
            DEFAULT_ISSUER,
            DEFAULT_API_URL,
            Some(default),
            Some(default),
        );
        assert!(!text.contains("export"), "{text}");
        assert!(text.contains("  bank login  "), "{text}");
        assert!(
            text.contains("bank transfer --to bob --amount 25.00"),
            "{text}"
        );
        assert!(
            text.contains(
                "open http://127.0.0.1:8400/authenticator, sign in as alice, type the number"
            ),
            "{text}"
        );
        assert!(
            text.contains("or run: bank-sandbox mfa approve --user alice --code NN\n"),
            "{text}"
        );
        assert!(text.contains("alice / wonderland    bob / builder"));
    }

    #[test]
    fn a_non_default_data_dir_is_named_in_the_mfa_command_quoted() {
        let default = Path::new("/home/u/.local/share/bank-sandbox");
        let text = banner(
            "http://127.0.0.1:1234",
            "http://127.0.0.1:1235",
            Some(Path::new("/tmp/sb")),
            Some(default),
        );
        assert!(
            text.contains(
                "export BANK_ISSUER=http://127.0.0.1:1234 BANK_API_URL=http://127.0.0.1:1235"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "or run: bank-sandbox mfa approve --user alice --code NN --data-dir /tmp/sb\n"
            ),
            "{text}"
        );
        let text = banner(
            DEFAULT_ISSUER,
            DEFAULT_API_URL,
            Some(Path::new("/tmp/my sandbox's")),
            None,
        );
        assert!(
            text.contains(r"--data-dir '/tmp/my sandbox'\''s'"),
            "quoted for the shell: {text}"
        );
    }

    #[test]
    fn an_in_memory_sandbox_has_no_admin_api() {
        let text = banner(
            "http://127.0.0.1:1234",
            DEFAULT_API_URL,
            None,
            Some(Path::new("/d")),
        );
        assert!(text.contains("in memory (nothing is kept)"), "{text}");
        assert!(
            text.contains("open http://127.0.0.1:1234/authenticator"),
            "{text}"
        );
        assert!(!text.contains("bank-sandbox mfa approve"), "{text}");
        assert!(
            text.contains("no admin API, so `bank-sandbox mfa` cannot reach this sandbox"),
            "{text}"
        );
        assert!(text.contains("BANK_ISSUER=http://127.0.0.1:1234 BANK_API_URL="));
    }

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell_word("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(shell_word("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn flags_override_the_file_and_in_memory_refuses_a_data_dir() {
        let common = CommonArgs {
            data_dir: Some(PathBuf::from("/tmp/d")),
            config: None,
        };
        let args = ServeArgs {
            authz_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let config = config(&common, &args).expect("config");
        assert_eq!(config.authz_addr.port(), 0);
        assert_eq!(config.api_addr.port(), 8401);
        assert_eq!(config.data_dir, Some(PathBuf::from("/tmp/d")));
        let args = ServeArgs {
            in_memory: true,
            ..ServeArgs::default()
        };
        let err = super::config(&common, &args).expect_err("conflict");
        assert!(err.is_usage(), "{err}");
    }
}
