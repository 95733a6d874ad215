//! Request extractors whose failures answer in problem+json like everything else:
//! [`AppJson`] (content type checked, 16 KiB cap, strict parsing) and [`IdempotencyKey`].
//!
//! axum's own `Json` answers its rejections in plain text; a client that understands our
//! problem documents must not have to special-case malformed bodies.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON body. Requires `Content-Type: application/json` (or `application/*+json`);
/// syntax errors answer 400, well-formed JSON of the wrong shape (unknown fields, wrong
/// types, duplicates) answers 422, an oversized body 413, another media type 415.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // `Bytes` honours the router's `DefaultBodyLimit`.
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("The request body could not be read.".into())
            }
        })?;
        let value = serde_json::from_slice(&body).map_err(|err| {
            use serde_json::error::Category;
            match err.classify() {
                Category::Data => {
                    ApiError::InvalidBody(format!("The JSON body is not a valid request: {err}."))
                }
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::BadRequest(format!("The body is not valid JSON: {err}."))
                }
            }
        })?;
        // serde's derived structs also accept JSON arrays (`["bob", "1.00"]`); our bodies
        // are objects, and anything else is a client bug worth reporting.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::InvalidBody(
                "The JSON body must be an object.".into(),
            ));
        }
        Ok(AppJson(value))
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The `Idempotency-Key` header: required, 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all("idempotency-key").iter();
        let Some(value) = values.next() else {
            return Err(ApiError::MissingIdempotencyKey);
        };
        if values.next().is_some() {
            return Err(ApiError::BadRequest(
                "Send exactly one Idempotency-Key header.".into(),
            ));
        }
        let key = value
            .to_str()
            .ok()
            .and_then(|text| bank_protocol::IdempotencyKey::parse(text).ok())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "The Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
                )
            })?;
        Ok(IdempotencyKey(key.as_str().to_owned()))
    }
}
