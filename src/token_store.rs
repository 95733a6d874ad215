//! Where the everyday tokens live between commands: the OS keyring, or — loudly — a file.
//!
//! One logical entry per (issuer, client id, profile) holds a JSON [`TokenBundle`] (access
//! token, expiry, granted scopes, refresh token). The keyring store is chosen explicitly
//! (the Secret Service on Linux, through our own plain-session store in [`secret_service`]):
//! `keyring-core` never gets a chance to fall back to its in-memory mock. Every keyring call
//! runs on a helper thread under a 3 s deadline, as `gh` does, so a wedged Secret Service
//! cannot hang the CLI; [`TokenStore::prefetch`] starts the first read before it is needed.
//! Bundles larger than a conservative item size are split over several entries (Windows
//! caps an item near 2.5 KB; a JWT plus a refresh token easily passes that).
//!
//! When no keyring is reachable (servers, containers, WSL, SSH) the caller warns and the
//! bundle goes to a 0600 file under the config dir; `--insecure-storage` picks the file on
//! purpose. Loads look in the keyring first, then the file. Refreshes are serialised across
//! processes with a lock file, so two `bank` processes never lose a rotated refresh token.
//! Nothing here ever prints or logs a secret; errors never carry stored bytes.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use keyring_core::{CredentialStore, Entry};
use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(target_os = "linux")]
mod secret_service;

/// The keyring "service" all entries live under.
pub const SERVICE: &str = "bank-cli";
/// `gh` uses 3 s; a healthy Secret Service answers in milliseconds.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest value stored in one keyring item where the platform has a small limit: Windows'
/// credential blob holds 2560 bytes (UTF-16, so about 1280 characters); 1024 leaves room for
/// any platform's overhead.
pub const CHUNK_LIMIT: usize = 1024;
/// The Secret Service has no practical item limit (16 MiB round-trips on gnome-keyring, see
/// shared/notes), and every extra item costs a D-Bus round trip on each `bank` run, so the
/// bundle stays in one item there; chunking is kept for stores with small limits.
#[cfg(target_os = "linux")]
const SECRET_SERVICE_ITEM_LIMIT: usize = 1 << 20;
const CHUNK_MANIFEST: &str = "bank-chunked:v1:";
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What one login leaves behind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenBundle {
    pub issuer: String,
    pub client_id: String,
    pub access_token: AccessToken,
    /// Unix seconds; `None` when the provider did not say.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The signed-in user's `sub`, from the login's checked ID token: a step-up must be
    /// signed by the same user. `None` for bundles stored before it was recorded, or when
    /// the provider sent no ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl TokenBundle {
    /// Expired, or expiring within `skew` (so a request does not race the expiry).
    pub fn is_expired(&self, now: i64, skew: i64) -> bool {
        self.expires_at
            .is_some_and(|at| now >= at.saturating_sub(skew))
    }
}

/// Identifies one logical entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub issuer: String,
    pub client_id: String,
    pub profile: String,
}

impl Key {
    /// The keyring "user" of the entry.
    pub fn account(&self) -> String {
        format!("{}:{}@{}", self.profile, self.client_id, self.issuer)
    }

    /// A file-name-safe, stable name for the file fallback and the lock.
    fn file_stem(&self) -> String {
        let digest = Sha256::digest(self.account().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let profile: String = self
            .profile
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{profile}-{hex}")
    }
}

/// Which storage holds (or received) a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Keyring,
    File(PathBuf),
}

impl Storage {
    /// Stable name for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::Keyring => "keyring",
            Storage::File(_) => "file",
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Keyring => f.write_str("system keyring (Secret Service)"),
            Storage::File(p) => write!(f, "plain-text file {} (insecure)", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no stored credentials")]
    NotFound,
    #[error("the system keyring is not available")]
    Unavailable(#[source] KeyringFailure),
    #[error("the system keyring did not answer within {}s", KEYRING_TIMEOUT.as_secs())]
    Timeout,
    #[error("the system keyring failed")]
    Keyring(#[source] KeyringFailure),
    #[error("the stored credentials are damaged; run `bank logout` and `bank login`")]
    Corrupt,
    #[error("cannot access {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another bank process holds {} for too long", path.display())]
    LockTimeout { path: PathBuf },
}

impl StoreError {
    /// Errors after which the file fallback is the right move.
    pub fn keyring_unreachable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Timeout)
    }
}

/// A keyring error reduced to its message: `keyring_core::Error` can carry the stored bytes
/// (`BadEncoding`, `BadDataFormat`), which must never reach a `Debug` or an error report.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyringFailure(String);

fn sanitize(err: &keyring_core::Error) -> KeyringFailure {
    use keyring_core::Error as E;
    KeyringFailure(match err {
        E::BadEncoding(_) | E::BadDataFormat(..) => "stored data is malformed".to_owned(),
        E::Ambiguous(items) => format!("{} entries match", items.len()),
        other => other.to_string(),
    })
}

fn classify(err: keyring_core::Error) -> StoreError {
    use keyring_core::Error as E;
    match err {
        E::NoEntry => StoreError::NotFound,
        E::BadEncoding(_) | E::BadDataFormat(..) => StoreError::Corrupt,
        E::NoStorageAccess(_) | E::NoDefaultStore | E::NotSupportedByStore(_) => {
            StoreError::Unavailable(sanitize(&err))
        }
        other => StoreError::Keyring(sanitize(&other)),
    }
}

/// Runs `f` on a helper thread and gives up after [`KEYRING_TIMEOUT`]. A hung call leaves its
/// thread behind; the process exits soon anyway, which is what `gh` accepts too.
fn with_deadline<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Keyring(KeyringFailure(e.to_string())))?;
    rx.recv_timeout(KEYRING_TIMEOUT)
        .map_err(|_| StoreError::Timeout)
}

/// The platform's keyring store, chosen explicitly, and its largest item.
#[cfg(target_os = "linux")]
fn platform_store() -> Result<(Arc<CredentialStore>, usize), keyring_core::Error> {
    let store: Arc<CredentialStore> = secret_service::Store::new()?;
    Ok((store, SECRET_SERVICE_ITEM_LIMIT))
}

/// Only the Secret Service store is wired up so far; elsewhere the file fallback applies.
#[cfg(not(target_os = "linux"))]
fn platform_store() -> Result<(Arc<CredentialStore>, usize), keyring_core::Error> {
    Err(keyring_core::Error::NotSupportedByStore(
        "no keyring store is built in for this platform yet".into(),
    ))
}

/// Chunked key/value access to one keyring store, every call under the deadline.
#[derive(Clone)]
pub struct Keyring {
    store: Arc<CredentialStore>,
    chunk_limit: usize,
}

/// Where a keyring call runs: on its own helper thread under [`KEYRING_TIMEOUT`], or on the
/// calling thread when that already is a helper thread whose waiter enforces the deadline
/// ([`TokenStore::prefetch`]; starting one more thread there costs milliseconds on a busy
/// machine, when the thread has to wait for a core).
#[derive(Clone, Copy)]
enum Run {
    UnderDeadline,
    Here,
}

impl Run {
    fn call<T: Send + 'static>(
        self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        match self {
            Run::UnderDeadline => with_deadline(f),
            Run::Here => Ok(f()),
        }
    }
}

impl Keyring {
    pub fn connect() -> Result<Keyring, StoreError> {
        Keyring::connect_via(Run::UnderDeadline)
    }

    fn connect_via(run: Run) -> Result<Keyring, StoreError> {
        let (store, chunk_limit) = run.call(platform_store)?.map_err(|e| match e {
            keyring_core::Error::NoEntry => StoreError::NotFound,
            // Connecting failed: no bus, no Secret Service, nothing to unlock it.
            other => StoreError::Unavailable(sanitize(&other)),
        })?;
        Ok(Keyring { store, chunk_limit })
    }

    /// For tests: a smaller chunk size forces several chunks.
    pub fn with_chunk_limit(mut self, limit: usize) -> Keyring {
        self.chunk_limit = limit.max(1);
        self
    }

    fn get_raw(&self, account: String, run: Run) -> Result<String, StoreError> {
        let store = self.store.clone();
        run.call(move || Entry::new_in_store(&store, SERVICE, &account)?.get_password())?
            .map_err(classify)
    }

    fn set_raw(&self, account: String, value: String) -> Result<(), StoreError> {
        let store = self.store.clone();
        with_deadline(move || Entry::new_in_store(&store, SERVICE, &account)?.set_password(&value))?
            .map_err(classify)
    }

    fn delete_raw(&self, account: String) -> Result<(), StoreError> {
        let store = self.store.clone();
        match with_deadline(move || {
            Entry::new_in_store(&store, SERVICE, &account)?.delete_credential()
        })?
        .map_err(classify)
        {
            Err(StoreError::NotFound) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn chunk_count(&self, account: &str) -> Result<usize, StoreError> {
        match self.get_raw(account.to_owned(), Run::UnderDeadline) {
            Ok(v) => Ok(parse_manifest(&v).unwrap_or(0)),
            Err(StoreError::NotFound) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Reads a value, reassembling chunks.
    pub fn get(&self, account: &str) -> Result<String, StoreError> {
        self.get_via(account, Run::UnderDeadline)
    }

    fn get_via(&self, account: &str, run: Run) -> Result<String, StoreError> {
        let head = self.get_raw(account.to_owned(), run)?;
        let Some(n) = parse_manifest(&head) else {
            return Ok(head);
        };
        let mut out = String::new();
        for i in 1..=n {
            match self.get_raw(chunk_account(account, i), run) {
                Ok(part) => out.push_str(&part),
                Err(StoreError::NotFound) => return Err(StoreError::Corrupt),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes a value: small ones in one item, large ones as chunks plus a manifest. Chunks
    /// go first and the manifest last, and leftovers of a larger previous value are removed.
    pub fn set(&self, account: &str, value: &str) -> Result<(), StoreError> {
        let previous = self.chunk_count(account)?;
        let parts = split_chunks(value, self.chunk_limit);
        let used = if parts.len() <= 1 {
            self.set_raw(account.to_owned(), value.to_owned())?;
            0
        } else {
            for (i, part) in parts.iter().enumerate() {
                self.set_raw(chunk_account(account, i + 1), (*part).to_owned())?;
            }
            self.set_raw(
                account.to_owned(),
                format!("{CHUNK_MANIFEST}{}", parts.len()),
            )?;
            parts.len()
        };
        for i in used + 1..=previous {
            self.delete_raw(chunk_account(account, i))?;
        }
        Ok(())
    }

    /// Deletes a value and its chunks; deleting nothing is fine.
    pub fn delete(&self, account: &str) -> Result<bool, StoreError> {
        let existed = match self.get_raw(account.to_owned(), Run::UnderDeadline) {
            Ok(head) => {
                for i in 1..=parse_manifest(&head).unwrap_or(0) {
                    self.delete_raw(chunk_account(account, i))?;
                }
                true
            }
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e),
        };
        self.delete_raw(account.to_owned())?;
        Ok(existed)
    }
}

fn chunk_account(account: &str, i: usize) -> String {
    format!("{account}#{i}")
}

fn parse_manifest(value: &str) -> Option<usize> {
    value.strip_prefix(CHUNK_MANIFEST)?.parse().ok()
}

/// Splits on character boundaries into pieces of at most `limit` bytes (a piece holds at
/// least one character even if that is longer).
pub fn split_chunks(value: &str, limit: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = limit.min(rest.len());
        while end > 0 && !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

/// Result of a save: where the bundle went, and why not the keyring if it did not.
#[derive(Debug)]
pub struct Saved {
    pub storage: Storage,
    pub fallback_reason: Option<StoreError>,
}

/// Loads, saves and deletes bundles for the CLI.
pub struct TokenStore {
    dir: PathBuf,
    insecure: bool,
    /// `false` only for [`TokenStore::file_only`]: the keyring is never even connected to.
    keyring_allowed: bool,
    keyring: OnceLock<Result<Keyring, String>>,
    /// A keyring connection and read started early by [`TokenStore::prefetch`].
    prefetch: Mutex<Prefetch>,
}

/// What [`TokenStore::prefetch`]'s thread delivers: the connection (taken by the first use of
/// the keyring) and the value of one account (taken by the first `load` of that key, unless a
/// save, delete or lock came first and made it possibly stale).
#[derive(Default)]
struct Prefetch {
    connected: Option<mpsc::Receiver<Result<Keyring, StoreError>>>,
    read: Option<(String, mpsc::Receiver<Result<String, StoreError>>)>,
}

impl TokenStore {
    /// `insecure`: `--insecure-storage`, use the file and never the keyring.
    pub fn new(config_dir: &Path, insecure: bool) -> TokenStore {
        TokenStore {
            dir: config_dir.to_owned(),
            insecure,
            keyring_allowed: true,
            keyring: OnceLock::new(),
            prefetch: Mutex::default(),
        }
    }

    /// A store that only ever uses the file under `dir` and never connects to the keyring,
    /// not even to clean up: `bank demo`'s throwaway store, which must not be able to touch
    /// the person's real keyring entries.
    pub fn file_only(dir: &Path) -> TokenStore {
        TokenStore {
            dir: dir.to_owned(),
            insecure: true,
            keyring_allowed: false,
            keyring: OnceLock::new(),
            prefetch: Mutex::default(),
        }
    }

    /// Starts connecting to the keyring and reading `key`'s entry on a helper thread, so that
    /// the D-Bus round trips overlap the caller's own start-up work (building the HTTP client)
    /// instead of following it. Nothing changes but the timing: the first keyring use and the
    /// first [`TokenStore::load`] of `key` take the results, with the same deadline and errors
    /// as if they had made the calls themselves. Does nothing for a store that will not read
    /// the keyring (`--insecure-storage`, file-only).
    pub fn prefetch(&self, key: &Key) {
        if self.insecure || !self.keyring_allowed || self.keyring.get().is_some() {
            return;
        }
        let Ok(mut prefetch) = self.prefetch.lock() else {
            return;
        };
        if prefetch.connected.is_some() {
            return;
        }
        let account = key.account();
        let (connected_tx, connected_rx) = mpsc::channel();
        let (read_tx, read_rx) = mpsc::channel();
        let thread_account = account.clone();
        // The calls `keyring()` and `load` would make, made here; they wait for each answer
        // under the same deadline, so a wedged Secret Service only strands this thread.
        let spawned = std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                let connected = Keyring::connect_via(Run::Here);
                let keyring = connected.as_ref().ok().cloned();
                let _ = connected_tx.send(connected);
                if let Some(keyring) = keyring {
                    let _ = read_tx.send(keyring.get_via(&thread_account, Run::Here));
                }
            });
        // If no thread can be started, the calls are simply made later, when needed.
        if spawned.is_ok() {
            prefetch.connected = Some(connected_rx);
            prefetch.read = Some((account, read_rx));
        }
    }

    /// The prefetched read of `account`, if one is pending and still current.
    fn take_prefetched_read(
        &self,
        account: &str,
    ) -> Option<mpsc::Receiver<Result<String, StoreError>>> {
        let mut prefetch = self.prefetch.lock().ok()?;
        match prefetch.read.take() {
            Some((for_account, rx)) if for_account == account => Some(rx),
            other => {
                prefetch.read = other;
                None
            }
        }
    }

    /// Called before anything that may change the stored value or must see the newest one
    /// (a save, a delete, the refresh lock): a prefetched read may predate it.
    fn discard_prefetched_read(&self) {
        if let Ok(mut prefetch) = self.prefetch.lock() {
            prefetch.read = None;
        }
    }

    fn keyring(&self) -> Result<Keyring, StoreError> {
        if !self.keyring_allowed {
            return Err(StoreError::Unavailable(KeyringFailure(
                "this store is file-only".into(),
            )));
        }
        let cached = self.keyring.get_or_init(|| {
            let prefetched = self
                .prefetch
                .lock()
                .ok()
                .and_then(|mut prefetch| prefetch.connected.take());
            let connected = match prefetched {
                Some(rx) => rx
                    .recv_timeout(KEYRING_TIMEOUT)
                    .unwrap_or(Err(StoreError::Timeout)),
                None => Keyring::connect(),
            };
            match connected {
                Ok(k) => Ok(k),
                Err(StoreError::Timeout) => Err(String::new()),
                Err(e) => Err(match std::error::Error::source(&e) {
                    Some(s) => s.to_string(),
                    None => e.to_string(),
                }),
            }
        });
        match cached {
            Ok(k) => Ok(k.clone()),
            Err(reason) if reason.is_empty() => Err(StoreError::Timeout),
            Err(reason) => Err(StoreError::Unavailable(KeyringFailure(reason.clone()))),
        }
    }

    pub fn file_path(&self, key: &Key) -> PathBuf {
        self.dir
            .join("tokens")
            .join(format!("{}.json", key.file_stem()))
    }

    /// Keyring first (unless `--insecure-storage`), then the file.
    pub fn load(&self, key: &Key) -> Result<(TokenBundle, Storage), StoreError> {
        if !self.insecure {
            let account = key.account();
            let read = match self.take_prefetched_read(&account) {
                // Connected first: a failed connection never sends a value, and its error is
                // the one to report.
                Some(rx) => self.keyring().and_then(|_| {
                    rx.recv_timeout(KEYRING_TIMEOUT)
                        .unwrap_or(Err(StoreError::Timeout))
                }),
                None => self.keyring().and_then(|k| k.get(&account)),
            };
            match read {
                Ok(text) => return Ok((decode(&text, key)?, Storage::Keyring)),
                Err(StoreError::NotFound) => {}
                Err(e) if e.keyring_unreachable() => {}
                Err(e) => return Err(e),
            }
        }
        let path = self.file_path(key);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((decode(&text, key)?, Storage::File(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
            Err(source) => Err(StoreError::File { path, source }),
        }
    }

    /// Saves to the keyring, or to the file when asked to (`--insecure-storage`, or
    /// `to_file` because the bundle already lives there) or when no keyring is reachable (the
    /// returned `fallback_reason` is for the caller's warning).
    pub fn save(
        &self,
        key: &Key,
        bundle: &TokenBundle,
        to_file: bool,
    ) -> Result<Saved, StoreError> {
        self.discard_prefetched_read();
        let text = serde_json::to_string(bundle).map_err(|_| StoreError::Corrupt)?;
        let path = self.file_path(key);
        if self.insecure || to_file {
            write_private(&path, &text)?;
            // Loads look in the keyring first: an older keyring copy must not shadow this.
            if self.keyring_allowed
                && let Ok(k) = self.keyring()
            {
                match k.delete(&key.account()) {
                    Ok(_) => {}
                    Err(e) if e.keyring_unreachable() => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(Saved {
                storage: Storage::File(path),
                fallback_reason: None,
            });
        }
        match self.keyring().and_then(|k| k.set(&key.account(), &text)) {
            Ok(()) => {
                // A stale plain-text copy from an earlier fallback must not outlive this.
                remove_file_if_present(&path)?;
                Ok(Saved {
                    storage: Storage::Keyring,
                    fallback_reason: None,
                })
            }
            Err(e) if e.keyring_unreachable() => {
                write_private(&path, &text)?;
                Ok(Saved {
                    storage: Storage::File(path),
                    fallback_reason: Some(e),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the bundle everywhere it may be; returns where something was deleted.
    pub fn delete(&self, key: &Key) -> Result<Vec<Storage>, StoreError> {
        self.discard_prefetched_read();
        let mut deleted = Vec::new();
        if !self.insecure {
            match self.keyring().and_then(|k| k.delete(&key.account())) {
                Ok(true) => deleted.push(Storage::Keyring),
                Ok(false) => {}
                Err(e) if e.keyring_unreachable() => {}
                Err(e) => return Err(e),
            }
        }
        let path = self.file_path(key);
        if remove_file_if_present(&path)? {
            deleted.push(Storage::File(path));
        }
        Ok(deleted)
    }

    /// An exclusive, cross-process lock for refreshing `key`'s tokens (released on drop),
    /// waiting up to a minute for another process to release it.
    pub fn lock(&self, key: &Key) -> Result<RefreshLock, StoreError> {
        let (file, path) = self.lock_file(key)?;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RefreshLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::LockTimeout { path });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(StoreError::File { path, source });
                }
            }
        }
    }

    /// [`TokenStore::lock`] without waiting: `None` when another process holds it.
    pub fn try_lock(&self, key: &Key) -> Result<Option<RefreshLock>, StoreError> {
        let (file, path) = self.lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RefreshLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::File { path, source }),
        }
    }

    fn lock_file(&self, key: &Key) -> Result<(File, PathBuf), StoreError> {
        // Whoever locks is about to read under the lock: it must see the current value.
        self.discard_prefetched_read();
        let path = self
            .dir
            .join("locks")
            .join(format!("{}.lock", key.file_stem()));
        let io = |source| StoreError::File {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        Ok((file, path))
    }
}

/// Held while refreshing; the OS releases the lock when the file closes.
pub struct RefreshLock {
    _file: File,
}

fn decode(text: &str, key: &Key) -> Result<TokenBundle, StoreError> {
    // serde_json's error text can quote the input: map it away without looking at it.
    let bundle: TokenBundle = serde_json::from_str(text).map_err(|_| StoreError::Corrupt)?;
    // A bundle for another issuer or client is not ours to use (the key says whose it is;
    // this guards against a hand-edited or mixed-up file).
    if bundle.issuer != key.issuer || bundle.client_id != key.client_id {
        return Err(StoreError::NotFound);
    }
    Ok(bundle)
}

fn remove_file_if_present(path: &Path) -> Result<bool, StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `text` to `path` readable by the owner only (0600, directory 0700), atomically.
fn write_private(path: &Path, text: &str) -> Result<(), StoreError> {
    let io = |source| StoreError::File {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let mut file = options.open(&tmp).map_err(io)?;
    #[cfg(unix)]
    {
        // `mode` only applies on creation; an existing temp file keeps its old mode.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(issuer: &str) -> TokenBundle {
        TokenBundle {
            issuer: issuer.into(),
            client_id: "bank-cli".into(),
            access_token: AccessToken::new("at-".repeat(700)),
            expires_at: Some(1_900_000_000),
            scopes: vec!["openid".into(), "view:balance".into()],
            refresh_token: Some(RefreshToken::new("rt-secret".into())),
            username: Some("alice".into()),
            sub: Some("usr_alice".into()),
        }
    }

    fn key(issuer: &str, profile: &str) -> Key {
        Key {
            issuer: issuer.into(),
            client_id: "bank-cli".into(),
            profile: profile.into(),
        }
    }

    #[test]
    fn splits_on_char_boundaries() {
        assert_eq!(split_chunks("", 4), Vec::<&str>::new());
        assert_eq!(split_chunks("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(split_chunks("aé€b", 2), ["a", "é", "€", "b"]);
        assert_eq!(split_chunks("€", 1), ["€"]);
        let long = "x".repeat(2500);
        assert!(
            split_chunks(&long, CHUNK_LIMIT)
                .iter()
                .all(|c| c.len() <= CHUNK_LIMIT)
        );
        assert_eq!(split_chunks(&long, CHUNK_LIMIT).concat(), long);
    }

    #[test]
    fn expiry_uses_skew() {
        let b = bundle("http://i");
        assert!(!b.is_expired(1_900_000_000 - 100, 30));
        assert!(b.is_expired(1_900_000_000 - 10, 30));
    }

    #[test]
    fn bundle_debug_is_redacted() {
        let text = format!("{:?}", bundle("http://i"));
        assert!(
            !text.contains("at-at") && !text.contains("rt-secret"),
            "{text}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_store_round_trip_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        assert!(matches!(store.load(&k), Err(StoreError::NotFound)));
        let saved = store.save(&k, &bundle(&k.issuer), false).expect("save");
        let Storage::File(path) = &saved.storage else {
            panic!("insecure storage must use the file");
        };
        let mode = std::fs::metadata(path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let (back, storage) = store.load(&k).expect("load");
        assert_eq!(storage, saved.storage);
        assert_eq!(back.refresh_token.expect("rt").secret(), "rt-secret");
        // Another profile or issuer does not see it.
        assert!(matches!(
            store.load(&key("http://127.0.0.1:1", "work")),
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.delete(&k).expect("delete"), vec![saved.storage]);
        assert!(matches!(store.load(&k), Err(StoreError::NotFound)));
    }

    /// Bundles written before `sub` was recorded still load (the step-up then cannot
    /// compare users; see `stepup.rs`).
    #[test]
    fn bundles_without_sub_still_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        let path = store.file_path(&k);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(
            &path,
            r#"{"issuer":"http://127.0.0.1:1","client_id":"bank-cli","access_token":"at","expires_at":null,"scopes":["openid"],"username":"alice"}"#,
        )
        .expect("write");
        let (bundle, _) = store.load(&k).expect("an old bundle loads");
        assert_eq!(bundle.username.as_deref(), Some("alice"));
        assert_eq!(bundle.sub, None);
    }

    #[test]
    fn corrupt_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        let path = store.file_path(&k);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, "{\"access_token\": \"secret-value\"").expect("write");
        let err = store.load(&k).expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt));
        assert!(!format!("{err:?} {err}").contains("secret-value"));
    }

    #[test]
    fn refresh_lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        let guard = store.lock(&k).expect("first lock");
        assert!(store.try_lock(&k).expect("try").is_none(), "held elsewhere");
        let path = dir
            .path()
            .join("locks")
            .join(format!("{}.lock", k.file_stem()));
        let other = File::open(&path).expect("open lock file");
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(guard);
        other.try_lock().expect("free after drop");
        drop(other);
        assert!(store.try_lock(&k).expect("try").is_some(), "free again");
    }

    /// The real Secret Service (run under `scripts/with-keyring`): a prefetched read serves
    /// the first load of its key only, and never after something that may have changed the
    /// value (a save here, or another process's save followed by our refresh lock).
    #[test]
    fn prefetched_read_is_used_once_and_never_stale() {
        let dir = tempfile::tempdir().expect("temp dir");
        let issuer = format!(
            "http://prefetch-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let k = key(&issuer, "default");
        let with_token = |token: &str| TokenBundle {
            access_token: AccessToken::new(token.into()),
            ..bundle(&issuer)
        };
        let loaded = |store: &TokenStore| {
            let (b, storage) = store.load(&k).expect("load");
            assert_eq!(storage, Storage::Keyring);
            b.access_token.secret().clone()
        };
        let writer = TokenStore::new(dir.path(), false);
        let saved = writer.save(&k, &with_token("first"), false).expect("save");
        assert_eq!(
            saved.storage,
            Storage::Keyring,
            "{:?}",
            saved.fallback_reason
        );

        // The first load takes the prefetched value and the connection; later loads read anew.
        let store = TokenStore::new(dir.path(), false);
        store.prefetch(&k);
        assert_eq!(loaded(&store), "first");
        {
            let prefetch = store.prefetch.lock().expect("prefetch state");
            assert!(prefetch.connected.is_none() && prefetch.read.is_none());
        }
        writer.save(&k, &with_token("second"), false).expect("save");
        assert_eq!(loaded(&store), "second");

        // A save after the prefetch wins over the prefetched value.
        let store = TokenStore::new(dir.path(), false);
        store.prefetch(&k);
        store.save(&k, &with_token("third"), false).expect("save");
        assert_eq!(loaded(&store), "third");

        // So does another process's save once we hold the refresh lock.
        let store = TokenStore::new(dir.path(), false);
        store.prefetch(&k);
        // (The prefetch has read "third" before the other process writes.)
        {
            let mut prefetch = store.prefetch.lock().expect("prefetch state");
            let (account, rx) = prefetch.read.take().expect("a pending read");
            let value = rx.recv_timeout(KEYRING_TIMEOUT).expect("prefetched");
            assert!(value.as_deref().is_ok_and(|t| t.contains(r#""third""#)));
            let (tx, rx) = mpsc::channel();
            tx.send(value).expect("requeue");
            prefetch.read = Some((account, rx));
        }
        writer.save(&k, &with_token("fourth"), false).expect("save");
        let _lock = store.lock(&k).expect("lock");
        assert_eq!(loaded(&store), "fourth");

        // Another key's load leaves the prefetch alone; --insecure-storage never starts one.
        let other = TokenStore::new(dir.path(), false);
        other.prefetch(&k);
        assert!(matches!(
            other.load(&key(&issuer, "work")),
            Err(StoreError::NotFound)
        ));
        assert_eq!(loaded(&other), "fourth");
        let insecure = TokenStore::new(dir.path(), true);
        insecure.prefetch(&k);
        assert!(insecure.prefetch.lock().expect("state").connected.is_none());

        writer.delete(&k).expect("clean up");
    }

    /// The real Secret Service (run under `scripts/with-keyring`): chunked values round-trip,
    /// shrink without leftovers and delete completely.
    #[test]
    fn keyring_chunking_round_trip() {
        let keyring = Keyring::connect()
            .expect("a Secret Service is required: run the tests under scripts/with-keyring")
            .with_chunk_limit(100);
        let account = format!("unit-test-{}-{}", std::process::id(), rand::random::<u32>());
        let big: String = (0..450)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        keyring.set(&account, &big).expect("set big");
        assert_eq!(keyring.get(&account).expect("get big"), big);
        assert_eq!(keyring.chunk_count(&account).expect("manifest"), 5);
        keyring.set(&account, "small").expect("set small");
        assert_eq!(keyring.get(&account).expect("get small"), "small");
        for i in 1..=5 {
            assert!(matches!(
                keyring.get_raw(chunk_account(&account, i), Run::UnderDeadline),
                Err(StoreError::NotFound)
            ));
        }
        keyring.set(&account, &big).expect("set big again");
        assert!(keyring.delete(&account).expect("delete"));
        assert!(matches!(keyring.get(&account), Err(StoreError::NotFound)));
        for i in 1..=5 {
            assert!(matches!(
                keyring.get_raw(chunk_account(&account, i), Run::UnderDeadline),
                Err(StoreError::NotFound)
            ));
        }
        assert!(!keyring.delete(&account).expect("delete again"));
    }
}
