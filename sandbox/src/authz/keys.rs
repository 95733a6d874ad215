//! Token signing keys: ES256 (P-256) keys generated from the OS RNG on first start,
//! persisted as PKCS#8 in the authz database, published as a JWKS, rotated on demand.
//!
//! The `kid` is the key's RFC 7638 JWK thumbprint, so it is derived from the key itself and
//! stable across restarts. After a rotation the retired public key stays in the JWKS until
//! every token it signed has expired (`retired_at + longest token lifetime`), so resource
//! servers can keep verifying old tokens (issue 2, item 8).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::rngs::OsRng;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::authz::AuthzStore;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key storage failed")]
    Store(#[from] StoreError),
    #[error("stored signing key {kid} is unreadable")]
    Corrupt { kid: String },
    #[error("could not encode a new signing key")]
    Encode,
    #[error("no signing key")]
    Missing,
    #[error("signing failed")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// A JWK for an EC P-256 public key (RFC 7518 §6.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

fn public_jwk_parts(secret: &SecretKey) -> (String, String) {
    let point = secret.public_key().to_encoded_point(false);
    // An uncompressed point always has both coordinates; empty strings would only arise
    // from the identity point, which a SecretKey's public key can never be.
    let x = point
        .x()
        .map(|x| URL_SAFE_NO_PAD.encode(x))
        .unwrap_or_default();
    let y = point
        .y()
        .map(|y| URL_SAFE_NO_PAD.encode(y))
        .unwrap_or_default();
    (x, y)
}

/// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, no spaces.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(super::secrets::sha256(canonical.as_bytes()))
}

fn public_jwk(kid: &str, pkcs8: &[u8]) -> Result<PublicJwk, KeyError> {
    let secret = SecretKey::from_pkcs8_der(pkcs8).map_err(|_| KeyError::Corrupt {
        kid: kid.to_owned(),
    })?;
    let (x, y) = public_jwk_parts(&secret);
    Ok(PublicJwk {
        kty: "EC",
        crv: "P-256",
        x,
        y,
        kid: kid.to_owned(),
        use_: "sig",
        alg: "ES256",
    })
}

/// Generates a key and makes it the current one; the previous one is retired. Returns its kid.
pub fn add_new_key(store: &AuthzStore, now: i64) -> Result<String, KeyError> {
    let secret = SecretKey::random(&mut OsRng);
    let der = secret.to_pkcs8_der().map_err(|_| KeyError::Encode)?;
    let (x, y) = public_jwk_parts(&secret);
    let kid = thumbprint(&x, &y);
    store.add_signing_key(&kid, der.as_bytes(), now)?;
    tracing::info!(kid = %kid, "new signing key");
    Ok(kid)
}

/// Makes sure a signing key exists (first start).
pub fn ensure_key(store: &AuthzStore, now: i64) -> Result<(), KeyError> {
    if store.current_signing_key()?.is_none() {
        add_new_key(store, now)?;
    }
    Ok(())
}

/// The JWKS: the current key and those retired less than `keep_secs` ago.
pub fn jwks(store: &AuthzStore, now: i64, keep_secs: i64) -> Result<Vec<PublicJwk>, KeyError> {
    store
        .published_signing_keys(now - keep_secs)?
        .iter()
        .map(|k| public_jwk(&k.kid, &k.pkcs8_der))
        .collect()
}

/// Signs `claims` as a compact JWS with the current key: `alg: ES256`, the given `typ`
/// (`at+jwt` for RFC 9068 access tokens, `JWT` for ID tokens) and the key's `kid`.
pub fn sign<T: Serialize>(store: &AuthzStore, typ: &str, claims: &T) -> Result<String, KeyError> {
    let key = store.current_signing_key()?.ok_or(KeyError::Missing)?;
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&key.pkcs8_der))
        .map_err(KeyError::Sign)
}
