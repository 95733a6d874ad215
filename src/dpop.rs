//! The CLI's DPoP key (RFC 9449): one P-256 key per login, kept with the token bundle, that
//! signs a proof for every token request and every API request. A token bound to it
//! (`cnf.jkt`) is worthless without it: whoever copies the token from a log or a proxy
//! cannot present a proof.
//!
//! Only ES256 is signed, the one algorithm FAPI 2.0 and every provider here share. The
//! thumbprint and `ath` come from `bank_protocol::dpop`, the functions the sandbox verifies
//! with.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bank_protocol::dpop::{self as wire, ALG_ES256, PROOF_TYP};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

/// A private P-256 key and its public JWK. `Debug` never shows the private part.
#[derive(Clone)]
pub struct DpopKey {
    signing: SigningKey,
    x: String,
    y: String,
    thumbprint: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the stored DPoP key is not a valid P-256 private key")]
pub struct InvalidKey;

impl DpopKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> DpopKey {
        DpopKey::from_signing(SigningKey::random(&mut rand::rngs::OsRng))
    }

    fn from_signing(signing: SigningKey) -> DpopKey {
        let point = signing.verifying_key().to_encoded_point(false);
        // An uncompressed point always has both coordinates.
        let (x, y) = match (point.x(), point.y()) {
            (Some(x), Some(y)) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
            _ => unreachable!("uncompressed P-256 point without coordinates"),
        };
        let thumbprint = wire::p256_thumbprint(&x, &y);
        DpopKey {
            signing,
            x,
            y,
            thumbprint,
        }
    }

    /// The RFC 7638 thumbprint: `dpop_jkt` on the authorization request, `cnf.jkt` in tokens.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for one HTTP request (§4.2): `htm` and `htu` name it, `jti` makes it
    /// single-use, `ath` ties it to the access token it accompanies (API requests only),
    /// and `nonce` echoes the server's latest `DPoP-Nonce`.
    pub fn proof(
        &self,
        method: &str,
        url: &url::Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let header = json!({
            "typ": PROOF_TYP,
            "alg": ALG_ES256,
            "jwk": { "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y },
        });
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": wire::htu(url),
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = wire::access_token_hash(token).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // JWS ES256 (RFC 7518 §3.4): the fixed-size R ‖ S form, not DER.
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DpopKey(jkt={}, [private part redacted])",
            self.thumbprint
        )
    }
}

/// Stored as a private JWK (RFC 7517 §6.2.2), the form other tools read.
#[derive(Serialize, Deserialize)]
struct StoredJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    d: String,
}

impl Serialize for DpopKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: self.x.clone(),
            y: self.y.clone(),
            d: URL_SAFE_NO_PAD.encode(self.signing.to_bytes()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DpopKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let jwk = StoredJwk::deserialize(deserializer)?;
        DpopKey::from_jwk(&jwk).map_err(serde::de::Error::custom)
    }
}

impl DpopKey {
    fn from_jwk(jwk: &StoredJwk) -> Result<DpopKey, InvalidKey> {
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err(InvalidKey);
        }
        let d = URL_SAFE_NO_PAD.decode(&jwk.d).map_err(|_| InvalidKey)?;
        let signing = SigningKey::from_slice(&d).map_err(|_| InvalidKey)?;
        let key = DpopKey::from_signing(signing);
        // A public half that does not belong to the private one is a damaged entry.
        if key.x != jwk.x || key.y != jwk.y {
            return Err(InvalidKey);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;

    fn part(jws: &str, index: usize) -> serde_json::Value {
        let text = URL_SAFE_NO_PAD
            .decode(jws.split('.').nth(index).unwrap())
            .unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    #[test]
    fn a_proof_is_an_es256_jws_over_its_claims_with_the_public_key_only() {
        let key = DpopKey::generate();
        let url = url::Url::parse("https://bank.example/v1/transfers?limit=3").unwrap();
        let proof = key.proof("POST", &url, Some("the-token"), Some("n-1"));
        let header = part(&proof, 0);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header["jwk"].get("d").is_none(), "{header}");
        let claims = part(&proof, 1);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://bank.example/v1/transfers");
        assert_eq!(claims["ath"], wire::access_token_hash("the-token"));
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);

        // The signature verifies with the key the header names, and its thumbprint is ours.
        let x = URL_SAFE_NO_PAD
            .decode(header["jwk"]["x"].as_str().unwrap())
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode(header["jwk"]["y"].as_str().unwrap())
            .unwrap();
        let point = p256::EncodedPoint::from_affine_coordinates(
            x.as_slice().into(),
            y.as_slice().into(),
            false,
        );
        let verifying = VerifyingKey::from_encoded_point(&point).unwrap();
        let (input, signature) = proof.rsplit_once('.').unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifying.verify(input.as_bytes(), &signature).unwrap();
        assert_eq!(
            wire::p256_thumbprint(
                header["jwk"]["x"].as_str().unwrap(),
                header["jwk"]["y"].as_str().unwrap()
            ),
            key.thumbprint()
        );
    }

    #[test]
    fn every_proof_has_its_own_jti() {
        let key = DpopKey::generate();
        let url = url::Url::parse("https://bank.example/oauth/token").unwrap();
        let a = part(&key.proof("POST", &url, None, None), 1);
        let b = part(&key.proof("POST", &url, None, None), 1);
        assert_ne!(a["jti"], b["jti"]);
        assert!(a.get("ath").is_none() && a.get("nonce").is_none());
    }

    #[test]
    fn the_key_round_trips_through_storage_and_never_prints() {
        let key = DpopKey::generate();
        let stored = serde_json::to_string(&key).unwrap();
        let back: DpopKey = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        let d = serde_json::from_str::<serde_json::Value>(&stored).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!format!("{key:?}").contains(&d));

        // A damaged entry (public half from another key) is refused, not used.
        let other = DpopKey::generate();
        let mut mixed: serde_json::Value = serde_json::from_str(&stored).unwrap();
        mixed["x"] = other.x.clone().into();
        assert!(serde_json::from_value::<DpopKey>(mixed).is_err());
    }
}
