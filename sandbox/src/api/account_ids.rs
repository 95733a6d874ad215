//! Which account id a token's `sub` sends from, remembered per instance.
//!
//! A transfer needs only the sender's account id, and an account's id never changes once
//! it is opened (accounts are never deleted or renumbered), so this instance remembers it
//! after the first lookup instead of asking the store on every transfer: on PostgreSQL that
//! is one pooled query less per transfer. Nothing about money is cached: balances, the spent
//! token and the idempotency record are read and written in the store's transaction as
//! before, by every instance alike. The map is bounded; when full it starts over.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many remembered ids (a few hundred KB).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(super) struct AccountIds(Mutex<HashMap<String, i64>>);

impl AccountIds {
    pub(super) fn get(&self, sub: &str) -> Option<i64> {
        self.lock().get(sub).copied()
    }

    pub(super) fn remember(&self, sub: &str, id: i64) {
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(sub.to_owned(), id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // Entries are inserted whole; a poisoned map is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_stays_bounded() {
        let ids = AccountIds::default();
        assert_eq!(ids.get("usr_a"), None);
        ids.remember("usr_a", 7);
        assert_eq!(ids.get("usr_a"), Some(7));
        for i in 0..CAPACITY as i64 {
            ids.remember(&format!("usr_{i}"), i);
        }
        assert!(ids.lock().len() <= CAPACITY);
    }
}
