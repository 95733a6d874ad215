//! Where the everyday tokens live between commands: the OS keyring, or — loudly — a file.
//!
//! One logical entry per (issuer, client id, profile) holds a JSON [`TokenBundle`] (access
//! token, expiry, granted scopes, refresh token, the DPoP key). [`TokenStore`] is the one door
//! the CLI uses: it loads, saves and deletes bundles and decides where they go. The keyring is
//! the only place a save goes unless the file was chosen (`--insecure-storage`, or a login
//! that already lives there): with no keyring reachable a save fails closed rather than put
//! the refresh token and the private key in a file nobody asked for. Loads look in the
//! keyring first, then the file; a save removes the copy in the other place where it can, so
//! an old bundle does not shadow a new one. A delete removes whatever is there, readable or
//! not. Nothing here ever prints or logs a secret; errors never carry stored bytes.
//!
//! The parts, one file each:
//! - `bundle`: what is stored ([`TokenBundle`]), under which name ([`Key`]), and where
//!   ([`Storage`]);
//! - `keyring`: the OS keyring one item at a time, every call on a helper thread under a 3 s
//!   deadline (as `gh` does), so a wedged Secret Service cannot hang the CLI, and its errors
//!   stripped of stored bytes ([`KeyringFailure`]);
//! - `platform`: which store this build uses (Secret Service, macOS Keychain, Windows
//!   Credential Manager), its item size and entry modifiers, and the few lines that connect it;
//! - `secret_service`: the Linux keyring store itself (a plain-session Secret Service client),
//!   chosen explicitly so `keyring-core` never falls back to its in-memory mock;
//! - `chunks`: one value over several items, for stores with a small item limit (Windows caps
//!   an item near 2.5 KB; a JWT plus a refresh token easily passes that);
//! - `file`: the 0600 file, only when chosen;
//! - `lock`: the cross-process [`RefreshLock`], so two `bank` processes never lose a rotated
//!   refresh token;
//! - `prefetch`: the first keyring read, started on a helper thread before it is needed
//!   ([`TokenStore::prefetch`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

mod bundle;
mod chunks;
mod file;
mod keyring;
mod lock;
mod platform;
mod prefetch;
#[cfg(target_os = "linux")]
mod secret_service;

pub use bundle::{Key, Storage, TokenBundle};
pub use chunks::{CHUNK_LIMIT, split_chunks};
pub use keyring::{KEYRING_TIMEOUT, Keyring, KeyringFailure, SERVICE};
pub use lock::RefreshLock;
pub use platform::Platform;

use bundle::decode;
use file::{remove_file_if_present, write_private};
use prefetch::Prefetch;

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
    #[error("the credentials stored in the system keyring are damaged")]
    Corrupt,
    #[error("the credentials stored in {} are damaged", path.display())]
    CorruptFile { path: PathBuf },
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
    /// No keyring to talk to: loads look in the file instead, saves fail.
    pub fn keyring_unreachable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Timeout)
    }

    /// Something is stored but cannot be read as a login: only deleting it helps.
    pub fn is_damaged(&self) -> bool {
        matches!(self, StoreError::Corrupt | StoreError::CorruptFile { .. })
    }
}

/// Result of a save: where the bundle went.
#[derive(Debug)]
pub struct Saved {
    pub storage: Storage,
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

    /// The keyring connection, made once (or taken from the prefetch); a failure is kept
    /// too, so a missing keyring costs one attempt per store.
    fn keyring(&self) -> Result<Keyring, StoreError> {
        if !self.keyring_allowed {
            return Err(StoreError::Unavailable(KeyringFailure(
                "this store is file-only".into(),
            )));
        }
        let cached = self.keyring.get_or_init(|| {
            let connected = match self.take_prefetched_connection() {
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
        let text = file::read(&path)?;
        match decode(&text, key) {
            Ok(bundle) => Ok((bundle, Storage::File(path))),
            Err(StoreError::Corrupt) => Err(StoreError::CorruptFile { path }),
            Err(e) => Err(e),
        }
    }

    /// Fails unless a save can go where this store would put it: the keyring, unless the
    /// file was chosen. `bank login` asks before the sign-in, so nobody signs in for nothing.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.insecure {
            return Ok(());
        }
        self.keyring().map(|_| ())
    }

    /// Saves to the keyring, or to the file when asked to (`--insecure-storage`, or
    /// `to_file` because the bundle already lives there). Never to the file otherwise: no
    /// keyring is an error, not a reason to write secrets in plain text.
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
            });
        }
        self.keyring()?.set(&key.account(), &text)?;
        // A plain-text copy from an earlier `--insecure-storage` login must not outlive this.
        remove_file_if_present(&path)?;
        Ok(Saved {
            storage: Storage::Keyring,
        })
    }

    /// Deletes the bundle everywhere it may be, readable or not (keyring items and their
    /// chunks, the file, the refresh lock); returns where something was deleted.
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
        remove_file_if_present(&self.lock_path(key))?;
        Ok(deleted)
    }
}
