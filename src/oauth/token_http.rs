//! The HTTP client of every token-endpoint request (code exchange, refresh, step-up, device
//! code): the shared reqwest client, plus — when the login is sender-constrained — a fresh
//! DPoP proof on each request (RFC 9449 §5) and the one retry §8 allows when the server
//! answers `use_dpop_nonce` with a `DPoP-Nonce` to put in the next proof.
//!
//! It plugs into the `oauth2` crate as its `AsyncHttpClient`, so every grant the crate sends
//! gets the proof without knowing about DPoP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use bank_protocol::dpop::{DPOP_HEADER, ERR_USE_NONCE, NONCE_HEADER};
use oauth2::http::{HeaderValue, StatusCode};
use oauth2::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

use crate::dpop::DpopKey;

pub struct TokenHttp<'a> {
    http: &'a reqwest::Client,
    key: Option<&'a DpopKey>,
    /// The authorization server's latest nonce (§8: it may send a new one on any answer).
    nonce: Mutex<Option<String>>,
}

impl<'a> TokenHttp<'a> {
    /// `key`: the login's DPoP key, or `None` for bearer tokens (no proof is sent).
    pub fn new(http: &'a reqwest::Client, key: Option<&'a DpopKey>) -> TokenHttp<'a> {
        TokenHttp {
            http,
            key,
            nonce: Mutex::new(None),
        }
    }

    fn current_nonce(&self) -> Option<String> {
        self.nonce.lock().ok().and_then(|n| n.clone())
    }

    /// Keeps the nonce the server sent, if any; `true` when it is a new one.
    fn remember_nonce(&self, response: &HttpResponse) -> bool {
        let Some(sent) = response
            .headers()
            .get(NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Ok(mut nonce) = self.nonce.lock() else {
            return false;
        };
        let changed = nonce.as_deref() != Some(sent);
        *nonce = Some(sent.to_owned());
        changed
    }

    async fn send(
        &self,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpClientError<reqwest::Error>> {
        let Some(key) = self.key else {
            return self.http.call(request).await;
        };
        let (parts, body) = request.into_parts();
        let url = url::Url::parse(&parts.uri.to_string())
            .map_err(|e| HttpClientError::Other(format!("token endpoint URL: {e}")))?;
        let with_proof =
            |nonce: Option<&str>| -> Result<HttpRequest, HttpClientError<reqwest::Error>> {
                let proof = key.proof(parts.method.as_str(), &url, None, nonce);
                let mut request = HttpRequest::from_parts(parts.clone(), body.clone());
                request.headers_mut().insert(
                    DPOP_HEADER,
                    HeaderValue::from_str(&proof)
                        .map_err(|_| HttpClientError::Other("unencodable DPoP proof".into()))?,
                );
                Ok(request)
            };
        let response = self
            .http
            .call(with_proof(self.current_nonce().as_deref())?)
            .await?;
        let fresh_nonce = self.remember_nonce(&response);
        // §8: one retry with the nonce the refusal carried; a second refusal is final.
        if fresh_nonce && asks_for_nonce(&response) {
            let retried = self
                .http
                .call(with_proof(self.current_nonce().as_deref())?)
                .await?;
            self.remember_nonce(&retried);
            return Ok(retried);
        }
        Ok(response)
    }
}

/// §8: `400` with `{"error": "use_dpop_nonce"}`.
fn asks_for_nonce(response: &HttpResponse) -> bool {
    response.status() == StatusCode::BAD_REQUEST
        && serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|body| body.get("error")?.as_str().map(|e| e == ERR_USE_NONCE))
            .unwrap_or(false)
}

impl<'c> AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
