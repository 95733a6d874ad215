//! The issuer's signing keys, learned over HTTP exactly as from Auth0, Okta or Keycloak.
//!
//! The API is configured with nothing but an issuer URL. It finds `jwks_uri` through the
//! issuer's discovery document (OpenID Connect Discovery 1.0 §4, falling back to RFC 8414
//! §3), checks that the document names the same issuer (OIDC Discovery §4.3, RFC 8414
//! §3.3), and caches the keys. The first fetch is lazy (the API can start before its
//! issuer); later fetches happen only when a token names an unknown `kid` (key rotation)
//! or the cache is older than its maximum age. They are single-flight and rate limited by
//! a small token bucket (a burst of `refresh_burst`, then one per `refresh_interval`), so
//! a rotation is picked up at once while a flood of tokens with made-up `kid`s costs the
//! issuer at most a few requests. In the steady state no request makes a network call.
//!
//! Only asymmetric signature keys survive the import: `oct` (HMAC) keys, encryption keys,
//! curves and algorithms outside the allow-list are dropped, so a JWKS can never turn a
//! public key into an HMAC secret.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The only signature algorithms we accept (RFC 8725 §3.1: an explicit allow-list).
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Documents we fetch are small; anything bigger is not a key set.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// RSA moduli below 2048 bits are refused (RFC 7518 §3.3 requires at least 2048).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A key usable for exactly one algorithm.
pub struct VerifyingKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// Why no key could be produced for a `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    /// The issuer's current key set does not contain it.
    #[error("unknown signing key")]
    UnknownKid,
    /// We have no keys at all (the issuer has not been reachable yet).
    #[error("signing keys unavailable")]
    Unavailable,
}

/// Why fetching the keys failed; logged, never sent to clients.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request to {url} failed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} returned a document over {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: String },
    #[error("{url} returned invalid JSON")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("discovery document names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("jwks_uri {0:?} is not https (or http on loopback)")]
    InsecureJwksUri(String),
    #[error("issuer {0:?} is not a valid URL")]
    BadIssuer(String),
}

struct Keys {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Option<Instant>,
}

struct RefreshState {
    jwks_uri: Option<String>,
    limiter: FetchLimiter,
}

/// A token bucket: `burst` fetches at once, refilled at one per `interval`.
struct FetchLimiter {
    burst: f64,
    interval: Duration,
    allowance: f64,
    last: Option<Instant>,
}

impl FetchLimiter {
    fn new(burst: u32, interval: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        FetchLimiter {
            burst,
            interval,
            allowance: burst,
            last: None,
        }
    }

    /// Takes one fetch from the bucket, or says no.
    fn try_acquire(&mut self) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        let now = Instant::now();
        if let Some(last) = self.last {
            let refill = now.duration_since(last).as_secs_f64() / self.interval.as_secs_f64();
            self.allowance = (self.allowance + refill).min(self.burst);
        }
        self.last = Some(now);
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Cache of one issuer's verification keys. Cheap to share behind an `Arc`.
pub struct KeyCache {
    issuer: String,
    http: reqwest::Client,
    max_age: Duration,
    keys: RwLock<Keys>,
    /// Held while fetching: concurrent misses wait for one fetch instead of starting many.
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// `refresh_burst` fetches may happen at once, then one per `refresh_interval` (zero
    /// disables the limit); keys older than `max_age` are refreshed on next use.
    pub fn new(
        issuer: String,
        refresh_burst: u32,
        refresh_interval: Duration,
        max_age: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Following redirects would let whoever controls a redirect choose our keys.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("bank-sandbox/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(KeyCache {
            issuer,
            http,
            max_age,
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched_at: None,
            }),
            refresh: tokio::sync::Mutex::new(RefreshState {
                jwks_uri: None,
                limiter: FetchLimiter::new(refresh_burst, refresh_interval),
            }),
        })
    }

    /// The key named `kid`, fetching the issuer's key set if needed (and allowed).
    pub async fn key_for(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyLookupError> {
        let (found, fresh, _) = self.cached(kid);
        if let (Some(key), true) = (&found, fresh) {
            return Ok(key.clone());
        }

        let mut refresh = match (&found, self.refresh.try_lock()) {
            (_, Ok(guard)) => guard,
            // A stale key while another request is already refreshing: use it rather than
            // queue behind a possibly slow issuer.
            (Some(key), Err(_)) => return Ok(key.clone()),
            (None, Err(_)) => self.refresh.lock().await,
        };
        // Another request may have refreshed while we waited for the lock.
        let (found, fresh, have_keys) = self.cached(kid);
        if let (Some(key), true) = (&found, fresh) {
            return Ok(key.clone());
        }
        let miss = || {
            if have_keys {
                KeyLookupError::UnknownKid
            } else {
                KeyLookupError::Unavailable
            }
        };
        if !refresh.limiter.try_acquire() {
            return found.ok_or_else(miss);
        }
        match self.fetch(&mut refresh).await {
            Ok(by_kid) => {
                let key = by_kid.get(kid).cloned();
                let have_keys = !by_kid.is_empty();
                self.store(by_kid);
                key.ok_or(if have_keys {
                    KeyLookupError::UnknownKid
                } else {
                    KeyLookupError::Unavailable
                })
            }
            Err(err) => {
                tracing::warn!(issuer = %self.issuer, error = %err, "could not refresh the issuer's keys");
                // A stale key beats no key while the issuer is unreachable.
                found.ok_or_else(miss)
            }
        }
    }

    /// How many keys are cached (for diagnostics and tests).
    pub fn cached_key_count(&self) -> usize {
        self.read().by_kid.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        // The guarded data is replaced wholesale, never left half-written: poison is harmless.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// `(key, cache is fresh, cache has any key)`.
    fn cached(&self, kid: &str) -> (Option<Arc<VerifyingKey>>, bool, bool) {
        let keys = self.read();
        let fresh = keys
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        (
            keys.by_kid.get(kid).cloned(),
            fresh,
            !keys.by_kid.is_empty(),
        )
    }

    fn store(&self, by_kid: HashMap<String, Arc<VerifyingKey>>) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.by_kid = by_kid;
        keys.fetched_at = Some(Instant::now());
    }

    async fn fetch(
        &self,
        refresh: &mut RefreshState,
    ) -> Result<HashMap<String, Arc<VerifyingKey>>, FetchError> {
        let jwks_uri = match &refresh.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                refresh.jwks_uri = Some(uri.clone());
                uri
            }
        };
        match self.get_json::<JwksDocument>(&jwks_uri).await {
            Ok(doc) => Ok(import_keys(doc.keys)),
            Err(err) => {
                // The issuer may have moved its keys: rediscover next time.
                refresh.jwks_uri = None;
                Err(err)
            }
        }
    }

    /// Finds `jwks_uri`: OIDC discovery first (what Auth0, Okta, Keycloak serve), then the
    /// RFC 8414 location.
    async fn discover(&self) -> Result<String, FetchError> {
        let trimmed = self.issuer.trim_end_matches('/');
        let oidc = format!("{trimmed}/.well-known/openid-configuration");
        let doc = match self.get_json::<DiscoveryDocument>(&oidc).await {
            Ok(doc) => doc,
            Err(FetchError::Status { .. }) => {
                self.get_json::<DiscoveryDocument>(&rfc8414_url(&self.issuer)?)
                    .await?
            }
            Err(err) => return Err(err),
        };
        // OIDC Discovery §4.3 / RFC 8414 §3.3: the document must be about this very issuer,
        // compared as exact strings, or an attacker-controlled document could name any keys.
        if doc.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: doc.issuer,
            });
        }
        if !acceptable_key_url(&doc.jwks_uri) {
            return Err(FetchError::InsecureJwksUri(doc.jwks_uri));
        }
        Ok(doc.jwks_uri)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let http_err = |source| FetchError::Http {
            url: url.to_owned(),
            source,
        };
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http_err)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_err)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|source| FetchError::Json {
            url: url.to_owned(),
            source,
        })
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwksDocument {
    /// Parsed key by key, so one odd key (a new type, an encryption key) cannot make the
    /// whole set unusable.
    keys: Vec<serde_json::Value>,
}

/// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
fn rfc8414_url(issuer: &str) -> Result<String, FetchError> {
    let mut url = url::Url::parse(issuer).map_err(|_| FetchError::BadIssuer(issuer.to_owned()))?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok(url.to_string())
}

/// Keys must come over TLS, except from a loopback issuer (the local sandbox). The same
/// rule applies to the issuer itself, whose discovery document names the keys.
pub(crate) fn acceptable_key_url(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(domain)) => domain == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// Turns JWKs into verification keys, keeping only signature keys of allowed algorithms.
fn import_keys(keys: Vec<serde_json::Value>) -> HashMap<String, Arc<VerifyingKey>> {
    let mut by_kid = HashMap::new();
    for value in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Some(key) = import_key(&jwk) {
            // The first key with a given kid wins; a later duplicate cannot replace it.
            by_kid.entry(kid).or_insert_with(|| Arc::new(key));
        }
    }
    by_kid
}

fn import_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return None;
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return None;
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::RSA(rsa) => {
            use base64::Engine as _;
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return None;
            }
            Algorithm::RS256
        }
        // `oct` (HMAC) keys and anything else: never.
        _ => return None,
    };
    // A JWK that names its algorithm must name the one its key type implies.
    if let Some(named) = jwk.common.key_algorithm
        && named != KeyAlgorithm::from(alg)
    {
        return None;
    }
    debug_assert!(ALLOWED_ALGORITHMS.contains(&alg));
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey { alg, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetch_limiter_allows_a_burst_then_waits() {
        let mut limiter = FetchLimiter::new(3, Duration::from_secs(3600));
        assert!(limiter.try_acquire());
        assert!(limiter.try_acquire());
        assert!(limiter.try_acquire());
        assert!(!limiter.try_acquire());
        let mut unlimited = FetchLimiter::new(1, Duration::ZERO);
        assert!((0..10).all(|_| unlimited.try_acquire()));
    }

    #[test]
    fn rfc8414_inserts_the_well_known_segment_before_the_path() {
        assert_eq!(
            rfc8414_url("https://as.example/tenant1").expect("valid"),
            "https://as.example/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            rfc8414_url("http://127.0.0.1:8400").expect("valid"),
            "http://127.0.0.1:8400/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn key_urls_need_tls_unless_loopback() {
        assert!(acceptable_key_url(
            "https://tenant.auth0.com/.well-known/jwks.json"
        ));
        assert!(acceptable_key_url("http://127.0.0.1:8400/jwks"));
        assert!(acceptable_key_url("http://[::1]:8400/jwks"));
        assert!(acceptable_key_url("http://localhost:8400/jwks"));
        assert!(!acceptable_key_url("http://evil.example/jwks"));
        assert!(!acceptable_key_url("file:///etc/keys"));
    }

    #[test]
    fn hmac_and_encryption_keys_are_never_imported() {
        let keys = import_keys(vec![
            serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "e", "use": "enc",
                               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "s", "alg": "EdDSA",
                               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "w", "alg": "ES256",
                               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        ]);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["s"]);
    }
}
