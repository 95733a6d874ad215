//! RFC 9126 pushed authorization requests: `POST /oauth/par`, and `/authorize` with the
//! `request_uri` it hands out.
//!
//! A push is validated by the very rules `/authorize` applies (`validate_request`, one copy):
//! a bad request fails at the push with the error `/authorize` would have redirected with,
//! as RFC 6749 §5.2 JSON (RFC 9126 §2.3). Only public clients exist here, so, as at the
//! token endpoint, `client_id` names the client and nothing authenticates it; PKCE binds the
//! eventual code to whoever pushed (RFC 9126 §2.1, RFC 9700 §2.1.1).
//!
//! What was pushed is stored as pushed, under the hash of a random `request_uri`, and
//! validated again when the browser brings that `request_uri` to `/authorize` (§4): once,
//! within its lifetime, and only with the `client_id` that pushed it. There, the pushed
//! parameters are the request; any other parameter in the URL is ignored (RFC 9101 §6.3,
//! which §4 builds on). A `request_uri` that is unknown, expired, spent or another client's
//! gets a page, never a redirect: nothing about it can be trusted to say where to go, and a
//! stale link opened again must not end a login that is still running.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::post};
use serde::Serialize;

use super::authorize::{Unregistered, Via, param, parse_params};
use super::config::AuthzConfig;
use super::pages::error_page;
use super::secrets::{self, Secret};
use super::token::form_params;
use super::{AuthzEvent, AuthzState};
use crate::error::OAuthError;
use crate::store::authz::PushedUse;

/// RFC 9126 §2.2's suggested form: a URN with a random reference.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Where clients push.
pub const PATH: &str = "/oauth/par";
/// What a push holds besides its payments: an authorization request with one payment's
/// details is well under 4 KiB.
const BASE_REQUEST_BYTES: usize = 16 * 1024;
/// The most one payment adds to a form-encoded request, measured (see the test below) for
/// the worst valid one: a 64-character handle, the largest amount, and a memo of 140
/// four-byte characters, each percent-encoded as 12 bytes. A typical payment with a
/// 140-character ASCII memo adds about 250 (a batch of 1,000 such: 253,121 bytes).
pub(crate) const MAX_PAYMENT_BYTES: usize = 2560;
/// Most payments `[authz] max_batch_payments` may allow: the body limit grows with it.
pub(crate) const MAX_BATCH_PAYMENTS_BOUND: usize = 10_000;

/// The body limit of the endpoints a batch travels through (the push, the device
/// authorization request): room for the largest valid request this server accepts, so a
/// batch of `max_batch_payments` (2.5 MB for the default 1,000) always fits; bigger bodies
/// are answered 413 (RFC 9126 §2.3) before anything is parsed.
pub(crate) fn max_request_bytes(config: &AuthzConfig) -> usize {
    let payments = if config.authorization_details {
        config.max_inline_payments.max(config.max_batch_payments)
    } else {
        0
    };
    BASE_REQUEST_BYTES + payments * MAX_PAYMENT_BYTES
}

/// The RFC 9126 §2.2 success body.
#[derive(Serialize)]
pub struct PushResponse {
    request_uri: String,
    expires_in: u64,
}

impl IntoResponse for PushResponse {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::CREATED, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

/// Checks the PAR settings of `[authz]`.
pub(crate) fn check_config(config: &AuthzConfig) -> Result<(), String> {
    if !(1..=600).contains(&config.request_uri_lifetime_secs) {
        return Err("request_uri_lifetime_secs must be between 1 and 600".into());
    }
    if config.max_inline_payments == 0 {
        return Err("max_inline_payments must be at least 1".into());
    }
    if config.max_inline_payments > MAX_BATCH_PAYMENTS_BOUND
        || config.max_batch_payments > MAX_BATCH_PAYMENTS_BOUND
    {
        return Err(format!(
            "max_inline_payments and max_batch_payments must be at most {MAX_BATCH_PAYMENTS_BOUND}"
        ));
    }
    if !config.pushed_authorization_requests
        && let Some(client) = config
            .clients
            .iter()
            .find(|c| c.require_pushed_authorization_requests)
    {
        return Err(format!(
            "client {} requires pushed authorization requests, which pushed_authorization_requests = false turns off",
            client.client_id
        ));
    }
    Ok(())
}

/// The route, when the server offers PAR.
pub(crate) fn routes(state: &AuthzState) -> Router<AuthzState> {
    let router = Router::new();
    if !state.config().pushed_authorization_requests {
        return router;
    }
    router.route(
        PATH,
        post(push).layer(axum::extract::DefaultBodyLimit::max(max_request_bytes(
            state.config(),
        ))),
    )
}

impl AuthzState {
    /// RFC 9126 §5: the endpoint, and whether it is the only way in. That holds for the
    /// server as a whole only when every client is held to it (§6 is per client).
    pub(crate) fn par_metadata(&self) -> Option<(String, bool)> {
        let config = self.config();
        if !config.pushed_authorization_requests {
            return None;
        }
        let required = !config.clients.is_empty()
            && config
                .clients
                .iter()
                .all(|c| c.require_pushed_authorization_requests);
        Some((format!("{}{PATH}", self.base_url()), required))
    }

    /// RFC 9126 §2.1: identify the client, refuse a `request_uri`, validate the request as
    /// `/authorize` would, then keep it under a fresh `request_uri`.
    fn push_request(&self, params: Vec<(String, String)>) -> Result<PushResponse, OAuthError> {
        let client_id = param(&params, "client_id")
            .ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
        if self.config().client(client_id).is_none() {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        if param(&params, "request_uri").is_some() {
            return Err(OAuthError::invalid_request(
                "request_uri must not be pushed (RFC 9126 §2.1)",
            ));
        }
        let (client, redirect_uri) = self.registered_client_and_redirect(&params).map_err(
            |unregistered| match unregistered {
                Unregistered::Client => OAuthError::invalid_client("unknown client"),
                Unregistered::RedirectUri => OAuthError::invalid_request(
                    "redirect_uri is missing or not registered for this client",
                ),
            },
        )?;
        let txn = self.validate_request(&params, &client.client_id, redirect_uri)?;

        self.maybe_purge();
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", Secret::generate().expose());
        let lifetime = self.config().request_uri_lifetime_secs;
        let now = self.now();
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        self.store().insert_pushed_request(
            &secrets::sha256(request_uri.as_bytes()),
            &client.client_id,
            &encoded,
            now,
            now + i64::try_from(lifetime).unwrap_or(60),
        )?;
        self.record(AuthzEvent::AuthorizationPushed {
            client_id: client.client_id.clone(),
            scope: txn.scope,
            login_hint: param(&params, "login_hint").map(str::to_owned),
            authorization_details: param(&params, "authorization_details")
                .map(super::binding::recorded_details),
            parameters: params.iter().map(|(k, _)| k.clone()).collect(),
        });
        Ok(PushResponse {
            request_uri,
            expires_in: lifetime,
        })
    }

    /// `/authorize?client_id=…&request_uri=…`: spends the pushed request and continues with
    /// its parameters as the request.
    pub(crate) fn start_pushed_authorization(
        &self,
        url_params: &[(String, String)],
        request_uri: &str,
        headers: &HeaderMap,
    ) -> Response {
        let Some(client) = param(url_params, "client_id").and_then(|id| self.config().client(id))
        else {
            return Unregistered::Client.page();
        };
        let used = self.store().use_pushed_request(
            &secrets::sha256(request_uri.as_bytes()),
            &client.client_id,
            self.now(),
        );
        let pushed = match used {
            Ok(PushedUse::Fresh(pushed)) => pushed,
            Ok(refused) => return refusal_page(&refused, self.config().request_uri_lifetime_secs),
            Err(err) => {
                tracing::error!(error = %err, "pushed request store failure");
                return error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Please start again from the application.",
                );
            }
        };
        match parse_params(pushed.as_bytes()) {
            Ok(params) => self.authorize_params(&params, headers, Via::Push),
            Err(msg) => error_page(StatusCode::BAD_REQUEST, "Invalid request", &msg),
        }
    }
}

/// What the person sees for a `request_uri` that cannot be used.
fn refusal_page(refused: &PushedUse, lifetime_secs: u64) -> Response {
    let again = "Start again from the application.";
    let (heading, detail) = match refused {
        PushedUse::Expired => (
            "Sign-in request expired",
            format!(
                "This sign-in link works for {lifetime_secs} seconds after the application made it, and that time is over. {again}"
            ),
        ),
        PushedUse::AlreadyUsed => (
            "Sign-in request already used",
            format!("Each sign-in link works once, and this one has been opened before. {again}"),
        ),
        PushedUse::OtherClient => (
            "Wrong application",
            format!("This sign-in request was made by another application. {again}"),
        ),
        PushedUse::Unknown | PushedUse::Fresh(_) => (
            "Unknown sign-in request",
            format!("This bank knows no sign-in request by this link. {again}"),
        ),
    };
    error_page(StatusCode::BAD_REQUEST, heading, &detail)
}

pub async fn push(State(state): State<AuthzState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let mut params = form_params(&headers, &body)?;
        // RFC 9449 §10.1: a proof at the push binds the code as `dpop_jkt` does; when both
        // are sent they must name the same key.
        let named = param(&params, "dpop_jkt")
            .filter(|jkt| !jkt.is_empty())
            .map(str::to_owned);
        if let Some(jkt) = state
            .request_dpop_key(&headers, PATH, named.as_deref())
            .await?
        {
            params.retain(|(k, _)| k != "dpop_jkt");
            params.push(("dpop_jkt".into(), jkt));
        }
        state.push_request(params)
    };
    state.with_dpop_nonce(match answer.await {
        Ok(pushed) => pushed.into_response(),
        Err(err) => err.into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifetime_is_bounded_and_a_requirement_needs_the_endpoint() {
        let mut config = AuthzConfig::default();
        assert!(check_config(&config).is_ok());
        config.request_uri_lifetime_secs = 0;
        assert!(check_config(&config).is_err());
        config.request_uri_lifetime_secs = 601;
        assert!(check_config(&config).is_err());
        config.request_uri_lifetime_secs = 60;
        config.clients[0].require_pushed_authorization_requests = true;
        assert!(check_config(&config).is_ok());
        config.pushed_authorization_requests = false;
        assert!(check_config(&config).is_err());
        config.pushed_authorization_requests = true;
        config.max_inline_payments = 0;
        assert!(check_config(&config).is_err());
        config.max_inline_payments = 5;
        config.max_batch_payments = MAX_BATCH_PAYMENTS_BOUND + 1;
        assert!(check_config(&config).is_err());
    }

    /// The worst valid payment, form-encoded in both detail types, fits its allowance; so
    /// does the default batch of 1,000 such payments with the request around it.
    #[test]
    fn the_largest_valid_payment_fits_its_allowance() {
        let memo: String = "\u{1F600}".repeat(bank_protocol::text::MAX_MEMO_CHARS);
        let handle = "a".repeat(bank_protocol::text::MAX_HANDLE_LEN);
        let order = bank_protocol::TransferOrder::new(
            &handle,
            "10000.00",
            "USD",
            Some(&memo),
            bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR,
        )
        .expect("the worst valid payment");
        let api = AuthzConfig::default().api_identifier;
        let encoded = |json: String| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("authorization_details", &json)
                .finish()
                .len()
        };
        let inline = bank_protocol::Approval::for_order(&order, Some(&api)).to_json();
        assert!(encoded(inline) <= MAX_PAYMENT_BYTES);
        let batch = bank_protocol::BatchOrder::new(vec![order; 1000], 1000).expect("batch");
        let detail = bank_protocol::Approval::Batch(bank_protocol::PaymentBatch::for_batch(
            &batch,
            Some(&api),
        ));
        let size = encoded(detail.to_json());
        assert!(size <= 1000 * MAX_PAYMENT_BYTES, "{size}");
        assert!(size + 4096 <= max_request_bytes(&AuthzConfig::default()));
    }
}
