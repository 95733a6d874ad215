//! The HTML the authorization server shows people: one layout (inline CSS, no external
//! assets), HTML escaping, and the security headers every page carries.
//!
//! Every interpolated value goes through [`esc`]. Inline CSS and JS are allowed by a
//! per-response CSP nonce rather than `'unsafe-inline'`, so an injected `<script>` could not
//! run even if escaping were ever missed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::secrets::random_b64;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--ink:#17212b;--muted:#5b6875;--brand:#0b4f6c;--brand-2:#0d6e94;--line:#d5dde5;--bg:#eef2f5;--ok:#1e7b4f;--bad:#b42318;--card:#fff}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
body{margin:0;min-height:100vh;display:flex;flex-direction:column}
header.bar{background:var(--brand);color:#fff;padding:.9rem 1.5rem;display:flex;align-items:center;gap:.6rem}
header.bar .logo{width:1.9rem;height:1.9rem;border-radius:.45rem;background:#fff;color:var(--brand);display:grid;place-items:center;font-weight:800}
header.bar .name{font-weight:700;letter-spacing:.02em;font-size:1.1rem}
header.bar .tag{margin-left:auto;font-size:.8rem;opacity:.85;border:1px solid rgba(255,255,255,.5);border-radius:999px;padding:.15rem .6rem}
main{flex:1;display:flex;justify-content:center;align-items:flex-start;padding:3rem 1rem}
.card{background:var(--card);width:100%;max-width:26rem;border-radius:.8rem;box-shadow:0 1px 2px rgba(16,24,40,.06),0 8px 24px rgba(16,24,40,.08);padding:2rem}
.card.wide{max-width:38rem}
h1{font-size:1.45rem;margin:0 0 .4rem}
p{line-height:1.5;margin:.4rem 0 1rem;color:var(--muted)}
label{display:block;font-weight:600;font-size:.92rem;margin:1rem 0 .35rem}
input[type=text],input[type=password]{width:100%;padding:.7rem .8rem;font-size:1rem;border:1px solid var(--line);border-radius:.5rem;background:#fff;color:var(--ink)}
button,.button{display:inline-block;width:100%;margin-top:1.4rem;padding:.75rem 1rem;font-size:1rem;font-weight:650;color:#fff;background:var(--brand);border:0;border-radius:.5rem;cursor:pointer;text-align:center;text-decoration:none}
button:hover,.button:hover{background:var(--brand-2)}
button.deny{background:#fff;color:var(--bad);border:1px solid var(--bad)}
:focus-visible{outline:3px solid #f5a524;outline-offset:2px}
.error{background:#fdecea;color:var(--bad);border:1px solid #f5c2bd;border-radius:.5rem;padding:.7rem .9rem;margin:0 0 1rem}
.notice{background:#e8f4ee;color:var(--ok);border:1px solid #b6dfc8;border-radius:.5rem;padding:.7rem .9rem;margin:0 0 1rem}
.what{border:1px solid var(--line);border-radius:.6rem;padding:1rem;margin:1rem 0}
.what strong{display:block;margin-bottom:.3rem}
.what ul{margin:.3rem 0 0 1.1rem;padding:0}
.status{display:flex;align-items:center;gap:.7rem;font-weight:600;margin:1.2rem 0}
.spinner{width:1.3rem;height:1.3rem;border:3px solid var(--line);border-top-color:var(--brand);border-radius:50%;animation:spin 1s linear infinite}
@media (prefers-reduced-motion:reduce){.spinner{animation:none}}
@keyframes spin{to{transform:rotate(360deg)}}
.request{border:1px solid var(--line);border-radius:.6rem;padding:1rem;margin:1rem 0}
.request .actions{display:flex;gap:.8rem}
.request form{flex:1}
.request button{margin-top:.8rem}
.muted{color:var(--muted);font-size:.88rem}
footer{text-align:center;color:var(--muted);font-size:.8rem;padding:1.2rem}
"#;

/// Renders a full page. `script` is inline JS allowed by this response's nonce.
pub fn page(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let nonce = random_b64(16);
    let script = script
        .map(|js| format!(r#"<script nonce="{nonce}">{js}</script>"#))
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · Bank</title>
<style nonce="{nonce}">{CSS}</style>
</head>
<body>
<header class="bar"><span class="logo" aria-hidden="true">B</span><span class="name">Bank</span><span class="tag">Sandbox</span></header>
{body}
<footer>Bank sandbox · a local authorization server for development</footer>
{script}
</body>
</html>
"#,
        title = esc(title),
    );
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

/// The page for requests that must not redirect (unknown client, bad redirect URI,
/// expired transaction): RFC 6749 §4.1.2.1 forbids redirecting to an unverified URI.
pub fn error_page(status: StatusCode, heading: &str, detail: &str) -> Response {
    let body = format!(
        r#"<main><section class="card" aria-labelledby="h"><h1 id="h">{}</h1><div class="error" role="alert">{}</div><p>Return to the application you came from and start again.</p></section></main>"#,
        esc(heading),
        esc(detail)
    );
    page(status, heading, &body, None)
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
