//! A second, independently keyed token issuer for the bank API's tests.
//!
//! It is a real HTTP server on `127.0.0.1:0` serving a discovery document (OIDC, or only
//! the RFC 8414 one) and a JWKS, with its own ES256, RS256 and EdDSA keys, and it mints
//! whatever token a test asks for, including malicious ones (`alg: none`, HS256 keyed with
//! the public key, `jku`/`jwk`/`x5u` headers, tampered payloads, foreign keys). It counts
//! discovery and JWKS fetches so tests can prove the API's caching and rate limiting.
#![allow(dead_code)] // Each test module uses a different subset.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::RngCore;
use serde_json::{Map, Value, json};

/// The multi-factor `acr` (as the sandbox and Auth0 use it).
pub const MFA_ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
/// The bank API's identifier.
pub const AUDIENCE: &str = "https://bank.example/api";

/// A private signing key with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// The public key as JSON Web Key (with kid, alg, use).
    pub jwk: Value,
    /// The public key in PEM (SPKI); the "HS256 keyed with the public key" attack uses it.
    pub public_pem: Option<String>,
}

impl TestKey {
    pub fn es256(kid: &str) -> TestKey {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der().expect("encode P-256 key");
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let public_pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encode P-256 public key");
        TestKey::finish(kid, Algorithm::ES256, encoding, Some(public_pem))
    }

    pub fn eddsa(kid: &str) -> TestKey {
        // PKCS#8 v1 for Ed25519 (RFC 8410 §7): a fixed prefix, then the 32-byte seed.
        let mut der = hex::decode("302e020100300506032b657004220420").expect("hex");
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        der.extend_from_slice(&seed);
        TestKey::finish(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(&der), None)
    }

    /// A fixed 2048-bit RSA key, checked in for tests only: generating one per run is slow.
    pub fn rs256(kid: &str) -> TestKey {
        let pem = include_bytes!("../test_api/keys/rsa-test-only.pem");
        let encoding = EncodingKey::from_rsa_pem(pem).expect("test RSA key");
        TestKey::finish(kid, Algorithm::RS256, encoding, None)
    }

    fn finish(
        kid: &str,
        alg: Algorithm,
        encoding: EncodingKey,
        public_pem: Option<String>,
    ) -> TestKey {
        let jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK to JSON");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        TestKey {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
            public_pem,
        }
    }

    /// Signs `header.payload` as a compact JWS with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_raw(header, claims, &self.encoding, self.alg)
    }

    /// The standard header for this key: `alg`, `kid`, `typ: at+jwt`.
    pub fn header(&self) -> Value {
        json!({ "alg": alg_name(self.alg), "kid": self.kid, "typ": "at+jwt" })
    }
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        _ => panic!("unused algorithm in tests"),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(claims).signature`, for headers jsonwebtoken would not let us build.
pub fn sign_raw(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// An unsigned token (`alg: none`, empty signature).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// HS256 keyed with `secret` (the algorithm-confusion attack).
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    sign_raw(
        header,
        claims,
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Which discovery documents the issuer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `/.well-known/openid-configuration` (and RFC 8414 too).
    Oidc,
    /// Only `/.well-known/oauth-authorization-server` (the fallback path).
    Rfc8414Only,
    /// Both, but naming a different issuer (must be refused).
    WrongIssuer,
}

struct Shared {
    issuer: String,
    discovery: Discovery,
    jwks: RwLock<Value>,
    /// When set, the JWKS endpoint answers 503 (an issuer outage).
    jwks_down: AtomicBool,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

/// A running test issuer.
pub struct TestIssuer {
    pub issuer: String,
    /// Published and used by default.
    pub es256: TestKey,
    pub rs256: TestKey,
    pub eddsa: TestKey,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    pub async fn start() -> TestIssuer {
        TestIssuer::start_with(Discovery::Oidc).await
    }

    pub async fn start_with(discovery: Discovery) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test issuer");
        let addr = listener.local_addr().expect("issuer address");
        let issuer = format!("http://{addr}");
        let es256 = TestKey::es256(&random_id("es-"));
        let rs256 = TestKey::rs256(&random_id("rs-"));
        let eddsa = TestKey::eddsa(&random_id("ed-"));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            discovery,
            jwks: RwLock::new(json!({ "keys": [es256.jwk, rs256.jwk, eddsa.jwk] })),
            jwks_down: AtomicBool::new(false),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(oidc_discovery))
            .route(
                "/.well-known/oauth-authorization-server",
                get(rfc8414_discovery),
            )
            .route("/jwks", get(jwks))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("test issuer serve");
        });
        TestIssuer {
            issuer,
            es256,
            rs256,
            eddsa,
            shared,
            task,
        }
    }

    /// Replaces the published key set.
    pub fn publish(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.shared.jwks.write().expect("jwks lock") = json!({ "keys": keys });
    }

    /// Publishes raw JWK values (for malformed or hostile key sets).
    pub fn publish_raw(&self, keys: Value) {
        *self.shared.jwks.write().expect("jwks lock") = keys;
    }

    /// Simulates an outage of the JWKS endpoint (503) or ends it.
    pub fn set_jwks_down(&self, down: bool) {
        self.shared.jwks_down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a good step-up token for `sub`: MFA, fresh `auth_time`, 5 minutes.
    pub fn claims(&self, sub: &str, username: &str, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": sub,
            "client_id": "bank-cli",
            "scope": scope,
            "iat": now,
            "exp": now + 300,
            "jti": random_id("jti-"),
            "auth_time": now,
            "acr": MFA_ACR,
            "amr": ["pwd", "mfa"],
            "preferred_username": username,
        })
    }

    /// Signs `claims` with the default ES256 key and a standard header.
    pub fn sign(&self, claims: &Value) -> String {
        self.es256.sign(&self.es256.header(), claims)
    }

    /// A good token for `sub` with `scope`.
    pub fn token(&self, sub: &str, username: &str, scope: &str) -> String {
        self.sign(&self.claims(sub, username, scope))
    }

    /// `claims` with `edits` merged in (a `null` value removes the claim).
    pub fn edit(claims: &Value, edits: Value) -> Value {
        let mut out: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
        for (k, v) in edits.as_object().cloned().unwrap_or_default() {
            if v.is_null() {
                out.remove(&k);
            } else {
                out.insert(k, v);
            }
        }
        Value::Object(out)
    }
}

async fn oidc_discovery(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, StatusCode> {
    if shared.discovery == Discovery::Rfc8414Only {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Json(discovery_document(&shared)))
}

async fn rfc8414_discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(discovery_document(&shared))
}

fn discovery_document(shared: &Shared) -> Value {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = match shared.discovery {
        Discovery::WrongIssuer => "https://evil.example".to_owned(),
        _ => shared.issuer.clone(),
    };
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", shared.issuer),
        "authorization_endpoint": format!("{}/authorize", shared.issuer),
        "token_endpoint": format!("{}/oauth/token", shared.issuer),
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
    })
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, StatusCode> {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if shared.jwks_down.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(shared.jwks.read().expect("jwks lock").clone()))
}
