//! The first keyring read, started early on a helper thread.
//!
//! Connecting to the Secret Service and reading an entry are several D-Bus round trips; made
//! while the caller builds its HTTP client, they cost almost nothing. [`TokenStore::prefetch`]
//! starts them, and the first keyring use and the first load of that key take the results
//! instead of making the calls, under the same deadline and with the same errors. A
//! prefetched value is only good until something may change the stored one: a save, a
//! delete, or the refresh lock (whose holder must see what another process wrote) discards
//! it, and it serves one load only.

use std::sync::mpsc;

use super::keyring::{Keyring, Run};
use super::{Key, StoreError, TokenStore};

/// What [`TokenStore::prefetch`]'s thread delivers: the connection (taken by the first use of
/// the keyring) and the value of one account (taken by the first `load` of that key, unless a
/// save, delete or lock came first and made it possibly stale).
#[derive(Default)]
pub(super) struct Prefetch {
    connected: Option<mpsc::Receiver<Result<Keyring, StoreError>>>,
    read: Option<(String, mpsc::Receiver<Result<String, StoreError>>)>,
}

impl TokenStore {
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

    /// The prefetched connection, if one is pending (taken once, by the first keyring use).
    pub(super) fn take_prefetched_connection(
        &self,
    ) -> Option<mpsc::Receiver<Result<Keyring, StoreError>>> {
        self.prefetch
            .lock()
            .ok()
            .and_then(|mut prefetch| prefetch.connected.take())
    }

    /// The prefetched read of `account`, if one is pending and still current.
    pub(super) fn take_prefetched_read(
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
    pub(super) fn discard_prefetched_read(&self) {
        if let Ok(mut prefetch) = self.prefetch.lock() {
            prefetch.read = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use oauth2::AccessToken;

    use super::super::bundle::fixtures::{bundle, key};
    use super::super::{KEYRING_TIMEOUT, Storage, TokenBundle};
    use super::*;

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
        assert_eq!(saved.storage, Storage::Keyring);

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
}
