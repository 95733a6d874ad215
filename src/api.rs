//! The bank API client (DESIGN.md "Bank API"), and what its failures mean.
//!
//! Every answer is turned into data or a [`ClientError`] variant a caller can act on: a
//! `401 invalid_token` means "refresh or log in again", a `403 insufficient_scope` or RFC 9470
//! `401 insufficient_user_authentication` means "step up" (with the scope/acr/max_age the
//! `WWW-Authenticate` challenge named, parsed by `challenge.rs`), other 4xx carry the RFC 9457
//! problem body's text, and 5xx or transport failures are the server's or network's fault.
//! Bodies are kept as `serde_json::Value` so `--json` passes the API's objects through as-is.

use std::fmt;

use oauth2::AccessToken;
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;

use crate::challenge::BearerChallenge;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// RFC 6750 §3.1 `invalid_token` (or a 401 without a usable challenge).
    #[error("the bank API rejected the access token{}", suffix(.description))]
    InvalidToken { description: Option<String> },
    /// RFC 6750 §3.1 `insufficient_scope` or RFC 9470 `insufficient_user_authentication`.
    #[error("the bank API requires a stronger authorization{}", suffix(.description))]
    StepUpRequired {
        error: String,
        scope: Vec<String>,
        acr_values: Vec<String>,
        max_age: Option<u64>,
        description: Option<String>,
    },
    #[error("the bank API refused: {problem}")]
    Forbidden { problem: Problem },
    #[error("the bank API rejected the request: {problem}")]
    BadRequest { problem: Problem },
    #[error("the bank API failed: {problem}")]
    Server { problem: Problem },
    #[error("unexpected answer from the bank API ({status}): {what}")]
    UnexpectedResponse { status: StatusCode, what: String },
    #[error("cannot reach the bank API at {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

fn suffix(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

/// An RFC 9457 problem (or the best we can say about a non-problem error body).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(skip)]
    pub status: u16,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        match (&self.title, &self.detail) {
            (Some(t), Some(d)) if t != d => write!(f, "{t} ({}): {d}", self.status),
            (Some(t), _) => write!(f, "{t} ({})", self.status),
            (None, Some(d)) => write!(f, "{d} ({})", self.status),
            (None, None) => write!(f, "{} {reason}", self.status),
        }
    }
}

/// Talks to one bank API base URL.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    pub fn new(http: reqwest::Client, base: &str) -> ApiClient {
        ApiClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/balance` → `{"account","balance","currency"}`.
    pub async fn balance(&self, token: &AccessToken) -> Result<Value, ClientError> {
        self.send(Method::GET, "/v1/balance", token, None).await
    }

    /// `GET /v1/transfers` → the account's transfers, newest first.
    pub async fn transfers(
        &self,
        token: &AccessToken,
        limit: Option<u32>,
    ) -> Result<Value, ClientError> {
        let path = match limit {
            Some(n) => format!("/v1/transfers?limit={n}"),
            None => "/v1/transfers".to_owned(),
        };
        self.send(Method::GET, &path, token, None).await
    }

    /// One authenticated request. `extra` adds a JSON body and headers (e.g. the transfer's
    /// `Idempotency-Key`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &AccessToken,
        extra: Option<(Value, Vec<(&'static str, String)>)>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(token.secret())
            .header(header::ACCEPT, "application/json");
        if let Some((body, headers)) = extra {
            request = request.json(&body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Network {
                url: self.base.clone(),
                source: source.without_url(),
            })?;
        interpret(response, &self.base).await
    }
}

async fn interpret(response: reqwest::Response, base: &str) -> Result<Value, ClientError> {
    let status = response.status();
    let challenge = BearerChallenge::from_headers(
        response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let bytes = response
        .bytes()
        .await
        .map_err(|source| ClientError::Network {
            url: base.to_owned(),
            source: source.without_url(),
        })?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|_| ClientError::UnexpectedResponse {
            status,
            what: "the body is not JSON".into(),
        });
    }
    let mut problem: Problem = serde_json::from_slice(&bytes).unwrap_or_default();
    problem.status = status.as_u16();

    let error = challenge.as_ref().and_then(|c| c.error.clone());
    match (status, error.as_deref()) {
        (StatusCode::UNAUTHORIZED, Some("insufficient_user_authentication"))
        | (StatusCode::FORBIDDEN, Some("insufficient_scope")) => {
            let c = challenge.unwrap_or_default();
            Err(ClientError::StepUpRequired {
                error: error.unwrap_or_default(),
                scope: c.scope,
                acr_values: c.acr_values,
                max_age: c.max_age,
                description: c.error_description,
            })
        }
        (StatusCode::UNAUTHORIZED, _) => Err(ClientError::InvalidToken {
            description: challenge
                .and_then(|c| c.error_description)
                .or(problem.detail),
        }),
        (StatusCode::FORBIDDEN, _) => Err(ClientError::Forbidden { problem }),
        // RFC 9457 bodies for bad input: the request itself was wrong (exit 2).
        (StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY, _) => {
            Err(ClientError::BadRequest { problem })
        }
        // 404, 405, …: the CLI and the API disagree (wrong `api_url`?), not the person's input.
        (s, _) if s.is_client_error() => Err(ClientError::UnexpectedResponse {
            status: s,
            what: problem.to_string(),
        }),
        (s, _) if s.is_server_error() => Err(ClientError::Server { problem }),
        (s, _) => Err(ClientError::UnexpectedResponse {
            status: s,
            what: "unexpected status".into(),
        }),
    }
}

/// Formats integer-free decimal strings for people: `1000.00` → `1,000.00`. The API sends
/// money as a decimal string with two places; it is never parsed into a float.
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands_without_floats() {
        for (input, want) in [
            ("1000.00", "1,000.00"),
            ("975.00", "975.00"),
            ("1234567.89", "1,234,567.89"),
            ("-25.00", "-25.00"),
            ("-1000.50", "-1,000.50"),
            ("0.00", "0.00"),
            ("weird", "weird"),
        ] {
            assert_eq!(group_thousands(input), want);
        }
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            title: Some("Insufficient funds".into()),
            detail: Some("balance is 10.00 USD".into()),
            kind: None,
            status: 422,
        };
        assert_eq!(
            p.to_string(),
            "Insufficient funds (422): balance is 10.00 USD"
        );
        let p = Problem {
            status: 503,
            ..Problem::default()
        };
        assert_eq!(p.to_string(), "503 Service Unavailable");
    }
}
