//! The bottom of the stack: one HTTP exchange with the bank API, and what its answer means.
//!
//! Every answer becomes data or an [`ApiError`] a caller can act on: `401 invalid_token`
//! means "refresh or log in again"; `403 insufficient_scope` or RFC 9470
//! `401 insufficient_user_authentication` means "step up", with what the `WWW-Authenticate`
//! challenge named (parsed by `challenge`); other 4xx carry the RFC 9457 problem; 5xx
//! and transport failures are the server's or the network's fault.

use bank_protocol::Problem;
use bank_protocol::dpop::{
    DPOP_HEADER, ERR_INVALID_PROOF, ERR_USE_NONCE, NONCE_HEADER, TOKEN_TYPE,
};
use reqwest::{StatusCode, header};

use super::error::{ApiError, ClientError};
use super::observer::{Event, Observer};
use super::request::{ApiRequest, ApiResponse, Operation};
use crate::challenge::BearerChallenge;

/// Talks to one bank API base URL.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    base: String,
}

impl Transport {
    pub fn new(http: reqwest::Client, base: &str) -> Transport {
        Transport {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, operation: &Operation) -> String {
        format!("{}{}", self.base, operation.path())
    }

    pub fn url_of(&self, operation: &Operation) -> Option<url::Url> {
        url::Url::parse(&self.url(operation)).ok()
    }

    pub async fn send(
        &self,
        request: ApiRequest,
        observer: &dyn Observer,
    ) -> Result<ApiResponse, ClientError> {
        let method = request.operation.method();
        let url = self.url(&request.operation);
        observer.event(&Event::Request {
            method: method.as_str(),
            url: &url,
            operation: &request.operation,
            credential: request.credential.as_ref(),
            dpop_jkt: request
                .proof
                .as_ref()
                .and(request.credential.as_ref())
                .and_then(|c| c.sender())
                .map(|key| key.thumbprint()),
        });
        let mut http = self
            .http
            .request(method.clone(), &url)
            .header(header::ACCEPT, "application/json");
        match (&request.credential, &request.proof) {
            // RFC 9449 §7.1: a bound token travels in the DPoP scheme, beside its proof.
            (Some(credential), Some(proof)) => {
                http = http
                    .header(
                        header::AUTHORIZATION,
                        format!("{TOKEN_TYPE} {}", credential.access_token().secret()),
                    )
                    .header(DPOP_HEADER, proof);
            }
            (Some(credential), None) => http = http.bearer_auth(credential.access_token().secret()),
            (None, _) => {}
        }
        match &request.operation {
            Operation::Transfer { body, key } => {
                http = http.json(body).header("Idempotency-Key", key.as_str());
            }
            Operation::TransferBatch { body, key } => {
                http = http.json(body).header("Idempotency-Key", key.as_str());
            }
            Operation::Balance | Operation::History { .. } => {}
        }
        let response = http.send().await.map_err(|source| self.network(source))?;

        let status = response.status();
        // Read once: shown to the observer, then parsed for a step-up challenge.
        let challenges: Vec<String> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let shown = challenges.join(", ");
        observer.event(&Event::Response {
            method: method.as_str(),
            url: &url,
            status: status.as_u16(),
            www_authenticate: Some(shown.as_str()).filter(|h| !h.is_empty()),
        });
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let challenge = BearerChallenge::from_headers(challenges.iter().map(String::as_str));
        let only_dpop_offered = request.proof.is_none()
            && request.credential.is_some()
            && crate::challenge::offers_only_dpop(challenges.iter().map(String::as_str));
        let dpop_nonce = response
            .headers()
            .get(NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // RFC 9110 §10.2.3, in seconds (the HTTP-date form is not worth a parser here).
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|source| self.network(source))?;
        if status.is_success() {
            let body =
                serde_json::from_slice(&bytes).map_err(|_| ApiError::UnexpectedResponse {
                    status: status.as_u16(),
                    what: "the body is not JSON".into(),
                })?;
            return Ok(ApiResponse {
                status: status.as_u16(),
                body,
                replayed,
                dpop_nonce,
                recovered: false,
            });
        }
        Err(ClientError::Api(failure(
            status,
            challenge,
            dpop_nonce,
            only_dpop_offered,
            retry_after,
            &bytes,
        )))
    }

    fn network(&self, source: reqwest::Error) -> ClientError {
        ClientError::Api(ApiError::Network {
            url: self.base.clone(),
            source: source.without_url(),
        })
    }
}

/// Text from the server with anything that could act on a terminal, newlines included,
/// shown escaped.
fn one_line(text: String) -> String {
    bank_protocol::text::escape_hidden(&text, &[]).into_owned()
}

/// What a non-success answer means. `only_dpop_offered`: a bearer token was sent and the
/// answer challenges in the DPoP scheme alone.
fn failure(
    status: StatusCode,
    challenge: Option<BearerChallenge>,
    dpop_nonce: Option<String>,
    only_dpop_offered: bool,
    retry_after: Option<u64>,
    body: &[u8],
) -> ApiError {
    let mut problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    problem.status = status.as_u16();
    // The server's words end up in one line of an error message: they may not start another.
    problem.title = problem.title.map(one_line);
    problem.detail = problem.detail.map(one_line);
    if let Some(step_up) = challenge.as_ref().and_then(|c| c.step_up(status.as_u16())) {
        return ApiError::StepUpRequired(step_up);
    }
    let error = challenge.as_ref().and_then(|c| c.error.as_deref());
    match (status, error, dpop_nonce) {
        (StatusCode::UNAUTHORIZED, Some(ERR_USE_NONCE), Some(nonce)) => {
            return ApiError::UseDpopNonce { nonce };
        }
        (StatusCode::UNAUTHORIZED, Some(ERR_INVALID_PROOF), _) => {
            return ApiError::ProofRefused {
                description: challenge.and_then(|c| c.error_description).map(one_line),
            };
        }
        (StatusCode::UNAUTHORIZED, _, _) if only_dpop_offered => {
            return ApiError::DpopRequired {
                description: challenge.and_then(|c| c.error_description).map(one_line),
            };
        }
        _ => {}
    }
    match status {
        StatusCode::UNAUTHORIZED => ApiError::InvalidToken {
            description: challenge
                .and_then(|c| c.error_description)
                .map(one_line)
                .or(problem.detail),
        },
        StatusCode::FORBIDDEN => ApiError::Forbidden { problem },
        // RFC 9457 bodies for bad input: the request itself was wrong (exit 2).
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::BadRequest { problem }
        }
        // 404, 405, …: the CLI and the API disagree (wrong `api_url`?), not the input.
        s if s.is_client_error() => ApiError::UnexpectedResponse {
            status: s.as_u16(),
            what: problem.to_string(),
        },
        s if s.is_server_error() => ApiError::Server {
            problem,
            retry_after,
        },
        s => ApiError::UnexpectedResponse {
            status: s.as_u16(),
            what: "unexpected status".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_problem_cannot_act_on_the_terminal() {
        let body = br#"{"title":"Bad\nrequest","detail":"pay \u202ebob\u001b[2J","status":400}"#;
        let ApiError::BadRequest { problem } =
            failure(StatusCode::BAD_REQUEST, None, None, false, None, body)
        else {
            panic!("a 400 is a bad request");
        };
        assert_eq!(problem.title.as_deref(), Some("Bad\\u{a}request"));
        assert_eq!(
            problem.detail.as_deref(),
            Some("pay \\u{202e}bob\\u{1b}[2J")
        );
        let challenge = BearerChallenge::from_headers([
            "Bearer error=\"invalid_token\", error_description=\"x\u{7}y\"",
        ]);
        let ApiError::InvalidToken { description } =
            failure(StatusCode::UNAUTHORIZED, challenge, None, false, None, b"")
        else {
            panic!("a 401 invalid_token");
        };
        assert_eq!(description.as_deref(), Some("x\\u{7}y"));
    }
}
