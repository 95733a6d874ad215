//! Logs never contain passwords, codes, verifiers, tokens or cookies (issue 2, item 11).

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{AuthzEvent, LoginName};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::common::*;

#[tokio::test]
async fn a_full_flow_logs_no_secrets() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &pkce,
        "openid offline_access view:balance",
        &[],
    );
    let first = browser.get(&url).await;
    let login = browser.get(first.location()).await;
    // The password typed into the username field, again and again until throttled: an
    // unknown username is never logged as typed.
    let mut typo = browser
        .submit_login(&login, "wonderland", "wonderland")
        .await;
    assert_eq!(typo.status, StatusCode::UNAUTHORIZED);
    for _ in 0..4 {
        typo = browser.submit_login(&typo, "wonderland", "x").await;
        assert_eq!(typo.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = browser.submit_login(&typo, "wonderland", "x").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    let wrong = browser
        .submit_login(&throttled, "alice", "not-the-password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let done = browser.submit_login(&wrong, "alice", "wonderland").await;
    let code = query_param(done.location(), "code").expect("code");
    let (_, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let (status, _, refreshed) = token_request(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let _ = exchange(&sandbox, &code, &pkce.verifier).await; // replay, logged as an event
    let events = sandbox.authz().events();
    sandbox.shutdown().await;

    // Failed logins: known usernames as is (throttling diagnostics need them), unknown ones
    // as one stable, keyed fingerprint (not a plain hash anyone could recompute).
    assert!(events.contains(&AuthzEvent::LoginFailed {
        username: LoginName::Known("alice".into())
    }));
    let unknown: Vec<&LoginName> = events
        .iter()
        .filter_map(|e| match e {
            AuthzEvent::LoginFailed { username } | AuthzEvent::LoginThrottled { username }
                if username.known().is_none() =>
            {
                Some(username)
            }
            _ => None,
        })
        .collect();
    assert_eq!(unknown.len(), 6, "five failures and one throttled attempt");
    assert!(
        unknown.iter().all(|name| *name == unknown[0]),
        "{unknown:?}"
    );
    let LoginName::Unknown { fingerprint } = unknown[0] else {
        panic!("unknown name");
    };
    assert_eq!(fingerprint.len(), 8);
    assert_ne!(
        fingerprint.as_str(),
        &to_hex(&Sha256::digest(b"wonderland"))[..8]
    );

    // The capture holds every test's logs: a leak anywhere fails here too.
    let logs = captured_logs();
    assert!(logs.contains("TokenIssued"), "events are logged:\n{logs}");
    assert!(logs.contains("CodeReplayed"));
    let cookie = browser.session_cookie().expect("session cookie");
    for (what, secret) in [
        ("password", "wonderland"),
        ("wrong password", "not-the-password"),
        ("code", code.as_str()),
        ("verifier", pkce.verifier.as_str()),
        ("access token", tokens["access_token"].as_str().expect("at")),
        ("refresh token", rt.as_str()),
        (
            "rotated refresh token",
            refreshed["refresh_token"].as_str().expect("rt2"),
        ),
        ("id token", tokens["id_token"].as_str().expect("id")),
        ("session cookie", cookie.as_str()),
        ("csrf token", login.input("csrf_token").as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} leaked into the logs");
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What was typed as a username is not stored either: the login throttle keys its rows by
/// a keyed hash, and the lockout still holds across a restart.
#[tokio::test]
async fn the_throttle_stores_no_typed_username_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || {
        let mut config = SandboxConfig::ephemeral();
        config.data_dir = Some(dir.path().to_path_buf());
        config
    };
    const TYPED: &str = "correct-horse-battery-staple";
    let sandbox = start_with(config()).await;
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);
    let first = browser
        .get(&authorize_url(sandbox.issuer(), &pkce, "view:balance", &[]))
        .await;
    let mut page = browser.get(first.location()).await;
    for _ in 0..5 {
        page = browser.submit_login(&page, TYPED, "x").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    sandbox.shutdown().await;

    for file in std::fs::read_dir(dir.path()).expect("data dir") {
        let path = file.expect("entry").path();
        let bytes = std::fs::read(&path).expect("readable");
        assert!(
            !bytes.windows(TYPED.len()).any(|w| w == TYPED.as_bytes()),
            "{} contains the typed username",
            path.display()
        );
    }

    let sandbox = start_with(config()).await;
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);
    let first = browser
        .get(&authorize_url(sandbox.issuer(), &pkce, "view:balance", &[]))
        .await;
    let page = browser.get(first.location()).await;
    let throttled = browser.submit_login(&page, TYPED, "x").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    sandbox.shutdown().await;
}
