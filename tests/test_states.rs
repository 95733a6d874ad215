//! What a stored login is, said truthfully: damaged credentials are "log in again" (exit 3)
//! and `bank logout` removes them; `bank status` tries the refresh an expired login needs and
//! exits 3 when the provider refuses it; no keyring means no login unless the plain file is
//! chosen (`--insecure-storage`).

use crate::common::{TestEnv, mode};

/// The default profile's keyring account, as `bank` names it.
fn account(env: &TestEnv) -> String {
    format!("default:bank-cli@{}", env.issuer)
}

/// Overwrites the keyring item with bytes that are no login, as another program might.
fn damage_keyring_item(env: &TestEnv) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("secret-tool")
        .args([
            "store",
            "--label",
            "bank-cli",
            "service",
            "bank-cli",
            "username",
            &account(env),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"not json {")
        .expect("write the secret");
    assert!(child.wait().expect("secret-tool ends").success());
}

/// The raw keyring item (`None` when there is none).
fn keyring_item(env: &TestEnv) -> Option<String> {
    let out = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "bank-cli", "username", &account(env)])
        .output()
        .expect("secret-tool runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lock_files(env: &TestEnv) -> usize {
    std::fs::read_dir(env.config_dir().join("locks")).map_or(0, |d| d.count())
}

#[test]
fn damaged_keyring_credentials_need_a_new_login_and_logout_deletes_them() {
    let env = TestEnv::start();
    env.login();
    // A refresh leaves its lock file behind; logout takes it too.
    env.run(&["balance"]).success();
    damage_keyring_item(&env);
    assert_eq!(keyring_item(&env).as_deref(), Some("not json {"));

    for args in [&["balance"][..], &["status"], &["history"], &["token"]] {
        let run = env.run(args).code(3);
        assert!(
            run.stderr.starts_with(
                "error: the credentials stored in the system keyring are damaged\n  hint: log in again: `bank logout` deletes them, then `bank login`\n"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("--insecure-storage"), "{}", run.stderr);
    }
    let state = env.run(&["--json", "status"]).code(3).json();
    assert_eq!(
        (&state["logged_in"], &state["reason"]),
        (&false.into(), &"damaged".into())
    );

    let run = env.run(&["--json", "logout"]).success();
    let out = run.json();
    assert_eq!(out["logged_out"], true);
    assert_eq!(out["damaged"], true);
    assert_eq!(out["deleted_from"], serde_json::json!(["keyring"]));
    assert!(
        run.stderr.contains("Deleted the damaged credentials"),
        "{}",
        run.stderr
    );
    assert_eq!(keyring_item(&env), None);
    let state = env.run(&["--json", "status"]).code(3).json();
    assert_eq!(state["reason"], "not_logged_in");
    env.login();
    env.run(&["balance"]).success();
}

#[test]
fn a_damaged_token_file_needs_a_new_login_with_the_file_and_logout_deletes_it() {
    let env = TestEnv::start();
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    let path = env.token_file();
    std::fs::write(&path, "not json {").expect("damage the file");
    let run = env.run(&["balance"]).code(3);
    assert!(
        run.stderr.starts_with(&format!(
            "error: the credentials stored in {} are damaged\n  hint: log in again: `bank logout` deletes the file, then `bank login --insecure-storage`\n",
            env.normalize(&path.display().to_string())
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("stores tokens in a 0600 file"),
        "{}",
        run.stderr
    );
    env.run(&["status"]).code(3);
    env.run(&["logout"]).success();
    assert!(!path.exists());
    assert_eq!(lock_files(&env), 0, "the lock goes with the login");
    env.run(&["status"]).code(3);
}

#[test]
fn logout_removes_the_refresh_lock_too() {
    let env = TestEnv::start();
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    env.edit_token_file(|b| b["expires_at"] = 0.into());
    env.run(&["balance"]).success();
    assert_eq!(lock_files(&env), 1, "the refresh took the lock");
    env.run(&["logout"]).success();
    assert_eq!(lock_files(&env), 0);
}

#[test]
fn status_refreshes_an_expired_login_and_says_when_the_login_is_gone() {
    let env = TestEnv::start();
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    env.edit_token_file(|b| b["expires_at"] = 0.into());

    // Offline: what is stored, nothing sent.
    let state = env.run(&["--json", "status", "--offline"]).success().json();
    assert_eq!(
        (&state["logged_in"], &state["expired"], &state["refreshed"]),
        (&true.into(), &true.into(), &false.into())
    );
    // Online: the refresh `bank balance` would make, made now.
    let state = env.run(&["--json", "status"]).success().json();
    assert_eq!(
        (&state["logged_in"], &state["expired"], &state["refreshed"]),
        (&true.into(), &false.into(), &true.into())
    );

    // The provider refuses the refresh token (invalid_grant): the login is gone.
    env.edit_token_file(|b| {
        b["expires_at"] = 0.into();
        b["refresh_token"] = "not-a-refresh-token".into();
    });
    let run = env.run(&["status"]).code(3);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("invalid_grant") && run.stderr.contains("hint: run `bank login`"),
        "{}",
        run.stderr
    );
    let state = env.run(&["--json", "status"]).code(3).json();
    assert_eq!(
        (&state["logged_in"], &state["reason"]),
        (&false.into(), &"refresh_refused".into())
    );
    // `--offline` cannot know: it reports what is stored.
    env.run(&["status", "--offline"]).success();

    // The README's idiom: the status fails, so the login runs.
    let mut sh = std::process::Command::new("bash");
    sh.env_clear();
    let base = env.std_command(&[]);
    for (key, value) in base.get_envs() {
        if let Some(value) = value {
            sh.env(key, value);
        }
    }
    let bank_dir = std::path::Path::new(crate::common::BANK)
        .parent()
        .expect("bank's directory");
    sh.env(
        "PATH",
        format!(
            "{}:{}",
            bank_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .args(["-c", "bank status >/dev/null 2>&1 || bank login"]);
    let out = sh.output().expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Logged in to"),
        "the idiom logged in again"
    );
    let state = env.run(&["--json", "status"]).success().json();
    assert_eq!(state["refreshed"], false);
    assert_eq!(state["logged_in"], true);
    // The scripted browser ran for the idiom's login.
    assert!(env.browser_log().matches("started").count() >= 2);
}

#[test]
fn without_a_keyring_login_fails_closed_unless_the_file_is_chosen() {
    let mut env = TestEnv::start();
    env.keyring = false;
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr
            .starts_with("error: the system keyring is not available\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`bank login --insecure-storage`")
            && run.stderr.contains("Secret Service"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "", "nobody was asked to sign in");
    assert!(
        !env.config_dir().join("tokens").exists(),
        "no token file was written"
    );
    env.run(&["status"]).code(3);

    // Chosen knowingly: the plain file, private, and said so.
    let run = env
        .run_with_browser(&["login", "--insecure-storage"])
        .success();
    assert!(
        run.stderr.contains("tokens stored in plain-text file"),
        "{}",
        run.stderr
    );
    let path = env.token_file();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&env.config_dir().join("tokens")), 0o700);
    let run = env.run(&["status"]).success();
    assert!(
        run.stdout
            .contains("Storage:  plain-text file [TMP]/config/tokens/"),
        "{}",
        run.stdout
    );
    env.run(&["balance"]).success();
    env.run(&["logout"]).success();
    assert!(!path.exists());
}
