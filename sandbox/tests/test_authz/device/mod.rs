//! The device authorization grant (RFC 8628) over real HTTP: the endpoint and its
//! validation, the user code's form, the polling rules (pending, slow_down, expiry) and the
//! switch; the person's pages are in `pages`.

mod batch;
mod pages;

use std::time::Duration;

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{AuthzEvent, ClientConfig, USER_CODE_ALPHABET};
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
