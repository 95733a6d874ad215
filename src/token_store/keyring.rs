//! The OS keyring, one item per call, and never allowed to hang the CLI or leak a secret.
//!
//! The store is chosen explicitly (the Secret Service on Linux, through our own plain-session
//! store in `secret_service`), so `keyring-core` never gets a chance to fall back to its
//! in-memory mock. Every call runs on a helper thread under [`KEYRING_TIMEOUT`], as `gh`
//! does, because a wedged Secret Service would otherwise block the process forever. Errors
//! are reduced to [`StoreError`]s whose keyring part ([`KeyringFailure`]) is a message only:
//! `keyring-core`'s own errors can carry the stored bytes. Values larger than one item are
//! the business of `chunks`, built on the single-item calls here.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

use super::StoreError;

/// The keyring "service" all entries live under.
pub const SERVICE: &str = "bank-cli";
/// `gh` uses 3 s; a healthy Secret Service answers in milliseconds.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);
/// The Secret Service has no practical item limit (gnome-keyring round-trips a 16 MiB
/// secret), and every extra item costs a D-Bus round trip on each `bank` run, so the bundle
/// stays in one item there; chunking is kept for stores with small limits.
#[cfg(target_os = "linux")]
const SECRET_SERVICE_ITEM_LIMIT: usize = 1 << 20;

/// A keyring error reduced to its message: `keyring_core::Error` can carry the stored bytes
/// (`BadEncoding`, `BadDataFormat`), which must never reach a `Debug` or an error report.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyringFailure(pub(super) String);

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
    let store: Arc<CredentialStore> = super::secret_service::Store::new()?;
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
    /// Largest value kept in one item; see `chunks`.
    pub(super) chunk_limit: usize,
}

/// Where a keyring call runs: on its own helper thread under [`KEYRING_TIMEOUT`], or on the
/// calling thread when that already is a helper thread whose waiter enforces the deadline
/// ([`TokenStore::prefetch`](super::TokenStore::prefetch); starting one more thread there
/// costs milliseconds on a busy machine, when the thread has to wait for a core).
#[derive(Clone, Copy)]
pub(super) enum Run {
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

    pub(super) fn connect_via(run: Run) -> Result<Keyring, StoreError> {
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

    /// Reads one item.
    pub(super) fn get_raw(&self, account: String, run: Run) -> Result<String, StoreError> {
        let store = self.store.clone();
        run.call(move || Entry::new_in_store(&store, SERVICE, &account)?.get_password())?
            .map_err(classify)
    }

    /// Writes one item.
    pub(super) fn set_raw(&self, account: String, value: String) -> Result<(), StoreError> {
        let store = self.store.clone();
        with_deadline(move || Entry::new_in_store(&store, SERVICE, &account)?.set_password(&value))?
            .map_err(classify)
    }

    /// Deletes one item; deleting nothing is fine.
    pub(super) fn delete_raw(&self, account: String) -> Result<(), StoreError> {
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
}
