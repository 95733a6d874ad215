//! The OS keyring, one item per call, and never allowed to hang the CLI or leak a secret.
//!
//! The store is chosen explicitly (`platform`: the Secret Service on Linux through our own
//! plain-session store in `secret_service`, the login keychain on macOS, the Credential
//! Manager on Windows), so `keyring-core` never gets a chance to fall back to its in-memory
//! mock. Every call runs on a helper thread under [`KEYRING_TIMEOUT`], as `gh`
//! does, because a wedged Secret Service would otherwise block the process forever. Errors
//! are reduced to [`StoreError`]s whose keyring part ([`KeyringFailure`]) is a message only:
//! `keyring-core`'s own errors can carry the stored bytes. Values larger than one item are
//! the business of `chunks`, built on the single-item calls here.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

use super::StoreError;
use super::platform::Platform;

/// The keyring "service" all entries live under.
pub const SERVICE: &str = "bank-cli";
/// `gh` uses 3 s; a healthy Secret Service answers in milliseconds.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

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

/// Chunked key/value access to one keyring store, every call under the deadline.
#[derive(Clone)]
pub struct Keyring {
    store: Arc<CredentialStore>,
    /// Largest value kept in one item; see `chunks`.
    pub(super) chunk_limit: usize,
    modifiers: &'static [(&'static str, &'static str)],
}

/// The entry for `account` in `store`, with the platform's modifiers.
fn entry(
    store: &Arc<CredentialStore>,
    account: &str,
    modifiers: &[(&str, &str)],
) -> keyring_core::Result<Entry> {
    if modifiers.is_empty() {
        return Entry::new_in_store(store, SERVICE, account);
    }
    let modifiers: HashMap<&str, &str> = modifiers.iter().copied().collect();
    Entry::new_in_store_with_modifiers(store, SERVICE, account, &modifiers)
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
        let platform = Platform::CURRENT;
        let store = run.call(move || platform.connect())?.map_err(|e| match e {
            keyring_core::Error::NoEntry => StoreError::NotFound,
            // Connecting failed: no bus, no Secret Service, nothing to unlock it.
            other => StoreError::Unavailable(sanitize(&other)),
        })?;
        Ok(Keyring {
            store,
            chunk_limit: platform.chunk_limit(),
            modifiers: platform.entry_modifiers(),
        })
    }

    /// For tests: a smaller chunk size forces several chunks.
    pub fn with_chunk_limit(mut self, limit: usize) -> Keyring {
        self.chunk_limit = limit.max(1);
        self
    }

    /// Reads one item.
    pub(super) fn get_raw(&self, account: String, run: Run) -> Result<String, StoreError> {
        let (store, modifiers) = (self.store.clone(), self.modifiers);
        run.call(move || entry(&store, &account, modifiers)?.get_password())?
            .map_err(classify)
    }

    /// Writes one item.
    pub(super) fn set_raw(&self, account: String, value: String) -> Result<(), StoreError> {
        let (store, modifiers) = (self.store.clone(), self.modifiers);
        with_deadline(move || entry(&store, &account, modifiers)?.set_password(&value))?
            .map_err(classify)
    }

    /// Deletes one item; deleting nothing is fine.
    pub(super) fn delete_raw(&self, account: String) -> Result<(), StoreError> {
        let (store, modifiers) = (self.store.clone(), self.modifiers);
        match with_deadline(move || entry(&store, &account, modifiers)?.delete_credential())?
            .map_err(classify)
        {
            Err(StoreError::NotFound) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
