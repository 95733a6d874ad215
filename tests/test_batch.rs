//! `bank transfer --batch` end to end: the built binary against the in-process sandbox (its
//! batch endpoint and its batch approvals), the real keyring, the scripted browser, and the
//! one push answered through the sandbox's library. Every test asserts what the servers saw
//! (pushes, requests, the ledger), not only what the terminal printed.

use std::time::Duration;

use bank_sandbox::api::ApiRequestRecord;
use bank_sandbox::authz::{AuthzEvent, MfaRequestInfo};

use crate::common::mfa::wait_until;
use crate::common::{Run, TestEnv};

const PAYEES: [&str; 7] = ["bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

/// A sandbox where alice is logged in and every payee of [`PAYEES`] has an account (bob's
/// is seeded with 500.00; the others open empty).
fn env_with(tweak: impl FnOnce(&mut bank_sandbox::SandboxConfig)) -> TestEnv {
    let env = TestEnv::start_with(tweak);
    let store = env.sandbox().bank().store().clone();
    for payee in &PAYEES[1..] {
        env.rt
            .block_on(store.open_account(&format!("sub_{payee}"), payee, "USD", 0))
            .expect("an account");
    }
    env.login();
    env
}

/// The pushes sent to the authenticator: one per approval asked for.
fn pushes(env: &TestEnv) -> usize {
    env.sandbox()
        .authz()
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthzEvent::MfaRequired { .. }))
        .count()
}

fn batch_posts(env: &TestEnv) -> Vec<ApiRequestRecord> {
    env.sandbox()
        .bank()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/transfer-batches")
        .collect()
}

fn balance(env: &TestEnv, handle: &str) -> i64 {
    env.sandbox()
        .bank()
        .balance_of(handle)
        .unwrap_or_else(|| panic!("{handle} has an account"))
}

/// Runs `bank args` with `stdin`, and approves the one push it causes for alice, as the
/// person would once the page shows the batch; returns the run and the push as the
/// authenticator saw it.
fn approved(env: &TestEnv, args: &[&str], stdin: &str) -> (Run, MfaRequestInfo) {
    std::thread::scope(|s| {
        let run = s.spawn(|| env.run_with_browser_stdin(args, stdin));
        let authz = env.sandbox().authz().clone();
        let pending = env
            .rt
            .block_on(authz.wait_for_pending_mfa("alice", Duration::from_secs(90)))
            .expect("the step-up asks for MFA");
        wait_until(|| env.browser_log().contains("mfa: waiting"));
        authz.approve_mfa(&pending.id).expect("approve");
        (run.join().expect("the bank run does not panic"), pending)
    })
}

/// Twenty payments to seven payees, CSV with quoted memos, piped on stdin.
fn twenty_lines() -> (String, Vec<(String, i64)>) {
    let mut csv = String::from("to,amount,memo\r\n");
    let mut payments = Vec::new();
    for i in 0..20 {
        let to = PAYEES[i % PAYEES.len()];
        let minor = (i as i64 + 1) * 325;
        let memo = match i % 3 {
            0 => "\"rent, \"\"May\"\"\"".to_owned(),
            1 => format!("invoice {i}"),
            _ => String::new(),
        };
        csv.push_str(&format!(
            "{to},{}.{:02},{memo}\r\n",
            minor / 100,
            minor % 100
        ));
        payments.push((to.to_owned(), minor));
    }
    (csv, payments)
}

#[test]
fn twenty_payments_on_stdin_are_approved_once_and_move_exactly_their_money() {
    let env = env_with(|_| {});
    let (csv, payments) = twenty_lines();
    let total: i64 = payments.iter().map(|(_, m)| m).sum();
    assert_eq!(total, 68_250);
    let (run, push) = approved(&env, &["transfer", "--batch", "-", "--yes"], &csv);
    let run = run.success();

    // One push for the whole batch, showing its summary and reference.
    assert_eq!(pushes(&env), 1, "one approval for the batch");
    assert_eq!(
        push.approves.as_deref(),
        Some("Pay 20 payments, 682.50 USD in total, to 7 payees")
    );
    let reference = push.reference.clone().expect("a batch's reference");
    // The terminal said the same words and the same reference before anything opened.
    assert!(
        run.stderr.contains(&format!(
            "To pay 20 payments, 682.50 USD in total, to 7 payees (reference {reference}), sign in again and approve the payments as your provider asks"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout,
        format!(
            "Paid 20 payments, 682.50 USD in total, to 7 payees.\nReference: {reference} (batch {})\nNew balance: 317.50 USD.\n",
            run.stdout
                .split("(batch ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .expect("a batch id")
        )
    );
    // Past five payments, one payment_batch bound by the digest, pushed (RFC 9126).
    let pushed = env.pushed_requests().pop().expect("a pushed step-up");
    let details: serde_json::Value =
        serde_json::from_str(pushed.authorization_details.as_deref().expect("details"))
            .expect("JSON");
    assert_eq!(details[0]["type"], "payment_batch");
    assert_eq!(details[0]["numberOfPayments"], 20);
    assert_eq!(
        details[0]["totals"],
        serde_json::json!([{"currency": "USD", "amount": "682.50"}])
    );
    assert_eq!(
        env.browser_url_parameters().pop().expect("the URL"),
        ["client_id", "request_uri"]
    );
    // The API: the everyday token's 403, then the one 201, under one key.
    let posts = batch_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [403, 201]
    );
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    // The money: exactly each payee's sum, from alice's total, conserved.
    assert_eq!(balance(&env, "alice"), 100_000 - total);
    for payee in PAYEES {
        let got: i64 = payments
            .iter()
            .filter(|(to, _)| to == payee)
            .map(|(_, m)| m)
            .sum();
        let opening = if payee == "bob" { 50_000 } else { 0 };
        assert_eq!(balance(&env, payee), opening + got, "{payee}");
    }
    let ledger = env.sandbox().bank().ledger_summary();
    assert_eq!(ledger.transfers, 20);
    assert_eq!(ledger.total_balance_minor, ledger.total_opening_minor);

    // The history names the batch of each transfer, in the table and in JSON.
    let history = env.run(&["history", "--limit", "3"]).success();
    assert!(
        history
            .stdout
            .lines()
            .next()
            .expect("a header")
            .ends_with("BATCH"),
        "{}",
        history.stdout
    );
    let json = env
        .run(&["--json", "history", "--limit", "20"])
        .success()
        .json();
    let batch_id = json[0]["batch"].as_str().expect("a batch id").to_owned();
    assert!(batch_id.starts_with("bt_"), "{json}");
    assert!(
        json.as_array()
            .expect("an array")
            .iter()
            .all(|t| t["batch"] == batch_id.as_str()),
        "{json}"
    );
    assert!(history.stdout.contains(&batch_id), "{}", history.stdout);
}

#[test]
fn a_thousand_payments_are_one_payment_batch_and_the_json_has_every_receipt_in_order() {
    let env = env_with(|_| {});
    let mut jsonl = String::new();
    for i in 0..1000 {
        let to = PAYEES[i % PAYEES.len()];
        // 0.50 to 0.99: 745.00 in all.
        jsonl.push_str(&format!(
            "{{\"to\":\"{to}\",\"amount\":\"0.{}\",\"memo\":\"payment {i}\"}}\n",
            50 + i % 50
        ));
    }
    let (run, push) = approved(
        &env,
        &["--json", "transfer", "--batch", "-", "--yes"],
        &jsonl,
    );
    let receipt = run.success().json();
    assert_eq!(pushes(&env), 1);
    let reference = push.reference.expect("a reference");
    assert_eq!(receipt["reference"], reference.as_str());
    assert_eq!(receipt["count"], 1000);
    assert_eq!(receipt["from"], "alice");
    assert_eq!(
        receipt["totals"],
        serde_json::json!([{"currency": "USD", "amount": "745.00"}])
    );
    assert_eq!(receipt["balance_after"], "255.00");
    let id = receipt["id"].as_str().expect("an id");
    assert!(id.starts_with("bt_"), "{receipt}");
    let transfers = receipt["transfers"].as_array().expect("receipts");
    assert_eq!(transfers.len(), 1000);
    for (i, t) in transfers.iter().enumerate() {
        assert_eq!(t["to"], PAYEES[i % PAYEES.len()], "{i}");
        assert_eq!(t["memo"], format!("payment {i}"), "{i}");
        assert_eq!(t["batch"], id, "{i}");
    }
    assert!(receipt.get("replayed").is_none(), "{receipt}");
    let pushed = env.pushed_requests().pop().expect("pushed");
    let details: serde_json::Value =
        serde_json::from_str(pushed.authorization_details.as_deref().expect("details"))
            .expect("JSON");
    assert_eq!(details[0]["type"], "payment_batch");
    assert_eq!(details[0]["numberOfPayments"], 1000);
    assert_eq!(balance(&env, "alice"), 25_500);
    assert_eq!(env.sandbox().bank().ledger_summary().transfers, 1000);
}

#[test]
fn a_bad_line_is_named_before_anything_is_sent() {
    let env = env_with(|_| {});
    let csv = "to,amount,memo\nbob,1.00,ok\ncarol,1.001,three decimals\ndave smith,2,x\nerin,3,\"never closed\n";
    let run = env
        .run_stdin(&["transfer", "--batch", "-", "--yes"], csv)
        .code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("error: 3 problems in the batch file; nothing was sent:\n  line 3, column amount: `1.001` is not an amount"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\n  line 4, column to: `dave smith` is not an account handle"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\n  line 5, column memo: the quote opened on line 5 is never closed"),
        "{}",
        run.stderr
    );
    // Nothing reached the bank or the provider.
    assert!(env.sandbox().bank().requests().is_empty());
    assert_eq!(pushes(&env), 0);
    assert_eq!(balance(&env, "alice"), 100_000);
}

#[test]
fn a_batch_the_bank_refuses_fails_before_any_approval() {
    let env = env_with(|_| {});
    // 1,500.00 in all, each within the per-transfer limit: more than alice has.
    let csv = "to,amount\nbob,600\ncarol,600\ndave,300\n";
    let run = env
        .run_stdin(&["transfer", "--batch", "-", "--yes"], csv)
        .code(6);
    assert!(
        run.stderr.contains("the bank refused the batch"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(422)"), "{}", run.stderr);
    assert!(!run.stderr.contains("sign in again"), "{}", run.stderr);
    // An unknown payee is named by its line in the file.
    let csv = "to,amount\nbob,1\nbob,2\nnobody,3\n";
    let run = env
        .run_stdin(&["transfer", "--batch", "-", "--yes"], csv)
        .code(6);
    assert!(
        run.stderr.contains("; no money moved:\n  line 4: "),
        "{}",
        run.stderr
    );
    assert_eq!(
        pushes(&env),
        0,
        "no approval asked for a batch the bank refuses"
    );
    assert_eq!(
        batch_posts(&env)
            .iter()
            .map(|p| p.status)
            .collect::<Vec<_>>(),
        [422, 422]
    );
    assert_eq!(balance(&env, "alice"), 100_000);
}

#[test]
fn the_same_key_again_answers_with_the_original_receipts() {
    let env = env_with(|_| {});
    let csv = "to,amount\nbob,10\ncarol,20\ndave,30\n";
    let args = [
        "--json",
        "transfer",
        "--batch",
        "-",
        "--yes",
        "--idempotency-key",
        "payroll-2026-12",
    ];
    let (first, _) = approved(&env, &args, csv);
    let first = first.success().json();
    assert!(first.get("replayed").is_none(), "{first}");
    let (again, _) = approved(&env, &args, csv);
    let again = again.success();
    assert!(
        again.stderr.contains(
            "This batch was already paid with idempotency key payroll-2026-12; no money moved now."
        ),
        "{}",
        again.stderr
    );
    let again = again.json();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["transfers"], first["transfers"]);
    // Money moved once.
    assert_eq!(balance(&env, "alice"), 94_000);
    assert_eq!(balance(&env, "bob"), 51_000);
    assert_eq!(env.sandbox().bank().ledger_summary().transfers, 3);
    // Human words for a replay say no money moved now.
    let (human, _) = approved(&env, &args[1..], csv);
    let human = human.success();
    assert!(
        human.stdout.starts_with("Already done earlier: no money moved now (3 payments, 60.00 USD in total, to 3 payees)."),
        "{}",
        human.stdout
    );
    assert_eq!(balance(&env, "alice"), 94_000);
}

#[test]
fn a_provider_without_payment_batch_approves_a_few_listed_and_refuses_more() {
    let env = env_with(|c| c.authz.max_batch_payments = 0);
    // Three payments: listed one by one (payment_initiation each), one push.
    let (run, push) = approved(
        &env,
        &["transfer", "--batch", "-", "--yes"],
        "to,amount\nbob,1\ncarol,2\ndave,3\n",
    );
    run.success();
    assert_eq!(
        push.approves.as_deref(),
        Some("Pay 3 payments, 6.00 USD in total, to 3 payees")
    );
    let pushed = env.pushed_requests().pop().expect("pushed");
    let details: serde_json::Value =
        serde_json::from_str(pushed.authorization_details.as_deref().expect("details"))
            .expect("JSON");
    assert_eq!(details.as_array().map(Vec::len), Some(3));
    assert!(
        details
            .as_array()
            .expect("array")
            .iter()
            .all(|d| d["type"] == "payment_initiation")
    );
    assert_eq!(pushes(&env), 1);

    // Six payments: the provider cannot bind them; refused before anything opens.
    let pushed_before = env.pushed_requests().len();
    let browser_before = env.browser_log();
    let six = "to,amount\nbob,1\ncarol,1\ndave,1\nerin,1\nfrank,1\ngrace,1\n";
    let run = env
        .run_stdin(&["transfer", "--batch", "-", "--yes"], six)
        .code(2);
    assert!(
        run.stderr.contains("this batch has 6 payments; the authorization server approves at most 5 payments at once"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("batches of at most 5 payments"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sign in again"), "{}", run.stderr);
    assert_eq!(env.browser_log(), browser_before, "no browser for it");
    assert_eq!(pushes(&env), 1, "no push for the refused batch");
    assert_eq!(
        env.pushed_requests().len(),
        pushed_before,
        "nothing pushed for it either"
    );
    assert_eq!(balance(&env, "alice"), 100_000 - 600);
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_sent() {
    let env = env_with(|_| {});
    let run = env
        .run_stdin(
            &["--no-input", "transfer", "--batch", "-"],
            "to,amount\nbob,1\n",
        )
        .code(2);
    assert!(
        run.stderr.contains(
            "refusing to pay 1 payment, 1.00 USD in total, to 1 payee without confirmation"
        ),
        "{}",
        run.stderr
    );
    assert!(env.sandbox().bank().requests().is_empty());
}

#[test]
fn a_lost_answer_to_a_batch_is_recovered_without_a_second_approval() {
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    proxy.drop_next_created();
    let (run, _) = approved(
        &env,
        &["transfer", "--batch", "-", "--yes"],
        "to,amount\nbob,10\nbob,15\n",
    );
    let run = run.success();
    assert_eq!(proxy.dropped(), 1);
    assert!(
        run.stderr
            .contains("sending it once more with the same idempotency key"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the batch was paid once, and these are its receipts"),
        "{}",
        run.stderr
    );
    // This run's own key: the replay is this run's batch.
    assert!(
        run.stdout
            .starts_with("Paid 2 payments, 25.00 USD in total, to 1 payee.\n"),
        "{}",
        run.stdout
    );
    assert_eq!(pushes(&env), 1, "one approval");
    let posts = batch_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [403, 201, 201]
    );
    assert_eq!(posts[1].jti, posts[2].jti);
    assert_eq!(posts[1].idempotency_key, posts[2].idempotency_key);
    assert_eq!(balance(&env, "alice"), 97_500);
    assert_eq!(balance(&env, "bob"), 52_500);
}

#[test]
fn a_payment_batch_never_travels_in_the_address_bar() {
    let mut env = env_with(|_| {});
    // PAR turned off by the person, a browser to open: nothing can carry the list.
    env.set_env("BANK_PAR", "never");
    let browser_before = env.browser_log();
    let six = "to,amount\nbob,1\ncarol,1\ndave,1\nerin,1\nfrank,1\ngrace,1\n";
    let run = env
        .run_stdin(&["transfer", "--batch", "-", "--yes"], six)
        .code(2);
    assert!(
        run.stderr.contains("never in a browser's address bar; the profile's `par` setting forbids pushing; nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("unset BANK_PAR"), "{}", run.stderr);
    assert_eq!(pushes(&env), 0);
    assert_eq!(env.browser_log(), browser_before, "no browser opened");
    assert_eq!(balance(&env, "alice"), 100_000);
}

#[test]
fn without_a_browser_a_payment_batch_goes_by_the_device_flow() {
    use crate::common::running::Running;
    use crate::test_device::{Steps, alice, person_approves, printed_prompt};
    use bank_sandbox::walker::Step;

    let mut env = env_with(|_| {});
    // No browser to open, and no pushing: the device authorization request carries the list.
    env.set_env("BANK_BROWSER", "");
    env.set_env("BANK_PAR", "never");
    let (csv, payments) = twenty_lines();
    let file = env.home().join("payroll.csv");
    std::fs::write(&file, csv).expect("write the file");
    let path = file.to_str().expect("a UTF-8 path");
    let pushed_before = env.pushed_requests().len();
    let bank = Running::start(&env, &["transfer", "--batch", path, "--yes"]);
    let stderr = bank.stderr_until("The code expires in");
    assert!(
        stderr.contains("To pay 20 payments, 682.50 USD in total, to 7 payees (reference "),
        "{stderr}"
    );
    let (code, page) = printed_prompt(&stderr);
    let steps = Steps::default();
    let ended = person_approves(
        &env,
        alice(),
        &format!("{page}?user_code={code}"),
        true,
        &steps,
    );
    assert_eq!(ended, "approved");
    let run = bank.finish(&env).success();
    assert!(
        run.stdout
            .starts_with("Paid 20 payments, 682.50 USD in total, to 7 payees.\n"),
        "{}",
        run.stdout
    );
    let seen = steps.all();
    assert!(
        seen.iter().any(|s| matches!(
            s,
            Step::MfaWaiting { payment: Some(p), .. } if p.starts_with("Pay 20 payments, 682.50 USD in total, to 7 payees")
        )),
        "{seen:?}"
    );
    assert_eq!(pushes(&env), 1);
    assert_eq!(
        env.pushed_requests().len(),
        pushed_before,
        "nothing pushed: PAR is off"
    );
    // The device authorization request carried the batch.
    assert!(env.sandbox().authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::DeviceAuthorizationRequested { scope, .. } if scope == "openid transfer:funds"
    )));
    let total: i64 = payments.iter().map(|(_, m)| m).sum();
    assert_eq!(balance(&env, "alice"), 100_000 - total);
}
