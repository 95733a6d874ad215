//! Push MFA: the seed's rule, the waiting page, approve / deny / expiry, and the rules'
//! other triggers (acr_values, max_age, prompt=login). The authenticator page has its own
//! file.

use std::time::Duration;

use bank_sandbox::authz::{AuthzEvent, MfaStatusView};
use reqwest::StatusCode;

use crate::common::*;

pub(super) const TRANSFER: &str = "openid offline_access transfer:funds";

/// Starts a transfer:funds authorization as alice and returns the browser on the waiting
/// page's URL.
pub(super) async fn start_step_up(
    sandbox: &bank_sandbox::Sandbox,
    pkce: &Pkce,
) -> (Browser, String) {
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(sandbox.issuer(), pkce, TRANSFER, &[]);
    let after_login = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(
        after_login.status,
        StatusCode::FOUND,
        "{}",
        after_login.body
    );
    let wait = after_login.location().to_owned();
    assert!(wait.starts_with("/mfa/wait?txn=txn_"), "{wait}");
    (browser, wait)
}

pub(super) fn txn_of(wait_url: &str) -> String {
    query_param(wait_url, "txn").expect("txn")
}

#[tokio::test]
async fn transfer_scope_requires_push_approval_then_yields_an_mfa_token() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let (mut browser, wait_url) = start_step_up(&sandbox, &pkce).await;
    let txn = txn_of(&wait_url);

    // The waiting page says what is being approved and carries the polling contract.
    let wait = browser.get(&wait_url).await;
    assert_eq!(wait.status, StatusCode::OK);
    assert!(
        wait.body
            .contains(&format!(r#"data-mfa-status-url="/mfa/status?txn={txn}""#))
    );
    assert!(wait.body.contains(&format!(
        r#"data-mfa-continue-url="/mfa/continue?txn={txn}""#
    )));
    assert!(
        wait.body
            .contains("Waiting for your approval on your authenticator")
    );
    assert!(wait.body.contains("bank CLI wants to"));
    assert!(wait.body.contains("transfer funds"));
    assert!(wait.body.contains("<noscript>"));

    let status = get_json(&format!("{}/mfa/status?txn={txn}", sandbox.issuer())).await;
    assert_eq!(status["status"], "pending");
    // Continuing before approval goes back to waiting, without a code.
    let early = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(early.status, StatusCode::FOUND);
    assert_eq!(early.location(), wait_url);

    // The "phone": the library sees the pending request and approves it.
    let pending = sandbox
        .authz()
        .wait_for_pending_mfa("alice", Duration::from_secs(10))
        .await
        .expect("a pending request");
    assert_eq!(pending.client_name, "bank CLI");
    assert_eq!(
        pending.scopes,
        vec!["openid", "offline_access", "transfer:funds"]
    );
    assert!(sandbox.authz().pending_mfa(Some("bob")).is_empty());
    let approved = sandbox.authz().approve_pending("alice").expect("approve");
    assert_eq!(approved.id, pending.id);
    assert!(
        sandbox.authz().approve_mfa(&pending.id).is_err(),
        "decided once"
    );

    let status = get_json(&format!("{}/mfa/status?txn={txn}", sandbox.issuer())).await;
    assert_eq!(status["status"], "approved");

    // Another browser (no session) cannot see the waiting page or collect the code.
    let mut stranger = Browser::new(&sandbox);
    assert_eq!(stranger.get(&wait_url).await.status, StatusCode::FORBIDDEN);
    let refused = stranger.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert_eq!(
        query_param(done.location(), "state").as_deref(),
        Some("st-123")
    );
    let code = query_param(done.location(), "code").expect("code");
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 300, "step-up tokens live 5 minutes");
    assert!(
        body.get("refresh_token").is_none(),
        "never a refresh token with transfer:funds, even with offline_access"
    );
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (_, claims) = verify_jwt(&jwks, body["access_token"].as_str().expect("at"));
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["scope"], TRANSFER);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );

    // MFA is never remembered: the same signed-in browser is asked again.
    let again = browser
        .get(&authorize_url(
            sandbox.issuer(),
            &Pkce::new(),
            TRANSFER,
            &[],
        ))
        .await;
    assert!(
        again.location().starts_with("/mfa/wait?txn="),
        "{}",
        again.location()
    );

    let events = sandbox.authz().events();
    assert!(events.contains(&AuthzEvent::MfaApproved {
        id: pending.id.clone()
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::TokenIssued { amr, .. } if amr == &["pwd", "mfa"]))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn denied_push_redirects_with_access_denied() {
    let sandbox = start().await;
    let (mut browser, wait_url) = start_step_up(&sandbox, &Pkce::new()).await;
    let txn = txn_of(&wait_url);
    let pending = sandbox.authz().pending_mfa(Some("alice"));
    assert_eq!(pending.len(), 1);
    sandbox.authz().deny_mfa(&pending[0].id).expect("deny");
    assert_eq!(
        sandbox.authz().mfa_status(&txn).expect("store"),
        Some(MfaStatusView::Denied)
    );
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert!(
        done.location()
            .starts_with("http://127.0.0.1:43210/callback?")
    );
    assert_eq!(
        query_param(done.location(), "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(done.location(), "state").as_deref(),
        Some("st-123")
    );
    assert!(query_param(done.location(), "code").is_none());
    // The transaction is over: continuing again does not reopen it.
    let again = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn expired_push_shows_expired_and_redirects_with_access_denied() {
    let sandbox = start().await;
    let (mut browser, wait_url) = start_step_up(&sandbox, &Pkce::new()).await;
    let txn = txn_of(&wait_url);
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    // Two minutes pass on the server's clock.
    sandbox.authz().clock().advance(Duration::from_secs(121));
    let status = get_json(&format!("{}/mfa/status?txn={txn}", sandbox.issuer())).await;
    assert_eq!(status["status"], "expired");
    assert!(sandbox.authz().pending_mfa(None).is_empty());
    assert!(
        sandbox.authz().approve_mfa(&id).is_err(),
        "too late to approve"
    );
    let wait = browser.get(&wait_url).await;
    assert!(wait.body.contains("Request expired"), "{}", wait.body);
    // Too late to approve: neither the number, nor the ways to approve, nor a countdown.
    for stale in [
        "data-binding-code",
        "authenticator</a>",
        "mfa approve",
        "expires",
    ] {
        assert!(!wait.body.contains(stale), "{stale}: {}", wait.body);
    }
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert_eq!(
        query_param(done.location(), "error").as_deref(),
        Some("access_denied")
    );
    let description = query_param(done.location(), "error_description").expect("description");
    assert!(description.contains("expired"), "{description}");
    assert!(
        sandbox
            .authz()
            .events()
            .contains(&AuthzEvent::MfaExpired { id })
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn acr_values_max_age_and_prompt_login_are_honoured() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let iss = sandbox.issuer().to_owned();
    // Sign in once (view:balance, no MFA).
    let first = authorize_and_login(
        &mut browser,
        &authorize_url(&iss, &Pkce::new(), "view:balance", &[]),
        "alice",
        "wonderland",
    )
    .await;
    assert!(query_param(first.location(), "code").is_some());

    // acr_values naming the MFA policy requires MFA even for view:balance.
    let acr = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("acr_values", ACR_MFA)],
        ))
        .await;
    assert!(
        acr.location().starts_with("/mfa/wait?"),
        "{}",
        acr.location()
    );

    // max_age=0 means "sign in now", even right after a sign-in.
    let zero = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("max_age", "0")],
        ))
        .await;
    assert!(
        zero.location().starts_with("/login?"),
        "{}",
        zero.location()
    );

    // max_age: a login older than max_age forces a fresh one.
    sandbox.authz().clock().advance(Duration::from_secs(120));
    let fresh_enough = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("max_age", "300")],
        ))
        .await;
    assert!(
        query_param(fresh_enough.location(), "code").is_some(),
        "{}",
        fresh_enough.location()
    );
    let too_old = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("max_age", "60")],
        ))
        .await;
    assert!(
        too_old.location().starts_with("/login?"),
        "{}",
        too_old.location()
    );

    // prompt=login always shows the login page, and the new auth_time is used.
    let prompt = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("prompt", "login")],
        ))
        .await;
    assert!(
        prompt.location().starts_with("/login?"),
        "{}",
        prompt.location()
    );
    let login = browser.get(prompt.location()).await;
    let done = browser.submit_login(&login, "alice", "wonderland").await;
    assert!(
        query_param(done.location(), "code").is_some(),
        "{}",
        done.location()
    );

    // prompt=none without a session: login_required, back to the client.
    let mut fresh = Browser::new(&sandbox);
    let none = fresh
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("prompt", "none")],
        ))
        .await;
    assert_eq!(
        query_param(none.location(), "error").as_deref(),
        Some("login_required")
    );

    let requested: Vec<_> = sandbox
        .authz()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuthzEvent::AuthorizationRequested {
                max_age,
                prompt,
                acr_values,
                ..
            } => Some((max_age, prompt, acr_values)),
            _ => None,
        })
        .collect();
    assert!(requested.contains(&(Some(60), None, None)));
    assert!(requested.contains(&(None, Some("login".into()), None)));
    assert!(requested.contains(&(None, None, Some(ACR_MFA.into()))));
    sandbox.shutdown().await;
}
