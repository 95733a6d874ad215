//! A transfer whose answer is lost on the way: the bank made it, the CLI never heard. The
//! CLI sends the very same request once more by itself (same step-up token, key and body,
//! a fresh DPoP proof), and the bank answers it with the receipt: one approval, money moved
//! once. When the resend's answer is lost too, the CLI stops and prints the key.

use bank_sandbox::authz::AuthzEvent;

use crate::common::TestEnv;
use crate::common::mfa::{Mfa, with_mfa};
use crate::test_transfer::{assert_money, transfer_posts};

/// The pushes sent to the authenticator: one per approval asked for.
fn pushes(env: &TestEnv) -> usize {
    env.sandbox()
        .authz()
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthzEvent::MfaRequired { .. }))
        .count()
}

#[test]
fn a_lost_answer_is_recovered_without_a_second_approval() {
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    proxy.drop_next_created();

    let run = with_mfa(
        &env,
        &["transfer", "--to", "bob", "--amount", "25", "--yes"],
        Mfa::Approve,
    )
    .success();
    assert_eq!(proxy.dropped(), 1);
    assert!(
        run.stderr.contains(
            "The connection broke after the transfer was sent; sending it once more with the same idempotency key "
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the transfer was made once, and this is its receipt"),
        "{}",
        run.stderr
    );
    // The key is this run's own: the replay is this run's transfer, and stdout says so.
    assert!(
        run.stdout
            .starts_with("Transferred 25.00 USD to bob. New balance: 975.00 USD.\n"),
        "{}",
        run.stdout
    );
    assert_eq!(pushes(&env), 1, "one approval");
    let posts = transfer_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [403, 201, 201]
    );
    // The resend is the same request with the same step-up token, under the same key.
    assert_eq!(posts[1].jti, posts[2].jti);
    assert!(posts[1].jti.is_some());
    assert_eq!(posts[1].idempotency_key, posts[2].idempotency_key);
    let tokens = proxy.transfer_tokens();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[1], tokens[2]);
    assert_money(&env, 97_500, 52_500, 1);
}

#[test]
fn a_lost_answer_is_recovered_in_json_too() {
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    proxy.drop_next_created();
    let run = with_mfa(
        &env,
        &[
            "--json", "transfer", "--to", "bob", "--amount", "25", "--yes",
        ],
        Mfa::Approve,
    )
    .success();
    let receipt: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(receipt["recovered"], true, "{}", run.stdout);
    assert!(receipt.get("replayed").is_none(), "{}", run.stdout);
    assert_eq!(receipt["amount"], "25.00");
    assert_eq!(pushes(&env), 1);
    assert_money(&env, 97_500, 52_500, 1);
}

#[test]
fn two_lost_answers_end_with_the_key_after_one_resend() {
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    proxy.drop_created(2);

    let run = with_mfa(
        &env,
        &["transfer", "--to", "bob", "--amount", "25", "--yes"],
        Mfa::Approve,
    )
    .code(5);
    assert_eq!(proxy.dropped(), 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("sending it once more with the same idempotency key"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "error: the connection to the bank API broke after the transfer was sent: the transfer may have been made\n"
        ),
        "{}",
        run.stderr
    );
    let key = run
        .stderr
        .split("--idempotency-key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the key is printed")
        .to_owned();
    let printed = run
        .stderr
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("bank "))
        .unwrap_or_else(|| panic!("a retry command is printed:\n{}", run.stderr))
        .to_owned();
    assert_eq!(
        printed,
        format!(
            "bank --profile default transfer --yes --to bob --amount 25.00 --idempotency-key {key}"
        )
    );
    // One resend, never two; money moved once.
    let posts = transfer_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [403, 201, 201]
    );
    assert!(
        posts
            .iter()
            .all(|p| p.idempotency_key.as_deref() == Some(key.as_str()))
    );
    assert_eq!(pushes(&env), 1);
    assert_money(&env, 97_500, 52_500, 1);

    // The command as printed: a fresh step-up (the first token's run is over), the same
    // key, the original transfer back, nothing moved.
    let retry: Vec<&str> = printed.split_whitespace().skip(1).collect();
    let run = with_mfa(&env, &retry, Mfa::Approve).success();
    assert!(
        run.stderr.contains(&format!(
            "This transfer was already made with idempotency key {key}; no money moved now."
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .starts_with("Already done earlier: no money moved now (25.00 USD to bob, transfer "),
        "{}",
        run.stdout
    );
    assert_eq!(pushes(&env), 2);
    assert_money(&env, 97_500, 52_500, 1);
}
