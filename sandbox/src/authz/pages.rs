//! The HTML the authorization server shows people, and the security headers every page
//! carries. Pages are askama templates (`sandbox/templates/*.html`, one layout with inline
//! CSS, no external assets), checked at compile time and HTML-escaped by default, so a
//! username, client name or scope description cannot become markup.
//!
//! Inline CSS and JS are allowed by a per-response CSP nonce rather than `'unsafe-inline'`,
//! so an injected `<script>` could not run even if escaping were ever bypassed.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::secrets::random_b64;

/// A page's CSP nonce, fresh per response; templates put it on their `<style>`/`<script>`.
pub struct Nonce(String);

impl std::fmt::Display for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Renders a page: `build` gets this response's nonce and returns the template.
pub fn page<T: Template>(status: StatusCode, build: impl FnOnce(Nonce) -> T) -> Response {
    let nonce = random_b64(16);
    let html = match build(Nonce(nonce.clone())).render() {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "page rendering failed");
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            security_headers(response.headers_mut());
            return response;
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    // No `form-action`: Chrome applies it to the redirect after a form post, which goes to
    // the client's loopback redirect URI on an arbitrary port.
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    security_headers(headers);
    response
}

/// Headers for every authz response a browser sees, pages and redirects alike.
pub fn security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nonce: Nonce,
    heading: &'a str,
    detail: &'a str,
}

/// The page for requests that must not redirect (unknown client, bad redirect URI,
/// expired transaction): RFC 6749 §4.1.2.1 forbids redirecting to an unverified URI.
pub fn error_page(status: StatusCode, heading: &str, detail: &str) -> Response {
    page(status, |nonce| ErrorPage {
        nonce,
        heading,
        detail,
    })
}

/// A 302 with the security headers.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            headers.insert(header::LOCATION, v);
        }
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect",
                "The redirect address is not valid.",
            );
        }
    }
    security_headers(headers);
    response
}
