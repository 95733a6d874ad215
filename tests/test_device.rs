//! The device flow (RFC 8628) end to end: the built `bank`, the real sandbox, the real
//! keyring, and a scripted person (`bank_sandbox::walker`) who reads the code `bank`
//! prints, opens the sandbox's `/device` page, signs in, passes MFA by typing the number
//! the page shows, and approves (or denies) what the page says is being authorized.

use std::io::Read as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bank_sandbox::authz::AuthzEvent;
use bank_sandbox::walker::{DeviceDecision, Password, Step, Walker};

use crate::common::TestEnv;
use crate::common::running::Running;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What the person saw and did, step by step.
#[derive(Clone, Default)]
pub(crate) struct Steps(Arc<Mutex<Vec<Step>>>);

impl Steps {
    fn push(&self, step: &Step) {
        self.0.lock().expect("steps").push(step.clone());
    }
    pub(crate) fn all(&self) -> Vec<Step> {
        self.0.lock().expect("steps").clone()
    }
    /// The number the MFA waiting page showed, once it did.
    fn number(&self) -> Option<String> {
        self.all().into_iter().find_map(|s| match s {
            Step::MfaWaiting { code, .. } => code,
            _ => None,
        })
    }
}

/// A person walking the device pages as alice from `start`; when `mfa`, approving the push
/// on the "phone" with the number the waiting page shows. Returns how the page ended.
pub(crate) fn person_approves(
    env: &TestEnv,
    walker: Walker,
    start: &str,
    mfa: bool,
    steps: &Steps,
) -> String {
    let authz = env.sandbox().authz().clone();
    env.rt.block_on(async {
        let mut observe = |step: &Step| steps.push(step);
        let phone = async {
            if !mfa {
                return;
            }
            let pending = authz
                .wait_for_pending_mfa("alice", Duration::from_secs(60))
                .await
                .expect("the rule asks for MFA");
            let deadline = Instant::now() + Duration::from_secs(60);
            let number = loop {
                if let Some(n) = steps.number() {
                    break n;
                }
                assert!(Instant::now() < deadline, "the page never showed a number");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            authz
                .approve_with_code(&pending.id, &number)
                .expect("the number on the page approves");
        };
        let (ended, ()) = tokio::join!(walker.walk_device(start, &mut observe), phone);
        ended.expect("the person gets through the device pages")
    })
}

pub(crate) fn alice() -> Walker {
    Walker::new("alice", Password::new("wonderland"))
        .expect("walker")
        .mfa_deadline(Duration::from_secs(60))
}

/// The code and page `bank` printed on stderr for people.
pub(crate) fn printed_prompt(stderr: &str) -> (String, String) {
    let code = stderr
        .split("enter the code  ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a user code on stderr")
        .to_owned();
    // Without a QR code the page has a line of its own; under one, a short line names it.
    let page = stderr
        .split("open this page on any device (a phone works):\n\n  ")
        .nth(1)
        .or_else(|| stderr.split("or open  ").nth(1))
        .and_then(|rest| rest.lines().next())
        .expect("the verification URI on stderr")
        .to_owned();
    (code, page)
}

#[test]
fn login_with_device_and_json_hands_the_code_to_a_script_first() {
    let env = TestEnv::start();
    let mut bank = Running::start(&env, &["--json", "login", "--device"]);
    // The first line on stdout, flushed before the wait: one JSON object.
    let prompt: serde_json::Value =
        serde_json::from_str(&bank.stdout_line()).expect("one line of JSON");
    let code = prompt["user_code"].as_str().expect("user_code").to_owned();
    assert_eq!(prompt["verification_uri"], format!("{}/device", env.issuer));
    assert_eq!(
        prompt["verification_uri_complete"],
        format!("{}/device?user_code={code}", env.issuer)
    );
    assert_eq!(prompt["expires_in"], 600);
    assert!(
        prompt.get("device_code").is_none(),
        "the device code is ours: {prompt}"
    );

    let steps = Steps::default();
    let complete = prompt["verification_uri_complete"].as_str().expect("uri");
    let ended = person_approves(&env, alice(), complete, false, &steps);
    assert_eq!(ended, "approved");
    assert!(
        steps
            .all()
            .contains(&Step::DeviceCode { code: code.clone() })
    );

    let run = bank.finish(&env).success();
    // Then the usual result.
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.split_once('\n').expect("two documents").1)
            .expect("the login's JSON");
    assert_eq!(result["user"], "alice");
    assert_eq!(result["storage"], "keyring");
    assert!(run.stderr.contains("enter the code  "), "{}", run.stderr);
    assert!(
        run.stderr.contains("✓ Logged in to [ISSUER] as alice"),
        "{}",
        run.stderr
    );
    // Not a terminal: words, no QR code.
    assert!(!run.stderr.contains('\u{2580}'), "{}", run.stderr);

    // The server saw a device grant, no browser ran, and the login is in the keyring with
    // its `sub` (so a step-up can be bound to it).
    let events = env.sandbox().authz().events();
    assert!(events.iter().any(
        |e| matches!(e, AuthzEvent::TokenIssued { grant, scope, .. } if grant == DEVICE_GRANT && scope == "openid profile offline_access view:balance")
    ));
    assert_eq!(env.browser_log(), "");
    let bundle = env.keyring_bundle().expect("stored in the keyring");
    assert!(
        bundle["sub"]
            .as_str()
            .is_some_and(|s| s.starts_with("usr_")),
        "{bundle}"
    );
    assert!(bundle["refresh_token"].is_string());
    // The device code was redeemed with a DPoP proof: the tokens are bound to the stored key.
    let key: bank::dpop::DpopKey =
        serde_json::from_value(bundle["dpop_key"].clone()).expect("a DPoP key");
    assert!(events.iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { grant, dpop_jkt: Some(jkt), .. }
            if grant == DEVICE_GRANT && jkt == key.thumbprint()
    )));
    env.run(&["balance"]).success();
}

#[test]
fn without_a_browser_login_picks_the_device_flow_by_itself() {
    let mut env = TestEnv::start();
    // No browser command and (cleared environment) no DISPLAY: nothing could open a page.
    env.set_env("BANK_BROWSER", "");
    let bank = Running::start(&env, &["login"]);
    let stderr = bank.stderr_until("The code expires in");
    assert!(
        stderr.contains("Signing in on another device: no display here (DISPLAY is unset).\n"),
        "{stderr}"
    );
    let (code, page) = printed_prompt(&stderr);
    assert_eq!(page, format!("{}/device", env.issuer));
    // The person types the code on the plain page, in lower case.
    let steps = Steps::default();
    let ended = person_approves(
        &env,
        alice().user_code(&code.to_lowercase()),
        &page,
        false,
        &steps,
    );
    assert_eq!(ended, "approved");
    let run = bank.finish(&env).success();
    assert!(
        run.stderr.contains("Logged in to [ISSUER] as alice"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("/authorize?"), "{}", run.stderr);

    // `--no-browser` chooses it too, even where a browser command is set.
    env.set_env("BANK_BROWSER", crate::common::BROWSER);
    let bank = Running::start(&env, &["login", "--no-browser", "--force"]);
    let stderr = bank.stderr_until("The code expires in");
    assert!(
        stderr.contains("another device: --no-browser was given.\n"),
        "{stderr}"
    );
    let (code, page) = printed_prompt(&stderr);
    let ended = person_approves(
        &env,
        alice().user_code(&code),
        &page,
        false,
        &Steps::default(),
    );
    assert_eq!(ended, "approved");
    bank.finish(&env).success();
    assert_eq!(env.browser_log(), "", "the browser command was not used");
}

#[test]
fn where_the_provider_has_no_device_flow_no_browser_prints_the_url_and_device_is_refused() {
    let env = TestEnv::start_with(|c| c.authz.device.enabled = false);
    let run = env
        .run(&["login", "--no-browser", "--timeout", "1s"])
        .code(4);
    assert!(run.stderr.contains("/authorize?"), "{}", run.stderr);
    // Nothing opens it, and the sign-in comes back to this machine's loopback address.
    let asked = "Open this URL in a browser on this machine to continue:\n";
    assert!(run.stderr.contains(asked) && !run.stderr.contains("opened for you"));
    let run = env.run(&["login", "--device"]).code(2);
    assert!(
        run.stderr.starts_with(
            "error: the provider does not offer the device flow (no device_authorization_endpoint in its metadata)\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run `bank login` without `--device` and open the printed URL in a browser on this machine"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("any machine"), "{}", run.stderr);
}

#[test]
fn a_step_up_over_the_device_flow_shows_the_payment_and_matches_the_number() {
    let mut env = TestEnv::start();
    env.login();
    env.set_env("BANK_BROWSER", "");
    let bank = Running::start(
        &env,
        &[
            "transfer", "--to", "bob", "--amount", "25.00", "--memo", "lunch", "--yes",
        ],
    );
    let stderr = bank.stderr_until("The code expires in");
    assert!(
        stderr.contains("To pay bob 25.00 USD, sign in again"),
        "{stderr}"
    );
    let (code, page) = printed_prompt(&stderr);
    let steps = Steps::default();
    let complete = format!("{page}?user_code={code}");
    let ended = person_approves(&env, alice(), &complete, true, &steps);
    assert_eq!(ended, "approved");
    let run = bank.finish(&env).success();
    assert!(
        run.stdout
            .starts_with("Transferred 25.00 USD to bob. New balance: 975.00 USD."),
        "{}",
        run.stdout
    );

    // What the person saw: the payment on the waiting page, and (on the authenticator) the
    // push they approved with the page's number — and no second page asking the same.
    let seen = steps.all();
    assert!(
        seen.iter().any(|s| matches!(
            s,
            Step::MfaWaiting { payment: Some(p), code: Some(_) } if p == "Pay bob 25.00 USD"
        )),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|s| matches!(s, Step::DeviceConsent { .. })),
        "{seen:?}"
    );
    // The same request as the browser step-up: the scope, the details, the hinted user.
    let bank_api = env.sandbox().bank();
    assert_eq!(bank_api.balance_of("alice"), Some(100_000 - 2_500));
    assert_eq!(bank_api.balance_of("bob"), Some(50_000 + 2_500));
    let events = env.sandbox().authz().events();
    assert!(events.iter().any(|e| matches!(
        e,
        AuthzEvent::DeviceAuthorizationRequested { scope, .. } if scope == "openid transfer:funds"
    )), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { grant, amr, .. } if grant == DEVICE_GRANT && amr.iter().any(|a| a == "mfa")
    )));
}

#[test]
fn denied_on_the_page_is_exit_4_and_an_expired_code_a_clear_error() {
    let env = TestEnv::start_with(|c| {
        c.authz.device.code_lifetime_secs = 2;
        c.authz.device.interval_secs = 1;
    });
    let mut bank = Running::start(&env, &["--json", "login", "--device"]);
    let prompt: serde_json::Value = serde_json::from_str(&bank.stdout_line()).expect("JSON");
    let complete = prompt["verification_uri_complete"].as_str().expect("uri");
    let walker = alice().device_decision(DeviceDecision::Deny);
    let ended = person_approves(&env, walker, complete, false, &Steps::default());
    assert_eq!(ended, "denied");
    let run = bank.finish(&env).code(4);
    assert!(
        run.stderr
            .contains("error: access denied: the request was denied"),
        "{}",
        run.stderr
    );
    assert!(env.keyring_bundle().is_none());

    // Nobody enters the code: it expires, and bank says so.
    let run = env.run(&["login", "--device"]).code(4);
    assert!(
        run.stderr
            .contains("error: the code expired before the sign-in was approved"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run the command again and enter the code sooner")
    );
}

#[test]
fn ctrl_c_ends_the_device_wait_with_130() {
    let env = TestEnv::start();
    let mut bank = Running::start(&env, &["--json", "login", "--device"]);
    bank.stdout_line();
    bank.interrupt();
    let run = bank.finish(&env).code(130);
    assert!(run.stderr.ends_with("Interrupted.\n"), "{}", run.stderr);
}

#[test]
fn on_a_terminal_the_complete_uri_is_a_qr_code_that_scans() {
    let env = TestEnv::start();
    // `script` gives bank a pseudo-terminal for stdin, stdout and stderr.
    let command = format!("{} login --device --timeout 30s", crate::common::BANK);
    let cmd = env.std_command(&[]);
    let program = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env_clear()
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut script = program.expect("script(1) from util-linux runs");
    let mut out = script.stdout.take().expect("pty output");
    let screen = Arc::new(Mutex::new(String::new()));
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("screen")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = screen.lock().expect("screen").replace('\r', "");
        if text.contains("Only approve what you asked for here.") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no QR code on the terminal:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (code, page) = printed_prompt(&text);
    assert_eq!(page, format!("{}/device", env.issuer));
    // Why the device flow, then the QR code, then the page and the code under it, so that
    // on an 80×24 terminal they stay on screen while it waits.
    let lines: Vec<&str> = text.lines().collect();
    let first_qr = lines
        .iter()
        .position(|l| l.starts_with("\x1b[30;107m"))
        .expect("the QR code");
    assert_eq!(
        lines[first_qr - 1],
        "Signing in on another device, as asked (--device)."
    );
    let qr: Vec<&str> = lines[first_qr..]
        .iter()
        .copied()
        .take_while(|l| l.starts_with("\x1b[30;107m"))
        .collect();
    let under: Vec<&str> = lines[first_qr + qr.len()..]
        .iter()
        .copied()
        .take_while(|l| !l.contains("Waiting"))
        .collect();
    assert_eq!(under.len(), 3, "{under:?}");
    // With the line above it and the spinner's below (the command itself may scroll away).
    assert!(
        qr.len() + under.len() + 2 <= 24,
        "{} lines of QR code and {} of words do not fit 24 rows",
        qr.len(),
        under.len()
    );
    let decoded = decode_terminal_qr(&qr);
    assert_eq!(decoded, format!("{}/device?user_code={code}", env.issuer));

    // Scanned and approved on the "phone": the login finishes on the terminal.
    let ended = person_approves(&env, alice(), &decoded, false, &Steps::default());
    assert_eq!(ended, "approved");
    let status = script.wait().expect("script exits");
    assert!(status.success(), "{}", screen.lock().expect("screen"));
    assert!(env.keyring_bundle().is_some());
}

/// Reads half-block lines (black on white) back into modules and decodes them with an
/// independent QR decoder, as a phone's camera would.
fn decode_terminal_qr(lines: &[&str]) -> String {
    let rows: Vec<Vec<char>> = lines
        .iter()
        .map(|l| {
            l.replace("\x1b[30;107m", "")
                .replace("\x1b[0m", "")
                .chars()
                .collect()
        })
        .collect();
    let width = rows[0].len();
    let dark = |x: usize, y: usize| {
        let c = rows[y / 2][x];
        match (c, y % 2) {
            ('\u{2588}', _) | ('\u{2580}', 0) | ('\u{2584}', 1) => true,
            (' ' | '\u{2580}' | '\u{2584}', _) => false,
            (other, _) => panic!("unexpected {other:?} in the QR code"),
        }
    };
    const SCALE: usize = 4;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width * SCALE, width * SCALE, |x, y| {
            if dark(x / SCALE, y / SCALE) { 0 } else { 255 }
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("the QR code decodes").1
}

/// RFC 8628 §3.5 through `bank`'s own polling, against the real sandbox on virtual time: a
/// poll that comes too soon is answered `slow_down`, and from then on `bank` waits 5 s
/// longer, for good.
#[test]
fn after_slow_down_bank_polls_five_seconds_later_for_good() {
    let env = TestEnv::start();
    let authz = env.sandbox().authz().clone();
    let profile = bank::config::resolve(
        &bank::config::ConfigFile::default(),
        &bank::config::Env {
            issuer: Some(env.issuer.clone()),
            api_url: Some(env.api_url.clone()),
            ..bank::config::Env::default()
        },
        &bank::config::Overrides::default(),
    )
    .expect("a profile");
    let http = reqwest::Client::new();
    let slept = Mutex::new(Vec::new());
    env.rt.block_on(async {
        let metadata = bank::oauth::discovery::discover(&http, &env.issuer)
            .await
            .expect("discovery");
        let params = bank::oauth::AuthParams {
            scopes: vec!["openid".into(), "view:balance".into()],
            ..Default::default()
        };
        let started = bank::oauth::device::start(&http, &profile, &metadata, &params)
            .await
            .expect("device authorization");
        let complete = started
            .prompt()
            .verification_uri_complete
            .clone()
            .expect("complete URI");
        // Virtual time: each sleep moves the sandbox's clock instead of waiting — except the
        // first, which pretends to wake at once, so the next poll comes too soon. The second
        // sleep is when the person approves.
        let sleep = |wanted: Duration| {
            let n = {
                let mut slept = slept.lock().expect("sleeps");
                slept.push(wanted);
                slept.len()
            };
            let authz = authz.clone();
            let complete = complete.clone();
            async move {
                if n == 2 {
                    let walked = alice()
                        .walk_device(&complete, &mut |_: &Step| {})
                        .await
                        .expect("the person approves");
                    assert_eq!(walked, "approved");
                }
                if n > 1 {
                    authz.clock().advance(wanted);
                }
            }
        };
        let tokens = started
            .poll(&http, &profile, &metadata, &params.scopes, None, sleep)
            .await
            .expect("tokens");
        assert!(tokens.subject.is_some());
    });
    assert_eq!(
        slept.into_inner().expect("sleeps"),
        [Duration::from_secs(5), Duration::from_secs(10)],
        "the interval, then 5 s more after slow_down"
    );
    assert_eq!(
        poll_answers(&env),
        ["authorization_pending", "slow_down", "tokens"]
    );
}

/// What the sandbox answered each device-code poll.
fn poll_answers(env: &TestEnv) -> Vec<String> {
    env.sandbox()
        .authz()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuthzEvent::DevicePolled { answer } => Some(answer),
            _ => None,
        })
        .collect()
}

/// `bank --json login --device | head -1`: the codes reach the pipe before the wait, and
/// once the reader has gone nobody can finish the login, so bank ends quietly rather than
/// holding the pipeline until the sign-in times out.
#[test]
fn a_script_that_reads_the_codes_and_leaves_ends_the_wait() {
    use std::io::BufRead as _;
    let env = TestEnv::start();
    let stderr = env.home().join("stderr.txt");
    std::fs::create_dir_all(env.home()).expect("home");
    let mut child = env
        .std_command(&["--json", "login", "--device", "--timeout", "2m"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("bank starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the codes line");
    // The reader is dropped here, as `head -1` exits after its line.
    let codes: serde_json::Value = serde_json::from_str(&line).expect("one line of JSON");
    assert!(codes["user_code"].is_string(), "{line}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "bank kept waiting after its reader left:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let printed = std::fs::read_to_string(&stderr).expect("stderr");
    assert_eq!(status.code(), Some(0), "{printed}");
    assert!(!printed.contains("error:"), "{printed}");
    assert!(env.keyring_bundle().is_none());
}
