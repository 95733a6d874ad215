//! `bank transfer` as scripts and careless hands drive it: bad input refused before any
//! request, `--no-input` and `--yes`, insufficient funds, Ctrl-C, the confirmation prompt
//! on a terminal, the help text.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::mfa::{Mfa, with_mfa};
use crate::test_transfer::{
    STEP_UP_MESSAGE, assert_money, authorization_requests, browser_runs, transfer_posts,
};

/// A bank checks the payment, then asks for strong authentication: a transfer the bank
/// would refuse is refused with its own words before any sign-in or push, and the person's
/// push budget is untouched.
#[test]
fn a_transfer_the_bank_would_refuse_asks_for_no_approval() {
    let env = TestEnv::start();
    env.login();
    let transfer = |args: &[&str]| {
        let mut all = vec!["transfer", "--yes"];
        all.extend_from_slice(args);
        env.run(&all)
    };
    for (args, code, words) in [
        (
            &["--to", "bob", "--amount", "5000"][..],
            6,
            "error: transfer refused: Insufficient funds (422): The account balance does not cover this transfer.\n",
        ),
        (
            &["--to", "nobody", "--amount", "5"][..],
            6,
            "Unknown recipient (422)",
        ),
        (&["--to", "alice", "--amount", "5"][..], 6, "(422)"),
        (
            &["--to", "bob", "--amount", "5", "--currency", "EUR"][..],
            6,
            "(422)",
        ),
    ] {
        let run = transfer(args).code(code);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains(words), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains(STEP_UP_MESSAGE), "{}", run.stderr);
    }
    // A key reused with another amount: the key's first transfer needs its approval...
    let first = with_mfa(
        &env,
        &[
            "transfer",
            "--yes",
            "--to",
            "bob",
            "--amount",
            "4",
            "--idempotency-key",
            "k-1",
        ],
        Mfa::Approve,
    )
    .success();
    assert!(first.stdout.contains("4.00"), "{}", first.stdout);
    // ...the same key for another amount is refused before any approval.
    let reused = transfer(&["--to", "bob", "--amount", "5", "--idempotency-key", "k-1"]).code(6);
    assert!(reused.stderr.contains("(422)"), "{}", reused.stderr);

    // One push in all, for the one transfer the bank made; each refusal was the first answer.
    let pushes = env
        .sandbox()
        .authz()
        .events()
        .into_iter()
        .filter(|e| matches!(e, bank_sandbox::authz::AuthzEvent::MfaRequired { .. }))
        .count();
    assert_eq!(pushes, 1);
    assert_eq!(
        transfer_posts(&env)
            .iter()
            .map(|p| p.status)
            .collect::<Vec<_>>(),
        [422, 422, 422, 422, 403, 201, 422]
    );
    assert_money(&env, 99_600, 50_400, 1);
}

#[test]
fn invalid_input_is_refused_before_any_network_call() {
    let env = TestEnv::start();
    for (amount, message) in [
        ("-5", "error: `-5` is not an amount"),
        ("1e3", "error: `1e3` is not an amount"),
        ("0.001", "error: `0.001` is not an amount"),
        ("NaN", "error: `NaN` is not an amount"),
        ("0", "error: the amount must be greater than zero"),
        (
            "10000.01",
            "error: the amount must be at most 10000.00 per transfer",
        ),
    ] {
        let run = env
            .run(&["transfer", "--to", "bob", "--amount", amount, "--yes"])
            .code(2);
        assert!(run.stderr.starts_with(message), "{amount}: {}", run.stderr);
    }
    let run = env
        .run(&["transfer", "--to", "bob smith", "--amount", "5", "--yes"])
        .code(2);
    assert!(
        run.stderr.contains("is not an account handle"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&[
            "transfer",
            "--to",
            "bob",
            "--amount",
            "5",
            "--yes",
            "--idempotency-key",
            "a b",
        ])
        .code(2);
    assert!(run.stderr.contains("idempotency key"), "{}", run.stderr);
    let requests = env.sandbox().bank().requests();
    assert!(requests.is_empty(), "{requests:?}");
    let events = env.sandbox().authz().events();
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn no_input_without_yes_refuses_and_sends_nothing() {
    let env = TestEnv::start();
    env.login();
    let run = env
        .run(&["--no-input", "transfer", "--to", "bob", "--amount", "5"])
        .code(2);
    assert_eq!(
        run.stderr,
        "error: refusing to transfer 5.00 USD to bob without confirmation\n  hint: pass --yes to confirm non-interactively\n"
    );
    // Without a terminal it is the same, even without --no-input.
    env.run(&["transfer", "--to", "bob", "--amount", "5"])
        .code(2);
    let requests = env.sandbox().bank().requests();
    assert!(requests.is_empty(), "{requests:?}");
    assert_money(&env, 100_000, 50_000, 0);
}

#[test]
fn no_input_without_a_browser_names_the_missing_scope() {
    let env = TestEnv::start();
    env.login();
    let browsers = browser_runs(&env);
    let run = env
        .run(&[
            "--no-input",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "5",
            "--yes",
            "--no-browser",
        ])
        .code(2);
    assert!(
        run.stderr.contains(
            "error: Transfer not authorized: the bank requires a token with the `transfer:funds` scope\n"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--no-input"), "{}", run.stderr);
    assert_eq!(browser_runs(&env), browsers);
    assert_eq!(authorization_requests(&env).len(), 1, "only the login's");
    assert_money(&env, 100_000, 50_000, 0);
}

/// Without a terminal, a step-up no browser can show (and no device flow to go elsewhere)
/// would wait for nobody: it fails at once (exit 2), naming what would make it possible, and
/// no push reaches the person.
#[test]
fn without_a_terminal_or_a_browser_the_step_up_fails_at_once() {
    let mut env = TestEnv::start_with(|c| c.authz.device.enabled = false);
    env.login();
    env.set_env("BANK_BROWSER", "");
    let started = std::time::Instant::now();
    let run = env
        .run(&[
            "transfer",
            "--to",
            "bob",
            "--amount",
            "5",
            "--yes",
            "--timeout",
            "30s",
        ])
        .code(2);
    assert!(started.elapsed() < Duration::from_secs(25), "it waited");
    assert!(
        run.stderr.contains("stdin is not a terminal") && run.stderr.contains("BANK_BROWSER"),
        "{}",
        run.stderr
    );
    assert_eq!(authorization_requests(&env).len(), 1, "only the login's");
    assert_money(&env, 100_000, 50_000, 0);
}

#[test]
fn transfer_help_has_examples() {
    let env = TestEnv::without_sandbox("http://127.0.0.1:9", "http://127.0.0.1:7");
    let run = env.run(&["transfer", "--help"]).success();
    for word in [
        "Examples:",
        "--idempotency-key",
        "transfer:funds",
        "--no-input",
    ] {
        assert!(run.stdout.contains(word), "{word}:\n{}", run.stdout);
    }
}

/// Ctrl-C while waiting for the step-up approval ends the command cleanly (exit 130), says
/// that no money moved, and nothing is retried.
#[test]
fn ctrl_c_during_step_up_exits_130() {
    let mut env = TestEnv::start();
    env.login();
    let output = env
        .interrupt_while_the_browser_waits(&["transfer", "--to", "bob", "--amount", "5", "--yes"]);
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(STEP_UP_MESSAGE), "{stderr}");
    assert!(
        stderr.ends_with("Interrupted: no money moved.\n"),
        "{stderr}"
    );
    assert_eq!(transfer_posts(&env).len(), 1);
    assert_money(&env, 100_000, 50_000, 0);
}

/// On a terminal, bank asks (on stderr, through dialoguer) before sending anything; "no"
/// sends nothing. `script` (util-linux) provides the pseudo-terminal.
#[test]
fn confirmation_prompt_on_a_terminal() {
    let env = TestEnv::start();
    env.login();
    let bank = env.std_command(&[]);
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear();
    for (k, v) in bank.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    // A terminal gets colour; this test reads the words.
    cmd.env("NO_COLOR", "1");
    let line = format!("{} transfer --to bob --amount 5", crate::common::BANK);
    let output = assert_cmd::Command::from_std(cmd)
        .args(["-qec", &line, "/dev/null"])
        .write_stdin("n")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{screen}");
    assert!(screen.contains("Transfer 5.00 USD to bob?"), "{screen}");
    assert!(
        screen.contains("error: transfer cancelled; nothing was sent"),
        "{screen}"
    );
    let requests = env.sandbox().bank().requests();
    assert!(requests.is_empty(), "{requests:?}");
}
