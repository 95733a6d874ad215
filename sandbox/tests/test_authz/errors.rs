//! Requests that must fail, and how: a page (never a redirect) while the client or its
//! redirect URI is in doubt, an RFC 6749 §4.1.2.1 redirect after that, and RFC 6749 §5.2
//! JSON from the token endpoint.

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::ClientConfig;
use reqwest::StatusCode;

use crate::common::*;

fn assert_error_page(page: &Page, heading: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.headers.get("location").is_none(), "never redirects");
    assert!(page.body.contains(heading), "{}", page.body);
}

#[tokio::test]
async fn bad_clients_and_redirect_uris_get_a_page_never_a_redirect() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients.push(ClientConfig {
        client_id: "web-app".into(),
        name: "Web app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        mfa_scopes: vec![],
        ..ClientConfig::default()
    });
    let sandbox = start_with(config).await;
    let iss = sandbox.issuer().to_owned();
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);

    let unknown = browser
        .get(&authorize_url(
            &iss,
            &pkce,
            "view:balance",
            &[("client_id", "evil-cli")],
        ))
        .await;
    assert_error_page(&unknown, "Unknown application");
    let missing = browser
        .get(&authorize_url(
            &iss,
            &pkce,
            "view:balance",
            &[("client_id", "")],
        ))
        .await;
    assert_error_page(&missing, "Unknown application");

    for bad in [
        "http://127.0.0.1:43210/other",         // other path
        "http://127.0.0.1:43210/callback/",     // not exact
        "http://127.0.0.2:43210/callback",      // other host
        "http://localhost:43210/callback",      // not an IP literal
        "https://evil.example/callback",        // elsewhere entirely
        "http://127.0.0.1:43210/callback#frag", // fragments are forbidden
        "",                                     // missing
    ] {
        let page = browser
            .get(&authorize_url(
                &iss,
                &pkce,
                "view:balance",
                &[("redirect_uri", bad)],
            ))
            .await;
        assert_error_page(&page, "Invalid redirect address");
    }
    // A non-loopback redirect URI must match exactly: another port is a mismatch.
    let web = |redirect: &str| {
        authorize_url(
            &iss,
            &pkce,
            "view:balance",
            &[("client_id", "web-app"), ("redirect_uri", redirect)],
        )
    };
    let other_port = browser.get(&web("https://app.example:8443/cb")).await;
    assert_error_page(&other_port, "Invalid redirect address");
    let exact = browser.get(&web("https://app.example/cb")).await;
    assert_eq!(exact.status, StatusCode::FOUND);
    // IPv6 loopback with any port is fine for bank-cli.
    let v6 = browser
        .get(&authorize_url(
            &iss,
            &pkce,
            "view:balance",
            &[("redirect_uri", "http://[::1]:5555/callback")],
        ))
        .await;
    assert_eq!(v6.status, StatusCode::FOUND);
    assert!(v6.location().starts_with("/login?"));
    // Repeated parameters are refused (RFC 6749 §3.1).
    let repeated = browser
        .get(&format!(
            "{}&client_id=bank-cli",
            authorize_url(&iss, &pkce, "view:balance", &[])
        ))
        .await;
    assert_eq!(repeated.status, StatusCode::BAD_REQUEST);
    assert!(repeated.headers.get("location").is_none());
    sandbox.shutdown().await;
}

/// Extra parameters, the expected `error`, and a word its description must mention.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[tokio::test]
async fn other_authorization_errors_redirect_with_error_and_state() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);
    let cases: &[Case] = &[
        (
            &[("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
            "code_challenge",
        ),
        (
            &[("code_challenge_method", "plain")],
            "invalid_request",
            "S256",
        ),
        (&[("code_challenge_method", "")], "invalid_request", "S256"),
        (
            &[("code_challenge", "too-short")],
            "invalid_request",
            "code_challenge",
        ),
        (
            &[("response_type", "token")],
            "unsupported_response_type",
            "code",
        ),
        (
            &[("scope", "view:balance admin:everything")],
            "invalid_scope",
            "admin:everything",
        ),
        (
            &[("resource", "https://bank.example/other")],
            "invalid_target",
            "audience and resource",
        ),
    ];
    for (extra, error, mentions) in cases {
        let page = browser
            .get(&authorize_url(&iss, &pkce, "view:balance", extra))
            .await;
        assert_eq!(page.status, StatusCode::FOUND, "{extra:?}: {}", page.body);
        let location = page.location();
        assert!(
            location.starts_with("http://127.0.0.1:43210/callback?"),
            "{location}"
        );
        assert_eq!(
            query_param(location, "error").as_deref(),
            Some(*error),
            "{extra:?}"
        );
        let description = query_param(location, "error_description").expect("description");
        assert!(description.contains(mentions), "{extra:?}: {description}");
        assert_eq!(query_param(location, "state").as_deref(), Some("st-123"));
        assert_eq!(query_param(location, "iss").as_deref(), Some(iss.as_str()));
        assert!(query_param(location, "code").is_none());
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn state_round_trips_unchanged() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let state = "a b&c=d/é?%20+~";
    let code_page = {
        let mut browser = Browser::new(&sandbox);
        let url = authorize_url(sandbox.issuer(), &pkce, "view:balance", &[("state", state)]);
        authorize_and_login(&mut browser, &url, "alice", "wonderland").await
    };
    assert_eq!(
        query_param(code_page.location(), "state").as_deref(),
        Some(state)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_checks_pkce_client_and_request_shape() {
    let sandbox = start().await;

    // Wrong verifier: invalid_grant, and the code is spent.
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    let (status, headers, body) = exchange(&sandbox, &code, &Pkce::new().verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "PKCE verification failed");
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Missing verifier.
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    let (status, _, body) = token_request(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43210/callback"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // redirect_uri must be the one of the authorization request.
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    let (status, _, body) = token_request(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43211/callback"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Expired code (60 s).
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    sandbox
        .authz()
        .clock()
        .advance(std::time::Duration::from_secs(61));
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "authorization code expired");

    // Unknown client: 401 invalid_client.
    let (status, headers, body) = token_request(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "evil"),
            ("code", "x"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(headers.contains_key("www-authenticate"));

    let (status, _, body) = token_request(
        &sandbox,
        &[("grant_type", "password"), ("client_id", CLIENT_ID)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    let response = http()
        .post(format!("{}/oauth/token", sandbox.issuer()))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    sandbox.shutdown().await;
}
