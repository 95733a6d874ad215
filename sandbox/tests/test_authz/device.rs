//! The device authorization grant (RFC 8628) over real HTTP: the endpoint and its
//! validation, the user code's form, the polling rules (pending, slow_down, expiry), the
//! person's pages (entry, sign-in, MFA with number matching, approval in words), denial,
//! single use, and the throttling of wrong codes.

use std::time::Duration;

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{ACR_MFA, AuthzEvent, ClientConfig, USER_CODE_ALPHABET};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::common::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const LOGIN_SCOPE: &str = "openid offline_access view:balance";

/// POSTs `form` to the device authorization endpoint.
async fn device_request(
    sandbox: &bank_sandbox::Sandbox,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let endpoint = get_json(&format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer()
    ))
    .await["device_authorization_endpoint"]
        .as_str()
        .expect("device_authorization_endpoint")
        .to_owned();
    let response = http()
        .post(endpoint)
        .form(form)
        .send()
        .await
        .expect("device request");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON answer"))
}

/// A device authorization for bank-cli with `scope` and `extra`; the answer must be a 200.
async fn authorize_device(
    sandbox: &bank_sandbox::Sandbox,
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut form = vec![("client_id", CLIENT_ID), ("scope", scope)];
    form.extend_from_slice(extra);
    let (status, _, body) = device_request(sandbox, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn poll(sandbox: &bank_sandbox::Sandbox, device_code: &str) -> (StatusCode, Value) {
    let (status, _, body) = token_request(
        sandbox,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", CLIENT_ID),
            ("device_code", device_code),
        ],
    )
    .await;
    (status, body)
}

/// The `error` of a poll, which must be a 400.
async fn poll_error(sandbox: &bank_sandbox::Sandbox, device_code: &str) -> String {
    let (status, body) = poll(sandbox, device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    body["error"].as_str().expect("error").to_owned()
}

/// Moves past the device's polling interval so the next poll is not `slow_down`.
fn wait_interval(sandbox: &bank_sandbox::Sandbox, secs: u64) {
    sandbox.authz().clock().advance(Duration::from_secs(secs));
}

/// Opens `verification_uri_complete` and submits the pre-filled code; returns the answer.
async fn enter_code(browser: &mut Browser, device: &Value) -> Page {
    let complete = device["verification_uri_complete"]
        .as_str()
        .expect("complete URI");
    let form = browser.get(complete).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("data-device-entry"), "{}", form.body);
    assert!(
        form.body
            .contains("Check that this is the code your device shows"),
        "a pre-filled code is to be checked, not trusted: {}",
        form.body
    );
    let code = form.input("user_code");
    assert_eq!(code, device["user_code"].as_str().expect("user_code"));
    let csrf = form.input("csrf_token");
    browser
        .post_form("/device", &[("csrf_token", &csrf), ("user_code", &code)])
        .await
}

/// Enters the code and signs in as alice; returns the page after the login form.
async fn enter_code_and_sign_in(browser: &mut Browser, device: &Value) -> Page {
    let entered = enter_code(browser, device).await;
    assert_eq!(entered.status, StatusCode::FOUND, "{}", entered.body);
    assert!(
        entered.location().starts_with("/login?txn="),
        "{}",
        entered.location()
    );
    let login = browser.get(entered.location()).await;
    browser.submit_login(&login, "alice", "wonderland").await
}

/// The approval page's form, submitted with `decision`.
async fn decide(browser: &mut Browser, confirm: &Page, decision: &str) -> Page {
    let txn = confirm.input("txn");
    let csrf = confirm.input("csrf_token");
    browser
        .post_form(
            "/device/confirm",
            &[("txn", &txn), ("csrf_token", &csrf), ("decision", decision)],
        )
        .await
}

#[tokio::test]
async fn the_endpoint_answers_rfc_8628_codes_and_validates_like_authorize() {
    let sandbox = start().await;
    let issuer = sandbox.issuer();
    let metadata = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{issuer}/oauth/device/code")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .expect("grant types")
            .iter()
            .any(|g| g == DEVICE_GRANT)
    );

    let (status, headers, body) = device_request(
        &sandbox,
        &[
            ("client_id", CLIENT_ID),
            ("scope", LOGIN_SCOPE),
            ("audience", AUDIENCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let user_code = body["user_code"].as_str().expect("user_code");
    // §6.1: 8 characters of the consonant alphabet, shown as XXXX-XXXX.
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| USER_CODE_ALPHABET.contains(&b)),
        "{user_code}"
    );
    assert!(body["device_code"].as_str().expect("device_code").len() >= 43);
    assert_eq!(body["verification_uri"], format!("{issuer}/device"));
    assert_eq!(
        body["verification_uri_complete"],
        format!("{issuer}/device?user_code={user_code}")
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    assert!(matches!(
        sandbox.authz().events().last(),
        Some(AuthzEvent::DeviceAuthorizationRequested { scope, .. }) if scope == LOGIN_SCOPE
    ));

    // Two requests never share a code.
    let other = authorize_device(&sandbox, LOGIN_SCOPE, &[]).await;
    assert_ne!(other["user_code"], body["user_code"]);
    assert_ne!(other["device_code"], body["device_code"]);

    // The same rules as /authorize, from the same code.
    for (form, status, error) in [
        (
            vec![("client_id", "nobody"), ("scope", LOGIN_SCOPE)],
            401,
            "invalid_client",
        ),
        (vec![("scope", LOGIN_SCOPE)], 401, "invalid_client"),
        (vec![("client_id", CLIENT_ID)], 400, "invalid_scope"),
        (
            vec![("client_id", CLIENT_ID), ("scope", "openid admin")],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("client_id", CLIENT_ID),
                ("scope", LOGIN_SCOPE),
                ("audience", "https://other.example"),
            ],
            400,
            "invalid_target",
        ),
        (
            vec![
                ("client_id", CLIENT_ID),
                ("scope", LOGIN_SCOPE),
                ("audience", AUDIENCE),
                ("resource", "https://other.example"),
            ],
            400,
            "invalid_target",
        ),
        (
            vec![
                ("client_id", CLIENT_ID),
                ("scope", "openid transfer:funds"),
                ("authorization_details", "[]"),
            ],
            400,
            "invalid_authorization_details",
        ),
        (
            vec![
                ("client_id", CLIENT_ID),
                ("scope", LOGIN_SCOPE),
                ("max_age", "-1"),
            ],
            400,
            "invalid_request",
        ),
    ] {
        let (got, headers, body) = device_request(&sandbox, &form).await;
        assert_eq!(got.as_u16(), status, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    // A public client: credentials are refused, and only a form body is read.
    let endpoint = format!("{issuer}/oauth/device/code");
    let with_secret = http()
        .post(&endpoint)
        .basic_auth(CLIENT_ID, Some("secret"))
        .form(&[("client_id", CLIENT_ID), ("scope", LOGIN_SCOPE)])
        .send()
        .await
        .expect("post");
    assert_eq!(with_secret.status(), StatusCode::UNAUTHORIZED);
    let json_body = http()
        .post(&endpoint)
        .json(&serde_json::json!({"client_id": CLIENT_ID, "scope": LOGIN_SCOPE}))
        .send()
        .await
        .expect("post");
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn polling_is_pending_then_slow_down_when_too_soon_then_expired() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients.push(ClientConfig {
        client_id: "other-cli".into(),
        name: "Other".into(),
        ..ClientConfig::default()
    });
    let sandbox = start_with(config).await;
    let device = authorize_device(&sandbox, LOGIN_SCOPE, &[]).await;
    let code = device["device_code"].as_str().expect("device_code");

    // The first poll may come at once; the next one too soon is slow_down (§3.5).
    assert_eq!(poll_error(&sandbox, code).await, "authorization_pending");
    assert_eq!(poll_error(&sandbox, code).await, "slow_down");
    // The interval is now 10 s: 6 s later is still too soon, and adds another 5 s.
    wait_interval(&sandbox, 6);
    assert_eq!(poll_error(&sandbox, code).await, "slow_down");
    wait_interval(&sandbox, 15);
    assert_eq!(poll_error(&sandbox, code).await, "authorization_pending");
    let answers: Vec<String> = sandbox
        .authz()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuthzEvent::DevicePolled { answer } => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        [
            "authorization_pending",
            "slow_down",
            "slow_down",
            "authorization_pending"
        ]
    );

    // Another client's poll is refused and records nothing.
    let (status, body) = {
        let (s, _, b) = token_request(
            &sandbox,
            &[
                ("grant_type", DEVICE_GRANT),
                ("client_id", "other-cli"),
                ("device_code", code),
            ],
        )
        .await;
        (s, b)
    };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        poll_error(&sandbox, "not-a-device-code").await,
        "invalid_grant"
    );
    let (status, _, body) = token_request(
        &sandbox,
        &[("grant_type", DEVICE_GRANT), ("client_id", CLIENT_ID)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // Past `expires_in`: expired_token, and the page no longer takes the code.
    wait_interval(&sandbox, 600);
    assert_eq!(poll_error(&sandbox, code).await, "expired_token");
    let mut browser = Browser::new(&sandbox);
    let entered = enter_code(&mut browser, &device).await;
    assert_eq!(entered.status, StatusCode::BAD_REQUEST);
    assert!(
        entered.body.contains("not valid or has expired"),
        "{}",
        entered.body
    );
}

#[tokio::test]
async fn a_person_approves_what_the_page_says_and_the_code_yields_tokens_once() {
    let sandbox = start().await;
    let device = authorize_device(&sandbox, LOGIN_SCOPE, &[("resource", AUDIENCE)]).await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let signed_in = enter_code_and_sign_in(&mut browser, &device).await;
    assert_eq!(signed_in.status, StatusCode::FOUND, "{}", signed_in.body);
    assert!(signed_in.location().starts_with("/device/confirm?txn="));
    // Signed in, not yet approved: still pending.
    assert_eq!(poll_error(&sandbox, code).await, "authorization_pending");

    let confirm = browser.get(signed_in.location()).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm
            .header("content-security-policy")
            .is_some_and(|c| c.contains("nonce-"))
    );
    // What is authorized, in words (§5.4): the client, the user, every scope.
    for words in [
        "Approve bank CLI on your device?",
        "Signed in as <strong>alice</strong>",
        "sign you in",
        "stay signed in",
        "view your balance and transfers",
        "Approve access for bank CLI",
        "If someone gave you the code, deny",
    ] {
        assert!(confirm.body.contains(words), "{words}: {}", confirm.body);
    }
    // Another browser cannot decide it.
    let mut stranger = Browser::new(&sandbox);
    let refused = stranger.get(signed_in.location()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let done = decide(&mut browser, &confirm, "approve").await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.body.contains(r#"data-device-result="approved""#),
        "{}",
        done.body
    );

    wait_interval(&sandbox, 5);
    let (status, tokens) = poll(&sandbox, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], LOGIN_SCOPE);
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access: {tokens}"
    );
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (header, claims) = verify_jwt(&jwks, tokens["access_token"].as_str().expect("at"));
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let (_, id_claims) = verify_jwt(&jwks, tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id_claims["sub"], claims["sub"]);
    assert_eq!(id_claims["aud"], CLIENT_ID);
    assert!(sandbox.authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { grant, .. } if grant == DEVICE_GRANT
    )));
    assert!(sandbox.authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::DeviceApproved { username, .. } if username == "alice"
    )));

    // Single use: a second redemption is refused and revokes what the first one got.
    let jti = claims["jti"].as_str().expect("jti");
    assert!(!sandbox.authz().is_access_token_revoked(jti).expect("store"));
    wait_interval(&sandbox, 5);
    assert_eq!(poll_error(&sandbox, code).await, "invalid_grant");
    assert!(sandbox.authz().is_access_token_revoked(jti).expect("store"));
    let (status, _, body) = token_request(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // And the page: the code is no longer pending.
    let again = enter_code(&mut Browser::new(&sandbox), &device).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_step_up_shows_the_payment_needs_mfa_with_number_matching_and_is_short_lived() {
    let sandbox = start().await;
    let body = serde_json::json!({"to": "bob", "amount": "25.00", "memo": "lunch"});
    let details = details_for(&body);
    let device = authorize_device(
        &sandbox,
        "openid transfer:funds",
        &[("authorization_details", &details), ("login_hint", "alice")],
    )
    .await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let entered = enter_code(&mut browser, &device).await;
    let login = browser.get(entered.location()).await;
    // The hinted user only, as for /authorize.
    assert!(
        login.body.contains(r#"value="alice" readonly"#),
        "{}",
        login.body
    );
    let after_login = browser.submit_login(&login, "alice", "wonderland").await;
    assert_eq!(
        after_login.status,
        StatusCode::FOUND,
        "{}",
        after_login.body
    );
    let wait_url = after_login.location().to_owned();
    assert!(wait_url.starts_with("/mfa/wait?txn="), "{wait_url}");

    // The same push as the browser step-up: the payment, and a number only this page shows.
    let wait = browser.get(&wait_url).await;
    assert!(wait.body.contains("Pay bob 25.00 USD"), "{}", wait.body);
    let number = wait.binding_code();
    let pending = sandbox
        .authz()
        .wait_for_pending_mfa("alice", Duration::from_secs(10))
        .await
        .expect("a push");
    assert_eq!(
        pending.payment().map(ToString::to_string).as_deref(),
        Some("Pay bob 25.00 USD")
    );
    let wrong = if number == "10" { "11" } else { "10" };
    assert!(
        sandbox
            .authz()
            .approve_with_code(&pending.id, wrong)
            .is_err()
    );
    assert_eq!(poll_error(&sandbox, code).await, "authorization_pending");
    sandbox
        .authz()
        .approve_with_code(&pending.id, &number)
        .expect("the right number approves");

    let continued = browser
        .get(&format!(
            "/mfa/continue?txn={}",
            query_param(&wait_url, "txn").expect("txn")
        ))
        .await;
    assert_eq!(continued.status, StatusCode::FOUND, "{}", continued.body);
    let confirm = browser.get(continued.location()).await;
    for words in [
        "data-payment><strong>Pay bob 25.00 USD</strong>",
        "Memo: <q>lunch</q>",
        "Approve: Pay bob 25.00 USD",
    ] {
        assert!(confirm.body.contains(words), "{words}: {}", confirm.body);
    }
    decide(&mut browser, &confirm, "approve").await;

    wait_interval(&sandbox, 5);
    let (status, tokens) = poll(&sandbox, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        tokens.get("refresh_token").is_none(),
        "never for a step-up: {tokens}"
    );
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(
        tokens["authorization_details"][0]["creditorAccount"]["handle"],
        "bob"
    );
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (_, claims) = verify_jwt(&jwks, tokens["access_token"].as_str().expect("at"));
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa"]));
    assert_eq!(claims["scope"], "openid transfer:funds");
    assert_eq!(
        claims["authorization_details"][0]["instructedAmount"]["amount"],
        "25.00"
    );
}

#[tokio::test]
async fn denial_on_the_page_or_on_the_authenticator_is_access_denied() {
    let sandbox = start().await;

    // Denied on the approval page.
    let device = authorize_device(&sandbox, LOGIN_SCOPE, &[]).await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let signed_in = enter_code_and_sign_in(&mut browser, &device).await;
    let confirm = browser.get(signed_in.location()).await;
    let done = decide(&mut browser, &confirm, "deny").await;
    assert!(
        done.body.contains(r#"data-device-result="denied""#),
        "{}",
        done.body
    );
    assert_eq!(poll_error(&sandbox, code).await, "access_denied");
    // A decision is final: the page cannot approve it afterwards.
    let late = decide(&mut browser, &confirm, "approve").await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    wait_interval(&sandbox, 5);
    assert_eq!(poll_error(&sandbox, code).await, "access_denied");

    // Denied on the authenticator: the device learns it without the browser going on.
    let device = authorize_device(&sandbox, "openid transfer:funds", &[]).await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let after_login = enter_code_and_sign_in(&mut browser, &device).await;
    assert!(after_login.location().starts_with("/mfa/wait?txn="));
    let pending = sandbox
        .authz()
        .wait_for_pending_mfa("alice", Duration::from_secs(10))
        .await
        .expect("a push");
    sandbox.authz().deny_mfa(&pending.id).expect("deny");
    assert_eq!(poll_error(&sandbox, code).await, "access_denied");
    // The browser that goes on is told, in the page's own words.
    let txn = query_param(after_login.location(), "txn").expect("txn");
    let continued = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(continued.status, StatusCode::FOUND);
    let told = browser.get(continued.location()).await;
    assert!(
        told.body.contains(r#"data-device-result="denied""#),
        "{}",
        told.body
    );
}

#[tokio::test]
async fn wrong_user_codes_are_throttled_per_source_and_forms_need_their_session() {
    let sandbox = start().await;
    let device = authorize_device(&sandbox, LOGIN_SCOPE, &[]).await;
    let mut browser = Browser::new(&sandbox);
    let form = browser.get("/device").await;
    assert!(
        form.body.contains(r#"name="user_code" value="""#),
        "{}",
        form.body
    );

    // A post without the page's session and token (login CSRF) is refused.
    let forged = Browser::new(&sandbox)
        .post_form(
            "/device",
            &[
                ("csrf_token", "x"),
                ("user_code", device["user_code"].as_str().expect("code")),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let mut page = form;
    // Five wrong codes are answered; the fifth starts a wait.
    for _ in 0..5 {
        let csrf = page.input("csrf_token");
        page = browser
            .post_form(
                "/device",
                &[("csrf_token", &csrf), ("user_code", "BBBB-BBBB")],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    }
    // Now even the right code (typed in lower case, without the dash) must wait.
    let right = device["user_code"]
        .as_str()
        .expect("code")
        .replace('-', "")
        .to_lowercase();
    let csrf = page.input("csrf_token");
    let throttled = browser
        .post_form("/device", &[("csrf_token", &csrf), ("user_code", &right)])
        .await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    assert_eq!(throttled.header("retry-after"), Some("30"));
    let events = sandbox.authz().events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, AuthzEvent::UserCodeRejected))
            .count(),
        5
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::UserCodeThrottled))
    );

    // After the wait, the right code works, however it is typed.
    wait_interval(&sandbox, 31);
    let csrf = throttled.input("csrf_token");
    let entered = browser
        .post_form("/device", &[("csrf_token", &csrf), ("user_code", &right)])
        .await;
    assert_eq!(entered.status, StatusCode::FOUND, "{}", entered.body);
    assert!(entered.location().starts_with("/login?txn="));
}

#[tokio::test]
async fn switched_off_it_is_a_provider_without_the_device_flow() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.device.enabled = false;
    let sandbox = start_with(config).await;
    let issuer = sandbox.issuer();
    let metadata = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert!(
        metadata.get("device_authorization_endpoint").is_none(),
        "{metadata}"
    );
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let answer = http()
        .post(format!("{issuer}/oauth/device/code"))
        .form(&[("client_id", CLIENT_ID), ("scope", LOGIN_SCOPE)])
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        poll_error(&sandbox, "anything").await,
        "unsupported_grant_type"
    );
    assert_eq!(
        Browser::new(&sandbox).get("/device").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_the_latest_browser_to_enter_the_code_can_finish_and_none_gets_a_code() {
    let sandbox = start().await;
    let device = authorize_device(&sandbox, "openid transfer:funds", &[]).await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut first = Browser::new(&sandbox);
    let waiting = enter_code_and_sign_in(&mut first, &device).await;
    let first_txn = query_param(waiting.location(), "txn").expect("txn");
    let pending = sandbox
        .authz()
        .wait_for_pending_mfa("alice", Duration::from_secs(10))
        .await
        .expect("a push");

    // Someone else enters the same code: the first browser's sign-in no longer counts.
    let mut second = Browser::new(&sandbox);
    let second_waiting = enter_code_and_sign_in(&mut second, &device).await;
    assert!(second_waiting.location().starts_with("/mfa/wait?txn="));
    let number = first.get(waiting.location()).await.binding_code();
    sandbox
        .authz()
        .approve_with_code(&pending.id, &number)
        .expect("approve the first push");
    let continued = first.get(&format!("/mfa/continue?txn={first_txn}")).await;
    assert_eq!(
        continued.status,
        StatusCode::BAD_REQUEST,
        "{}",
        continued.body
    );
    assert!(
        continued.body.contains("Request already finished"),
        "{}",
        continued.body
    );
    assert!(
        continued.header("location").is_none(),
        "no code, no redirect"
    );
    assert_eq!(poll_error(&sandbox, code).await, "authorization_pending");
}
