//! The proofs one server process has accepted, in memory: a bounded, time-windowed replay
//! cache (the bank API's check for requests that move no money).
//!
//! An entry is the proof's replay key (the hash of its key's thumbprint and `jti`,
//! truncated to 128 bits: a collision could only refuse a fresh proof, never accept a
//! replay) and the second after which the proof could no longer pass the `iat` window.
//! The rule that bounds it: only expired entries are ever evicted. When the cache holds
//! `capacity` live entries, a new proof is refused ([`Full`]) rather than forget one that
//! could still be replayed; a live entry is never dropped, so a proof inside its window is
//! accepted at most once by this process. The capacity is split among shards chosen by the
//! key (a hash: they fill evenly), each behind its own lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Most shards; a small cache has fewer, so each shard holds a useful share.
const MAX_SHARDS: usize = 16;
/// Fewest entries per shard before the cache is split.
const MIN_PER_SHARD: usize = 4096;

/// The cache is full of proofs still inside their window: nothing can be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the in-process DPoP replay cache is full of live proofs")]
pub struct Full;

/// Accepted proofs, per process.
#[derive(Debug)]
pub struct SeenProofs {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Debug, Default)]
struct Shard {
    capacity: usize,
    /// Replay key → the last second the proof is live.
    live: HashMap<u128, i64>,
    /// The same entries by that second, so expired ones go in order without a scan.
    by_expiry: BTreeMap<i64, Vec<u128>>,
}

impl SeenProofs {
    /// A cache of at most `capacity` live entries (at least one).
    pub fn new(capacity: usize) -> SeenProofs {
        let capacity = capacity.max(1);
        let count = (capacity / MIN_PER_SHARD).clamp(1, MAX_SHARDS);
        let shards = (0..count)
            .map(|i| {
                // The remainder goes to the first shards: the capacities add up exactly.
                let share = capacity / count + usize::from(i < capacity % count);
                Mutex::new(Shard {
                    capacity: share,
                    ..Shard::default()
                })
            })
            .collect();
        SeenProofs { shards }
    }

    /// Records `key` as live until `expires_at` (inclusive): `Ok(true)` if it was not live,
    /// `Ok(false)` if it is (a replay), `Err(Full)` if it is new and there is no room.
    pub fn remember(&self, key: &[u8; 32], expires_at: i64, now: i64) -> Result<bool, Full> {
        let short = u128::from_le_bytes(key[..16].try_into().unwrap_or_default());
        let mut shard = self.shard(short);
        shard.forget_expired(now);
        if shard.live.get(&short).is_some_and(|until| *until >= now) {
            return Ok(false);
        }
        if shard.live.len() >= shard.capacity {
            return Err(Full);
        }
        shard.live.insert(short, expires_at);
        shard.by_expiry.entry(expires_at).or_default().push(short);
        Ok(true)
    }

    /// Live entries (and expired ones not yet forgotten), for tests and metrics.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).live.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, Shard> {
        // The key is a hash: its top bits pick a shard evenly.
        let index = ((key >> 64) as u64 % self.shards.len() as u64) as usize;
        lock(&self.shards[index])
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Every change leaves the shard consistent between statements that can panic.
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shard {
    /// Drops every entry whose last live second is before `now`.
    fn forget_expired(&mut self, now: i64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() >= now {
                break;
            }
            let (until, keys) = entry.remove_entry();
            for key in keys {
                // A key may have been recorded again since (after it expired): keep that.
                if self.live.get(&key) == Some(&until) {
                    self.live.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> [u8; 32] {
        let mut key = [0u8; 32];
        // Spread over the shards as hashes would be.
        key[..16].copy_from_slice(
            &(u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)).to_le_bytes(),
        );
        key
    }

    #[test]
    fn a_live_proof_is_refused_and_an_expired_one_forgotten() {
        let seen = SeenProofs::new(10);
        assert_eq!(seen.remember(&key(1), 100, 50), Ok(true));
        assert_eq!(seen.remember(&key(1), 100, 99), Ok(false));
        assert_eq!(seen.remember(&key(1), 100, 100), Ok(false));
        // Past its last second the proof could not pass the window any more.
        assert_eq!(seen.remember(&key(1), 200, 101), Ok(true));
        assert_eq!(seen.remember(&key(1), 200, 150), Ok(false));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn it_is_bounded_and_never_forgets_a_live_proof_to_make_room() {
        for capacity in [1, 7, 3 * MIN_PER_SHARD + 5, MAX_SHARDS * MIN_PER_SHARD + 3] {
            let seen = SeenProofs::new(capacity);
            let total: usize = seen.shards.iter().map(|s| lock(s).capacity).sum();
            assert_eq!(total, capacity);
            let mut accepted = Vec::new();
            let mut refused = 0;
            let tries = u32::try_from(capacity * 2).expect("small");
            for n in 0..tries {
                match seen.remember(&key(n), 160, 100) {
                    Ok(true) => accepted.push(n),
                    Err(Full) => refused += 1,
                    Ok(false) => panic!("{n} was never seen"),
                }
                assert!(seen.len() <= capacity);
            }
            assert!(
                accepted.len() <= capacity && refused >= capacity,
                "{capacity}"
            );
            // Full, and still every accepted proof is refused as a replay.
            for n in 0..tries {
                let again = seen.remember(&key(n), 160, 159);
                assert!(matches!(again, Ok(false) | Err(Full)), "{n}: {again:?}");
            }
            assert_eq!(seen.remember(&key(0), 160, 160), Ok(false));
            // Once their window has passed, the room is there again: each shard forgets its
            // expired proofs when next touched.
            for n in accepted {
                assert_eq!(seen.remember(&key(n), 300, 161), Ok(true), "{n}");
            }
            assert!(seen.len() <= capacity);
        }
    }
}
