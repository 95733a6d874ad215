//! RFC 9449 (DPoP) as both sides must compute it: the JWK thumbprint a token is bound to
//! (`cnf.jkt`, `dpop_jkt`), the access-token hash a proof carries (`ath`), the `htu` a proof
//! names, and the words on the wire. The CLI signs proofs and the sandbox verifies them; both
//! call these functions, so a thumbprint or a hash can never be computed two ways.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The request header that carries a proof (§4.1).
pub const DPOP_HEADER: &str = "DPoP";
/// The response header that carries a server-provided nonce (§8, §9).
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// The `typ` of a proof's JOSE header (§4.2).
pub const PROOF_TYP: &str = "dpop+jwt";
/// The `token_type` of a bound token and the `Authorization` scheme it is sent with (§5, §7.1).
pub const TOKEN_TYPE: &str = "DPoP";
/// The only signature algorithm `bank` signs with and the sandbox accepts: ES256 (P-256).
pub const ALG_ES256: &str = "ES256";
/// `error` codes of §7.1 (resource server) and §5.2 (authorization server).
pub const ERR_INVALID_PROOF: &str = "invalid_dpop_proof";
pub const ERR_USE_NONCE: &str = "use_dpop_nonce";

/// RFC 7638 thumbprint of a P-256 public key, `x` and `y` base64url as in its JWK: the
/// SHA-256 of the required members in lexicographic order, with no whitespace, base64url.
pub fn p256_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The `ath` claim (§4.2): base64url of the SHA-256 of the access token's ASCII text.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The `htu` of a request (§4.2, §4.3 step 9): the target URI without query and fragment.
/// Both sides normalize the same way, so `https://h/v1/balance?x=1` and
/// `https://h/v1/balance` name one resource.
pub fn htu(url: &url::Url) -> String {
    let mut target = url.clone();
    target.set_query(None);
    target.set_fragment(None);
    target.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_canonical_form() {
        // RFC 7638 §3.1 defines the member order; this is an independent SHA-256 of the
        // same canonical JSON, computed once with `printf … | sha256sum | xxd -r -p | base64`.
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        assert_eq!(
            p256_thumbprint(x, y),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
    }

    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            // RFC 9449 §7.1, Figure 13: the `ath` of this access token.
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn htu_drops_query_and_fragment_only() {
        let url = url::Url::parse("https://bank.example:8443/v1/transfers?limit=5#top").unwrap();
        assert_eq!(htu(&url), "https://bank.example:8443/v1/transfers");
        let plain = url::Url::parse("http://127.0.0.1:3000/v1/balance").unwrap();
        assert_eq!(htu(&plain), "http://127.0.0.1:3000/v1/balance");
    }
}
