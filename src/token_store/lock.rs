//! The cross-process refresh lock: one lock file per entry under `<config dir>/locks/`.
//!
//! Refresh tokens rotate (RFC 6819 §5.2.2.3, RFC 9700 §4.14.2): once a refresh succeeds, the
//! old refresh token is spent, and a provider that sees it again treats that as replay. Two
//! `bank` processes refreshing at once would both send the same token, so whoever refreshes
//! holds a [`RefreshLock`] and reads the bundle again under it (another process may have
//! refreshed meanwhile). The OS releases the file lock when the file closes, so a crashed
//! process never leaves it held.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Key, StoreError, TokenStore};

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Held while refreshing; the OS releases the lock when the file closes.
pub struct RefreshLock {
    _file: File,
}

impl TokenStore {
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

    pub(super) fn lock_path(&self, key: &Key) -> PathBuf {
        self.dir
            .join("locks")
            .join(format!("{}.lock", key.file_stem()))
    }

    fn lock_file(&self, key: &Key) -> Result<(File, PathBuf), StoreError> {
        // Whoever locks is about to read under the lock: it must see the current value.
        self.discard_prefetched_read();
        let path = self.lock_path(key);
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

#[cfg(test)]
mod tests {
    use super::super::bundle::fixtures::key;
    use super::*;

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
}
