//! The benchmark client's DPoP key (RFC 9449): ES256 proofs as a client signs them, one per
//! request (fresh `jti`, `iat` now, `ath` of the access token).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore as _;
use serde_json::json;

/// A P-256 key and the parts of every proof that do not change.
pub struct ProofKey {
    signing: SigningKey,
    /// `b64(header)`: `typ`, `alg` and the public `jwk`.
    header: String,
    /// RFC 7638 thumbprint, as `cnf.jkt` and `dpop_jkt` name it.
    pub jkt: String,
}

impl ProofKey {
    pub fn generate() -> ProofKey {
        ProofKey::from_signing(SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// The key of another process (`serve` prints it as [`ProofKey::export`]).
    pub fn import(d: &str) -> anyhow::Result<ProofKey> {
        let bytes = URL_SAFE_NO_PAD.decode(d)?;
        Ok(ProofKey::from_signing(SigningKey::from_slice(&bytes)?))
    }

    /// The private scalar, base64url: a throwaway benchmark key, handed to the load process.
    pub fn export(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.to_bytes())
    }

    fn from_signing(signing: SigningKey) -> ProofKey {
        let point = signing.verifying_key().to_encoded_point(false);
        let x = URL_SAFE_NO_PAD.encode(point.x().map(|x| x.to_vec()).unwrap_or_default());
        let y = URL_SAFE_NO_PAD.encode(point.y().map(|y| y.to_vec()).unwrap_or_default());
        let jkt = bank_protocol::dpop::p256_thumbprint(&x, &y);
        let header = json!({
            "typ": bank_protocol::dpop::PROOF_TYP,
            "alg": bank_protocol::dpop::ALG_ES256,
            "jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y},
        });
        ProofKey {
            signing,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            jkt,
        }
    }

    /// A proof for `method` `htu`, with the `ath` of `access_token` when given.
    pub fn proof(&self, method: &str, htu: &str, access_token: Option<&str>) -> String {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu,
            "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(bank_protocol::dpop::access_token_hash(token));
        }
        let input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// The server's cost of verifying one proof, in µs: every check the bank API makes (the
/// ES256 signature, `htm`, `htu`, `iat`, `ath`, the key) but the replay, through the
/// sandbox's own verifier, on up to 2,000 of `proofs` on this thread. The floor of a DPoP
/// request, against which the replay check is measured.
pub fn verify_us(proofs: &[String], htu: &str, token: &str, jkt: &str) -> anyhow::Result<f64> {
    use bank_sandbox::clock::Clock;
    use bank_sandbox::dpop::{ProofPolicy, ProofRequest, ProofVerifier};

    let verifier = ProofVerifier::new(ProofPolicy::default(), [0; 32], Clock::default());
    let url = url::Url::parse(htu)?;
    let request = ProofRequest {
        method: "GET",
        url: &url,
        access_token: Some(token),
        bound_to: Some(jkt),
    };
    let sample = &proofs[..proofs.len().min(2000)];
    let started = std::time::Instant::now();
    for proof in sample {
        verifier
            .check(proof, &request)
            .map_err(|err| anyhow::anyhow!("a proof did not verify: {err}"))?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / sample.len().max(1) as f64)
}
