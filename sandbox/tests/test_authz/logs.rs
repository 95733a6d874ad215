//! Logs never contain passwords, codes, verifiers, tokens or cookies (issue 2, item 11).

use reqwest::StatusCode;

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
    let wrong = browser
        .submit_login(&login, "alice", "not-the-password")
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
    sandbox.shutdown().await;

    // The capture holds every test's logs: a leak anywhere fails here too.
    let logs = captured_logs();
    assert!(logs.contains("TokenIssued"), "events are logged:\n{logs}");
    assert!(logs.contains("CodeReplayed"));
    let cookie = browser.cookie.clone().expect("session cookie");
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
