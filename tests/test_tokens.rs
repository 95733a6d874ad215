//! The cached token's life: `bank token`, silent refresh with rotation (also with two
//! processes at once), logout with revocation, and `BANK_TOKEN`.

use bank_sandbox::authz::AuthzEvent;

use crate::common::TestEnv;

fn refreshes(env: &TestEnv) -> usize {
    env.sandbox()
        .authz()
        .events()
        .iter()
        .filter(|e| matches!(e, AuthzEvent::TokenIssued { grant, .. } if grant == "refresh_token"))
        .count()
}

fn reuse_detected(env: &TestEnv) -> bool {
    env.sandbox()
        .authz()
        .events()
        .iter()
        .any(|e| matches!(e, AuthzEvent::RefreshTokenReused { .. }))
}

#[test]
fn token_prints_only_the_access_token() {
    let env = TestEnv::start();
    env.login();
    let run = env.run(&["token"]).success();
    assert_eq!(run.stderr, "");
    let token = run.stdout.trim_end();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert_eq!(run.stdout.lines().count(), 1);
    // Still valid: no refresh happened.
    assert_eq!(refreshes(&env), 0);
    let json = env.run(&["--json", "token"]).success().json();
    assert_eq!(json["access_token"], token);
    assert_eq!(json["source"], "keyring");
}

#[test]
fn expired_tokens_are_refreshed_and_rotated() {
    // Access tokens that live 1 s are always inside the CLI's 30 s expiry skew: every command
    // must refresh first — deterministic, no sleeping.
    let env = TestEnv::start_with(|c| c.authz.access_token_lifetime_secs = 1);
    env.login();
    let first = env.run(&["token"]).success().stdout;
    let second = env.run(&["token"]).success().stdout;
    assert_ne!(first, second, "each run refreshes");
    assert_eq!(refreshes(&env), 2);
    assert!(
        !reuse_detected(&env),
        "the rotated refresh token must be stored and used"
    );
    let status = env.run(&["status"]).success().stdout;
    assert!(status.contains("Storage:  system keyring"), "{status}");
}

#[test]
fn concurrent_refreshes_do_not_lose_the_rotated_token() {
    let env = TestEnv::start_with(|c| c.authz.access_token_lifetime_secs = 1);
    env.login();
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| env.run(&["token"]))).collect();
        for r in runs {
            r.join().expect("no panic").success();
        }
    });
    assert!(
        !reuse_detected(&env),
        "two processes spent the same refresh token"
    );
    assert_eq!(refreshes(&env), 4);
    // And the chain still works afterwards.
    env.run(&["token"]).success();
    assert!(!reuse_detected(&env));
}

#[test]
fn a_rejected_refresh_token_means_login_again() {
    let env = TestEnv::start_with(|c| c.authz.access_token_lifetime_secs = 1);
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    // Revoke the refresh token behind the CLI's back (another device, an administrator),
    // through the provider's real RFC 7009 endpoint.
    let tokens_dir = env.config_dir().join("tokens");
    let file = std::fs::read_dir(&tokens_dir)
        .expect("tokens dir")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("json");
    let refresh_token = bundle["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    env.rt.block_on(async {
        let http = reqwest::Client::new();
        let meta: serde_json::Value = http
            .get(format!("{}/.well-known/openid-configuration", env.issuer))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
        let revoke = meta["revocation_endpoint"]
            .as_str()
            .expect("revocation endpoint");
        let status = http
            .post(revoke)
            .form(&[
                ("token", refresh_token.as_str()),
                ("client_id", "bank-cli"),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .expect("revoke")
            .status();
        assert_eq!(status, 200);
    });
    let run = env.run(&["token"]).code(3);
    assert!(
        run.stderr.starts_with("error: the session has expired\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run `bank login`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&refresh_token));
}

#[test]
fn logout_revokes_and_forgets() {
    let env = TestEnv::start();
    env.login();
    let run = env.run(&["logout"]).success();
    assert_eq!(
        run.stderr,
        "✓ Logged out of [ISSUER] as alice (refresh token revoked)\n"
    );
    assert!(
        env.sandbox()
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::TokenRevoked { .. })),
        "the refresh token was not revoked at the provider"
    );
    env.run(&["status"]).code(3);
    let run = env.run(&["logout"]).success();
    assert_eq!(run.stderr, "Not logged in to [ISSUER]; nothing to do\n");
}

#[test]
fn bank_token_overrides_the_keyring() {
    let mut env = TestEnv::start();
    env.set_env("BANK_TOKEN", "not-a-valid-token");
    let run = env.run(&["token"]).success();
    assert_eq!(run.stdout, "not-a-valid-token\n");
    let status = env.run(&["status"]).success().stdout;
    assert!(
        status.contains("from the BANK_TOKEN environment variable"),
        "{status}"
    );
}

#[test]
fn an_expired_session_without_refresh_token_is_not_logged_in_in_json_too() {
    // No `offline_access`, so no refresh token; 1 s tokens are expired at once (30 s skew).
    let env = TestEnv::start_with(|c| c.authz.access_token_lifetime_secs = 1);
    env.run(&["config", "set", "scopes", "openid profile view:balance"])
        .success();
    env.login();
    let human = env.run(&["status"]).code(3);
    assert!(
        human.stderr.contains("the session has expired"),
        "{}",
        human.stderr
    );
    let json = env.run(&["status", "--json"]).code(3);
    let status = json.json();
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["expired"], true);
    assert_eq!(status["refresh_token"], false);
}
