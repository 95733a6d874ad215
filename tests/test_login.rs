//! `bank login` end to end: the scripted browser walks the sandbox's real pages.

use std::time::Duration;

use bank_sandbox::authz::AuthzEvent;

use crate::common::{PUSHED_URL, TestEnv};

#[test]
fn login_stores_tokens_in_the_keyring() {
    let env = TestEnv::start();
    let run = env.run_with_browser(&["login"]).success();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("Open this URL in your browser to continue"),
        "the URL must always be printed:\n{}",
        run.stderr
    );
    // The sandbox offers PAR: the URL is a reference to the request bank pushed.
    assert!(
        run.stderr.contains(&format!("\n  {PUSHED_URL}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with("✓ Logged in to [ISSUER] as alice\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);

    // What the browser did, and what the server saw.
    let log = env.browser_log();
    assert!(log.contains("login: submitting form"), "{log}");
    assert!(log.contains("callback 200"), "{log}");
    let events = env.sandbox().authz().events();
    let requested = events.iter().find_map(|e| match e {
        AuthzEvent::AuthorizationRequested {
            client_id, scope, ..
        } => Some((client_id.clone(), scope.clone())),
        _ => None,
    });
    assert_eq!(
        requested,
        Some((
            "bank-cli".to_owned(),
            "openid profile offline_access view:balance".to_owned()
        ))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::LoginSucceeded { username } if username == "alice"))
    );
    assert!(events.iter().any(
        |e| matches!(e, AuthzEvent::TokenIssued { grant, .. } if grant == "authorization_code")
    ));

    // Stored in the keyring, nothing in the config dir but the lock-free tree.
    let run = env.run(&["status"]).success();
    assert!(
        run.stdout
            .contains("Storage:  system keyring (Secret Service)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("User:     alice"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Scopes:   openid profile offline_access view:balance"),
        "{}",
        run.stdout
    );
    assert!(
        !env.config_dir().join("tokens").exists()
            || std::fs::read_dir(env.config_dir().join("tokens"))
                .expect("dir")
                .next()
                .is_none()
    );
    // Nothing secret on disk: no file under the config dir or HOME holds the token.
    let token = env.run(&["token"]).success().stdout.trim_end().to_owned();
    for root in [env.config_dir(), env.home()] {
        for file in files_under(&root) {
            let text = std::fs::read(&file).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&text).contains(&token),
                "{} holds the access token",
                file.display()
            );
        }
    }
    // The real keyring holds the bundle under (service, profile:client@issuer); `secret-tool`
    // sees it. (Bundles over the item size are chunked: see token_store's keyring test.)
    let account = format!("default:bank-cli@{}", env.issuer);
    let stored = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "bank-cli", "username", &account])
        .output()
        .expect("secret-tool runs");
    let bundle: serde_json::Value =
        serde_json::from_slice(&stored.stdout).expect("a JSON bundle in the keyring");
    assert_eq!(bundle["access_token"], token.as_str());
    assert_eq!(bundle["issuer"], env.issuer.as_str());
    assert!(bundle["refresh_token"].is_string());
    let json = env.run(&["--json", "status"]).success().json();
    assert_eq!(json["logged_in"], true);
    assert_eq!(json["user"], "alice");
    assert_eq!(json["storage"], "keyring");
    assert_eq!(json["refresh_token"], true);
}

/// A `/callback` with the wrong `state` (any local process can send one) is refused with an
/// error page, the person is told, and the login keeps waiting: here nothing else comes, so
/// it times out, with no code exchanged.
#[test]
fn a_callback_with_the_wrong_state_is_refused_and_the_login_keeps_waiting() {
    let mut env = TestEnv::start();
    env.set_env("BANK_TEST_BROWSER_MODE", "tamper-state");
    // Long enough for the scripted browser to deliver its stray callback on a loaded machine.
    let run = env.run_with_browser(&["login", "--timeout", "8s"]).code(4);
    assert!(
        run.stderr
            .contains("a request reached the login callback without this login's state"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("error: timed out after 8s"),
        "{}",
        run.stderr
    );
    assert!(
        env.browser_log().contains("callback 400"),
        "{}",
        env.browser_log()
    );
    // No code was exchanged.
    let issued = env
        .sandbox()
        .authz()
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthzEvent::TokenIssued { .. }))
        .count();
    assert_eq!(issued, 0);
    env.run(&["status"]).code(3);
}

/// The stray callback does not end the login: the real one after it still signs in.
#[test]
fn the_real_callback_after_a_stray_one_still_signs_in() {
    let mut env = TestEnv::start();
    env.set_env("BANK_TEST_BROWSER_MODE", "tamper-state-then-real");
    let run = env.run_with_browser(&["login"]).success();
    assert!(
        run.stderr
            .contains("a request reached the login callback without this login's state"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Logged in to"), "{}", run.stderr);
    let log = env.browser_log();
    assert!(
        log.contains("callback 400") && log.contains("callback 200"),
        "{log}"
    );
    env.run(&["status"]).success();
}

/// A tenant whose rule demands MFA for the everyday scope: the login waits for it.
fn mfa_at_login() -> TestEnv {
    TestEnv::start_with(|c| c.authz.clients[0].mfa_scopes = vec!["view:balance".into()])
}

#[test]
fn denied_mfa_is_access_denied() {
    let env = mfa_at_login();
    std::thread::scope(|s| {
        let login = s.spawn(|| env.run_with_browser(&["login"]));
        let authz = env.sandbox().authz().clone();
        let pending = env
            .rt
            .block_on(authz.wait_for_pending_mfa("alice", Duration::from_secs(60)))
            .expect("the login asks for MFA");
        authz.deny_mfa(&pending.id).expect("deny");
        let run = login.join().expect("no panic").code(4);
        assert!(
            run.stderr.contains("error: access denied"),
            "{}",
            run.stderr
        );
    });
    assert!(
        env.browser_log().contains("mfa: denied"),
        "{}",
        env.browser_log()
    );
    env.run(&["status"]).code(3);
}

#[test]
fn approved_mfa_logs_in() {
    let env = mfa_at_login();
    std::thread::scope(|s| {
        let login = s.spawn(|| env.run_with_browser(&["login"]));
        let authz = env.sandbox().authz().clone();
        env.rt
            .block_on(authz.wait_for_pending_mfa("alice", Duration::from_secs(60)))
            .expect("the login asks for MFA");
        authz.approve_pending("alice").expect("approve");
        login.join().expect("no panic").success();
    });
    assert!(
        env.browser_log().contains("mfa: approved"),
        "{}",
        env.browser_log()
    );
    let json = env.run(&["--json", "status"]).success().json();
    assert_eq!(
        json["scopes"],
        serde_json::json!(["openid", "profile", "offline_access", "view:balance"]),
        "{json}"
    );
}

/// DESIGN: a step-up (transfer) token is never written to the keyring, so a login never asks
/// for `transfer:funds` — not through `--scope`, not through the profile's scopes (which
/// `bank config set` refuses too, and a hand-edited file cannot sneak in) — and refuses
/// before any network call.
#[test]
fn login_never_requests_the_transfer_scope() {
    let env = TestEnv::start();
    for args in [
        &["login", "--scope", "transfer:funds"][..],
        &["login", "--scope", "openid transfer:funds"][..],
    ] {
        let run = env.run(args).code(2);
        assert!(
            run.stderr.starts_with(
                "error: refusing to request `transfer:funds` at login: transfer tokens are obtained per transfer by `bank transfer` and never stored\n"
            ),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("log in without `--scope`"),
            "{}",
            run.stderr
        );
    }

    let run = env
        .run(&[
            "config",
            "set",
            "scopes",
            "openid offline_access transfer:funds",
        ])
        .code(2);
    assert!(
        run.stderr.contains(
            "`transfer:funds` cannot be an everyday scope: transfer tokens are obtained per transfer by `bank transfer` and never stored"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !env.config_dir().join("config.toml").exists()
            || !std::fs::read_to_string(env.config_dir().join("config.toml"))
                .expect("read config")
                .contains("transfer:funds"),
        "config set wrote the scope"
    );

    // A hand-edited profile.
    std::fs::create_dir_all(env.config_dir()).expect("config dir");
    std::fs::write(
        env.config_dir().join("config.toml"),
        "[profiles.default]\nscopes = [\"openid\", \"offline_access\", \"view:balance\", \"transfer:funds\"]\n",
    )
    .expect("write config");
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr.contains(
            "hint: remove `transfer:funds` from the profile's scopes: bank config set scopes \"openid profile offline_access view:balance\""
        ),
        "{}",
        run.stderr
    );

    // Nothing reached the authorization server, no browser ran, nothing was stored.
    let events = env.sandbox().authz().events();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(env.browser_log(), "");
    assert_eq!(env.keyring_bundle(), None);
}

#[test]
fn login_times_out() {
    let mut env = TestEnv::start();
    env.set_env("BANK_TEST_BROWSER_MODE", "idle");
    let run = env.run_with_browser(&["login", "--timeout", "1s"]).code(4);
    assert!(
        run.stderr.contains(
            "error: timed out after 1s waiting for the login to finish in the browser\n  hint: "
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn busy_callback_port_is_a_clear_error() {
    let env = TestEnv::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let run = env.run(&["login", "--callback-port", &port]).code(1);
    assert!(
        run.stderr
            .starts_with("error: the login callback port [PORT] is already in use")
            || run.stderr.contains("is already in use"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.browser_log(),
        "",
        "the browser must not be opened without a listener"
    );
}

#[test]
fn insecure_storage_is_chosen_explicitly() {
    let env = TestEnv::start();
    let run = env
        .run_with_browser(&["login", "--insecure-storage"])
        .success();
    assert!(
        run.stderr
            .contains("warning: tokens stored in plain-text file"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.run(&["--json", "status"]).success().json()["storage"],
        "file"
    );
    // Logging in again normally moves the tokens into the keyring and removes the file.
    env.run_with_browser(&["login"]).success();
    assert_eq!(
        env.run(&["--json", "status"]).success().json()["storage"],
        "keyring"
    );
    assert_eq!(
        std::fs::read_dir(env.config_dir().join("tokens"))
            .expect("dir")
            .count(),
        0
    );
}

#[test]
fn no_browser_only_prints_the_url_where_there_is_no_device_flow() {
    // A provider with the device flow gets that instead (tests/test_device.rs).
    let env = TestEnv::start_with(|c| c.authz.device.enabled = false);
    let run = env
        .run(&["login", "--no-browser", "--timeout", "1s"])
        .code(4);
    assert!(run.stderr.contains(PUSHED_URL), "{}", run.stderr);
    // A pushed request's reference is short-lived: the person is told how short.
    assert!(
        run.stderr
            .contains("(it names the sign-in request bank sent the provider: open it within 1m)"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "");
}

#[test]
fn ctrl_c_ends_the_wait_with_130() {
    let mut env = TestEnv::start();
    let output = env.interrupt_while_the_browser_waits(&["login"]);
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.ends_with("Interrupted.\n"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// No browser to open, no device flow, nobody at a terminal: nothing could finish the
/// login, so it ends at once instead of after the timeout.
#[test]
fn a_login_nobody_can_finish_fails_at_once() {
    let mut env = TestEnv::start_with(|c| c.authz.device.enabled = false);
    env.set_env("BANK_BROWSER", "");
    let started = std::time::Instant::now();
    let run = env.run(&["login", "--timeout", "30s"]).code(2);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "it waited"
    );
    assert!(
        run.stderr
            .starts_with("error: no browser can be opened here and no terminal is there"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--no-browser"), "{}", run.stderr);
    assert!(env.pushed_requests().is_empty(), "nothing was sent");
}
