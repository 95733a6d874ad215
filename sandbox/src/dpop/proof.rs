//! One proof JWT on its own (RFC 9449 §4.2, §4.3 steps 2–7): its syntax, its JOSE header,
//! the public key it carries and the signature made with that key. Nothing here needs the
//! request or any server state; `super::ProofVerifier` checks the claims against both.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Proofs larger than this are refused before any decoding (a real one is 500–700 bytes).
pub const MAX_PROOF_BYTES: usize = 4 * 1024;
/// A longer `jti` is not a random identifier but an attempt to fill the replay cache.
const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private (or symmetric) key has: RFC 7518 §6.2.2, §6.3.2, §6.4.1.
const PRIVATE_KEY_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Header parameters that name a key elsewhere: a proof's key is the `jwk` it carries, and
/// nothing else may choose it.
const KEY_REFERENCE_HEADERS: [&str; 4] = ["jku", "x5u", "x5c", "kid"];

/// A proof whose signature verified with the key it carries.
#[derive(Debug)]
pub(super) struct SignedProof {
    /// RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: i64,
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

/// Decodes `compact` and verifies its signature. The `Err` is a fixed phrase that never
/// repeats any part of the proof.
pub(super) fn verify_signature(compact: &str) -> Result<SignedProof, &'static str> {
    if compact.len() > MAX_PROOF_BYTES {
        return Err("proof too large");
    }
    let parts: Vec<&str> = compact.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err("malformed proof");
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature].iter().all(|p| is_base64url(p))
    {
        return Err("malformed proof");
    }
    let header = json_object(header).ok_or("malformed proof")?;
    check_header(&header)?;
    let (key, jkt) = match header.get("jwk") {
        Some(Value::Object(jwk)) => public_key(jwk)?,
        _ => return Err("proof has no jwk"),
    };
    // JWS ES256 is the 64-byte `r || s` (RFC 7518 §3.4).
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .filter(|bytes| bytes.len() == 64)
        .ok_or("malformed proof signature")?;
    let signing_input = &compact[..compact.len() - parts[2].len() - 1];
    // ring's P-256 (assembly) verifies in about a quarter of the time of the pure-Rust
    // `p256` crate, and every request with a bound token pays for one; it also refuses a
    // point that is not on the curve.
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "invalid proof signature")?;
    let claims = json_object(payload).ok_or("malformed proof")?;
    read_claims(&claims, jkt)
}

/// `typ`, `alg` and the parameters a proof must not have (§4.3 steps 4 and 5).
fn check_header(header: &Map<String, Value>) -> Result<(), &'static str> {
    // RFC 7515 §4.1.9: media type names compare case-insensitively, and the
    // `application/` prefix may be left out.
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    if !typ.eq_ignore_ascii_case(bank_protocol::dpop::PROOF_TYP) {
        return Err("not a DPoP proof (typ must be dpop+jwt)");
    }
    match header.get("alg").and_then(Value::as_str) {
        Some(bank_protocol::dpop::ALG_ES256) => {}
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            return Err("unsigned proofs are refused (alg none)");
        }
        Some(alg) if alg.starts_with("HS") => {
            return Err("symmetric proof algorithms are refused");
        }
        _ => return Err("proof signature algorithm not allowed"),
    }
    if KEY_REFERENCE_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err("proof must carry its key in jwk only");
    }
    // RFC 7515 §4.1.11: no extension is understood, so any `crit` means "refuse".
    if header.contains_key("crit") {
        return Err("unsupported critical header in proof");
    }
    Ok(())
}

/// The P-256 public key of a `jwk`, as an uncompressed SEC1 point, and its thumbprint (§4.3
/// step 7: a private key in the header means the client's key is no longer private, so it
/// proves nothing).
fn public_key(jwk: &Map<String, Value>) -> Result<(Vec<u8>, String), &'static str> {
    if PRIVATE_KEY_MEMBERS
        .iter()
        .any(|name| jwk.contains_key(*name))
    {
        return Err("proof jwk must be a public key");
    }
    let member = |name| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") {
        return Err("proof jwk must be a P-256 public key");
    }
    let (Some(x), Some(y)) = (member("x"), member("y")) else {
        return Err("invalid proof jwk");
    };
    // The strict decoder refuses non-canonical encodings, so one key has one thumbprint.
    let coordinate = |c: &str| {
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .filter(|bytes| bytes.len() == 32)
    };
    let (Some(xb), Some(yb)) = (coordinate(x), coordinate(y)) else {
        return Err("invalid proof jwk");
    };
    let sec1 = [&[4u8][..], &xb, &yb].concat();
    // A point off the curve is no key at all (a cheap check of the curve equation).
    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| "invalid proof jwk")?;
    Ok((sec1, bank_protocol::dpop::p256_thumbprint(x, y)))
}

/// The claims of §4.2: `jti`, `htm`, `htu` and `iat` are required; `ath` and `nonce` are
/// checked by the verifier when the request calls for them.
fn read_claims(claims: &Map<String, Value>, jkt: String) -> Result<SignedProof, &'static str> {
    let text = |name| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or("proof has no jti")?;
    if jti.len() > MAX_JTI_BYTES {
        return Err("proof jti too long");
    }
    let htm = text("htm").ok_or("proof has no htm")?;
    let htu = text("htu").ok_or("proof has no htu")?;
    let iat = numeric_date(claims.get("iat")).ok_or("proof has no valid iat")?;
    let optional = |name| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err("malformed proof claim"),
    };
    Ok(SignedProof {
        jkt,
        jti: jti.to_owned(),
        htm: htm.to_owned(),
        htu: htu.to_owned(),
        iat,
        ath: optional("ath")?,
        nonce: optional("nonce")?,
    })
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn json_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate as whole seconds, bounded so that adding a window can never overflow.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    const LIMIT: i64 = 1_000_000_000_000_000;
    let value = value?;
    if let Some(i) = value.as_i64() {
        return (-LIMIT..LIMIT).contains(&i).then_some(i);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f.abs() < LIMIT as f64).then(|| f.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn jwk(key: &SigningKey) -> Value {
        let point = key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256",
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        })
    }

    fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    fn claims() -> Value {
        json!({"jti": "j1", "htm": "GET", "htu": "http://127.0.0.1/v1/balance", "iat": 1})
    }

    #[test]
    fn a_well_formed_proof_verifies_and_names_its_key() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key)});
        let proof = verify_signature(&sign(&key, &header, &claims())).expect("verifies");
        let jwk = jwk(&key);
        assert_eq!(
            proof.jkt,
            bank_protocol::dpop::p256_thumbprint(
                jwk["x"].as_str().expect("x"),
                jwk["y"].as_str().expect("y")
            )
        );
        assert_eq!((proof.jti.as_str(), proof.iat), ("j1", 1));
        let header = json!({"typ": "application/DPoP+JWT", "alg": "ES256", "jwk": jwk});
        assert!(verify_signature(&sign(&key, &header, &claims())).is_ok());
    }

    #[test]
    fn header_rules_refuse_with_fixed_phrases() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let mut private = jwk(&key);
        private["d"] = json!(b64(&key.to_bytes()));
        let cases = [
            (
                json!({"typ": "JWT", "alg": "ES256", "jwk": jwk(&key)}),
                "typ",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk(&key)}),
                "not allowed",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
                "public key",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key), "kid": "k"}),
                "jwk only",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key), "crit": ["x"]}),
                "critical",
            ),
            (json!({"typ": "dpop+jwt", "alg": "ES256"}), "no jwk"),
        ];
        for (header, phrase) in cases {
            let err = verify_signature(&sign(&key, &header, &claims())).expect_err("refused");
            assert!(err.contains(phrase), "{header}: {err}");
        }
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&other)});
        assert_eq!(
            verify_signature(&sign(&key, &header, &claims())).expect_err("other key"),
            "invalid proof signature"
        );
        assert_eq!(
            verify_signature("a.b").expect_err("two parts"),
            "malformed proof"
        );
        assert_eq!(
            verify_signature(&"a".repeat(MAX_PROOF_BYTES + 1)).expect_err("large"),
            "proof too large"
        );
    }
}
