//! The `bank` sandbox: an authorization server (a stand-in for an Auth0 tenant) and a bank
//! API (a resource server), served on two loopback listeners with separate state so the
//! trust boundary between them is real. The bank API learns the issuer's keys over HTTP,
//! exactly as it would from Auth0, Okta or Keycloak.
//!
//! [`Sandbox::start`] is the one way to run both, in-process, for tests, `bank demo` and
//! the `bank-sandbox` binary alike; [`serve::run`] runs it in the foreground for
//! `bank-sandbox serve` and `bank sandbox`.

pub mod api;
pub mod authz;
pub mod clock;
pub mod config;
pub mod dpop;
pub mod error;
pub mod serve;
pub mod store;
pub mod walker;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ConfigError, SandboxConfig};

/// File names inside the data dir.
pub const AUTHZ_DB: &str = "authz.sqlite3";
pub const BANK_DB: &str = "bank.sqlite3";
/// JSON `{"issuer": "...", "token": "..."}`, mode 0600: what `bank-sandbox mfa` uses.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Where a persistent sandbox keeps its data unless told otherwise: `$XDG_DATA_HOME/bank-sandbox`,
/// `~/.local/share/bank-sandbox`, or on macOS `~/Library/Application Support/bank-sandbox`.
/// One function so that every way of serving (`bank-sandbox serve`, `bank sandbox`) and
/// `bank-sandbox mfa …`, which finds the admin token there, agree. `None` without a home.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("bank-sandbox"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    let base = if cfg!(target_os = "macos") {
        PathBuf::from(home).join("Library/Application Support")
    } else {
        PathBuf::from(home).join(".local/share")
    };
    Some(base.join("bank-sandbox"))
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("refusing to listen on non-loopback address {addr} without --allow-non-loopback")]
    NonLoopback { addr: SocketAddr },
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare data dir {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("authorization server setup failed")]
    Authz(#[from] authz::AuthzInitError),
    #[error("bank API setup failed")]
    Api(#[from] api::ApiInitError),
    #[error("setup task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// A running sandbox: both servers accept connections until [`Sandbox::shutdown`] or drop.
pub struct Sandbox {
    issuer: String,
    api_url: String,
    authz: authz::AuthzState,
    bank: api::ApiState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds both listeners, opens the stores, seeds the demo users and their accounts,
    /// and spawns both servers. Returns once both listeners are bound, i.e. accepting
    /// connections (the kernel queues them until the server task polls).
    pub async fn start(mut config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        for addr in [config.authz_addr, config.api_addr] {
            if !addr.ip().is_loopback() {
                if !config.allow_non_loopback {
                    return Err(SandboxError::NonLoopback { addr });
                }
                tracing::warn!(%addr, "listening on a non-loopback address: anyone who can reach it can use the sandbox's demo accounts");
            }
        }
        if let Some(dir) = &config.data_dir {
            prepare_data_dir(dir)?;
        }
        let authz_listener = bind(config.authz_addr).await?;
        let api_listener = bind(config.api_addr).await?;
        let mut issuer = url_of(&authz_listener, config.authz_addr)?;
        if config.authz.issuer_trailing_slash {
            issuer.push('/');
        }
        let api_url = url_of(&api_listener, config.api_addr)?;

        let data_dir = config.data_dir.clone();
        let admin = match &data_dir {
            Some(dir) => Some(authz::Admin {
                token_hash: write_admin_token(dir, &issuer)?,
                // The waiting page's hint names the dir only when `mfa` would not find it.
                data_dir: (default_data_dir().as_deref() != Some(dir.as_path()))
                    .then(|| dir.clone()),
            }),
            None => None,
        };
        let authz_config = std::mem::take(&mut config.authz);
        let authz_issuer = issuer.clone();
        let authz_path = data_dir.as_ref().map(|d| d.join(AUTHZ_DB));
        // argon2 hashing while seeding users is CPU-bound: off the async workers.
        let authz = tokio::task::spawn_blocking(move || -> Result<_, SandboxError> {
            create_private_file(authz_path.as_deref())?;
            let conn = store::open(authz_path.as_deref(), store::authz::MIGRATIONS)?;
            Ok(authz::AuthzState::new(
                authz_config,
                authz_issuer,
                conn,
                admin,
            )?)
        })
        .await??;

        let mut api_config = std::mem::take(&mut config.api);
        api_config.issuer = issuer.clone();
        for account in &mut api_config.accounts {
            if account.sub.is_none() {
                account.sub = authz.user_sub(&account.handle)?;
            }
        }
        if config.api_as_external {
            // As `bank-sandbox api --issuer` would run it: only what RFC 9068 promises.
            api_config.apply_defaults(api::IssuerKind::External);
        } else {
            // The sandbox's own issuer: its usernames are unique and admin-made, so they
            // may name accounts; it speaks RFC 9396 and binds tokens to DPoP keys.
            api_config.handle_from_preferred_username = true;
            api_config.apply_defaults(api::IssuerKind::Sandbox);
        }
        // The URL proofs name: where this listener is, unless a proxy's is configured.
        api_config.public_url.get_or_insert_with(|| api_url.clone());
        let database = api_config
            .database
            .clone()
            .unwrap_or_else(|| api::Database::Sqlite(data_dir.as_ref().map(|d| d.join(BANK_DB))));
        if let api::Database::Sqlite(path) = &database {
            create_private_file(path.as_deref())?;
        }
        let bank_store = store::bank::BankStore::open(
            &database,
            api_config.durability,
            api_config.database_pool_size,
        )
        .await?;
        let bank = api::ApiState::new(api_config, bank_store).await?;

        let (stop, _) = watch::channel(false);
        let tasks = vec![
            spawn_server(
                authz_listener,
                authz::router(authz.clone()),
                stop.subscribe(),
                "authz",
            ),
            spawn_server(
                api_listener,
                api::router(bank.clone()),
                stop.subscribe(),
                "api",
            ),
        ];
        tracing::info!(%issuer, %api_url, "sandbox started");
        Ok(Sandbox {
            issuer,
            api_url,
            authz,
            bank,
            stop,
            tasks,
        })
    }

    /// The issuer, exactly as tokens carry it: `http://127.0.0.1:PORT`, no trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn api_url(&self) -> &str {
        &self.api_url
    }
    pub fn authz(&self) -> &authz::AuthzState {
        &self.authz
    }
    pub fn bank(&self) -> &api::ApiState {
        &self.bank
    }

    /// Stops accepting, lets in-flight requests finish, and waits for both servers.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Dropping without `shutdown` still stops both servers (they watch this channel).
        let _ = self.stop.send(true);
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SandboxError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })
}

fn url_of(listener: &TcpListener, addr: SocketAddr) -> Result<String, SandboxError> {
    let local = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr, source })?;
    // `SocketAddr`'s Display brackets IPv6 hosts, as URLs need.
    Ok(format!("http://{local}"))
}

fn spawn_server(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    name: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            // Either an explicit stop or the Sandbox being dropped.
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        // With the peer address: the login throttle counts per source.
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(err) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(server = name, error = %err, "server stopped");
        }
    })
}

fn prepare_data_dir(dir: &Path) -> Result<(), SandboxError> {
    let err = |source| SandboxError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The authz database holds the signing keys: owner only.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Creates the database file owner-only (0600) if it does not exist yet, before SQLite
/// opens it: SQLite gives the `-wal` and `-shm` files the database file's permissions, so
/// the signing keys never sit in a world-readable file, whatever the umask.
fn create_private_file(path: Option<&Path>) -> Result<(), SandboxError> {
    let Some(path) = path else {
        return Ok(());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|source| SandboxError::DataDir {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes a fresh admin token (mode 0600, replacing any previous one) and returns its hash.
fn write_admin_token(dir: &Path, issuer: &str) -> Result<[u8; 32], SandboxError> {
    let token = authz::secrets::Secret::generate();
    let path = dir.join(ADMIN_TOKEN_FILE);
    let err = |source| SandboxError::DataDir {
        path: path.clone(),
        source,
    };
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(err)?;
    let body = serde_json::json!({ "issuer": issuer, "token": token.expose() });
    file.write_all(body.to_string().as_bytes()).map_err(err)?;
    Ok(token.hash())
}
