//! The code + PKCE flow without MFA, and the tokens it yields.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn view_balance_flow_issues_verifiable_rfc9068_tokens() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let pkce = Pkce::new();
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        &iss,
        &pkce,
        "openid profile offline_access view:balance",
        &[("nonce", "n-1")],
    );

    // No session yet: /authorize sends the browser to the login page.
    let first = browser.get(&url).await;
    assert_eq!(first.status, StatusCode::FOUND);
    assert!(
        first.location().starts_with("/login?txn=txn_"),
        "{}",
        first.location()
    );

    // The login page: one form, hidden txn + csrf_token, username + password inputs.
    let login = browser.get(first.location()).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.body.matches("<form").count(), 1);
    assert!(
        login
            .body
            .contains(r#"<form method="post" action="/login">"#)
    );
    assert!(login.body.contains(r#"name="username""#) && login.body.contains(r#"type="password""#));
    assert!(login.body.contains(r#"<html lang="en">"#));
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert_eq!(login.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let csp = login.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let cookie = login.header("set-cookie").expect("session cookie");
    for attr in ["bank_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} has {attr}");
    }

    // Wrong password: 401, the form again, a fresh CSRF token.
    let wrong = browser.submit_login(&login, "alice", "nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("did not match"));
    assert_ne!(wrong.input("csrf_token"), login.input("csrf_token"));
    let anonymous_cookie = browser.session_cookie();

    // Right password: a new session id (no fixation) and straight back to the client.
    let done = browser.submit_login(&wrong, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_ne!(
        browser.session_cookie(),
        anonymous_cookie,
        "session id rotated on login"
    );
    let location = done.location().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:43210/callback?"),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&location, "iss").as_deref(), Some(iss.as_str()));
    let code = query_param(&location, "code").expect("code");

    let (status, headers, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 600,
        "ten minutes: the API cannot learn of a revocation"
    );
    assert_eq!(body["scope"], "openid profile offline_access view:balance");
    assert!(
        body["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );

    let jwks = get_json(&format!("{iss}/.well-known/jwks.json")).await;
    let (header, claims) = verify_jwt(&jwks, body["access_token"].as_str().expect("at"));
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], iss);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(
        claims["scope"],
        "openid profile offline_access view:balance"
    );
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:bank:acr:pwd");
    assert_eq!(claims["preferred_username"], "alice");
    let sub = claims["sub"].as_str().expect("sub");
    assert!(sub.starts_with("usr_") && sub.len() == 20, "{sub}");
    assert_eq!(
        Some(sub.to_owned()),
        sandbox.authz().user_sub("alice").expect("store")
    );
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 600);
    assert!(claims["auth_time"].as_i64().expect("auth_time") <= iat);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));

    let (id_header, id) = verify_jwt(&jwks, body["id_token"].as_str().expect("id token"));
    assert_eq!(id_header["typ"], "JWT");
    assert_eq!(id["iss"], iss);
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["sub"], sub);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["preferred_username"], "alice");

    // The session is remembered: a second authorization needs no login.
    let again = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("state", "second")],
        ))
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(
        again
            .location()
            .starts_with("http://127.0.0.1:43210/callback?"),
        "{}",
        again.location()
    );
    assert_eq!(
        query_param(again.location(), "state").as_deref(),
        Some("second")
    );

    let events = sandbox.authz().events();
    assert!(events.iter().any(|e| matches!(e, bank_sandbox::authz::AuthzEvent::LoginFailed { username } if username.known() == Some("alice"))));
    assert!(events.iter().any(|e| matches!(e, bank_sandbox::authz::AuthzEvent::TokenIssued { grant, .. } if grant == "authorization_code")));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn audience_and_resource_both_name_the_api() {
    let sandbox = start().await;
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    for extra in [
        vec![("audience", AUDIENCE)],
        vec![("audience", ""), ("resource", AUDIENCE)],
    ] {
        let pkce = Pkce::new();
        let code = get_code(&sandbox, &pkce, "view:balance", &extra).await;
        let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.get("refresh_token").is_none(),
            "no offline_access, no refresh token"
        );
        assert!(body.get("id_token").is_none(), "no openid, no ID token");
        let (_, claims) = verify_jwt(&jwks, body["access_token"].as_str().expect("at"));
        assert_eq!(claims["aud"], AUDIENCE);
    }
    // An unknown API is an error redirected to the client (RFC 8707 invalid_target).
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "view:balance",
        &[("audience", "https://other.example/api")],
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        query_param(page.location(), "error").as_deref(),
        Some("invalid_target")
    );
    assert_eq!(
        query_param(page.location(), "state").as_deref(),
        Some("st-123")
    );
    sandbox.shutdown().await;
}
