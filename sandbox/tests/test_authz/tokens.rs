//! Code replay, refresh rotation and reuse detection, revocation, key rotation, and a
//! third-party OAuth client (the `oauth2` crate) completing the flow.

use std::time::Duration;

use bank_sandbox::authz::{AuthzEvent, LoginName};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

const EVERYDAY: &str = "openid offline_access view:balance";

fn jti(jwks: &Value, token: &Value) -> String {
    let (_, claims) = verify_jwt(jwks, token.as_str().expect("token"));
    claims["jti"].as_str().expect("jti").to_owned()
}

async fn refresh(
    sandbox: &bank_sandbox::Sandbox,
    rt: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("refresh_token", rt),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, headers, body) = token_request(sandbox, &form).await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_produced() {
    let sandbox = start().await;
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (status, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    let access_jti = jti(&jwks, &tokens["access_token"]);
    assert!(
        !sandbox
            .authz()
            .is_access_token_revoked(&access_jti)
            .expect("store")
    );

    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("revoked"))
    );

    // RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    assert!(
        sandbox
            .authz()
            .is_access_token_revoked(&access_jti)
            .expect("store")
    );
    let (status, body) = refresh(
        &sandbox,
        tokens["refresh_token"].as_str().expect("rt"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::CodeReplayed { .. }))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let sandbox = start().await;
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (_, _, first) = exchange(&sandbox, &code, &pkce.verifier).await;
    let rt1 = first["refresh_token"].as_str().expect("rt1").to_owned();

    let (status, second) = refresh(&sandbox, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(second["scope"], EVERYDAY);
    let (_, claims) = verify_jwt(&jwks, second["access_token"].as_str().expect("at"));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(second["id_token"].is_string());

    // Narrowing is allowed, widening is not.
    let (status, third) = refresh(&sandbox, &rt2, Some("offline_access view:balance")).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["scope"], "offline_access view:balance");
    assert!(third.get("id_token").is_none());
    let rt3 = third["refresh_token"].as_str().expect("rt3").to_owned();
    let (status, body) = refresh(&sandbox, &rt3, Some("view:balance transfer:funds")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // rt1 was rotated away: presenting it again revokes the whole family, rt3 included.
    let live_jti = jti(&jwks, &third["access_token"]);
    let (status, body) = refresh(&sandbox, &rt1, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(&sandbox, &rt3, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        sandbox
            .authz()
            .is_access_token_revoked(&live_jti)
            .expect("store")
    );
    assert!(
        sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::RefreshTokenReused { .. }))
    );

    // Garbage and other clients' requests are invalid_grant / invalid_client.
    let (status, body) = refresh(&sandbox, "not-a-token", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    sandbox.shutdown().await;
}

/// A refresh that asks for more than was granted is refused without spending the token:
/// the natural retry without the extra scope still works, and nothing is revoked.
#[tokio::test]
async fn a_refresh_asking_for_more_spends_nothing() {
    let sandbox = start().await;
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (_, _, first) = exchange(&sandbox, &code, &pkce.verifier).await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let live_jti = jti(&jwks, &first["access_token"]);

    let (status, body) = refresh(&sandbox, &rt, Some("view:balance transfer:funds")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );
    let (status, body) = refresh(&sandbox, &rt, Some("view:balance")).await;
    assert_eq!(status, StatusCode::OK, "the retry works: {body}");
    assert_eq!(body["scope"], "view:balance");
    assert!(
        !sandbox
            .authz()
            .is_access_token_revoked(&live_jti)
            .expect("store"),
        "the grant was not revoked"
    );
    assert!(
        !sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::RefreshTokenReused { .. }))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revocation_endpoint_revokes_refresh_tokens() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (_, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let revoke = |form: Vec<(&'static str, String)>| {
        let url = format!("{}/oauth/revoke", sandbox.issuer());
        async move { http().post(url).form(&form).send().await.expect("revoke") }
    };

    let response = revoke(vec![
        ("client_id", CLIENT_ID.into()),
        ("token", rt.into()),
        ("token_type_hint", "refresh_token".into()),
    ])
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = refresh(&sandbox, rt, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::TokenRevoked { .. }))
    );

    // RFC 7009 §2.2: unknown tokens are not an error; revoking twice is fine.
    let response = revoke(vec![
        ("client_id", CLIENT_ID.into()),
        ("token", "unknown".into()),
    ])
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = revoke(vec![("client_id", CLIENT_ID.into()), ("token", rt.into())]).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Access tokens are not revocable here (RFC 7009 §2.2.1).
    let response = revoke(vec![
        ("client_id", CLIENT_ID.into()),
        ("token", tokens["access_token"].as_str().expect("at").into()),
        ("token_type_hint", "access_token".into()),
    ])
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_token_type");
    let response = revoke(vec![("client_id", "evil".into()), ("token", rt.into())]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable_until_they_expire() {
    let sandbox = start().await;
    let jwks_url = format!("{}/.well-known/jwks.json", sandbox.issuer());
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    let (_, _, old) = exchange(&sandbox, &code, &pkce.verifier).await;
    let old_token = old["access_token"].as_str().expect("at").to_owned();
    let before = get_json(&jwks_url).await;
    let (old_header, _) = verify_jwt(&before, &old_token);

    let new_kid = sandbox.authz().rotate_keys().expect("rotate");
    assert_ne!(old_header["kid"], new_kid.as_str());
    let after = get_json(&jwks_url).await;
    assert_eq!(after["keys"].as_array().expect("keys").len(), 2);
    verify_jwt(&after, &old_token); // still verifiable

    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, "view:balance", &[]).await;
    let (_, _, new) = exchange(&sandbox, &code, &pkce.verifier).await;
    let (new_header, _) = verify_jwt(&after, new["access_token"].as_str().expect("at"));
    assert_eq!(new_header["kid"], new_kid.as_str());

    // Once every token the old key signed has expired, it is no longer published.
    sandbox
        .authz()
        .clock()
        .advance(Duration::from_secs(3600 + 61));
    let later = get_json(&jwks_url).await;
    let kids: Vec<&str> = later["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str()]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_username() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
    let first = browser.get(&url).await;
    let mut page = browser.get(first.location()).await;
    for _ in 0..5 {
        page = browser.submit_login(&page, "bob", "wrong").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused without being checked.
    let locked = browser.submit_login(&page, "bob", "builder").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.header("retry-after").is_some());
    assert!(locked.body.contains("Too many failed attempts"));
    // Other users are unaffected.
    let alice = browser.submit_login(&locked, "alice", "wonderland").await;
    assert_eq!(alice.status, StatusCode::FOUND);
    // After the lockout, bob can sign in again.
    sandbox.authz().clock().advance(Duration::from_secs(31));
    let mut other = Browser::new(&sandbox);
    let done = authorize_and_login(&mut other, &url, "bob", "builder").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert!(
        sandbox
            .authz()
            .events()
            .contains(&AuthzEvent::LoginThrottled {
                username: LoginName::Known("bob".into())
            })
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn login_post_without_the_forms_session_is_refused() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let first = browser
        .get(&authorize_url(
            sandbox.issuer(),
            &Pkce::new(),
            "view:balance",
            &[],
        ))
        .await;
    let login = browser.get(first.location()).await;
    // A cross-site POST: right txn and token, but no cookie.
    let mut attacker = Browser::new(&sandbox);
    let forged = attacker.submit_login(&login, "alice", "wonderland").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.headers.get("location").is_none());
    // The same browser with a wrong token.
    let tampered = Page {
        status: StatusCode::OK,
        headers: login.headers.clone(),
        body: login.body.replace(&login.input("csrf_token"), "forged"),
    };
    let refused = browser.submit_login(&tampered, "alice", "wonderland").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_oauth2_crate_completes_the_flow() {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
        TokenResponse, TokenUrl,
    };

    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let client = BasicClient::new(ClientId::new(CLIENT_ID.into()))
        .set_auth_uri(AuthUrl::new(format!("{iss}/authorize")).expect("auth url"))
        .set_token_uri(TokenUrl::new(format!("{iss}/oauth/token")).expect("token url"))
        .set_redirect_uri(
            RedirectUrl::new("http://127.0.0.1:51234/callback".into()).expect("redirect"),
        );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("offline_access".into()))
        .add_scope(Scope::new("view:balance".into()))
        .add_extra_param("audience", AUDIENCE)
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new(&sandbox);
    let done = authorize_and_login(&mut browser, url.as_str(), "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let location = done.location();
    assert!(location.starts_with("http://127.0.0.1:51234/callback?"));
    assert_eq!(
        query_param(location, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let code = query_param(location, "code").expect("code");

    let http_client = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .expect("oauth2 crate exchanges the code");
    assert_eq!(token.expires_in(), Some(Duration::from_secs(600)));
    let jwks = get_json(&format!("{iss}/.well-known/jwks.json")).await;
    let (_, claims) = verify_jwt(&jwks, token.access_token().secret());
    assert_eq!(claims["scope"], "offline_access view:balance");
    let refresh = token.refresh_token().expect("refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .request_async(&http_client)
        .await
        .expect("oauth2 crate refreshes");
    assert!(
        refreshed
            .refresh_token()
            .is_some_and(|r| r.secret() != refresh.secret())
    );
    sandbox.shutdown().await;
}
