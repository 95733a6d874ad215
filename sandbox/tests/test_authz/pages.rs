//! The pages escape what they show: a typed username, a client name and scope
//! descriptions from the configuration cannot become markup, and the only scripts on a
//! page are the server's own, carrying the response's CSP nonce.

use bank_sandbox::SandboxConfig;
use reqwest::StatusCode;

use crate::common::*;

const HOSTILE: &str = r#""><script>alert('x')</script><img src=x onerror="alert(1)">"#;

/// The markup `HOSTILE` must never appear as.
fn assert_inert(page: &Page) {
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        unescape(&page.body).contains(HOSTILE),
        "shown as text: {}",
        page.body
    );
    // The server's own scripts, and only those, carry this response's nonce.
    let csp = page.header("content-security-policy").expect("CSP");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the CSP");
    assert_eq!(
        page.body.matches("<script").count(),
        page.body
            .matches(&format!(r#"<script nonce="{nonce}">"#))
            .count(),
        "{}",
        page.body
    );
}

/// HTML text with character references decoded (the few an escaper emits).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&e| e <= 8);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            num => num
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32),
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn hostile_names_and_descriptions_are_shown_as_text() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients[0].name = format!("bank CLI {HOSTILE}");
    for scope in &mut config.authz.scopes {
        if scope.name == "transfer:funds" {
            scope.description = format!("move money {HOSTILE}");
        }
    }
    let sandbox = start_with(config).await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);

    // The login page names the client; a failed sign-in shows the typed name again.
    let first = browser.get(&url).await;
    let login = browser.get(first.location()).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_inert(&login);
    let again = browser.submit_login(&login, HOSTILE, "nope").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_inert(&again);
    assert!(
        again.body.contains(r#"name="username" value="&"#),
        "the attribute is not closed early: {}",
        again.body
    );

    // The waiting page names the client and what it asks for, and has its poller.
    let waiting = browser.submit_login(&again, "alice", "wonderland").await;
    assert!(waiting.location().starts_with("/mfa/wait?"));
    let wait = browser.get(waiting.location()).await;
    assert_eq!(wait.status, StatusCode::OK);
    assert_inert(&wait);
    assert!(
        unescape(&wait.body).contains(&format!("move money {HOSTILE}")),
        "{}",
        wait.body
    );
    assert_eq!(wait.body.matches("<script").count(), 1, "the poller");

    // So does the authenticator, once signed in.
    let mut phone = Browser::new(&sandbox);
    let signin = phone.get("/authenticator").await;
    let csrf = signin.input("csrf_token");
    let signed_in = phone
        .post_form(
            "/authenticator/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let list = phone.get("/authenticator").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Approve"), "{}", list.body);
    assert_inert(&list);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn error_pages_escape_too() {
    // A repeated parameter is named on the error page it gets.
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let name: String = url::form_urlencoded::byte_serialize(HOSTILE.as_bytes()).collect();
    let url = format!("{}/authorize?{name}=1&{name}=2", sandbox.issuer());
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("is repeated"), "{}", page.body);
    assert_inert(&page);
    assert_eq!(page.body.matches("<script").count(), 0, "{}", page.body);
    sandbox.shutdown().await;
}
