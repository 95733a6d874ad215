//! RFC 9449 (DPoP) over real HTTP: proofs signed here with `p256`, checked by the sandbox's
//! authorization server (`test_token_endpoint`), by the bank API with tokens from an
//! independent issuer (`test_api`), and by both together with the sandbox's own tokens
//! (`test_end_to_end`). The PostgreSQL replay test is in `test_postgres`.

mod test_api;
mod test_end_to_end;
mod test_token_endpoint;

use bank_sandbox::Sandbox;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::dpop::DpopKey;
use crate::common::issuer::{hs256, now, unsigned};
use crate::common::{CLIENT_ID, Pkce, exchange_dpop, get_code, token_endpoint, token_request_with};

pub const EVERYDAY: &str = "openid profile offline_access view:balance";

/// Signs in as alice with `scope` and redeems the code with a proof by `key`: the token
/// response.
pub async fn bound_login(sandbox: &Sandbox, key: &DpopKey, scope: &str) -> Value {
    let pkce = Pkce::new();
    let code = get_code(sandbox, &pkce, scope, &[]).await;
    let (status, _, body) = exchange_dpop(sandbox, &code, &pkce.verifier, key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body
}

/// A refresh of `refresh_token` with each of `proofs` as a `DPoP` header.
pub async fn refresh(
    sandbox: &Sandbox,
    refresh_token: &str,
    proofs: &[&str],
) -> (StatusCode, HeaderMap, Value) {
    token_request_with(
        sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", refresh_token),
        ],
        proofs,
    )
    .await
}

/// A proof for the token endpoint by `key`.
pub fn token_proof(sandbox: &Sandbox, key: &DpopKey) -> String {
    key.proof("POST", &token_endpoint(sandbox), None)
}

/// The claims of a JWT, read without verification (the tests verify signatures elsewhere).
pub fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// One way a proof can be wrong: the `DPoP` headers to send, and a phrase of the refusal.
pub struct Broken {
    pub case: &'static str,
    pub headers: Vec<String>,
    pub phrase: &'static str,
}

/// Every way of breaking a proof for `method` `url` that both servers must refuse with
/// `invalid_dpop_proof`, and, with an access token, the `ath` ones the API must. Each
/// proof has its own `jti`, so none is refused as a replay of another.
pub fn broken_proofs(
    key: &DpopKey,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Vec<Broken> {
    let claims = || key.claims(method, url, access_token, None);
    let edited = |edit: Value| {
        let mut c = claims();
        for (k, v) in edit.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign(&key.header(), &c)
    };
    let other_url = format!("{}/elsewhere", url.trim_end_matches('/'));
    let other_method = if method == "GET" { "POST" } else { "GET" };
    let mut header = key.header();
    header["typ"] = json!("JWT");
    let wrong_typ = key.sign(&header, &claims());
    let mut private = key.header();
    private["jwk"]["d"] = json!(key.d());
    let leaked = key.sign(&private, &claims());
    let mut none = key.header();
    none["alg"] = json!("none");
    let mut hs = key.header();
    hs["alg"] = json!("HS256");
    // HMAC keyed with the public key's bytes: the algorithm-confusion attack.
    let secret = key.jwk.to_string();
    let thief = DpopKey::new();
    let mut cases = vec![
        Broken {
            case: "for another URL",
            headers: vec![edited(json!({"htu": other_url}))],
            phrase: "htu",
        },
        Broken {
            case: "for another method",
            headers: vec![edited(json!({"htm": other_method}))],
            phrase: "htm",
        },
        Broken {
            case: "signed by another key than its jwk",
            headers: vec![thief.sign(&key.header(), &claims())],
            phrase: "invalid proof signature",
        },
        Broken {
            case: "too old",
            headers: vec![edited(json!({"iat": now() - 120}))],
            phrase: "too old",
        },
        Broken {
            case: "from the future",
            headers: vec![edited(json!({"iat": now() + 60}))],
            phrase: "future",
        },
        Broken {
            case: "alg none",
            headers: vec![unsigned(&none, &claims())],
            phrase: "alg none",
        },
        Broken {
            case: "HS256",
            headers: vec![hs256(&hs, &claims(), secret.as_bytes())],
            phrase: "symmetric",
        },
        Broken {
            case: "a jwk carrying the private key",
            headers: vec![leaked],
            phrase: "public key",
        },
        Broken {
            case: "a wrong typ",
            headers: vec![wrong_typ],
            phrase: "typ",
        },
        Broken {
            case: "without jti",
            headers: vec![edited(json!({"jti": null}))],
            phrase: "jti",
        },
        Broken {
            case: "two DPoP headers",
            headers: vec![
                key.sign(&key.header(), &claims()),
                key.sign(&key.header(), &claims()),
            ],
            phrase: "more than one DPoP header",
        },
    ];
    if access_token.is_some() {
        cases.push(Broken {
            case: "without ath",
            headers: vec![edited(json!({"ath": null}))],
            phrase: "no ath",
        });
        cases.push(Broken {
            case: "with the ath of another token",
            headers: vec![edited(
                json!({"ath": bank_protocol::dpop::access_token_hash("another token")}),
            )],
            phrase: "ath",
        });
    }
    cases
}
