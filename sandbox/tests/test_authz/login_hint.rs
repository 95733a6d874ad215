//! OIDC `login_hint` (OIDC Core §3.1.2.1) binds a sign-in to one user: the CLI's step-up
//! names the logged-in user, and the sandbox then lets only that user sign in, before any
//! password is checked or MFA push is sent.

use bank_sandbox::authz::AuthzEvent;
use reqwest::StatusCode;

use crate::common::*;

fn pushes(sandbox: &bank_sandbox::Sandbox) -> usize {
    sandbox
        .authz()
        .events()
        .iter()
        .filter(|e| matches!(e, AuthzEvent::MfaRequired { .. }))
        .count()
}

#[tokio::test]
async fn a_hinted_sign_in_is_for_the_hinted_user_only() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("login_hint", "alice")],
    );
    let first = browser.get(&url).await;
    assert!(
        first.location().starts_with("/login?"),
        "{}",
        first.location()
    );
    let login = browser.get(first.location()).await;
    assert_eq!(login.status, StatusCode::OK);
    // The page shows the hinted user, fixed.
    assert_eq!(login.input("username"), "alice");
    assert!(
        login
            .body
            .contains(r#"name="username" value="alice" readonly"#),
        "{}",
        login.body
    );

    // Someone else's (valid) credentials are refused before anything is checked or sent.
    let refused = browser.submit_login(&login, "bob", "builder").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("for alice"), "{}", refused.body);
    assert_eq!(pushes(&sandbox), 0, "no MFA push for bob");
    assert!(
        !sandbox.authz().events().iter().any(|e| matches!(
            e,
            AuthzEvent::LoginSucceeded { .. } | AuthzEvent::LoginFailed { .. }
        )),
        "the password was not even checked"
    );
    assert_eq!(refused.input("username"), "alice", "still fixed");

    // The hinted user signs in as usual.
    let waiting = browser.submit_login(&refused, "alice", "wonderland").await;
    assert_eq!(waiting.status, StatusCode::FOUND, "{}", waiting.body);
    assert!(waiting.location().starts_with("/mfa/wait?"));
    assert_eq!(pushes(&sandbox), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_session_of_another_user_is_not_reused_for_a_hinted_sign_in() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    // Bob is signed in in this browser.
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
    let done = authorize_and_login(&mut browser, &url, "bob", "builder").await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert!(query_param(done.location(), "code").is_some());

    // A sign-in for alice does not go straight on as bob: it asks alice to sign in.
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "view:balance",
        &[("login_hint", "alice")],
    );
    let next = browser.get(&url).await;
    assert_eq!(next.status, StatusCode::FOUND);
    assert!(
        next.location().starts_with("/login?"),
        "{}",
        next.location()
    );
    // With the right user's session, the hint changes nothing.
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "view:balance",
        &[("login_hint", "bob")],
    );
    let again = browser.get(&url).await;
    assert!(
        query_param(again.location(), "code").is_some(),
        "{}",
        again.location()
    );
    sandbox.shutdown().await;
}

/// With `enforce_login_hint = false` the hint is advisory, as some providers treat it: the
/// client's own check of who signed in is then the only binding.
#[tokio::test]
async fn an_advisory_hint_binds_nothing() {
    let mut config = bank_sandbox::SandboxConfig::ephemeral();
    config.authz.enforce_login_hint = false;
    let sandbox = start_with(config).await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("login_hint", "alice")],
    );
    let first = browser.get(&url).await;
    let login = browser.get(first.location()).await;
    assert_eq!(login.input("username"), "");
    assert!(!login.body.contains("readonly"), "{}", login.body);
    let waiting = browser.submit_login(&login, "bob", "builder").await;
    assert!(waiting.location().starts_with("/mfa/wait?"));
    sandbox.shutdown().await;
}

/// The scripted browser, signing in as someone other than the hinted user, gives up with
/// a clear error instead of submitting the form again and again.
#[tokio::test]
async fn the_walker_gives_up_on_a_sign_in_for_someone_else() {
    use bank_sandbox::walker::{Password, WalkError, Walker};
    let sandbox = start().await;
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("login_hint", "alice")],
    );
    let bob = Walker::new("bob", Password::new("builder")).expect("walker");
    let mut posts = 0;
    let outcome = bob
        .walk_to_callback(&url, &mut |step| {
            if matches!(step, bank_sandbox::walker::Step::Post { .. }) {
                posts += 1;
            }
        })
        .await;
    assert!(
        matches!(outcome, Err(WalkError::LoginRejected)),
        "{outcome:?}"
    );
    assert!(posts <= 2, "{posts} posts");
    assert_eq!(pushes(&sandbox), 0);

    // Alice's walk reaches the callback (the push approved from her "phone").
    let alice = Walker::new("alice", Password::new("wonderland")).expect("walker");
    let authz = sandbox.authz().clone();
    let approver = tokio::spawn(async move {
        let pending = authz
            .wait_for_pending_mfa("alice", std::time::Duration::from_secs(30))
            .await
            .expect("a push");
        authz.approve_mfa(&pending.id).expect("approve");
    });
    let callback = alice
        .walk_to_callback(&url, &mut |_| {})
        .await
        .expect("the walk reaches the callback");
    approver.await.expect("approver");
    assert_eq!(callback.path(), "/callback");
    assert!(callback.query_pairs().any(|(k, _)| k == "code"));
    sandbox.shutdown().await;
}
