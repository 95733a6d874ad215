//! A real browser: headless Chromium, driven over WebDriver, signs in to the sandbox's real
//! pages while the built `bank` binary waits on its loopback callback.
//!
//! `BANK_BROWSER` is a two-line shell script that appends the authorization URL to a file;
//! the test reads it and navigates Chromium there, types alice's password into the login
//! page and submits, and `bank login` must receive the redirect and exit 0. Then a step-up
//! authorization (for `transfer:funds`) shows the MFA waiting page; in a second tab the
//! sandbox's `/authenticator` (the "phone", with a session of its own) asks alice to sign
//! in, and the push is approved there; the waiting page's own script moves on and the CLI
//! gets its callback. Screenshots of the login, waiting, authenticator sign-in and
//! authenticator pages go to `tests/artifacts/` for people to look at. Nothing here skips:
//! without Chromium or chromedriver, or with a broken login page, the test fails.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bank_sandbox::authz::AuthzEvent;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::common::running::Running;
use crate::common::{Run, TestEnv};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: a cold Chromium on a busy 2-core machine; only there to turn a hang into a failure.
const WAIT: Duration = Duration::from_secs(60);

/// chromedriver on a port of its own choosing (`--port=0`; it prints the port), killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            // Its own process group, so Drop can stop the Chromium it starts along with it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {CHROMEDRIVER} ({e}); install chromium and chromium-driver")
            });
        let stdout = child.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver exited before it was ready")
                .expect("chromedriver output");
            // "ChromeDriver was started successfully on port 39967."
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().to_owned();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromium(driver: &ChromeDriver, profile_dir: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--window-size=1024,768",
                format!("--user-data-dir={}", profile_dir.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM} through chromedriver: {e}"))
}

/// The `BANK_BROWSER` stand-in: hands each URL to the test through a file.
fn url_script(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let urls = dir.join("urls.txt");
    let script = dir.join("hand-over-url");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", urls.display()),
    )
    .expect("write the browser script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, urls)
}

/// Waits for the `n`th URL (1-based) the CLI handed over.
async fn nth_url(urls: &Path, n: usize) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(urls).unwrap_or_default();
        if let Some(line) = text.lines().nth(n - 1) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "bank never opened URL #{n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// RFC 9126: the sandbox offers PAR, so the browser's URL carries only a reference.
#[track_caller]
fn assert_by_reference(issuer: &str, url: &str) {
    let parsed = url::Url::parse(url).expect("an absolute URL");
    assert!(url.starts_with(&format!("{issuer}/authorize?")), "{url}");
    let names: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
}

/// Runs `bank` in the background; the handle resolves to its outcome.
fn spawn_bank(env: &TestEnv, args: &[&str]) -> tokio::task::JoinHandle<Run> {
    let mut cmd = env.std_command(args);
    cmd.stdin(Stdio::null());
    let normalize = {
        let issuer = env.issuer.clone();
        move |s: &[u8]| String::from_utf8_lossy(s).replace(&issuer, "[ISSUER]")
    };
    tokio::task::spawn_blocking(move || {
        let output = cmd.output().expect("bank runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: normalize(&output.stdout),
            stderr: normalize(&output.stderr),
        }
    })
}

async fn finished(bank: tokio::task::JoinHandle<Run>) -> Run {
    tokio::time::timeout(Duration::from_secs(120), bank)
        .await
        .expect("bank finished in time")
        .expect("bank's waiter did not panic")
}

async fn screenshot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no `{selector}` on the page ({e})"))
}

async fn text_of(c: &Client) -> String {
    css(c, "body").await.text().await.expect("page text")
}

/// Fills in a username/password form and submits it with its button, as a person does.
async fn sign_in(c: &Client, form: &str, username: &str, password: &str) {
    css(c, &format!("{form} input[name=username]"))
        .await
        .send_keys(username)
        .await
        .expect("type the username");
    css(c, &format!("{form} input[name=password]"))
        .await
        .send_keys(password)
        .await
        .expect("type the password");
    css(c, &format!("{form} button[type=submit]"))
        .await
        .click()
        .await
        .expect("submit");
}

#[test]
fn login_and_step_up_in_headless_chromium() {
    let mut env = TestEnv::start();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let (script, urls) = url_script(scratch.path());
    env.set_env("BANK_BROWSER", &script.display().to_string());
    let driver = ChromeDriver::start();
    let issuer = env.issuer.clone();
    let authz = env.sandbox().authz().clone();
    let bank = env.sandbox().bank().clone();

    env.rt.block_on(async {
        let c = chromium(&driver, &scratch.path().join("chromium-profile")).await;

        // 1. `bank login`: the real login page, typed into.
        let login = spawn_bank(&env, &["login"]);
        let url = nth_url(&urls, 1).await;
        assert_by_reference(&issuer, &url);
        c.goto(&url).await.expect("open the authorization URL");
        css(
            &c,
            "form[method=post][action='/login'] input[name=csrf_token]",
        )
        .await;
        assert_eq!(
            c.current_url().await.expect("url").path(),
            "/login",
            "the authorization endpoint sends an unknown browser to the login page"
        );
        let title = c.title().await.expect("title");
        assert!(title.ends_with("· Bank"), "{title}");
        screenshot(&c, "login").await;
        sign_in(&c, "form[action='/login']", "alice", "wonderland").await;
        let run = finished(login).await.success();
        assert!(
            run.stderr.contains("Logged in to [ISSUER] as alice"),
            "{}",
            run.stderr
        );
        // Chromium followed the redirect to bank's loopback listener, which answered it.
        assert!(
            text_of(&c).await.contains("You can close this tab"),
            "the callback page"
        );

        // 2. A transfer: 403 insufficient_scope, then step-up with MFA in the same browser.
        let transfer = spawn_bank(
            &env,
            &["transfer", "--to", "bob", "--amount", "25.00", "--yes"],
        );
        let url = nth_url(&urls, 2).await;
        assert_by_reference(&issuer, &url);
        // The scope and the payment (RFC 9396) went to the provider in the push instead.
        let pushed = authz.events().into_iter().rev().find_map(|e| match e {
            AuthzEvent::AuthorizationPushed {
                scope,
                authorization_details,
                ..
            } => Some((scope, authorization_details)),
            _ => None,
        });
        let (scope, details) = pushed.expect("the step-up was pushed");
        assert_eq!(scope, "openid transfer:funds");
        assert!(details.is_some(), "RFC 9396 details were pushed");
        c.goto(&url).await.expect("open the step-up URL");
        let main = css(&c, "main[data-mfa-status-url][data-mfa-continue-url]").await;
        // What is approved, and the number to type on the phone, as the person sees them.
        let payment = css(&c, "[data-payment]").await.text().await.expect("text");
        assert_eq!(payment, "Pay bob 25.00 USD");
        let number = css(&c, "[data-binding-code]")
            .await
            .text()
            .await
            .expect("text");
        assert!(
            number.len() == 2 && number.bytes().all(|b| b.is_ascii_digit()),
            "a two-digit number: {number:?}"
        );
        assert!(
            main.text()
                .await
                .expect("text")
                .to_lowercase()
                .contains("approve"),
            "the waiting page asks for approval"
        );
        screenshot(&c, "waiting").await;
        let waiting_tab = c.window().await.expect("current tab");

        // The person's "phone": the authenticator, in a second tab.
        let phone = c.new_window(true).await.expect("a second tab");
        c.switch_to_window(phone.handle).await.expect("switch tabs");
        c.goto(&format!("{issuer}/authenticator"))
            .await
            .expect("open the authenticator");
        // The phone is a separate device: the browser's sign-in does not unlock it, so it
        // always asks for its own.
        css(&c, "form[action='/authenticator/login']").await;
        assert!(
            c.find(Locator::Css("form[action='/authenticator/decide']"))
                .await
                .is_err(),
            "the login session must not unlock the authenticator"
        );
        screenshot(&c, "authenticator-signin").await;
        sign_in(
            &c,
            "form[action='/authenticator/login']",
            "alice",
            "wonderland",
        )
        .await;
        let approve = css(
            &c,
            "form[action='/authenticator/decide'] input[name=decision][value=approve] ~ button",
        )
        .await;
        let phone_text = text_of(&c).await;
        assert!(
            phone_text.contains("Pay bob 25.00 USD") && phone_text.contains("bank CLI"),
            "the authenticator says what is approved and who asks: {phone_text}"
        );
        // Approving means typing the number the browser shows.
        css(&c, "form[action='/authenticator/decide'] input[name=code]")
            .await
            .send_keys(&number)
            .await
            .expect("type the number");
        screenshot(&c, "authenticator").await;
        approve.click().await.expect("click Approve");
        css(&c, "p.notice[role=status]").await; // "No pending requests."

        // Back on the first tab, the waiting page's script carries on to bank's callback.
        c.switch_to_window(waiting_tab)
            .await
            .expect("back to the first tab");
        let run = finished(transfer).await.success();
        assert!(
            run.stdout
                .starts_with("Transferred 25.00 USD to bob. New balance: 975.00 USD."),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        let last = text_of(&c).await;
        assert!(
            last.contains("Payment approved") && last.contains("Pay bob 25.00 USD"),
            "the waiting page moved on to the callback page, which says what happened: {last}"
        );
        assert!(!last.contains("logged in"), "{last}");
        c.close().await.expect("end the WebDriver session");
    });

    // What the server saw: a password login, MFA required and approved, a token with MFA,
    // and exactly one debit.
    let events = authz.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::LoginSucceeded { username } if username == "alice"))
    );
    let mfa_id = events
        .iter()
        .find_map(|e| match e {
            AuthzEvent::MfaRequired { id, scope, .. } if scope.contains("transfer:funds") => {
                Some(id.clone())
            }
            _ => None,
        })
        .expect("MFA was required for transfer:funds");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::MfaApproved { id } if *id == mfa_id))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { scope, amr, .. }
            if scope.contains("transfer:funds") && amr.iter().any(|a| a == "mfa")
    )));
    assert_eq!(bank.balance_of("alice"), Some(97_500));
    assert_eq!(bank.balance_of("bob"), Some(52_500));
}

/// The device flow with a real browser: `bank login --device` prints a code; Chromium (the
/// person's phone or laptop) opens the device page, types the code, signs in, reads what
/// is asked and approves it; `bank` gets its tokens.
#[test]
fn device_login_with_the_code_typed_in_headless_chromium() {
    let env = TestEnv::start();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let driver = ChromeDriver::start();
    let mut bank = Running::start(&env, &["--json", "login", "--device"]);
    let prompt: serde_json::Value =
        serde_json::from_str(&bank.stdout_line()).expect("the codes as one line of JSON");
    let page = prompt["verification_uri"]
        .as_str()
        .expect("page")
        .to_owned();
    let code = prompt["user_code"].as_str().expect("code").to_owned();

    env.rt.block_on(async {
        let c = chromium(&driver, &scratch.path().join("chromium-profile")).await;
        c.goto(&page).await.expect("open the device page");
        let input = css(&c, "form[data-device-entry] input[name=user_code]").await;
        screenshot(&c, "device-code").await;
        input.send_keys(&code).await.expect("type the code");
        css(&c, "form[data-device-entry] button[type=submit]")
            .await
            .click()
            .await
            .expect("continue");
        sign_in(&c, "form[action='/login']", "alice", "wonderland").await;
        let approve = css(&c, "form[data-device-consent] button[data-approve]").await;
        let text = text_of(&c).await;
        for words in [
            "Approve bank CLI on your device?",
            "Signed in as alice",
            "view your balance and transfers",
            "stay signed in",
        ] {
            assert!(text.contains(words), "{words}: {text}");
        }
        assert_eq!(
            approve.text().await.expect("label"),
            "Approve access for bank CLI",
            "never a bare Allow"
        );
        screenshot(&c, "device-confirm").await;
        approve.click().await.expect("approve");
        css(&c, "main[data-device-result=approved]").await;
        c.close().await.expect("end the WebDriver session");
    });
    let run = bank.finish(&env).success();
    assert!(
        run.stderr.contains("Logged in to [ISSUER] as alice"),
        "{}",
        run.stderr
    );
    assert!(env.sandbox().authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::DeviceApproved { username, .. } if username == "alice"
    )));
}
