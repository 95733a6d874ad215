//! Batch payments on PostgreSQL (`bank_payment_batch`, migration 007): one transaction for
//! a thousand payments (the rows' `xmin`), all or nothing inside the transaction, two
//! instances racing one batch, and a batch racing single transfers without a deadlock.

use std::time::Duration;

use bank_sandbox::api::Durability;
use bank_sandbox::store::bank::{
    BankStore, BatchCommand, BatchError, BatchOutcome, PaymentRefusal, PlannedBatch, PlannedPayment,
};
use serde_json::json;

use super::{fresh_store, open_store};
use crate::common::issuer::TestIssuer;
use crate::test_api::test_batches::{CAROL, body, with_carol};
use crate::test_api::{ALICE, Api, BOB, join_all};

const STEP_UP: &str = "openid transfer:funds";

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn balances(store: &BankStore) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for handle in ["alice", "bob", "carol"] {
        out.push(store.balance_of(handle).await.expect("read"));
    }
    out
}

async fn assert_balanced(store: &BankStore) {
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
}

#[tokio::test]
async fn a_thousand_payments_are_one_transaction() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let api = Api::start_on(with_carol(&issuer.issuer), store.clone()).await;
    let memo = "m".repeat(140);
    let rows: Vec<(&str, &str, Option<&str>)> = (0..1000)
        .map(|i| {
            let to = if i % 2 == 0 { "bob" } else { "carol" };
            (to, "0.10", Some(memo.as_str()))
        })
        .collect();
    let token = issuer.token(ALICE, "alice", STEP_UP);
    let answer = api.batch(&token, "pg-b-1", &body(&rows)).await;
    assert_eq!(answer.status, 201, "{}", answer.body["detail"]);
    assert_eq!(answer.body["balance_after"], "900.00");
    let id = answer.body["id"].as_str().expect("id").to_owned();
    let transfers = answer.body["transfers"].as_array().expect("receipts");
    assert_eq!(transfers[999]["balance_after"], "900.00");
    assert_eq!(transfers[0]["balance_after"], "999.90");

    let db = client(&url).await;
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT xmin::text),
                    (SELECT count(*) FROM transfer_batches WHERE id = $1)
             FROM transfers WHERE batch_id = $1",
            &[&id],
        )
        .await
        .expect("count");
    let (rows, transactions, batches): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((rows, transactions, batches), (1000, 1, 1));
    assert_eq!(
        balances(&store).await,
        vec![Some(90_000), Some(55_000), Some(5_000)]
    );
    assert_balanced(&store).await;
    // The running balances each transfer recorded end where the accounts are.
    let last: i64 = db
        .query_one(
            "SELECT to_balance_after FROM transfers t JOIN accounts a ON a.id = t.to_account
             WHERE a.handle = 'carol' ORDER BY t.seq DESC LIMIT 1",
            &[],
        )
        .await
        .expect("last")
        .get(0);
    assert_eq!(last, 5_000);
}

fn plan(from: i64, key: &str, payments: &[(&str, i64)]) -> PlannedBatch {
    PlannedBatch {
        from_account: from,
        payments: payments
            .iter()
            .map(|(to, amount)| PlannedPayment {
                to_handle: (*to).into(),
                amount_minor: *amount,
                currency: "USD".into(),
                memo: None,
            })
            .collect(),
        idempotency_key: key.into(),
        request_hash: [payments.len() as u8; 32],
    }
}

fn command(plan: PlannedBatch, token: &str) -> BatchCommand {
    BatchCommand {
        plan,
        issuer: "https://issuer.test".into(),
        token_id: token.into(),
        token_expires_at: now() + 300,
        dpop_proof: None,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The transaction decides again under its locks (no precheck here): a batch that cannot
/// be made whole moves nothing, and the token stays spent.
#[tokio::test]
async fn inside_the_transaction_a_batch_is_all_or_nothing() {
    let Some((_url, store)) = fresh_store().await else {
        return;
    };
    super::open_accounts(
        &store,
        &[
            (ALICE, "alice", 1_000),
            (BOB, "bob", 0),
            (CAROL, "carol", 0),
        ],
    )
    .await;
    let alice = store
        .account_by_sub(ALICE)
        .await
        .expect("read")
        .expect("alice")
        .id;
    let third_fails = plan(alice, "k-1", &[("bob", 1), ("carol", 1), ("nobody", 1)]);
    match store
        .execute_batch(command(third_fails, "tok-1"), now())
        .await
    {
        Err(BatchError::Payments(refused)) => {
            assert_eq!(refused, vec![(3, PaymentRefusal::UnknownRecipient)]);
        }
        other => panic!("{other:?}"),
    }
    let retry = plan(alice, "k-2", &[("bob", 1)]);
    assert!(matches!(
        store.execute_batch(command(retry, "tok-1"), now()).await,
        Err(BatchError::TokenAlreadyUsed)
    ));
    let total = plan(alice, "k-3", &[("bob", 600), ("carol", 600)]);
    assert!(matches!(
        store.execute_batch(command(total, "tok-2"), now()).await,
        Err(BatchError::InsufficientFunds)
    ));
    assert_eq!(balances(&store).await, vec![Some(1_000), Some(0), Some(0)]);
    assert_eq!(store.ledger_summary().await.expect("summary").transfers, 0);
    let fits = plan(alice, "k-4", &[("bob", 600), ("carol", 400)]);
    assert!(matches!(
        store.execute_batch(command(fits, "tok-3"), now()).await,
        Ok(BatchOutcome::Created(_))
    ));
    assert_eq!(balances(&store).await, vec![Some(0), Some(600), Some(400)]);
}

/// Two instances on one database, each sent the same batch with the same token and key
/// at the same moment: one batch is made, and every answer is its receipt.
#[tokio::test]
async fn two_instances_racing_one_batch_make_it_once() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let one = Api::start_on(with_carol(&issuer.issuer), store).await;
    let two = Api::start_on(
        with_carol(&issuer.issuer),
        open_store(&url, Durability::Full).await,
    )
    .await;
    let batch = body(&[("bob", "1", None), ("carol", "2", None), ("bob", "3", None)]);
    for round in 0..5 {
        let token = issuer.token(ALICE, "alice", STEP_UP);
        let key = format!("race-{round}");
        let sends = (0..4)
            .map(|i| {
                let client = if i % 2 == 0 {
                    one.client.clone()
                } else {
                    two.client.clone()
                };
                let (token, key, batch) = (token.clone(), key.clone(), batch.clone());
                async move { client.batch(&token, &key, &batch).await }
            })
            .collect();
        let answers = join_all(sends).await;
        let mut ids = Vec::new();
        let mut fresh = 0;
        for answer in &answers {
            assert_eq!(answer.status, 201, "{}", answer.body);
            if answer.header("idempotent-replayed").is_none() {
                fresh += 1;
            }
            ids.push(answer.body["id"].clone());
        }
        assert_eq!(fresh, 1, "one answer made the batch: {answers:?}");
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }
    let store = one.state.store();
    assert_eq!(store.ledger_summary().await.expect("summary").transfers, 15);
    assert_eq!(
        store.balance_of("alice").await.expect("read"),
        Some(100_000 - 3_000)
    );
    assert_balanced(store).await;
}

/// A batch from alice to bob and carol while bob and carol pay alice and each other, one
/// transfer at a time, on another instance: every lock is taken in one order, so nothing
/// deadlocks (the server counts deadlocks per database) and the books balance.
#[tokio::test]
async fn a_batch_racing_single_transfers_does_not_deadlock() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let one = Api::start_on(with_carol(&issuer.issuer), store).await;
    let two = Api::start_on(
        with_carol(&issuer.issuer),
        open_store(&url, Durability::Full).await,
    )
    .await;
    let mut work = Vec::new();
    for round in 0..4 {
        let rows: Vec<(&str, &str, Option<&str>)> = (0..250)
            .map(|i| (if i % 2 == 0 { "bob" } else { "carol" }, "0.01", None))
            .collect();
        let batch = body(&rows);
        let token = issuer.token(ALICE, "alice", STEP_UP);
        let client = one.client.clone();
        work.push(tokio::spawn(async move {
            client
                .batch(&token, &format!("batch-{round}"), &batch)
                .await
        }));
        for i in 0..10 {
            let (sub, name, to) = match i % 3 {
                0 => (BOB, "bob", "alice"),
                1 => (CAROL, "carol", "alice"),
                _ => (BOB, "bob", "carol"),
            };
            let token = issuer.token(sub, name, STEP_UP);
            let client = two.client.clone();
            let body = json!({"to": to, "amount": "0.01"});
            work.push(tokio::spawn(async move {
                client
                    .transfer(&token, &format!("single-{round}-{i}"), &body)
                    .await
            }));
        }
    }
    // Carol starts at zero: her first transfers may find nothing to send yet.
    let mut made = 0;
    for handle in work {
        let answer = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("no request hangs")
            .expect("task");
        match answer.status {
            201 => made += 1,
            422 => assert_eq!(
                answer.body["type"],
                "https://bank.example/problems/insufficient-funds"
            ),
            _ => panic!("{}", answer.body),
        }
    }
    assert!(made >= 4 + 20, "{made}");
    let store = one.state.store();
    assert_balanced(store).await;
    // Stats reach the shared counters when a backend is idle (within a second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let db = client(&url).await;
    let deadlocks: i64 = db
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("stats")
        .get(0);
    assert_eq!(deadlocks, 0);
}

/// An instance that only makes batches still forgets spent tokens long past their expiry
/// (the prune the single transfers' lanes do), and never one that could still validate.
#[tokio::test]
async fn batches_alone_prune_expired_spent_tokens() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    super::open_accounts(&store, &[(ALICE, "alice", 1_000), (BOB, "bob", 0)]).await;
    let alice = store
        .account_by_sub(ALICE)
        .await
        .expect("read")
        .expect("alice")
        .id;
    let t0 = now();
    let spend = |key: &str, token: &str, expires: i64| BatchCommand {
        plan: plan(alice, key, &[("bob", 1)]),
        issuer: "https://issuer.test".into(),
        token_id: token.into(),
        token_expires_at: expires,
        dpop_proof: None,
    };
    let made = |outcome| matches!(outcome, Ok(BatchOutcome::Created(_)));
    assert!(made(
        store
            .execute_batch(spend("p-1", "tok-old", t0 + 10), t0)
            .await
    ));
    assert!(made(
        store
            .execute_batch(spend("p-2", "tok-live", t0 + 3_600), t0)
            .await
    ));
    // Long after the first token and the margin, within the second's life.
    let later = t0 + 10 + 300 + 60;
    assert!(made(
        store
            .execute_batch(spend("p-3", "tok-new", later + 300), later)
            .await
    ));
    let db = client(&url).await;
    let kept: Vec<String> = db
        .query("SELECT token_id FROM used_tokens ORDER BY token_id", &[])
        .await
        .expect("read")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept, vec!["tok-live".to_owned(), "tok-new".to_owned()]);
}
