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

/// The other side of the refresh lock: a process that waited for it while another process
/// refreshed uses that result instead of refreshing again (or spending the rotated-away
/// refresh token). Tokens live an hour here, far outside the 30 s expiry skew, so the fresh
/// token is usable; the stored one is made expired by rewriting its expiry. The test holds
/// the lock itself until both processes have read the expired bundle and are waiting for
/// the lock (each says so with `-v`), so both reach the decision: exactly one refreshes.
#[test]
fn a_process_that_waited_for_the_lock_uses_the_other_ones_refresh() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::Duration;

    let env = TestEnv::start();
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    env.edit_token_file(|bundle| bundle["expires_at"] = 1_000_000_000.into());
    let store = bank::token_store::TokenStore::new(&env.config_dir(), true);
    let key = bank::token_store::Key {
        issuer: env.issuer.clone(),
        client_id: "bank-cli".into(),
        profile: "default".into(),
    };
    let lock = store.lock(&key).expect("the test takes the refresh lock");

    let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut child = env
                .std_command(&["-v", "token"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("bank starts");
            let stderr = child.stderr.take().expect("stderr");
            let waiting_tx = waiting_tx.clone();
            let reader = std::thread::spawn(move || {
                let mut text = String::new();
                for line in std::io::BufReader::new(stderr).lines() {
                    let line = line.expect("stderr is text");
                    if line.contains("waiting for it") {
                        waiting_tx.send(()).expect("the test listens");
                    }
                    text.push_str(&line);
                    text.push('\n');
                }
                text
            });
            (child, reader)
        })
        .collect();
    for _ in 0..2 {
        waiting_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("both processes wait for the refresh lock");
    }
    assert_eq!(
        refreshes(&env),
        0,
        "nobody refreshed while the lock was held"
    );
    drop(lock);

    let outputs: Vec<(String, String)> = runs
        .into_iter()
        .map(|(child, reader)| {
            let output = child.wait_with_output().expect("bank exits");
            let stderr = reader.join().expect("reader thread");
            assert_eq!(output.status.code(), Some(0), "{stderr}");
            (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
        })
        .collect();
    assert_eq!(refreshes(&env), 1, "exactly one process refreshed");
    assert!(!reuse_detected(&env));
    assert_eq!(outputs[0].0, outputs[1].0, "both print the refreshed token");
    let used_other = outputs
        .iter()
        .filter(|(_, e)| e.contains("another bank process refreshed the token; using its result"))
        .count();
    let refreshed = outputs
        .iter()
        .filter(|(_, e)| e.contains("access token expired; refreshing"))
        .count();
    assert_eq!((used_other, refreshed), (1, 1), "{outputs:#?}");
    // The stored bundle is the refreshed one, and still works without another refresh.
    assert_eq!(env.run(&["token"]).success().stdout, outputs[0].0);
    assert_eq!(refreshes(&env), 1);
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
    assert_eq!(status["logged_in"], false);
    assert_eq!(status["reason"], "expired");
}
