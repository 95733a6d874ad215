//! The person's side of a device authorization: entering the code, signing in, MFA with
//! number matching, the approval page in words, denial, single use, throttling of wrong
//! codes, and which browser may finish.

use std::time::Duration;

use bank_sandbox::authz::{ACR_MFA, AuthzEvent};
use reqwest::StatusCode;

use super::{
    DEVICE_GRANT, LOGIN_SCOPE, authorize_device, decide, enter_code, enter_code_and_sign_in, poll,
    poll_error, wait_interval,
};
use crate::common::*;

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
    // Approving the push, which showed exactly this payment and took the number only this
    // browser had, was the decision: no second page asks it again (RFC 8628 §5.4 is kept by
    // the push itself showing what the code grants).
    assert_eq!(continued.status, StatusCode::OK, "{}", continued.body);
    assert!(
        continued.body.contains("data-device-result=\"approved\""),
        "{}",
        continued.body
    );
    assert!(
        !continued.body.contains("data-device-consent"),
        "{}",
        continued.body
    );

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

#[tokio::test]
async fn a_device_flow_logs_neither_code_nor_token() {
    let sandbox = start().await;
    let device = authorize_device(&sandbox, LOGIN_SCOPE, &[]).await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let signed_in = enter_code_and_sign_in(&mut browser, &device).await;
    let confirm = browser.get(signed_in.location()).await;
    decide(&mut browser, &confirm, "approve").await;
    let (status, tokens) = poll(&sandbox, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let logs = captured_logs();
    assert!(logs.contains("DeviceApproved"), "events are logged");
    let user_code = device["user_code"].as_str().expect("user_code");
    for (what, secret) in [
        ("device code", code),
        ("user code", user_code),
        ("user code without its dash", &user_code.replace('-', "")),
        ("access token", tokens["access_token"].as_str().expect("at")),
        (
            "refresh token",
            tokens["refresh_token"].as_str().expect("rt"),
        ),
    ] {
        assert!(!logs.contains(secret), "the {what} leaked into the logs");
    }
}
