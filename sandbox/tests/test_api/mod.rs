//! Bank API tests over real HTTP on loopback: the API is served from a bound
//! `127.0.0.1:0` listener and validates tokens from a real, independently keyed issuer
//! (`common::issuer`) whose keys it fetches over HTTP.

mod test_accounts;
mod test_audit;
pub mod test_batches;
mod test_binary;
mod test_details;
mod test_keys;
mod test_sandbox;
mod test_token_cache;
mod test_tokens;
mod test_transfers;

use std::time::Duration;

use bank_sandbox::api::{self, AccountSeed, ApiConfig, ApiState};
use bank_sandbox::store;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::common::dpop::DpopKey;
use crate::common::issuer::TestIssuer;

pub const ALICE: &str = "usr_alice0000000001";
pub const BOB: &str = "usr_bob000000000002";

/// A bank API served on an ephemeral loopback port.
pub struct Api {
    pub state: ApiState,
    pub client: ApiClient,
    task: tokio::task::JoinHandle<()>,
}

/// A cheap, clonable HTTP client for the API (movable into spawned tasks).
#[derive(Clone)]
pub struct ApiClient {
    pub url: String,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Api {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.client
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The default test config for `issuer`: alice (1,000.00) and bob (500.00).
pub fn config(issuer: &str) -> ApiConfig {
    ApiConfig {
        issuer: issuer.to_owned(),
        accounts: vec![
            AccountSeed {
                handle: "alice".into(),
                sub: Some(ALICE.into()),
                balance_minor: 100_000,
            },
            AccountSeed {
                handle: "bob".into(),
                sub: Some(BOB.into()),
                balance_minor: 50_000,
            },
            // Filled in by the sandbox from its user store; skipped here.
            AccountSeed {
                handle: "carol".into(),
                sub: None,
                balance_minor: 1,
            },
        ],
        ..ApiConfig::default()
    }
}

impl Api {
    pub async fn start(config: ApiConfig) -> Api {
        let conn = store::open(None, store::bank::MIGRATIONS).expect("open bank store");
        Api::start_on(config, store::bank::BankStore::from_sqlite(conn)).await
    }

    /// The API over a store the test opened (another engine, a shared database). Its
    /// public URL is where it listens unless the config names one (a shared proxy's).
    pub async fn start_on(mut config: ApiConfig, store: store::bank::BankStore) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let url = format!("http://{}", listener.local_addr().expect("api address"));
        config.public_url.get_or_insert_with(|| url.clone());
        let state = ApiState::new(config, store).await.expect("api state");
        let app = api::router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve api");
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Api {
            state,
            client: ApiClient { url, http },
            task,
        }
    }

    pub async fn for_issuer(issuer: &TestIssuer) -> Api {
        Api::start(config(&issuer.issuer)).await
    }
}

impl ApiClient {
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Answer::from(req.send().await.expect("GET")).await
    }

    /// `GET path` with `Authorization: DPoP` and a fresh proof by `dpop` for it.
    pub async fn get_dpop(&self, path: &str, token: &str, dpop: &DpopKey) -> Answer {
        let url = format!("{}{path}", self.url);
        let proof = dpop.proof("GET", &url, Some(token));
        self.send_dpop(reqwest::Method::GET, path, token, &[&proof], None, None)
            .await
    }

    /// `POST /v1/transfers` with `Authorization: DPoP` and a fresh proof by `dpop`.
    pub async fn transfer_dpop(
        &self,
        token: &str,
        dpop: &DpopKey,
        key: &str,
        body: &Value,
    ) -> Answer {
        let url = format!("{}/v1/transfers", self.url);
        let proof = dpop.proof("POST", &url, Some(token));
        self.send_dpop(
            reqwest::Method::POST,
            "/v1/transfers",
            token,
            &[&proof],
            Some(key),
            Some(body),
        )
        .await
    }

    /// A request with `Authorization: DPoP <token>` and each of `proofs` as a `DPoP` header
    /// (an attack may send none, a forged one, or two).
    pub async fn send_dpop(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        proofs: &[&str],
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("authorization", format!("DPoP {token}"));
        for proof in proofs {
            req = req.header("DPoP", *proof);
        }
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Answer::from(req.send().await.expect("request")).await
    }

    /// `POST /v1/transfer-batches` with a bearer token.
    pub async fn batch(&self, token: &str, key: &str, body: &Value) -> Answer {
        let req = self
            .http
            .post(format!("{}/v1/transfer-batches", self.url))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body);
        Answer::from(req.send().await.expect("POST")).await
    }

    pub async fn transfer(&self, token: &str, key: &str, body: &Value) -> Answer {
        let req = self
            .http
            .post(format!("{}/v1/transfers", self.url))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body);
        Answer::from(req.send().await.expect("POST")).await
    }
}

/// A response, read completely.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    pub fn www_authenticate(&self) -> Option<&str> {
        self.header("www-authenticate")
    }

    /// Every `WWW-Authenticate` value, in order.
    pub fn challenges(&self) -> Vec<&str> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().expect("ASCII header"))
            .collect()
    }

    /// Asserts a problem+json answer with this status and `type` suffix.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let expected_type = if kind == "about:blank" {
            kind.to_owned()
        } else {
            format!("https://bank.example/problems/{kind}")
        };
        assert_eq!(self.body["type"], expected_type, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    }

    /// Asserts the single-use refusal: `401 invalid_token` "token already used".
    #[track_caller]
    pub fn assert_token_already_used(&self) {
        self.assert_problem(401, "token-already-used");
        assert_eq!(
            self.www_authenticate(),
            Some(r#"Bearer error="invalid_token", error_description="token already used""#),
        );
    }

    /// Asserts `401 invalid_token` with this exact description.
    #[track_caller]
    pub fn assert_invalid_token(&self, description: &str) {
        self.assert_problem(401, "invalid-token");
        assert_eq!(
            self.www_authenticate(),
            Some(
                format!(r#"Bearer error="invalid_token", error_description="{description}""#)
                    .as_str()
            ),
        );
        assert!(
            self.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(description)),
            "detail: {}",
            self.body
        );
    }
}

/// Runs the futures concurrently (as tasks) and collects their results in order.
pub async fn join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut handles = Vec::new();
    for f in futures {
        handles.push(tokio::spawn(f));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
