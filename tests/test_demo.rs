//! `bank demo` and `bank sandbox`, run as the built binary.
//!
//! `demo --yes` is what CI runs as a smoke test: here it runs with no terminal and no display,
//! a HOME of its own and a real Secret Service on the bus, and must tell the whole story, exit
//! 0, leave nothing behind and never touch the keyring. `bank sandbox` is started on free
//! ports and driven the way its walkthrough says: `bank login`, `bank balance`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bank::token_store::{Key, Keyring, StoreError, TokenBundle, TokenStore};
use oauth2::AccessToken;

use crate::common::{BANK, TestEnv};

/// The lines the narration must contain, in this order.
const STORY: &[&str] = &[
    "Step 1/7  Sign in for an everyday token (scope view:balance)",
    "No browser is opened (--yes: the demo signs in for you)",
    "The sign-in page, opened for you as a browser would:",
    "browser   fills in the login form as alice (password: wonderland)",
    "✓ Logged in to the sandbox as alice.",
    "scope \"openid profile offline_access view:balance\", amr pwd,",
    "both bound to this CLI's DPoP key ",
    "Step 2/7  Read the balance with the everyday token",
    "Authorization: DPoP eyJ",
    "← GET /v1/balance: 200 OK",
    "✓ Balance: 1,000.00 USD",
    "Step 3/7  Try to move money with the same token",
    "← POST /v1/transfers: 403 Forbidden",
    "WWW-Authenticate: DPoP error=\"insufficient_scope\", scope=\"transfer:funds\"",
    "Step 4/7  Step up: authorize again for transfer:funds, with MFA",
    // Pushed (RFC 9126): the step-up's URL is a reference, its scope went to the server.
    "/authorize?client_id=bank-cli&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A",
    "authz     MFA required: push mfa_",
    "phone     the push says: pay bob 25.00 USD",
    "phone     --yes: types the browser's number ",
    "browser   the waiting page sees: approved",
    "✓ Step-up token received.",
    "scope \"openid transfer:funds\", amr pwd+mfa, acr http://schemas.openid.net/pape/policies/2007/06/multi-factor, lives 5m",
    "No refresh token comes with it.",
    "Step 5/7  Retry the transfer once: same Idempotency-Key, new token",
    "← POST /v1/transfers: 201 Created",
    "✓ Transferred 25.00 USD to bob. New balance: 975.00 USD.",
    "Step 6/7  Replay the used step-up token (as a thief would)",
    "Authorization: Bearer eyJ",
    "← POST /v1/transfers: 401 Unauthorized",
    "✓ Refused (a DPoP-bound token must be sent with the DPoP scheme): the token is bound to the key of the CLI it was issued to.",
    "Again, now with this CLI's own DPoP key and a fresh proof",
    "WWW-Authenticate: DPoP error=\"invalid_token\", error_description=\"token already used\"",
    "✓ Refused (token already used): a step-up token authorizes one transfer, once.",
    "Step 7/7  Final balances, from the bank's ledger",
    "alice  975.00 USD",
    "bob    525.00 USD",
    "Done. The sandbox is stopped and its temporary files, tokens included, are deleted.",
];

#[test]
fn demo_yes_tells_the_whole_story_unattended() {
    let home = tempfile::tempdir().expect("temp home");
    let tmp = tempfile::tempdir().expect("temp TMPDIR");
    // No terminal (assert_cmd pipes everything), no display, no BANK_* configuration.
    let output = assert_cmd::Command::new(BANK)
        .env_clear()
        .env("HOME", home.path())
        .env("TMPDIR", tmp.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default(),
        )
        .args(["demo", "--yes"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("bank demo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "bank demo --yes failed:\n{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "",
        "stdout is for data"
    );

    // Nobody is asked to open a page the demo opens itself.
    assert!(!stderr.contains("Open this URL"), "{stderr}");
    let mut rest = stderr.as_ref();
    for line in STORY {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => panic!("the narration lacks (or misorders) {line:?}:\n{stderr}"),
        }
    }
    // Tokens appear only as a short prefix: no full JWT (three dot-separated parts) anywhere.
    for word in stderr.split_whitespace() {
        assert!(
            !(word.starts_with("eyJ") && word.matches('.').count() >= 2),
            "a whole token was printed: {word}"
        );
    }
    assert!(!stderr.contains("warning"), "{stderr}");
    // Nothing is left behind: not in TMPDIR (the demo's temp dir is gone), not in HOME.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read TMPDIR")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    let in_home: Vec<_> = std::fs::read_dir(home.path())
        .expect("read HOME")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(in_home.is_empty(), "wrote into HOME: {in_home:?}");
}

#[test]
fn demo_without_a_terminal_needs_yes() {
    let env = TestEnv::without_sandbox("http://127.0.0.1:9", "http://127.0.0.1:9");
    let run = env.run(&["demo"]).code(2);
    assert!(
        run.stderr.contains("there is no terminal to ask on"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bank demo --yes"), "{}", run.stderr);
}

/// The demo's token store works with files only and never reaches the keyring, even when a
/// Secret Service is right there on the bus.
#[test]
fn file_only_store_never_touches_the_keyring() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = TokenStore::file_only(dir.path());
    let key = Key {
        issuer: "http://127.0.0.1:1".into(),
        client_id: "bank-cli".into(),
        profile: "demo".into(),
    };
    let bundle = TokenBundle {
        issuer: key.issuer.clone(),
        client_id: key.client_id.clone(),
        access_token: AccessToken::new("demo-access-token".into()),
        expires_at: None,
        scopes: vec!["view:balance".into()],
        refresh_token: None,
        username: Some("alice".into()),
        sub: None,
        login_hint: None,
        dpop_key: None,
    };
    let saved = store.save(&key, &bundle, false).expect("saved");
    assert_eq!(saved.storage.kind(), "file");
    let (loaded, _) = store.load(&key).expect("loaded");
    assert_eq!(loaded.access_token.secret(), "demo-access-token");

    let keyring = Keyring::connect().expect("the test keyring is reachable");
    assert!(matches!(
        keyring.get(&key.account()),
        Err(StoreError::NotFound)
    ));
    store.delete(&key).expect("deleted");
    assert!(matches!(store.load(&key), Err(StoreError::NotFound)));
}

/// A running `bank sandbox`, stopped with SIGINT (Ctrl-C) on drop.
struct SandboxProcess {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl SandboxProcess {
    /// Interrupts it and returns (exit code, everything it wrote on stderr).
    fn stop(mut self) -> (Option<i32>, String) {
        interrupt(&self.child);
        let status = self.child.wait().expect("bank sandbox exits");
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        (status.code(), stderr)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn sandbox_serves_what_its_walkthrough_says() {
    let data = tempfile::tempdir().expect("data dir");
    let mut child = Command::new(BANK)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", data.path())
        .args(["sandbox", "--authz-addr", "127.0.0.1:0", "--api-addr"])
        .args(["127.0.0.1:0", "--json", "--data-dir"])
        .arg(data.path().join("sandbox"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bank sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = err_tx.send(text);
    });
    let process = SandboxProcess {
        child,
        stderr: err_rx,
    };

    // The one line of data: where it listens (the sandbox is accepting once it is printed).
    let line = line_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("bank sandbox prints its addresses");
    let info: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    let issuer = info["issuer"].as_str().expect("issuer").to_owned();
    let api_url = info["api_url"].as_str().expect("api_url").to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");

    // A second terminal, as the walkthrough says.
    let env = TestEnv::without_sandbox(&issuer, &api_url);
    env.login();
    let run = env.run(&["balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    assert!(
        data.path().join("sandbox").join("admin-token").exists(),
        "the data dir is used"
    );

    let (code, stderr) = process.stop();
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "The sandbox bank is running.",
        &format!("Issuer (authorization server)  {issuer}"),
        &format!("export BANK_ISSUER={issuer} BANK_API_URL={api_url}"),
        "bank login ",
        "bank balance ",
        "bank transfer --to bob --amount 25.00",
        &format!("open {issuer}/authenticator, sign in as alice, type the number"),
        "or run: bank-sandbox mfa approve --user alice --code NN --data-dir ",
        "Stopping the sandbox…",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?}:\n{stderr}");
    }
}

/// On a terminal without `--yes`, the phone asks for the number the browser shows, as the
/// real authenticator does; Enter alone denies, no step-up token is issued, no money moves,
/// and the demo exits 4 (denied). No display here,
/// so the demo says so and signs in over HTTP. `script` (util-linux) provides the terminal.
#[test]
fn demo_on_a_terminal_asks_for_the_number_and_enter_denies() {
    let home = tempfile::tempdir().expect("temp home");
    let mut cmd = Command::new("script");
    cmd.env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // A terminal gets colour; this test reads the words.
        .env("NO_COLOR", "1");
    let line = format!("{BANK} demo");
    let output = assert_cmd::Command::from_std(cmd)
        .args(["-qec", &line, "/dev/null"])
        .write_stdin("\n")
        .timeout(Duration::from_secs(120))
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{screen}");
    for expected in [
        "No browser is opened (no display to open a browser on",
        "authz     MFA required: push mfa_",
        // The phone reads the number from the scripted browser's page, and the prompt says
        // what is approved, who asked and when.
        "phone     the push says: pay bob 25.00 USD",
        "phone     Approve: Pay bob 25.00 USD \u{2014} bank CLI, ",
        "Type the number your browser shows to approve (Enter denies)",
        "phone     denied",
        "browser   the waiting page sees: denied",
        "The MFA request was denied, so no step-up token was issued and no money moves.",
        "error: access denied",
    ] {
        assert!(screen.contains(expected), "missing {expected:?}:\n{screen}");
    }
    assert!(!screen.contains("Step 5/7"), "{screen}");
    // The push never carries the number: only the page in front of the person shows it.
    assert!(!screen.contains("the number is"), "{screen}");
}
