//! `bank-sandbox`: runs the local bank (authorization server + bank API) in the
//! foreground, and administers it: approve MFA requests from a terminal, rotate signing
//! keys, add users. One file because each command is a few lines over the library.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use bank_sandbox::authz::{self, MfaRequestInfo, Password};
use bank_sandbox::{ADMIN_TOKEN_FILE, AUTHZ_DB, BANK_DB, Sandbox, SandboxConfig, api, store};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// A local authorization server and bank API for the bank CLI: an Auth0 tenant on your laptop.
#[derive(Parser)]
#[command(
    name = "bank-sandbox",
    version,
    long_about = "A local authorization server (a stand-in for an Auth0 tenant) and a bank API \
(a resource server), for developing and demonstrating the bank CLI offline.\n\n\
With no command, `serve` runs both on 127.0.0.1:8400 (issuer) and 127.0.0.1:8401 (API), \
seeding the demo users alice/wonderland and bob/builder on first start. Transfers need \
push MFA: approve them on http://127.0.0.1:8400/authenticator or with `bank-sandbox mfa approve`.",
    after_help = "Examples:\n  bank-sandbox                          # serve with defaults\n  \
bank-sandbox serve --authz-addr 127.0.0.1:0 --api-addr 127.0.0.1:0\n  \
bank-sandbox mfa approve --user alice   # approve alice's oldest pending request\n  \
bank-sandbox api --issuer https://TENANT.auth0.com/ --audience https://bank.example/api\n  \
echo 'secret' | bank-sandbox users add carol"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// `serve`'s options, also accepted with no command (or before `serve`).
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the authorization server and the bank API in the foreground (the default).
    Serve(ServeArgs),
    /// Run only the bank API, trusting an external issuer (Auth0, Okta, Keycloak…).
    Api(ApiArgs),
    /// Answer push MFA requests from the terminal (talks to a running sandbox).
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
}

/// Options every command uses. Global, so they are honoured wherever they appear:
/// `bank-sandbox --data-dir D mfa list` and `bank-sandbox mfa list --data-dir D` alike.
#[derive(Args, Clone, Default)]
struct Common {
    /// Directory for authz.sqlite3, bank.sqlite3 and the admin token.
    #[arg(long, global = true, env = "BANK_SANDBOX_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Optional TOML configuration (clients, users, rules, lifetimes, addresses).
    #[arg(long, global = true, env = "BANK_SANDBOX_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Clone, Default, Debug, PartialEq, Eq)]
struct ServeArgs {
    /// Authorization server listen address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    authz_addr: Option<SocketAddr>,
    /// Bank API listen address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    api_addr: Option<SocketAddr>,
    /// Allow listening on non-loopback addresses (anyone who can reach them can use the demo accounts).
    #[arg(long)]
    allow_non_loopback: bool,
    /// Keep everything in memory: nothing is written, everything is gone on exit.
    #[arg(long)]
    in_memory: bool,
}

impl ServeArgs {
    /// These options, with `outer`'s (given before the `serve` command) filling the gaps.
    fn or(self, outer: ServeArgs) -> ServeArgs {
        ServeArgs {
            authz_addr: self.authz_addr.or(outer.authz_addr),
            api_addr: self.api_addr.or(outer.api_addr),
            allow_non_loopback: self.allow_non_loopback || outer.allow_non_loopback,
            in_memory: self.in_memory || outer.in_memory,
        }
    }

    /// The first option that was given, as typed.
    fn first_given(&self) -> Option<&'static str> {
        [
            (self.authz_addr.is_some(), "--authz-addr"),
            (self.api_addr.is_some(), "--api-addr"),
            (self.allow_non_loopback, "--allow-non-loopback"),
            (self.in_memory, "--in-memory"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

impl Cli {
    /// The command to run and its common options. `serve`'s options given before the
    /// `serve` command are folded into it; before any other command they would mean
    /// nothing, so they are a usage error rather than silently ignored.
    fn resolve(self) -> Result<(Common, Command), clap::Error> {
        let command = match self.command {
            None => Command::Serve(self.serve),
            Some(Command::Serve(inner)) => Command::Serve(inner.or(self.serve)),
            Some(other) => match self.serve.first_given() {
                Some(flag) => {
                    return Err(Cli::command().error(
                        ErrorKind::ArgumentConflict,
                        format!("{flag} is an option of `serve`, not of this command"),
                    ));
                }
                None => other,
            },
        };
        if let Command::Serve(args) = &command
            && args.in_memory
            && self.common.data_dir.is_some()
        {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                "--in-memory keeps nothing on disk: it cannot be combined with --data-dir \
                 (or BANK_SANDBOX_DATA_DIR)",
            ));
        }
        Ok((self.common, command))
    }
}

#[derive(Args)]
struct ApiArgs {
    /// The issuer whose tokens the API accepts, exactly as in its tokens' `iss`.
    #[arg(long)]
    issuer: String,
    /// The API identifier tokens must carry in `aud`.
    #[arg(long, default_value = "https://bank.example/api")]
    audience: String,
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8401")]
    api_addr: SocketAddr,
}

#[derive(Subcommand)]
enum MfaCommand {
    /// List pending requests.
    List {
        /// Only this user's requests.
        #[arg(long)]
        user: Option<String>,
    },
    /// Approve a request: by ID, or the oldest pending one (of --user).
    Approve(Decide),
    /// Deny a request: by ID, or the oldest pending one (of --user).
    Deny(Decide),
}

#[derive(Args)]
struct Decide {
    /// Only consider this user's requests.
    #[arg(long)]
    user: Option<String>,
    /// The request ID (mfa_…), as shown by `mfa list`.
    id: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the old public key stays published until its tokens expire.
    Rotate,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        username: String,
        /// Shown on pages; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("bank_sandbox=info,warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let (common, command) = Cli::parse().resolve().unwrap_or_else(|err| err.exit());
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(&common, command)),
        Err(err) => Err(anyhow!(err).context("could not start the async runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(common: &Common, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(common, args).await,
        Command::Api(args) => api_only(common, args).await,
        Command::Mfa(command) => mfa(common, command).await,
        Command::Keys(KeysCommand::Rotate) => rotate_keys(common),
        Command::Users(UsersCommand::Add {
            username,
            display_name,
        }) => add_user(common, &username, display_name.as_deref()),
    }
}

/// The library's default (shared with `bank sandbox`).
fn default_data_dir() -> anyhow::Result<PathBuf> {
    bank_sandbox::default_data_dir()
        .ok_or_else(|| anyhow!("cannot find a data directory: set --data-dir or HOME"))
}

fn load_config(common: &Common) -> anyhow::Result<SandboxConfig> {
    match &common.config {
        Some(path) => Ok(SandboxConfig::load(path)?),
        None => Ok(SandboxConfig::default()),
    }
}

/// The data dir: the flag, else the config file's, else the platform default.
fn data_dir(common: &Common, config: &SandboxConfig) -> anyhow::Result<PathBuf> {
    match (&common.data_dir, &config.data_dir) {
        (Some(dir), _) | (None, Some(dir)) => Ok(dir.clone()),
        (None, None) => default_data_dir(),
    }
}

async fn serve(common: &Common, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(common)?;
    config.data_dir = if args.in_memory {
        None
    } else {
        Some(data_dir(common, &config)?)
    };
    if let Some(addr) = args.authz_addr {
        config.authz_addr = addr;
    }
    if let Some(addr) = args.api_addr {
        config.api_addr = addr;
    }
    config.allow_non_loopback |= args.allow_non_loopback;
    let users: Vec<(String, String)> = config
        .authz
        .users
        .iter()
        .map(|u| (u.username.clone(), u.password.expose().to_owned()))
        .collect();
    let audience = config.authz.api_identifier.clone();
    let data = config.data_dir.clone();
    let sandbox = Sandbox::start(config)
        .await
        .context("could not start the sandbox")?;
    let default_data = bank_sandbox::default_data_dir();
    println!(
        "{}",
        banner(
            sandbox.issuer(),
            sandbox.api_url(),
            &audience,
            data.as_deref(),
            default_data.as_deref(),
            &users,
        )
    );
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    eprintln!("Stopping…");
    sandbox.shutdown().await;
    Ok(())
}

/// What `serve` prints once both servers listen. Every command it shows works as printed:
/// `bank-sandbox mfa` finds the admin token in the data dir, so a non-default one is named.
fn banner(
    iss: &str,
    api: &str,
    audience: &str,
    data: Option<&Path>,
    default_data: Option<&Path>,
    users: &[(String, String)],
) -> String {
    let data_line = data.map_or_else(
        || "in memory (nothing is kept)".to_owned(),
        |d| d.display().to_string(),
    );
    let demo: Vec<String> = users.iter().map(|(u, p)| format!("{u} / {p}")).collect();
    let first_user = users.first().map_or("alice", |(u, _)| u.as_str());
    let approve_cli = match data {
        Some(dir) if Some(dir) == default_data => {
            format!("or run: bank-sandbox mfa approve --user {first_user}")
        }
        Some(dir) => format!(
            "or run: bank-sandbox mfa approve --user {first_user} --data-dir {}",
            shell_word(&dir.display().to_string())
        ),
        // The admin API's token lives in the data dir: an in-memory sandbox has none.
        None => {
            "(in memory: no admin API, so `bank-sandbox mfa` cannot reach this sandbox)".to_owned()
        }
    };
    // `bank`'s default profile already points at the default addresses; anything else is
    // named through the CLI's environment overrides.
    let try_it = if iss == "http://127.0.0.1:8400" && api == "http://127.0.0.1:8401" {
        "bank login".to_owned()
    } else {
        format!("BANK_ISSUER={iss} BANK_API_URL={api} bank login")
    };
    format!(
        "\nbank-sandbox is running\n\n\
         \x20 Issuer (authorization server)  {iss}\n\
         \x20 Bank API                       {api}\n\
         \x20 Audience                       {audience}\n\
         \x20 Client                         bank-cli (public, PKCE S256, redirect http://127.0.0.1/callback, any port)\n\
         \x20 Data                           {data_line}\n\n\
         \x20 Demo users                     {demo}\n\n\
         \x20 Approve MFA (transfers)        open {iss}/authenticator\n\
         \x20                                {approve_cli}\n\n\
         \x20 Try it                         {try_it}\n\n\
         Press Ctrl-C to stop.",
        demo = demo.join("    "),
    )
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

async fn api_only(common: &Common, args: ApiArgs) -> anyhow::Result<()> {
    let mut config = load_config(common)?;
    if !args.api_addr.ip().is_loopback() && !config.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {} (set allow_non_loopback in the config)",
            args.api_addr
        );
    }
    let dir = data_dir(common, &config)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    config.api.issuer = args.issuer.clone();
    config.api.audience = args.audience.clone();
    let database = api::Database::Sqlite(Some(dir.join(BANK_DB)));
    let bank = store::bank::BankStore::open(&database, config.api.durability, 1).await?;
    let state = api::ApiState::new(config.api, bank).await?;
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

/// The admin token file a running `serve` wrote.
#[derive(serde::Deserialize)]
struct AdminFile {
    issuer: String,
    token: String,
}

impl std::fmt::Debug for AdminFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminFile")
            .field("issuer", &self.issuer)
            .field("token", &"[redacted]")
            .finish()
    }
}

fn admin_file(common: &Common) -> anyhow::Result<AdminFile> {
    let config = load_config(common)?;
    let path = data_dir(common, &config)?.join(ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "could not read {} — is `bank-sandbox serve` running with this data dir?",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid admin token file", path.display()))
}

async fn mfa(common: &Common, command: MfaCommand) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let (decision, user, id) = match command {
        MfaCommand::List { user } => {
            let admin = admin_file(common)?;
            let mut request = client
                .get(format!("{}/admin/mfa", admin.issuer))
                .bearer_auth(&admin.token);
            if let Some(user) = &user {
                request = request.query(&[("user", user)]);
            }
            let body: serde_json::Value = checked(request.send().await).await?;
            let pending: Vec<MfaRequestInfo> = serde_json::from_value(body["pending"].clone())?;
            if pending.is_empty() {
                eprintln!("No pending MFA requests.");
            }
            for r in pending {
                println!(
                    "{}  {}  {} wants: {}",
                    r.id,
                    r.username,
                    r.client_name,
                    r.scopes.join(" ")
                );
            }
            return Ok(());
        }
        MfaCommand::Approve(d) => ("approve", d.user, d.id),
        MfaCommand::Deny(d) => ("deny", d.user, d.id),
    };
    let admin = admin_file(common)?;
    let body: serde_json::Value = checked(
        client
            .post(format!("{}/admin/mfa/decide", admin.issuer))
            .bearer_auth(&admin.token)
            .json(&serde_json::json!({ "decision": decision, "id": id, "user": user }))
            .send()
            .await,
    )
    .await?;
    let done = if decision == "approve" {
        "Approved"
    } else {
        "Denied"
    };
    match serde_json::from_value::<Option<MfaRequestInfo>>(body["decided"].clone())? {
        Some(r) => eprintln!(
            "{done} {} ({} for {}: {}).",
            r.id,
            r.client_name,
            r.username,
            r.scopes.join(" ")
        ),
        None => eprintln!("{done}."),
    }
    Ok(())
}

async fn checked(
    response: reqwest::Result<reqwest::Response>,
) -> anyhow::Result<serde_json::Value> {
    let response = response.context("could not reach the sandbox — is it running?")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("request failed");
        bail!("{message} (HTTP {status})");
    }
    Ok(body)
}

fn open_authz(common: &Common) -> anyhow::Result<(SandboxConfig, store::authz::AuthzStore)> {
    let config = load_config(common)?;
    let dir = data_dir(common, &config)?;
    let path = dir.join(AUTHZ_DB);
    if !path.exists() {
        bail!(
            "no sandbox database at {} — run `bank-sandbox serve` once first",
            path.display()
        );
    }
    let conn = store::open(Some(&path), store::authz::MIGRATIONS)?;
    Ok((config, store::authz::AuthzStore::new(conn)))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn rotate_keys(common: &Common) -> anyhow::Result<()> {
    let (_, store) = open_authz(common)?;
    let kid = authz::keys::add_new_key(&store, now())?;
    // A running server reads keys from the database, so it signs with the new key at once.
    println!("{kid}");
    eprintln!("New signing key {kid}; the previous key stays in the JWKS until its tokens expire.");
    Ok(())
}

fn add_user(common: &Common, username: &str, display_name: Option<&str>) -> anyhow::Result<()> {
    let (config, store) = open_authz(common)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!(
            "empty password: pipe it on standard input, e.g. `echo secret | bank-sandbox users add {username}`"
        );
    }
    let sub = authz::add_user(
        &store,
        &config.authz,
        username,
        display_name.unwrap_or(""),
        &Password::new(password),
        now(),
    )?
    .ok_or_else(|| anyhow!("user {username} already exists"))?;
    println!("{sub}");
    eprintln!(
        "Added {username} ({sub}). Note: the bank API opens accounts only for configured account seeds."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses as `main` does, minus the environment (hermetic: the environment running the
    /// tests may set `BANK_SANDBOX_DATA_DIR`).
    fn parse(args: &[&str]) -> Result<(Common, Command), clap::Error> {
        use clap::FromArgMatches;
        let matches = Cli::command()
            .mut_arg("data_dir", |a| a.env(None))
            .mut_arg("config", |a| a.env(None))
            .try_get_matches_from(std::iter::once("bank-sandbox").chain(args.iter().copied()))?;
        Cli::from_arg_matches(&matches)?.resolve()
    }

    fn data_dir_of(args: &[&str]) -> Option<PathBuf> {
        let (common, _) = parse(args).unwrap_or_else(|e| panic!("{args:?} parses: {e}"));
        common.data_dir
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn common_options_count_before_and_after_any_command() {
        let d = Some(PathBuf::from("/tmp/d"));
        for args in [
            &["--data-dir", "/tmp/d"][..],
            &["--data-dir", "/tmp/d", "serve"],
            &["serve", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "mfa", "list"],
            &["mfa", "--data-dir", "/tmp/d", "approve", "--user", "alice"],
            &["mfa", "deny", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "keys", "rotate"],
            &["--data-dir", "/tmp/d", "users", "add", "carol"],
            &["--data-dir", "/tmp/d", "api", "--issuer", "https://i/"],
        ] {
            assert_eq!(data_dir_of(args), d, "{args:?}");
        }
        let (common, _) = parse(&["--config", "/tmp/c.toml", "mfa", "list"]).expect("parses");
        assert_eq!(common.config, Some(PathBuf::from("/tmp/c.toml")));
    }

    #[test]
    fn serve_options_before_serve_are_folded_in() {
        let (_, command) =
            parse(&["--in-memory", "--authz-addr", "127.0.0.1:0", "serve"]).expect("parses");
        let Command::Serve(args) = command else {
            panic!("serve");
        };
        assert!(args.in_memory);
        assert_eq!(args.authz_addr, Some("127.0.0.1:0".parse().expect("addr")));
        let (_, command) = parse(&[
            "--authz-addr",
            "127.0.0.1:1",
            "serve",
            "--authz-addr",
            "127.0.0.1:2",
            "--api-addr",
            "127.0.0.1:3",
        ])
        .expect("parses");
        let Command::Serve(args) = command else {
            panic!("serve");
        };
        assert_eq!(
            args.authz_addr,
            Some("127.0.0.1:2".parse().expect("addr")),
            "the innermost wins"
        );
        assert_eq!(args.api_addr, Some("127.0.0.1:3".parse().expect("addr")));
        let (_, command) = parse(&[]).expect("no command: serve");
        assert!(matches!(command, Command::Serve(args) if args == ServeArgs::default()));
    }

    #[test]
    fn serve_options_before_another_command_are_refused_not_ignored() {
        for args in [
            &["--authz-addr", "127.0.0.1:0", "mfa", "list"][..],
            &["--in-memory", "keys", "rotate"],
            &["--allow-non-loopback", "users", "add", "carol"],
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} is refused"));
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
            assert!(err.to_string().contains("option of `serve`"), "{err}");
        }
    }

    #[test]
    fn in_memory_and_a_data_dir_conflict_in_any_order() {
        for args in [
            &["--in-memory", "--data-dir", "/tmp/d"][..],
            &["serve", "--in-memory", "--data-dir", "/tmp/d"],
            &["--data-dir", "/tmp/d", "serve", "--in-memory"],
            &["--in-memory", "serve", "--data-dir", "/tmp/d"],
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} is refused"));
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        }
    }

    fn users() -> Vec<(String, String)> {
        vec![
            ("alice".into(), "wonderland".into()),
            ("bob".into(), "builder".into()),
        ]
    }

    const ISS: &str = "http://127.0.0.1:8400";
    const API: &str = "http://127.0.0.1:8401";
    const AUD: &str = "https://bank.example/api";

    #[test]
    fn banner_names_a_non_default_data_dir_in_the_mfa_command() {
        let default = Path::new("/home/u/.local/share/bank-sandbox");
        let text = banner(ISS, API, AUD, Some(default), Some(default), &users());
        assert!(
            text.contains("or run: bank-sandbox mfa approve --user alice\n"),
            "{text}"
        );
        assert!(text.contains("  Try it                         bank login\n"));

        let text = banner(
            ISS,
            API,
            AUD,
            Some(Path::new("/tmp/sb")),
            Some(default),
            &users(),
        );
        assert!(
            text.contains("or run: bank-sandbox mfa approve --user alice --data-dir /tmp/sb\n"),
            "{text}"
        );
        let text = banner(
            ISS,
            API,
            AUD,
            Some(Path::new("/tmp/my sandbox's")),
            None,
            &users(),
        );
        assert!(
            text.contains(r"--data-dir '/tmp/my sandbox'\''s'"),
            "quoted for the shell: {text}"
        );
    }

    #[test]
    fn banner_says_an_in_memory_sandbox_has_no_admin_api() {
        let text = banner(
            "http://127.0.0.1:1234",
            API,
            AUD,
            None,
            Some(Path::new("/d")),
            &users(),
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
}
