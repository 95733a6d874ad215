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
use clap::{Args, Parser, Subcommand};

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
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
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

#[derive(Args, Clone, Default)]
struct Common {
    /// Directory for authz.sqlite3, bank.sqlite3 and the admin token.
    #[arg(long, env = "BANK_SANDBOX_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Optional TOML configuration (clients, users, rules, lifetimes, addresses).
    #[arg(long, env = "BANK_SANDBOX_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
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
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
}

#[derive(Args)]
struct ApiArgs {
    #[command(flatten)]
    common: Common,
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
        #[command(flatten)]
        common: Common,
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
    #[command(flatten)]
    common: Common,
    /// Only consider this user's requests.
    #[arg(long)]
    user: Option<String>,
    /// The request ID (mfa_…), as shown by `mfa list`.
    id: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the old public key stays published until its tokens expire.
    Rotate {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        #[command(flatten)]
        common: Common,
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
    let cli = Cli::parse();
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Api(args)) => api_only(args).await,
        Some(Command::Mfa(command)) => mfa(command).await,
        Some(Command::Keys(KeysCommand::Rotate { common })) => rotate_keys(&common),
        Some(Command::Users(UsersCommand::Add {
            common,
            username,
            display_name,
        })) => add_user(&common, &username, display_name.as_deref()),
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.common)?;
    config.data_dir = if args.in_memory {
        None
    } else {
        Some(data_dir(&args.common, &config)?)
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
    print_banner(&sandbox, &audience, data.as_deref(), &users);
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    eprintln!("Stopping…");
    sandbox.shutdown().await;
    Ok(())
}

fn print_banner(
    sandbox: &Sandbox,
    audience: &str,
    data: Option<&Path>,
    users: &[(String, String)],
) {
    let iss = sandbox.issuer();
    let data = data.map_or_else(
        || "in memory (nothing is kept)".to_owned(),
        |d| d.display().to_string(),
    );
    let demo: Vec<String> = users.iter().map(|(u, p)| format!("{u} / {p}")).collect();
    let first_user = users.first().map_or("alice", |(u, _)| u.as_str());
    // `bank`'s default profile already points at the default addresses; anything else is
    // named through the CLI's environment overrides.
    let api = sandbox.api_url();
    let try_it = if iss == "http://127.0.0.1:8400" && api == "http://127.0.0.1:8401" {
        "bank login".to_owned()
    } else {
        format!("BANK_ISSUER={iss} BANK_API_URL={api} bank login")
    };
    println!(
        "\nbank-sandbox is running\n\n\
         \x20 Issuer (authorization server)  {iss}\n\
         \x20 Bank API                       {api}\n\
         \x20 Audience                       {audience}\n\
         \x20 Client                         bank-cli (public, PKCE S256, redirect http://127.0.0.1/callback, any port)\n\
         \x20 Data                           {data}\n\n\
         \x20 Demo users                     {demo}\n\n\
         \x20 Approve MFA (transfers)        open {iss}/authenticator\n\
         \x20                                or run: bank-sandbox mfa approve --user {first_user}\n\n\
         \x20 Try it                         {try_it}\n\n\
         Press Ctrl-C to stop.",
        demo = demo.join("    "),
    );
}

async fn api_only(args: ApiArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.common)?;
    if !args.api_addr.ip().is_loopback() && !config.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {} (set allow_non_loopback in the config)",
            args.api_addr
        );
    }
    let dir = data_dir(&args.common, &config)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    config.api.issuer = args.issuer.clone();
    config.api.audience = args.audience.clone();
    let conn = store::open(Some(&dir.join(BANK_DB)), api::MIGRATIONS)?;
    let state = api::ApiState::new(config.api, conn)?;
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

async fn mfa(command: MfaCommand) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let (common, decision, user, id) = match command {
        MfaCommand::List { common, user } => {
            let admin = admin_file(&common)?;
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
        MfaCommand::Approve(d) => (d.common, "approve", d.user, d.id),
        MfaCommand::Deny(d) => (d.common, "deny", d.user, d.id),
    };
    let admin = admin_file(&common)?;
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
