//! Two `bank-sandbox api` processes on one PostgreSQL database, as behind a load
//! balancer: single use and idempotency hold across them, the books stay balanced under
//! a storm, and `kill -9` of one instance loses nothing that was answered 201.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::{ApiProcess, fresh_store, open_accounts};
use crate::common::dpop::DpopKey;
use crate::common::issuer::TestIssuer;
use crate::test_api::{Answer, ApiClient, join_all};

const STEP_UP: &str = "openid transfer:funds";
const VIEW: &str = "openid view:balance";

/// A POST that reports a dropped connection instead of panicking.
async fn try_transfer(
    client: &ApiClient,
    token: &str,
    key: &str,
    body: &Value,
) -> Result<Answer, reqwest::Error> {
    let response = client
        .http
        .post(format!("{}/v1/transfers", client.url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await?;
    Ok(Answer::from(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_uses_of_one_token_on_two_instances_make_one_transfer() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    open_accounts(
        &store,
        &[("usr_alice", "alice", 100_000), ("usr_bob", "bob", 0)],
    )
    .await;
    let issuer = TestIssuer::start().await;
    let a = ApiProcess::spawn(&issuer.issuer, &url);
    let b = ApiProcess::spawn(&issuer.issuer, &url);
    let token = issuer.token("usr_alice", "alice", STEP_UP);
    let mut requests = Vec::new();
    for i in 0..50 {
        let client = if i % 2 == 0 { &a.client } else { &b.client }.clone();
        let token = token.clone();
        // Each with its own key: only the token's single use can stop the others.
        requests.push(async move {
            client
                .transfer(
                    &token,
                    &format!("race-{i}"),
                    &json!({"to": "bob", "amount": "1.00"}),
                )
                .await
        });
    }
    let answers = join_all(requests).await;
    let created: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(created.len(), 1, "exactly one transfer");
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_token_already_used();
    }
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.transfers, 1);
    assert_eq!(store.balance_of("bob").await.expect("bob"), Some(100));

    // One idempotency key raced with fifty fresh tokens: one transfer, the rest replays.
    let mut requests = Vec::new();
    for i in 0..50 {
        let client = if i % 2 == 0 { &a.client } else { &b.client }.clone();
        let token = issuer.token("usr_alice", "alice", STEP_UP);
        requests.push(async move {
            client
                .transfer(&token, "one-key", &json!({"to": "bob", "amount": "2.00"}))
                .await
        });
    }
    let answers = join_all(requests).await;
    let ids: Vec<&Value> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.body);
            &a.body["id"]
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one transfer id");
    let fresh = answers
        .iter()
        .filter(|a| a.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1);
    assert_eq!(store.ledger_summary().await.expect("summary").transfers, 2);
    assert_eq!(store.balance_of("bob").await.expect("bob"), Some(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_concurrent_transfers_on_two_instances_keep_the_books_balanced() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let names = ["alice", "bob", "carol", "dave"];
    let accounts: Vec<(String, &str, i64)> = names
        .iter()
        .map(|n| (format!("usr_{n}"), *n, 10_000))
        .collect();
    let borrowed: Vec<(&str, &str, i64)> = accounts
        .iter()
        .map(|(s, h, b)| (s.as_str(), *h, *b))
        .collect();
    open_accounts(&store, &borrowed).await;
    let issuer = TestIssuer::start().await;
    let a = ApiProcess::spawn(&issuer.issuer, &url);
    let b = ApiProcess::spawn(&issuer.issuer, &url);
    let mut requests = Vec::new();
    let mut rng = rand::thread_rng();
    for i in 0..400 {
        let from = names[rng.gen_range(0..4)];
        let to = names[rng.gen_range(0..4)];
        // Up to 40.00 from 100.00 balances: overdraft refusals happen too.
        let amount = format!("{}.{:02}", rng.gen_range(0..40), rng.gen_range(1..100));
        let token = issuer.token(&format!("usr_{from}"), from, STEP_UP);
        let client = if i % 2 == 0 { &a.client } else { &b.client }.clone();
        requests.push(async move {
            client
                .transfer(
                    &token,
                    &format!("storm-{i}"),
                    &json!({"to": to, "amount": amount}),
                )
                .await
        });
    }
    let answers = join_all(requests).await;
    for answer in &answers {
        assert!(
            answer.status == 201 || answer.status == 422,
            "unexpected {}: {}\ninstance logs:\n{}{}",
            answer.status,
            answer.body,
            a.stderr(),
            b.stderr()
        );
    }
    let created = answers.iter().filter(|a| a.status == 201).count() as i64;
    assert!(created > 0);
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.transfers, created);
    assert_eq!(summary.total_balance_minor, 40_000);
    assert_eq!(summary.total_opening_minor, 40_000);
    for name in names {
        let balance = store
            .balance_of(name)
            .await
            .expect("query")
            .expect("account");
        assert!(balance >= 0, "{name}: {balance}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_of_one_instance_loses_no_answered_transfer() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    open_accounts(
        &store,
        &[("usr_alice", "alice", 100_000), ("usr_bob", "bob", 0)],
    )
    .await;
    let issuer = TestIssuer::start().await;
    let mut a = ApiProcess::spawn(&issuer.issuer, &url);
    let b = ApiProcess::spawn(&issuer.issuer, &url);
    const COUNT: usize = 300;
    let body = json!({"to": "bob", "amount": "1.00"});
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..COUNT {
        let client = if i % 2 == 0 { &a.client } else { &b.client }.clone();
        let token = issuer.token("usr_alice", "alice", STEP_UP);
        let (body, done) = (body.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let answer = try_transfer(&client, &token, &format!("kill-{i}"), &body).await;
            done.fetch_add(1, Ordering::SeqCst);
            answer
        }));
    }
    // Mid-storm: once a fifth of the answers are in, instance A dies without warning.
    while done.load(Ordering::SeqCst) < COUNT / 5 {
        tokio::task::yield_now().await;
    }
    a.kill();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    let mut unanswered = Vec::new();
    let mut answered = 0;
    for (i, answer) in answers.iter().enumerate() {
        match answer {
            Ok(answer) => {
                assert!(
                    answer.status == 201 || answer.status == 503,
                    "kill-{i}: {} {}",
                    answer.status,
                    answer.body
                );
                if answer.status == 201 {
                    answered += 1;
                    let id = answer.body["id"].as_str().expect("id");
                    assert!(store.transfer_exists(id).await.expect("query"), "{id} lost");
                } else {
                    unanswered.push(i);
                }
            }
            // Only requests to the killed instance may lose their connection.
            Err(err) => {
                assert_eq!(i % 2, 0, "kill-{i} to the surviving instance failed: {err}");
                unanswered.push(i);
            }
        }
    }
    assert!(answered >= COUNT / 5, "{answered} answered");
    // B keeps serving: every request whose outcome is unknown is retried there with its
    // original key and a fresh token, and is either made now or found made.
    for i in &unanswered {
        let token = issuer.token("usr_alice", "alice", STEP_UP);
        let retry = b.client.transfer(&token, &format!("kill-{i}"), &body).await;
        assert_eq!(retry.status, 201, "kill-{i}: {}", retry.body);
    }
    // Every key is exactly one transfer: nothing lost, nothing doubled.
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.transfers, COUNT as i64);
    assert_eq!(
        store.balance_of("alice").await.expect("query"),
        Some(100_000 - 100 * COUNT as i64)
    );
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
    let health = b.client.get("/healthz", None).await;
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_spent_on_one_instance_is_refused_by_the_others_cache() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    open_accounts(
        &store,
        &[("usr_alice", "alice", 100_000), ("usr_bob", "bob", 0)],
    )
    .await;
    let issuer = TestIssuer::start().await;
    let a = ApiProcess::spawn(&issuer.issuer, &url);
    let b = ApiProcess::spawn(&issuer.issuer, &url);
    let token = issuer.token("usr_alice", "alice", STEP_UP);
    // B verifies (and caches) the token on a request that fails validation after it, so
    // the token is not spent there...
    b.client
        .transfer(&token, "cache-1", &json!({"to": "bob", "amount": "0"}))
        .await
        .assert_problem(422, "invalid-body");
    // ...A spends it...
    let spent = a
        .client
        .transfer(&token, "cache-2", &json!({"to": "bob", "amount": "1.00"}))
        .await;
    assert_eq!(spent.status, 201, "{}", spent.body);
    // ...and B's cache only ever vouched for the signature: single use is the ledger's.
    b.client
        .transfer(&token, "cache-3", &json!({"to": "bob", "amount": "1.00"}))
        .await
        .assert_token_already_used();
    assert_eq!(store.ledger_summary().await.expect("summary").transfers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_opened_while_instances_run_are_served_by_all_of_them() {
    let Some((url, _store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let a = ApiProcess::spawn(&issuer.issuer, &url);
    let b = ApiProcess::spawn(&issuer.issuer, &url);
    let token = issuer.token("auth0|erin", "erin", VIEW);
    // `api --issuer` is provisioned by default: no account yet.
    a.client
        .get("/v1/balance", Some(&token))
        .await
        .assert_problem(403, "account-not-open");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bank-sandbox"))
        .env_clear()
        .args([
            "accounts",
            "open",
            "--sub",
            "auth0|erin",
            "--handle",
            "erin",
        ])
        .args(["--balance", "42.50", "--database", &url])
        .output()
        .expect("run accounts open");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "erin");
    for client in [&a.client, &b.client] {
        let answer = client.get("/v1/balance", Some(&token)).await;
        assert_eq!(
            answer.body,
            json!({"account": "erin", "balance": "42.50", "currency": "USD"})
        );
    }
}

/// Two instances behind one public URL (as behind a load balancer) share the nonce key
/// and the ledger: a nonce handed out by one is accepted by the other; a read's proof is
/// refused again by the instance that accepted it (each remembers its own, in memory); a
/// transfer's proof is spent in the transfer's transaction, so the other instance and a
/// restarted one refuse it too, and the money moved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_proof_spent_on_one_instance_is_refused_by_the_other() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    open_accounts(
        &store,
        &[("usr_alice", "alice", 100_000), ("usr_bob", "bob", 0)],
    )
    .await;
    let issuer = TestIssuer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sandbox.toml");
    std::fs::write(&config, "[api.dpop_proofs]\nrequire_nonce = true\n").expect("config");
    let config = config.to_str().expect("UTF-8 path");
    let public = "https://bank.example";
    let args = [
        "--database",
        &url,
        "--public-url",
        public,
        "--config",
        config,
    ];
    let mut a = ApiProcess::spawn_with(&issuer.issuer, &args);
    let b = ApiProcess::spawn_with(&issuer.issuer, &args);
    let key = DpopKey::new();
    let bound = |scope: &str| {
        let claims = TestIssuer::edit(
            &issuer.claims("usr_alice", "alice", scope),
            json!({"cnf": {"jkt": key.jkt}}),
        );
        issuer.sign(&claims)
    };
    let token = bound(VIEW);
    let htu = format!("{public}/v1/balance");
    let get = |client: &ApiClient, proof: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .send_dpop(Method::GET, "/v1/balance", &token, &[&proof], None, None)
                .await
        }
    };

    // A's nonce, used at B.
    let asked = get(&a.client, key.proof("GET", &htu, Some(&token))).await;
    asked.assert_problem(401, "use-dpop-nonce");
    let nonce = asked.header("dpop-nonce").expect("a nonce").to_owned();
    let proof = key.proof_with_nonce("GET", &htu, Some(&token), &nonce);
    let first = get(&b.client, proof.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = get(&b.client, proof).await;
    replay.assert_problem(401, "invalid-dpop-proof");
    assert!(
        replay.challenges()[0].contains("proof already used (jti)"),
        "{:?}",
        replay.challenges()
    );

    // A transfer at B, its proof replayed at A, then at a restarted A.
    let step_up = bound(STEP_UP);
    let proof = key.proof_with_nonce(
        "POST",
        &format!("{public}/v1/transfers"),
        Some(&step_up),
        &nonce,
    );
    let body = json!({"to": "bob", "amount": "1.00"});
    let post = |client: &ApiClient| {
        let (client, step_up, proof, body) =
            (client.clone(), step_up.clone(), proof.clone(), body.clone());
        async move {
            client
                .send_dpop(
                    Method::POST,
                    "/v1/transfers",
                    &step_up,
                    &[&proof],
                    Some("k-1"),
                    Some(&body),
                )
                .await
        }
    };
    let paid = post(&b.client).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    for answer in [post(&a.client).await, post(&b.client).await] {
        answer.assert_problem(401, "invalid-dpop-proof");
        assert!(
            answer.challenges()[0].contains("proof already used (jti)"),
            "{:?}",
            answer.challenges()
        );
    }
    a.kill();
    let restarted = ApiProcess::spawn_with(&issuer.issuer, &args);
    post(&restarted.client)
        .await
        .assert_problem(401, "invalid-dpop-proof");
    assert_eq!(store.balance_of("bob").await.expect("read"), Some(100));
}
