//! A DPoP client key for the tests, and proofs signed with it here, with `p256` directly
//! (independent of the sandbox's verifier): the proofs an honest client sends (fresh `jti`,
//! `iat` now, `ath` and `nonce` when asked), and the raw material of malicious ones.
#![allow(dead_code)] // Each test module uses a different subset.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};

use super::issuer::{now, random_id};

/// A P-256 key pair, as a DPoP client keeps one.
pub struct DpopKey {
    signing: SigningKey,
    /// The public key as a JWK: `{kty, crv, x, y}`.
    pub jwk: Value,
    /// Its RFC 7638 thumbprint, computed here from the canonical JSON (not by the sandbox).
    pub jkt: String,
}

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopKey {
    pub fn new() -> DpopKey {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let point = signing.verifying_key().to_encoded_point(false);
        let x = b64(point.x().expect("x"));
        let y = b64(point.y().expect("y"));
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let jkt = b64(&<sha2::Sha256 as sha2::Digest>::digest(
            canonical.as_bytes(),
        ));
        DpopKey {
            signing,
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            jkt,
        }
    }

    /// The private scalar, base64url (for a `jwk` that leaks it).
    pub fn d(&self) -> String {
        b64(&self.signing.to_bytes())
    }

    /// The header an honest proof has.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk})
    }

    /// The claims of an honest proof for `method` `url` now, with a fresh `jti`, the `ath`
    /// of `access_token` and `nonce` when given.
    pub fn claims(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Value {
        let mut claims = json!({"jti": random_id("jti-"), "htm": method, "htu": url, "iat": now()});
        if let Some(token) = access_token {
            claims["ath"] = json!(bank_protocol::dpop::access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        claims
    }

    /// An honest proof.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.sign(
            &self.header(),
            &self.claims(method, url, access_token, None),
        )
    }

    /// An honest proof with the server's nonce.
    pub fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: &str,
    ) -> String {
        self.sign(
            &self.header(),
            &self.claims(method, url, access_token, Some(nonce)),
        )
    }

    /// Signs any header and claims with this key (ES256 over `b64(header).b64(claims)`).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }
}

/// The key of the tests' honest client (one per test binary, as the CLI has one per
/// profile): every proof has its own `jti`, so tests sharing it never collide.
pub fn client_key() -> &'static DpopKey {
    static KEY: OnceLock<DpopKey> = OnceLock::new();
    KEY.get_or_init(DpopKey::new)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
