//! Shared test helpers: start the sandbox in-process on ephemeral loopback ports, a tiny
//! scripted browser (no redirects followed, a small cookie jar), PKCE, and an independent
//! JWT check (p256 ECDSA over the JWS signing input, not the jsonwebtoken crate that signs).

#![allow(dead_code)]

pub mod dpop;
pub mod issuer;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bank_sandbox::{Sandbox, SandboxConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "bank-cli";
pub const AUDIENCE: &str = "https://bank.example/api";
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// Everything the sandboxes of this test binary log, captured by one global subscriber
/// (installed on first start) so tests can assert that no secret is ever logged. Other
/// tests must not install their own global subscriber.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<CapturedLogs> = OnceLock::new();

fn install_log_capture() -> &'static CapturedLogs {
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("bank_sandbox=trace")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the sandbox tests");
        logs
    })
}

/// All log output so far, from every sandbox this test binary started.
pub fn captured_logs() -> String {
    let logs = install_log_capture();
    let bytes = logs
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A sandbox with the default (contract) configuration, in memory, on ephemeral ports.
pub async fn start() -> Sandbox {
    start_with(SandboxConfig::ephemeral()).await
}

pub async fn start_with(config: SandboxConfig) -> Sandbox {
    install_log_capture();
    tokio::time::timeout(Duration::from_secs(60), Sandbox::start(config))
        .await
        .expect("sandbox starts in time")
        .expect("sandbox starts")
}

/// A plain HTTP client that never follows redirects (tests look at each hop).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// What a browser saw for one request.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .expect("a Location header")
            .to_str()
            .expect("ascii Location")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The number the MFA waiting page shows (`data-binding-code`), as a person reads it.
    pub fn binding_code(&self) -> String {
        let at = self
            .body
            .find(" data-binding-code>")
            .unwrap_or_else(|| panic!("a number to match in page:\n{}", self.body))
            + " data-binding-code>".len();
        let end = self.body[at..].find('<').expect("end of the number") + at;
        self.body[at..end].trim().to_owned()
    }

    /// The value of `<input ... name="NAME" value="...">` in the page.
    pub fn input(&self, name: &str) -> String {
        let needle = format!(r#"name="{name}" value=""#);
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("input {name} in page:\n{}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }
}

/// A cookie the scripted browser keeps.
#[derive(Debug, Clone)]
struct StoredCookie {
    name: String,
    value: String,
    path: String,
}

/// A scripted browser: a small cookie jar (name, value and `Path`, which the sandbox's
/// cookies use to keep the authenticator's session off other pages), follows nothing by
/// itself.
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    cookies: Vec<StoredCookie>,
}

impl Browser {
    pub fn new(sandbox: &Sandbox) -> Self {
        Self {
            base: sandbox.issuer().to_owned(),
            client: http(),
            cookies: Vec::new(),
        }
    }

    /// The login session cookie's value (`bank_session`), if the browser has one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("bank_session")
    }

    /// The value of the cookie `name`, if the browser has it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.clone())
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    /// The `Cookie` header for `url`: the cookies whose path matches (RFC 6265 §5.1.4).
    fn cookie_header(&self, url: &str) -> Option<String> {
        let path = url::Url::parse(url)
            .expect("absolute URL")
            .path()
            .to_owned();
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| {
                path == c.path
                    || (path.starts_with(&c.path)
                        && (c.path.ends_with('/') || path[c.path.len()..].starts_with('/')))
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let value = value.to_str().expect("ascii cookie");
            let mut parts = value.split(';').map(str::trim);
            let (name, cookie_value) = parts
                .next()
                .and_then(|pair| pair.split_once('='))
                .expect("cookie pair");
            let path = parts
                .find_map(|attr| attr.strip_prefix("Path="))
                .unwrap_or("/")
                .to_owned();
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            if !cookie_value.is_empty() {
                self.cookies.push(StoredCookie {
                    name: name.to_owned(),
                    value: cookie_value.to_owned(),
                    path,
                });
            }
        }
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let url = self.absolute(url);
        let mut request = self.client.get(&url);
        if let Some(c) = self.cookie_header(&url) {
            request = request.header("cookie", c);
        }
        let response = request.send().await.expect("GET");
        self.finish(response).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let url = self.absolute(url);
        let mut request = self.client.post(&url).form(form);
        if let Some(c) = self.cookie_header(&url) {
            request = request.header("cookie", c);
        }
        let response = request.send().await.expect("POST");
        self.finish(response).await
    }

    /// Submits the login form on `login` (a page from GET /login).
    pub async fn submit_login(&mut self, login: &Page, username: &str, password: &str) -> Page {
        let txn = login.input("txn");
        let csrf = login.input("csrf_token");
        self.post_form(
            "/login",
            &[
                ("txn", &txn),
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// A PKCE pair (RFC 7636), computed here independently of the server's code.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// The parameters of an authorization request for bank-cli with PKCE S256; `extra` adds or
/// overrides (an empty value removes).
pub fn authorize_params(pkce: &Pkce, scope: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", "http://127.0.0.1:43210/callback"),
        ("scope", scope),
        ("state", "st-123"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
        ("audience", AUDIENCE),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Builds an `/authorize` URL for bank-cli with PKCE S256; `extra` adds or overrides.
pub fn authorize_url(issuer: &str, pkce: &Pkce, scope: &str, extra: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(authorize_params(pkce, scope, extra))
        .finish();
    format!("{issuer}/authorize?{query}")
}

/// The query parameters of a redirect `Location`.
pub fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    query_of(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Runs /authorize → login (if asked) → redirect, returning the final redirect to the
/// client (a `Page` whose Location is the callback) or whatever page stopped the flow.
pub async fn authorize_and_login(
    browser: &mut Browser,
    url: &str,
    username: &str,
    password: &str,
) -> Page {
    let first = browser.get(url).await;
    if first.status != StatusCode::FOUND || !first.location().starts_with("/login?") {
        return first;
    }
    let login = browser.get(first.location()).await;
    assert_eq!(login.status, StatusCode::OK, "login page: {}", login.body);
    browser.submit_login(&login, username, password).await
}

/// The full no-MFA flow up to the code.
pub async fn get_code(
    sandbox: &Sandbox,
    pkce: &Pkce,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(sandbox.issuer(), pkce, scope, extra);
    let done = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    query_param(done.location(), "code").unwrap_or_else(|| panic!("code in {}", done.location()))
}

/// POSTs a form to the token endpoint; returns status, headers and JSON body.
pub async fn token_request(
    sandbox: &Sandbox,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    token_request_with(sandbox, form, &[]).await
}

/// [`token_request`] with each of `proofs` in a `DPoP` header (none, one, or — an attack —
/// several).
pub async fn token_request_with(
    sandbox: &Sandbox,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (StatusCode, HeaderMap, Value) {
    let mut request = http()
        .post(format!("{}/oauth/token", sandbox.issuer()))
        .form(form);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.expect("token request");
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("JSON token response");
    (status, headers, body)
}

pub async fn exchange(
    sandbox: &Sandbox,
    code: &str,
    verifier: &str,
) -> (StatusCode, HeaderMap, Value) {
    token_request(
        sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:43210/callback"),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// [`exchange`] with a DPoP proof by `key` for the token endpoint.
pub async fn exchange_dpop(
    sandbox: &Sandbox,
    code: &str,
    verifier: &str,
    key: &dpop::DpopKey,
) -> (StatusCode, HeaderMap, Value) {
    let proof = key.proof("POST", &token_endpoint(sandbox), None);
    exchange_with_proof(sandbox, code, verifier, &proof).await
}

/// [`exchange`] with `proof` in the `DPoP` header.
pub async fn exchange_with_proof(
    sandbox: &Sandbox,
    code: &str,
    verifier: &str,
    proof: &str,
) -> (StatusCode, HeaderMap, Value) {
    token_request_with(
        sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:43210/callback"),
            ("code_verifier", verifier),
        ],
        &[proof],
    )
    .await
}

/// The token endpoint's URL, as the metadata names it (the `htu` of its proofs).
pub fn token_endpoint(sandbox: &Sandbox) -> String {
    format!("{}/oauth/token", sandbox.issuer())
}

pub async fn get_json(url: &str) -> Value {
    let response = http().get(url).send().await.expect("GET JSON");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.expect("JSON")
}

/// Verifies a compact JWS against a JWKS with p256 directly (independent of jsonwebtoken):
/// ES256 only, signature over `header.payload`. Returns (header, claims).
pub fn verify_jwt(jwks: &Value, token: &str) -> (Value, Value) {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("header JSON");
    let claims: Value = serde_json::from_slice(&decode(parts[1])).expect("claims JSON");
    assert_eq!(header["alg"], "ES256", "algorithm allow-list");
    let kid = header["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} published in {jwks}"));
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    let x = decode(jwk["x"].as_str().expect("x"));
    let y = decode(jwk["y"].as_str().expect("y"));
    // SEC1 uncompressed point: 0x04 || x || y.
    let sec1 = [&[4u8][..], &x, &y].concat();
    let key = VerifyingKey::from_sec1_bytes(&sec1).expect("valid public key");
    let signature = Signature::from_slice(&decode(parts[2])).expect("64-byte signature");
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    key.verify(signing_input.as_bytes(), &signature)
        .expect("signature verifies");
    (header, claims)
}

/// The RFC 9396 `authorization_details` that ask for exactly the transfer `body` (a
/// `POST /v1/transfers` JSON body; the account's currency USD when it names none).
pub fn details_for(body: &serde_json::Value) -> String {
    let text = |name: &str| body[name].as_str();
    let order = bank_protocol::TransferOrder::new(
        text("to").expect("to"),
        text("amount").expect("amount"),
        text("currency").unwrap_or("USD"),
        text("memo"),
        bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR,
    )
    .expect("a valid transfer");
    serde_json::to_string(&[bank_protocol::PaymentInitiation::for_order(&order, None)])
        .expect("json")
}
