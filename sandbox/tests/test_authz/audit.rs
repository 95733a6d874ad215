//! What the security audit found to hold at the authorization server, each property pinned
//! by a test that fails if it breaks: PKCE is S256 only and needs the right verifier, and no
//! variant of a registered redirect URI is ever redirected to.
//!
//! Both tests use a browser that is already signed in: a request that got past a check
//! would then be answered with a code at once, not with a login page that hides the flaw.

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{AuthzEvent, ClientConfig};
use reqwest::StatusCode;

use crate::common::*;

const CALLBACK: &str = "http://127.0.0.1:43210/callback";

/// A browser with alice's session.
async fn signed_in(sandbox: &bank_sandbox::Sandbox) -> Browser {
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
    let done = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    browser
}

/// A code for `pkce` from a signed-in browser, straight from `/authorize`.
async fn code_for(browser: &mut Browser, iss: &str, pkce: &Pkce) -> String {
    let page = browser
        .get(&authorize_url(iss, pkce, "view:balance", &[]))
        .await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    assert!(page.location().starts_with(CALLBACK), "{}", page.location());
    query_param(page.location(), "code").expect("code")
}

/// A `Pkce` whose challenge is the S256 digest of `verifier`, whatever its shape.
fn pkce_for(verifier: &str) -> Pkce {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    Pkce {
        verifier: verifier.to_owned(),
        challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes())),
    }
}

#[tokio::test]
async fn pkce_is_s256_only_and_needs_the_right_verifier() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let mut browser = signed_in(&sandbox).await;

    // Only S256. `plain` is refused even with a challenge of S256's shape; so is a missing
    // method, which RFC 7636 §4.3 would read as `plain`, another spelling, and no challenge.
    let plain = Pkce::new();
    let refused: [&[(&str, &str)]; 5] = [
        &[
            ("code_challenge_method", "plain"),
            ("code_challenge", plain.verifier.as_str()),
        ],
        &[("code_challenge_method", "")],
        &[("code_challenge_method", "s256")],
        &[("code_challenge_method", "S512")],
        &[("code_challenge", ""), ("code_challenge_method", "")],
    ];
    for extra in refused {
        let page = browser
            .get(&authorize_url(&iss, &plain, "view:balance", extra))
            .await;
        assert_eq!(page.status, StatusCode::FOUND, "{extra:?}: {}", page.body);
        let location = page.location();
        assert!(location.starts_with(CALLBACK), "{location}");
        assert_eq!(
            query_param(location, "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
        assert!(query_param(location, "code").is_none(), "{extra:?}");
    }

    let pkce_failed = |body: &serde_json::Value| {
        body["error"] == "invalid_grant" && body["error_description"] == "PKCE verification failed"
    };
    // The challenge itself as the verifier: what a server falling back to `plain` takes.
    let pkce = Pkce::new();
    let code = code_for(&mut browser, &iss, &pkce).await;
    let (status, _, body) = exchange(&sandbox, &code, &pkce.challenge).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(pkce_failed(&body), "{body}");

    // A verifier one character off, then the right one for the same code: the failed try
    // spent the code, so whoever guesses gets exactly one guess.
    let pkce = Pkce::new();
    let code = code_for(&mut browser, &iss, &pkce).await;
    let mut near = pkce.verifier.clone().into_bytes();
    near[0] = if near[0] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).expect("ascii");
    let (status, _, body) = exchange(&sandbox, &code, &near).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(pkce_failed(&body), "{body}");
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body.get("access_token").is_none());

    // A verifier outside RFC 7636's 43 to 128 unreserved characters is refused even though
    // its digest is the challenge.
    let too_long = "a".repeat(129);
    let reserved = format!("{}+/", "a".repeat(41));
    for verifier in ["short", too_long.as_str(), reserved.as_str()] {
        let pkce = pkce_for(verifier);
        let code = code_for(&mut browser, &iss, &pkce).await;
        let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{verifier}: {body}");
        assert!(pkce_failed(&body), "{verifier}: {body}");
    }

    // And the right verifier works: the refusals above were PKCE, nothing else.
    let pkce = Pkce::new();
    let code = code_for(&mut browser, &iss, &pkce).await;
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn no_variant_of_a_registered_redirect_uri_is_redirected_to() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients.push(ClientConfig {
        client_id: "web-app".into(),
        name: "Web app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        mfa_scopes: vec![],
        ..ClientConfig::default()
    });
    // A native client that registered the IPv4 loopback only.
    config.authz.clients.push(ClientConfig {
        client_id: "v4-cli".into(),
        name: "IPv4 CLI".into(),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        mfa_scopes: vec![],
        ..ClientConfig::default()
    });
    let sandbox = start_with(config).await;
    let iss = sandbox.issuer().to_owned();
    let mut browser = signed_in(&sandbox).await;
    let pkce = Pkce::new();
    let url = |client: &str, redirect: &str| {
        authorize_url(
            &iss,
            &pkce,
            "view:balance",
            &[("client_id", client), ("redirect_uri", redirect)],
        )
    };

    // bank-cli registered `http://127.0.0.1/callback` and `http://[::1]/callback`, any port.
    let cases: &[(&str, &str, &str)] = &[
        ("bank-cli", "http://127.0.0.2:43210/callback", "other host"),
        ("bank-cli", "https://evil.example/callback", "elsewhere"),
        ("bank-cli", "http://127.0.0.1:43210/other", "other path"),
        ("bank-cli", "ftp://127.0.0.1:43210/callback", "other scheme"),
        (
            "bank-cli",
            "https://127.0.0.1:43210/callback",
            "https on loopback",
        ),
        ("bank-cli", "HTTP://127.0.0.1:43210/callback", "scheme case"),
        (
            "bank-cli",
            "http://evil@127.0.0.1:43210/callback",
            "userinfo",
        ),
        (
            "bank-cli",
            "http://127.0.0.1:43210@evil.example/callback",
            "loopback as userinfo",
        ),
        ("bank-cli", "http://127.0.0.1:43210/callback#x", "fragment"),
        (
            "bank-cli",
            "http://127.0.0.1:43210/callback?next=https://evil.example",
            "query added",
        ),
        (
            "bank-cli",
            "http://127.0.0.1:43210/callback/",
            "trailing slash",
        ),
        ("bank-cli", "http://localhost:43210/callback", "localhost"),
        (
            "bank-cli",
            "http://[0:0:0:0:0:0:0:1]:43210/callback",
            "IPv6 loopback, long form",
        ),
        (
            "bank-cli",
            "http://[::ffff:127.0.0.1]:43210/callback",
            "IPv4-mapped IPv6 loopback",
        ),
        ("v4-cli", "http://[::1]:43210/callback", "IPv6 loopback"),
        (
            "bank-cli",
            "http://127.0.0.1:43210/%63allback",
            "percent-encoded path",
        ),
        (
            "bank-cli",
            "http://127.0.0.1:43210/x/../callback",
            "dot segments",
        ),
        (
            "bank-cli",
            "http://127.0.0.1:043210/callback",
            "port with a zero",
        ),
        (
            "bank-cli",
            "http://127.0.0.1:65536/callback",
            "port out of range",
        ),
        (
            "web-app",
            "https://app.example:8443/cb",
            "other port, not loopback",
        ),
        ("web-app", "http://app.example/cb", "http for an https URI"),
        (
            "web-app",
            "https://app.example/cb?x=1",
            "query on a web URI",
        ),
        ("bank-cli", "", "missing"),
    ];
    let requested = |sandbox: &bank_sandbox::Sandbox| {
        sandbox
            .authz()
            .events()
            .iter()
            .filter(|e| matches!(e, AuthzEvent::AuthorizationRequested { .. }))
            .count()
    };
    let before = requested(&sandbox);
    for (client, redirect, what) in cases {
        let page = browser.get(&url(client, redirect)).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{what}: {redirect}: {}",
            page.body
        );
        assert!(page.headers.get("location").is_none(), "{what}: redirected");
        assert!(page.headers.get("refresh").is_none(), "{what}: refresh");
        assert!(page.body.contains("Invalid redirect address"), "{what}");
    }
    // None of them got as far as an authorization request.
    assert_eq!(requested(&sandbox), before);

    // The same signed-in browser is sent on at once to what each client registered.
    for (client, redirect) in [
        ("bank-cli", CALLBACK),
        ("bank-cli", "http://[::1]:43210/callback"),
        ("v4-cli", "http://127.0.0.1:5555/callback"),
        ("web-app", "https://app.example/cb"),
    ] {
        let page = browser.get(&url(client, redirect)).await;
        assert_eq!(page.status, StatusCode::FOUND, "{client}: {}", page.body);
        assert!(
            page.location().starts_with(&format!("{redirect}?")),
            "{client}: {}",
            page.location()
        );
        assert!(query_param(page.location(), "code").is_some());
    }
    sandbox.shutdown().await;
}
