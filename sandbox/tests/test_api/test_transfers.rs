//! Money: transfers, single use, idempotency, validation, atomicity under concurrency.

use rand::Rng;
use serde_json::{Value, json};

use super::{ALICE, Answer, Api, BOB, config, join_all};
use crate::common::issuer::TestIssuer;

const STEP_UP: &str = "openid transfer:funds";
const VIEW: &str = "openid view:balance";

fn step_up(issuer: &TestIssuer, sub: &str, name: &str) -> String {
    issuer.token(sub, name, STEP_UP)
}

#[tokio::test]
async fn a_transfer_moves_money_once_and_shows_in_both_histories() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let answer = api
        .transfer(
            &step_up(&issuer, ALICE, "alice"),
            "key-1",
            &json!({"to": "bob", "amount": "25.00", "currency": "USD", "memo": "lunch"}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.header("idempotent-replayed"), None);
    let body = &answer.body;
    let id = body["id"].as_str().expect("id");
    assert!(id.starts_with("tr_") && id.len() == 27, "{id}");
    assert_eq!(body["from"], "alice");
    assert_eq!(body["to"], "bob");
    assert_eq!(body["amount"], "25.00");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["memo"], "lunch");
    assert_eq!(body["balance_after"], "975.00");
    let created = body["created_at"].as_str().expect("created_at");
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 created_at");
    assert!(created.ends_with('Z'));
    assert_eq!(api.state.balance_of("alice"), Some(97_500));
    assert_eq!(api.state.balance_of("bob"), Some(52_500));

    // A second transfer, then the histories, newest first.
    let answer = api
        .transfer(
            &step_up(&issuer, BOB, "bob"),
            "key-1",
            &json!({"to": "alice", "amount": "0.5"}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["amount"], "0.50");
    let history = api
        .get("/v1/transfers", Some(&issuer.token(ALICE, "alice", VIEW)))
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(history.body["account"], "alice");
    let list = history.body["transfers"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["from"].as_str(), list[0]["amount"].as_str()),
        (Some("bob"), Some("0.50"))
    );
    assert_eq!(list[1]["id"], id);
    let limited = api
        .get(
            "/v1/transfers?limit=1",
            Some(&issuer.token(ALICE, "alice", VIEW)),
        )
        .await;
    assert_eq!(limited.body["transfers"].as_array().map(Vec::len), Some(1));
    for bad in ["0", "101", "-1", "x", ""] {
        api.get(
            &format!("/v1/transfers?limit={bad}"),
            Some(&issuer.token(ALICE, "alice", VIEW)),
        )
        .await
        .assert_problem(400, "bad-request");
    }
    let summary = api.state.ledger_summary();
    assert_eq!(summary.transfers, 2);
    assert_eq!(summary.total_balance_minor, 150_000);
}

#[tokio::test]
async fn a_step_up_token_is_single_use() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = step_up(&issuer, ALICE, "alice");
    let first = api
        .transfer(&token, "a", &json!({"to": "bob", "amount": "1.00"}))
        .await;
    assert_eq!(first.status, 201);
    // Replayed with another key: a new transfer, refused.
    let again = api
        .transfer(&token, "b", &json!({"to": "bob", "amount": "1.00"}))
        .await;
    again.assert_token_already_used();
    assert_eq!(api.state.balance_of("alice"), Some(99_900));
    // The spent token is still good for reading: single use applies to moving money.
    let balance = api.get("/v1/balance", Some(&token)).await;
    assert_eq!(
        balance.status, 403,
        "transfer-only token has no view:balance"
    );
}

/// A lost answer: the very transfer a spent token paid for (same token, key and body) is
/// answered with its receipt; anything else that token asks for is refused as spent.
#[tokio::test]
async fn a_spent_token_gets_the_receipt_of_the_transfer_it_paid_for_and_nothing_else() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = step_up(&issuer, ALICE, "alice");
    let body = json!({"to": "bob", "amount": "25.00"});
    let first = api.transfer(&token, "lost-1", &body).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);

    // Same token, key and canonical body ("25" is "25.00"): the receipt, replayed.
    for _ in 0..2 {
        let retry = api
            .transfer(&token, "lost-1", &json!({"to": "bob", "amount": "25"}))
            .await;
        assert_eq!(retry.status, 201, "{}", retry.body);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(retry.body, first.body);
    }
    // Same token, another body under another key: a new transfer, refused as spent.
    api.transfer(&token, "lost-2", &json!({"to": "bob", "amount": "26.00"}))
        .await
        .assert_token_already_used();
    // Same token and body, another key: another transfer, refused as spent.
    api.transfer(&token, "lost-3", &body)
        .await
        .assert_token_already_used();
    // Same key, another body: the key's rule answers first, as for any token (step 3).
    api.transfer(&token, "lost-1", &json!({"to": "bob", "amount": "26.00"}))
        .await
        .assert_problem(422, "idempotency-key-reused");

    // Strictly the token that paid: another spent token of the same account, with the
    // same key and body, is refused.
    let other = step_up(&issuer, ALICE, "alice");
    assert_eq!(
        api.transfer(&other, "other-1", &json!({"to": "bob", "amount": "1.00"}))
            .await
            .status,
        201
    );
    api.transfer(&other, "lost-1", &body)
        .await
        .assert_token_already_used();

    assert_eq!(api.state.balance_of("alice"), Some(97_400));
    assert_eq!(api.state.balance_of("bob"), Some(52_600));
    assert_eq!(api.state.ledger_summary().transfers, 2);
}

#[tokio::test]
async fn fifty_concurrent_transfers_with_one_token_succeed_exactly_once() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = step_up(&issuer, ALICE, "alice");
    let mut requests = Vec::new();
    for i in 0..50 {
        let client = api.client.clone();
        let token = token.clone();
        requests.push(async move {
            client
                .transfer(
                    &token,
                    &format!("race-{i}"),
                    &json!({"to": "bob", "amount": "10.00"}),
                )
                .await
        });
    }
    let answers = join_all(requests).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 1);
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_token_already_used();
    }
    assert_eq!(api.state.balance_of("alice"), Some(99_000));
    assert_eq!(api.state.balance_of("bob"), Some(51_000));
    assert_eq!(api.state.ledger_summary().transfers, 1);
}

#[tokio::test]
async fn an_idempotent_retry_with_a_fresh_token_moves_money_once() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let body = json!({"to": "bob", "amount": "25.00"});
    let first = api
        .transfer(&step_up(&issuer, ALICE, "alice"), "retry-1", &body)
        .await;
    assert_eq!(first.status, 201);
    // The CLI's retry after a step-up: same key, same body, a fresh token. "25" is the
    // same amount as "25.00".
    let retry = api
        .transfer(
            &step_up(&issuer, ALICE, "alice"),
            "retry-1",
            &json!({"to": "bob", "amount": "25"}),
        )
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    assert_eq!(api.state.balance_of("alice"), Some(97_500));
    assert_eq!(api.state.ledger_summary().transfers, 1);

    // Same key, different request: 422, nothing moves.
    let other = api
        .transfer(
            &step_up(&issuer, ALICE, "alice"),
            "retry-1",
            &json!({"to": "bob", "amount": "26.00"}),
        )
        .await;
    other.assert_problem(422, "idempotency-key-reused");
    assert_eq!(api.state.balance_of("alice"), Some(97_500));

    // Keys are scoped to the account: bob may use the same key for his own transfer.
    let bobs = api
        .transfer(
            &step_up(&issuer, BOB, "bob"),
            "retry-1",
            &json!({"to": "alice", "amount": "1.00"}),
        )
        .await;
    assert_eq!(bobs.status, 201);
    assert_eq!(bobs.header("idempotent-replayed"), None);
    assert_eq!(api.state.ledger_summary().transfers, 2);
}

#[tokio::test]
async fn refused_transfers_change_nothing() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let before = api.state.ledger_summary();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"to": "bob", "amount": "1000.01"}),
            422,
            "insufficient-funds",
        ),
        (
            json!({"to": "nobody", "amount": "1.00"}),
            422,
            "unknown-recipient",
        ),
        (
            json!({"to": "alice", "amount": "1.00"}),
            422,
            "same-account",
        ),
        (
            json!({"to": "bob", "amount": "1.00", "currency": "EUR"}),
            422,
            "currency-mismatch",
        ),
        (json!({"to": "bob", "amount": "-1"}), 422, "invalid-body"),
        (json!({"to": "bob", "amount": "1e3"}), 422, "invalid-body"),
        (json!({"to": "bob", "amount": "0.001"}), 422, "invalid-body"),
        (json!({"to": "bob", "amount": "NaN"}), 422, "invalid-body"),
        (json!({"to": "bob", "amount": "0"}), 422, "invalid-body"),
        (
            json!({"to": "bob", "amount": "99999999999999999999999"}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob", "amount": "10000.01"}),
            422,
            "invalid-body",
        ),
        (json!({"to": "bob", "amount": 25}), 422, "invalid-body"),
        (json!({"to": "bob", "amount": 25.5}), 422, "invalid-body"),
        (json!({"to": "bob"}), 422, "invalid-body"),
        (
            json!({"to": "bob", "amount": "1.00", "extra": true}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob", "amount": "1.00", "memo": "x".repeat(141)}),
            422,
            "invalid-body",
        ),
        // Text shown to other people may not hide or reorder itself: bidi overrides,
        // zero-width and line-separator characters, escape sequences (Unicode Cc, Cf, Zl, Zp).
        (
            json!({"to": "bob", "amount": "1.00", "memo": "rent \u{202e}0001"}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob", "amount": "1.00", "memo": "a\u{200b}b"}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob", "amount": "1.00", "memo": "a\u{2028}b"}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob", "amount": "1.00", "memo": "\u{1b}[2J"}),
            422,
            "invalid-body",
        ),
        (
            json!({"to": "bob\u{202e}", "amount": "1.00"}),
            422,
            "invalid-body",
        ),
        (json!(["bob", "1.00"]), 422, "invalid-body"),
    ];
    for (i, (body, status, kind)) in cases.into_iter().enumerate() {
        let answer = api
            .transfer(
                &step_up(&issuer, ALICE, "alice"),
                &format!("bad-{i}"),
                &body,
            )
            .await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        answer.assert_problem(status, kind);
    }
    assert_eq!(api.state.ledger_summary(), before);
    assert_eq!(api.state.balance_of("alice"), Some(100_000));
}

#[tokio::test]
async fn malformed_requests_answer_problem_json() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let url = format!("{}/v1/transfers", api.url);
    let send = |content_type: Option<&'static str>, key: Option<&'static str>, body: Vec<u8>| {
        let mut req = api
            .http
            .post(&url)
            .bearer_auth(step_up(&issuer, ALICE, "alice"))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        async move { Answer::from(req.send().await.expect("POST")).await }
    };
    let good = br#"{"to":"bob","amount":"1.00"}"#.to_vec();
    send(
        Some("application/json"),
        Some("k"),
        b"{\"to\": \"bob\",".to_vec(),
    )
    .await
    .assert_problem(400, "bad-request");
    send(Some("application/json"), Some("k"), Vec::new())
        .await
        .assert_problem(400, "bad-request");
    send(Some("text/plain"), Some("k"), good.clone())
        .await
        .assert_problem(415, "unsupported-media-type");
    send(None, Some("k"), good.clone())
        .await
        .assert_problem(415, "unsupported-media-type");
    let mut huge = br#"{"to":"bob","amount":"1.00","memo":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 17 * 1024));
    huge.extend(br#""}"#);
    send(Some("application/json"), Some("k"), huge)
        .await
        .assert_problem(413, "payload-too-large");
    send(Some("application/json"), None, good.clone())
        .await
        .assert_problem(400, "idempotency-key-required");
    send(Some("application/json"), Some(""), good.clone())
        .await
        .assert_problem(400, "bad-request");
    // Charset parameters are fine.
    let ok = send(Some("application/json; charset=utf-8"), Some("k"), good).await;
    assert_eq!(ok.status, 201, "{}", ok.body);

    // Unknown paths and methods also answer in problem+json.
    api.get("/v2/anything", None)
        .await
        .assert_problem(404, "about:blank");
    let put = Answer::from(api.http.put(&url).send().await.expect("PUT")).await;
    put.assert_problem(405, "about:blank");
    assert_eq!(put.header("allow"), Some("GET, POST"));
    let health = api.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (200, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn a_storm_of_concurrent_transfers_keeps_the_books_balanced() {
    let issuer = TestIssuer::start().await;
    let mut cfg = config(&issuer.issuer);
    cfg.accounts = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|name| bank_sandbox::api::AccountSeed {
            handle: (*name).into(),
            sub: Some(format!("usr_{name}")),
            balance_minor: 10_000,
        })
        .collect();
    let api = Api::start(cfg).await;
    let names = ["alice", "bob", "carol", "dave"];
    let mut requests = Vec::new();
    let mut rng = rand::thread_rng();
    for i in 0..120 {
        let from = names[rng.gen_range(0..4)];
        let to = names[rng.gen_range(0..4)];
        // Up to 60.00 from 100.00 balances: plenty of insufficient-funds refusals too.
        let amount = format!("{}.{:02}", rng.gen_range(0..60), rng.gen_range(1..100));
        let token = issuer.token(&format!("usr_{from}"), from, STEP_UP);
        let client = api.client.clone();
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
    let created = answers.iter().filter(|a| a.status == 201).count() as i64;
    for answer in &answers {
        assert!(
            [201, 422].contains(&answer.status),
            "unexpected {}: {}",
            answer.status,
            answer.body
        );
    }
    let summary = api.state.ledger_summary();
    assert_eq!(summary.transfers, created);
    assert_eq!(summary.total_balance_minor, 40_000);
    for name in names {
        let balance = api.state.balance_of(name).expect("account");
        assert!(balance >= 0, "{name}: {balance}");
    }
}
