//! The data dir: persistence across restarts, owner-only files, and the admin API that
//! `bank-sandbox mfa` uses (token-protected, never open).

use bank_sandbox::{ADMIN_TOKEN_FILE, SandboxConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn config_in(dir: &std::path::Path) -> SandboxConfig {
    let mut config = SandboxConfig::ephemeral();
    config.data_dir = Some(dir.to_path_buf());
    config
}

#[tokio::test]
async fn data_dir_persists_keys_and_users_and_guards_the_admin_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start_with(config_in(dir.path())).await;
    let iss = sandbox.issuer().to_owned();
    let alice_sub = sandbox.authz().user_sub("alice").expect("store");
    let kid = get_json(&format!("{iss}/.well-known/jwks.json")).await["keys"][0]["kid"].clone();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in [ADMIN_TOKEN_FILE, "authz.sqlite3", "bank.sqlite3"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .expect(name)
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name} is owner-only");
        }
        let mode = std::fs::metadata(dir.path())
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let admin: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).expect("admin token file"),
    )
    .expect("JSON");
    assert_eq!(admin["issuer"], iss.as_str());
    let token = admin["token"].as_str().expect("token").to_owned();

    // Start a step-up so there is something to approve.
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(&iss, &Pkce::new(), "transfer:funds", &[]);
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert!(waiting.location().starts_with("/mfa/wait?"));

    let client = http();
    let list = client
        .get(format!("{iss}/admin/mfa"))
        .send()
        .await
        .expect("list");
    assert_eq!(
        list.status(),
        StatusCode::UNAUTHORIZED,
        "no token, no access"
    );
    let list = client
        .get(format!("{iss}/admin/mfa"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), StatusCode::UNAUTHORIZED);
    let list: Value = client
        .get(format!("{iss}/admin/mfa?user=alice"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let pending = list["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["username"], "alice");
    assert!(
        pending[0].get("binding_code").is_none() && !list.to_string().contains("code"),
        "the number is only in the browser: {list}"
    );
    let decide = |body: Value| {
        client
            .post(format!("{iss}/admin/mfa/decide"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let no_code = decide(json!({ "decision": "approve", "user": "alice" }))
        .await
        .expect("decide");
    assert_eq!(
        no_code.status(),
        StatusCode::BAD_REQUEST,
        "approving needs the number"
    );
    let number = browser.get(waiting.location()).await.binding_code();
    let wrong = if number == "10" { "11" } else { "10" };
    let refused = decide(json!({ "decision": "approve", "user": "alice", "code": wrong }))
        .await
        .expect("decide");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a wrong number");
    let decided = decide(json!({ "decision": "approve", "user": "alice", "code": number }))
        .await
        .expect("decide");
    assert_eq!(decided.status(), StatusCode::OK);
    let again = client
        .post(format!("{iss}/admin/mfa/decide"))
        .bearer_auth(&token)
        .json(&json!({ "decision": "approve", "id": pending[0]["id"], "code": number }))
        .send()
        .await
        .expect("decide");
    assert_eq!(again.status(), StatusCode::CONFLICT, "decided once");
    let txn = query_param(waiting.location(), "txn").expect("txn");
    let status = get_json(&format!("{iss}/mfa/status?txn={txn}")).await;
    assert_eq!(status["status"], "approved");
    sandbox.shutdown().await;

    // Restart on the same data dir: same users (same sub), same key, a new admin token.
    let sandbox = start_with(config_in(dir.path())).await;
    assert_eq!(sandbox.authz().user_sub("alice").expect("store"), alice_sub);
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    assert_eq!(jwks["keys"][0]["kid"], kid);
    let old = client
        .get(format!("{}/admin/mfa", sandbox.issuer()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "admin token is per run"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn in_memory_sandbox_has_no_admin_api_and_refuses_non_loopback() {
    let sandbox = start().await;
    let response = http()
        .get(format!("{}/admin/mfa", sandbox.issuer()))
        .bearer_auth("anything")
        .send()
        .await
        .expect("admin");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    sandbox.shutdown().await;

    let mut config = SandboxConfig::ephemeral();
    config.authz_addr = "0.0.0.0:0".parse().expect("addr");
    let refused = bank_sandbox::Sandbox::start(config).await;
    assert!(matches!(
        refused,
        Err(bank_sandbox::SandboxError::NonLoopback { .. })
    ));
}

/// Runs the real `bank-sandbox` binary with a clean environment whose default data dir
/// (under `home`) is empty, so only an honoured `--data-dir` can find the admin token.
async fn bank_sandbox(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bank-sandbox"))
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .env("RUST_LOG", "off")
            .output()
            .expect("bank-sandbox runs")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn mfa_commands_honour_a_data_dir_given_before_or_after_the_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    let data_dir = dir.path().to_str().expect("utf-8 temp path").to_owned();
    let sandbox = start_with(config_in(dir.path())).await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert!(waiting.location().starts_with("/mfa/wait?"));
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();

    // Before the command: this used to be parsed and then thrown away.
    let list = bank_sandbox(home.path(), &["--data-dir", &data_dir, "mfa", "list"]).await;
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        stdout.starts_with(&format!("{id}  alice  transfer:funds \u{2014} bank CLI, ")),
        "{stdout}"
    );

    // `--json` is the admin API's document, each push with its details (none here).
    let json = bank_sandbox(
        home.path(),
        &["--data-dir", &data_dir, "mfa", "list", "--json"],
    )
    .await;
    let listed: Value = serde_json::from_slice(&json.stdout).expect("mfa list --json");
    assert_eq!(listed["pending"][0]["id"], id.as_str());
    assert_eq!(listed["pending"][0]["username"], "alice");

    // Between the group and the command, with the number the browser shows.
    let number = browser.get(waiting.location()).await.binding_code();
    let approve = bank_sandbox(
        home.path(),
        &[
            "mfa",
            "--data-dir",
            &data_dir,
            "approve",
            "--user",
            "alice",
            "--code",
            &number,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&approve.stderr);
    assert!(approve.status.success(), "{stderr}");
    assert!(stderr.starts_with(&format!("Approved {id} ")), "{stderr}");
    let txn = query_param(waiting.location(), "txn").expect("txn");
    let status = get_json(&format!("{}/mfa/status?txn={txn}", sandbox.issuer())).await;
    assert_eq!(status["status"], "approved");

    // Without it, the (empty) default data dir is used, and the error says where it looked.
    let default = bank_sandbox(home.path(), &["mfa", "list"]).await;
    assert!(!default.status.success());
    let stderr = String::from_utf8_lossy(&default.stderr);
    assert!(
        stderr.contains(&format!(
            "{}/.local/share/bank-sandbox/admin-token",
            home.path().display()
        )),
        "{stderr}"
    );

    // A serve option before a command other than serve is a usage error, not ignored.
    let misplaced =
        bank_sandbox(home.path(), &["--authz-addr", "127.0.0.1:0", "mfa", "list"]).await;
    assert_eq!(misplaced.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&misplaced.stderr).contains("--authz-addr is an option of `serve`")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_waiting_pages_hint_works_as_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    let sandbox = start_with(config_in(dir.path())).await;
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    let page = browser.get(waiting.location()).await;
    let number = page.binding_code();
    let at = page.body.find("or run <code>").expect("a command to run") + "or run <code>".len();
    let end = page.body[at..].find("</code>").expect("its end") + at;
    let command = &page.body[at..end];
    // Not the default data dir: the command names it, or it would look elsewhere.
    assert_eq!(
        command,
        format!(
            "bank-sandbox mfa approve --code {number} --data-dir {}",
            dir.path().display()
        )
    );
    // As printed: no ID, no --user.
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    let approve = bank_sandbox(home.path(), &words).await;
    let stderr = String::from_utf8_lossy(&approve.stderr);
    assert!(approve.status.success(), "{stderr}");
    assert!(stderr.starts_with("Approved "), "{stderr}");
    let txn = query_param(waiting.location(), "txn").expect("txn");
    let status = get_json(&format!("{}/mfa/status?txn={txn}", sandbox.issuer())).await;
    assert_eq!(status["status"], "approved");

    // With nothing pending that shows the number, it says so and approves nothing.
    let again = bank_sandbox(home.path(), &words).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no pending MFA request"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn mfa_list_shows_device_requests_and_mfa_deny_denies_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    let data_dir = dir.path().to_str().expect("utf-8 temp path").to_owned();
    let sandbox = start_with(config_in(dir.path())).await;
    let details = details_for(&json!({"to": "bob", "amount": "25.00"}));
    let answer: Value = http()
        .post(format!("{}/oauth/device/code", sandbox.issuer()))
        .form(&[
            ("client_id", CLIENT_ID),
            ("scope", "openid transfer:funds"),
            ("authorization_details", &details),
        ])
        .send()
        .await
        .expect("device request")
        .json()
        .await
        .expect("JSON");
    let device_code = answer["device_code"]
        .as_str()
        .expect("device_code")
        .to_owned();
    let device = sandbox.authz().pending_devices();
    assert_eq!(device.len(), 1);
    let id = device[0].id.clone();

    let list = bank_sandbox(home.path(), &["--data-dir", &data_dir, "mfa", "list"]).await;
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(&format!("{id}  -  Pay bob 25.00 USD \u{2014} bank CLI, "))
            && stdout
                .trim_end()
                .ends_with("(device: waiting for the code)"),
        "{stdout}"
    );
    let json = bank_sandbox(
        home.path(),
        &["--data-dir", &data_dir, "mfa", "list", "--json"],
    )
    .await;
    let listed: Value = serde_json::from_slice(&json.stdout).expect("mfa list --json");
    assert_eq!(listed["devices"][0]["id"], id.as_str());
    assert_eq!(listed["devices"][0]["stage"], "waiting for the code");
    assert_eq!(
        listed["devices"][0]["authorization_details"][0]["creditorAccount"]["handle"],
        "bob"
    );
    // No secret of the device's in the listing.
    assert!(!String::from_utf8_lossy(&json.stdout).contains(&device_code));
    assert!(
        !String::from_utf8_lossy(&json.stdout)
            .contains(answer["user_code"].as_str().expect("code"))
    );

    // Approving one from here is refused; denying it ends it for the device.
    let approve = bank_sandbox(
        home.path(),
        &[
            "--data-dir",
            &data_dir,
            "mfa",
            "approve",
            &id,
            "--code",
            "10",
        ],
    )
    .await;
    assert!(!approve.status.success());
    let deny = bank_sandbox(home.path(), &["--data-dir", &data_dir, "mfa", "deny", &id]).await;
    assert!(
        deny.status.success(),
        "{}",
        String::from_utf8_lossy(&deny.stderr)
    );
    let (_, _, polled) = token_request(
        &sandbox,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT_ID),
            ("device_code", &device_code),
        ],
    )
    .await;
    assert_eq!(polled["error"], "access_denied");
    assert!(sandbox.authz().pending_devices().is_empty());
    sandbox.shutdown().await;
}

/// An issuer with Auth0's trailing slash: the admin commands still find the admin API (its
/// endpoints hang off the issuer without the slash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_commands_work_with_an_issuer_that_ends_with_a_slash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    let data_dir = dir.path().to_str().expect("utf-8 temp path").to_owned();
    let mut config = config_in(dir.path());
    config.authz.issuer_trailing_slash = true;
    let sandbox = start_with(config).await;
    assert!(sandbox.issuer().ends_with('/'), "{}", sandbox.issuer());
    let list = bank_sandbox(home.path(), &["--data-dir", &data_dir, "mfa", "list"]).await;
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    sandbox.shutdown().await;
}
