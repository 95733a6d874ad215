//! A bounded cache of verified access tokens, as API gateways keep one, so that an everyday
//! token used many times is not put through ECDSA/RSA verification on every request (the
//! signature check is ~70% of the CPU time of an authenticated request).
//!
//! What it does **not** change is what gets accepted. Entries are keyed by the SHA-256 of the
//! whole compact token, so a token differing in a single byte (a tampered payload or
//! signature) can never be served from an entry made for another one: it misses and goes
//! through full verification. A hit only replaces the signature, header and claim-format
//! checks, never the time checks: `exp`, `nbf` and `iat` are checked against the API's clock
//! on every use (an expired entry is dropped), and the entry is only used while the very key
//! that verified it is still the issuer's key for its `kid` (a key that disappears from the
//! JWKS takes its cached tokens with it). Scope, RFC 9470 and single-use checks come after
//! `verify` in the extractors and the store, so a cached token meets all of them as before;
//! a spent step-up token is refused by the store whether or not it was cached. So is the
//! DPoP proof a bound token needs: the cached claims carry its `cnf.jkt`, and the
//! extractors check a fresh proof against it on every request, hit or miss.
//!
//! Bounded in memory by two generations (a cheap approximation of LRU): new entries go into
//! the current generation; when it is full it becomes the previous one and the oldest
//! generation is dropped; a hit in the previous generation moves the entry forward. Tokens
//! in active use stay, single-use step-up tokens age out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::auth::Claims;
use super::jwks::VerifyingKey;

/// SHA-256 of a compact JWS: the cache key. The token itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }
}

/// What full verification established about one token.
pub struct CachedToken {
    pub claims: Claims,
    /// `nbf`, when the token had one (re-checked on every use, like `exp` and `iat`).
    pub not_before: Option<i64>,
    /// The key that verified the signature, and the `kid` it was found under.
    pub kid: String,
    pub key: Arc<VerifyingKey>,
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCacheStats {
    /// Requests answered from the cache (signature not re-verified).
    pub hits: u64,
    /// Requests that went through full verification (including failures).
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

#[derive(Default)]
struct Generations {
    current: HashMap<TokenDigest, Arc<CachedToken>>,
    previous: HashMap<TokenDigest, Arc<CachedToken>>,
}

/// The cache; `capacity` 0 disables it.
pub struct VerifiedTokenCache {
    /// Largest size of one generation: at most twice this many entries are held.
    generation: usize,
    inner: Mutex<Generations>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokenCache")
            .field("capacity", &(self.generation * 2))
            .finish_non_exhaustive()
    }
}

impl VerifiedTokenCache {
    /// Holds at most `capacity` tokens (rounded up to an even number); 0 disables it.
    pub fn new(capacity: usize) -> VerifiedTokenCache {
        VerifiedTokenCache {
            generation: capacity.div_ceil(2),
            inner: Mutex::new(Generations::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.generation > 0
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // Maps are only ever changed by single inserts and removes: poison is harmless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `digest`, moved into the current generation if it was in the previous.
    pub fn get(&self, digest: &TokenDigest) -> Option<Arc<CachedToken>> {
        let mut g = self.lock();
        if let Some(entry) = g.current.get(digest) {
            return Some(entry.clone());
        }
        let entry = g.previous.remove(digest)?;
        Self::insert_locked(&mut g, self.generation, *digest, entry.clone());
        Some(entry)
    }

    pub fn insert(&self, digest: TokenDigest, entry: CachedToken) {
        if !self.enabled() {
            return;
        }
        let mut g = self.lock();
        Self::insert_locked(&mut g, self.generation, digest, Arc::new(entry));
    }

    fn insert_locked(
        g: &mut Generations,
        generation: usize,
        digest: TokenDigest,
        entry: Arc<CachedToken>,
    ) {
        if g.current.len() >= generation && !g.current.contains_key(&digest) {
            g.previous = std::mem::take(&mut g.current);
            g.previous.remove(&digest);
        }
        g.current.insert(digest, entry);
    }

    pub fn remove(&self, digest: &TokenDigest) {
        let mut g = self.lock();
        g.current.remove(digest);
        g.previous.remove(digest);
    }

    pub(crate) fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> TokenCacheStats {
        let entries = {
            let g = self.lock();
            g.current.len() + g.previous.len()
        };
        TokenCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey};

    fn entry(key: &Arc<VerifyingKey>, n: usize) -> CachedToken {
        CachedToken {
            claims: Claims {
                issuer: "http://127.0.0.1:1".into(),
                sub: format!("usr_{n}"),
                scopes: vec!["view:balance".into()],
                token_id: format!("jti-{n}"),
                jti: Some(format!("jti-{n}")),
                exp: 2_000_000_000,
                iat: 1_000_000_000,
                auth_time: None,
                acr: None,
                amr: Vec::new(),
                client_id: None,
                preferred_username: None,
                nickname: None,
                email: None,
                email_verified: false,
                approval: None,
                dpop_jkt: None,
            },
            not_before: None,
            kid: "k".into(),
            key: key.clone(),
        }
    }

    fn key() -> Arc<VerifyingKey> {
        Arc::new(VerifyingKey {
            alg: Algorithm::EdDSA,
            key: DecodingKey::from_ed_der(&[0u8; 32]),
        })
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_tokens_in_use() {
        let cache = VerifiedTokenCache::new(4);
        let key = key();
        let everyday = TokenDigest::of("everyday");
        cache.insert(everyday, entry(&key, 0));
        for n in 1..100 {
            cache.insert(TokenDigest::of(&format!("single-use-{n}")), entry(&key, n));
            // The everyday token is used between the one-off ones: it survives the churn.
            assert!(cache.get(&everyday).is_some(), "evicted after {n}");
            assert!(cache.stats().entries <= 4);
        }
        assert!(cache.get(&TokenDigest::of("single-use-1")).is_none());
        assert!(cache.get(&TokenDigest::of("single-use-99")).is_some());
    }

    #[test]
    fn a_disabled_cache_holds_nothing_and_one_byte_changes_the_key() {
        let key = key();
        let off = VerifiedTokenCache::new(0);
        off.insert(TokenDigest::of("a.b.c"), entry(&key, 0));
        assert_eq!(off.stats().entries, 0);

        let cache = VerifiedTokenCache::new(8);
        cache.insert(TokenDigest::of("a.b.c"), entry(&key, 0));
        assert!(cache.get(&TokenDigest::of("a.b.d")).is_none());
        assert!(cache.get(&TokenDigest::of("a.b.c")).is_some());
        cache.remove(&TokenDigest::of("a.b.c"));
        assert!(cache.get(&TokenDigest::of("a.b.c")).is_none());
    }
}
