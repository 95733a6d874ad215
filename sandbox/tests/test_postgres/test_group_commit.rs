//! Transfers that wait together commit together (`store/bank/postgres/group_commit.rs`),
//! and each keeps the outcome it would have had alone. The transfers of each round are
//! queued at once on one store, so they share transactions; the rows' `xmin` (the id of
//! the transaction that wrote them) shows that they did.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bank_sandbox::store::bank::{BankStore, TransferCommand, TransferError, TransferOutcome};
use serde_json::json;

use super::{fresh_store, open_accounts};
use crate::common::issuer::TestIssuer;
use crate::test_api::{ALICE, Api, config, join_all};

const STEP_UP: &str = "openid transfer:funds";

#[derive(Clone)]
struct Transfer {
    token: String,
    key: String,
    from: i64,
    to: &'static str,
    amount: i64,
}

impl Transfer {
    fn new(token: impl Into<String>, key: impl Into<String>, from: i64, amount: i64) -> Self {
        Transfer {
            token: token.into(),
            key: key.into(),
            from,
            to: "payee",
            amount,
        }
    }
}

/// Runs `transfers` concurrently on `store` (queued before any of them starts: the
/// tests run on one thread), each under a request hash of its own amount
/// (same key + same amount = the same request), and gives their outcomes in order.
async fn run_together(store: &BankStore, transfers: &[Transfer]) -> Vec<Outcome> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    join_all(
        transfers
            .iter()
            .map(|t| one(store.clone(), t.clone(), now))
            .collect(),
    )
    .await
}

async fn one(store: BankStore, t: Transfer, now: i64) -> Outcome {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&t.amount.to_be_bytes());
    let cmd = TransferCommand {
        issuer: "https://issuer.test",
        token_id: &t.token,
        token_expires_at: now + 300,
        from_account: t.from,
        to_handle: t.to,
        amount_minor: t.amount,
        currency: "USD",
        memo: None,
        idempotency_key: &t.key,
        request_hash: hash,
        dpop_proof: None,
    };
    store.consume_jti_and_transfer(&cmd, now).await
}

type Outcome = Result<TransferOutcome, TransferError>;

/// How many of `outcomes` are `which`.
fn count(outcomes: &[Outcome], which: impl Fn(&Outcome) -> bool) -> usize {
    outcomes.iter().filter(|o| which(o)).count()
}

fn created(outcomes: &[Outcome]) -> usize {
    count(outcomes, |o| matches!(o, Ok(TransferOutcome::Created(_))))
}

/// `(rows, transactions that wrote them)` of the ledger.
async fn ledger_transactions(url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT xmin::text) FROM transfers",
            &[],
        )
        .await
        .expect("count");
    (row.get(0), row.get(1))
}

/// Opens `payer` with 100 and `payee` with 0 minor units; their account ids.
async fn payer_and_payee(store: &BankStore) -> (i64, i64) {
    open_accounts(
        store,
        &[("usr_payer", "payer", 100), ("usr_payee", "payee", 0)],
    )
    .await;
    let id = |sub: &'static str| async move {
        store
            .account_by_sub(sub)
            .await
            .expect("read")
            .expect("account")
            .id
    };
    (id("usr_payer").await, id("usr_payee").await)
}

#[tokio::test]
async fn transfers_committed_together_keep_their_own_outcomes() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let (payer, payee) = payer_and_payee(&store).await;

    // Thirty transfers of 10 from a balance of 100: ten move money, none overdraws.
    let overdraft: Vec<_> = (0..30)
        .map(|i| Transfer::new(format!("t-{i}"), format!("k-{i}"), payer, 10))
        .collect();
    let outcomes = run_together(&store, &overdraft).await;
    assert_eq!(created(&outcomes), 10, "{outcomes:?}");
    assert_eq!(
        count(&outcomes, |o| matches!(
            o,
            Err(TransferError::InsufficientFunds)
        )),
        20,
        "{outcomes:?}"
    );
    assert_eq!(store.balance_of("payer").await.expect("read"), Some(0));
    assert_eq!(store.balance_of("payee").await.expect("read"), Some(100));
    let (rows, transactions) = ledger_transactions(&url).await;
    assert_eq!(rows, 10);
    assert!(
        transactions < rows,
        "the transfers were not committed together: {transactions} transactions for {rows}"
    );

    // The payee pays back: one token used ten times in one go moves money once.
    let mut one_token: Vec<_> = (0..10)
        .map(|i| Transfer::new("t-once", format!("k-once-{i}"), payee, 1))
        .collect();
    for t in &mut one_token {
        t.to = "payer";
    }
    let outcomes = run_together(&store, &one_token).await;
    assert_eq!(created(&outcomes), 1, "{outcomes:?}");
    assert_eq!(
        count(&outcomes, |o| matches!(
            o,
            Err(TransferError::TokenAlreadyUsed)
        )),
        9,
        "{outcomes:?}"
    );

    // One Idempotency-Key sent ten times with fresh tokens: one transfer, nine replays of
    // it; the same key for another amount is refused.
    let mut one_key: Vec<_> = (0..10)
        .map(|i| Transfer::new(format!("t-key-{i}"), "k-same", payee, 2))
        .collect();
    one_key.push(Transfer::new("t-key-other", "k-same", payee, 3));
    for t in &mut one_key {
        t.to = "payer";
    }
    let outcomes = run_together(&store, &one_key).await;
    assert_eq!(created(&outcomes), 1, "{outcomes:?}");
    let ids: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(TransferOutcome::Created(r) | TransferOutcome::Replayed(r)) => Some(r.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 10, "{outcomes:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(
        matches!(outcomes[10], Err(TransferError::IdempotencyKeyReused)),
        "{:?}",
        outcomes[10]
    );
    assert_eq!(store.balance_of("payer").await.expect("read"), Some(3));
    assert_eq!(store.balance_of("payee").await.expect("read"), Some(97));
}

/// A transfer whose sender's account is gone rolls its whole batch back; the others then
/// run one by one and keep their outcomes, and the token of the failed one is not spent.
#[tokio::test]
async fn a_batch_that_fails_is_run_again_one_transfer_at_a_time() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let (payer, _) = payer_and_payee(&store).await;
    // On the payer's lane, so in its batch: lanes are chosen by sender id modulo their
    // number, a power of two of at most 1024.
    let gone = payer + 1_024;
    let mut transfers: Vec<_> = (0..8)
        .map(|i| Transfer::new(format!("t-{i}"), format!("k-{i}"), payer, 5))
        .collect();
    transfers.insert(3, Transfer::new("t-gone", "k-gone", gone, 5));
    let outcomes = run_together(&store, &transfers).await;
    assert!(
        matches!(
            outcomes[3],
            Err(TransferError::Store(
                bank_sandbox::store::StoreError::NotFound
            ))
        ),
        "{:?}",
        outcomes[3]
    );
    assert_eq!(created(&outcomes), 8, "{outcomes:?}");
    assert_eq!(store.balance_of("payer").await.expect("read"), Some(60));
    assert_eq!(store.balance_of("payee").await.expect("read"), Some(40));
    assert_eq!(ledger_transactions(&url).await.0, 8);
    // Nothing of the failed transfer was kept, its token included.
    assert!(
        store
            .spend_token("https://issuer.test", "t-gone", i64::MAX)
            .await
            .expect("spend")
    );
}

/// The database drops the API's connections (`pg_terminate_backend`) again and again
/// during a storm of transfers: every answer is a 201 or a 503 to retry, never a 500; the
/// retries under the same keys all end in 201; and the ledger holds each key's transfer
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_by_the_database_mid_storm_lose_and_double_nothing() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let api = Api::start_on(config(&issuer.issuer), store.clone()).await;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let storm_over = Arc::new(AtomicBool::new(false));
    let killer = {
        let storm_over = storm_over.clone();
        tokio::spawn(async move {
            let mut terminated = 0u64;
            while !storm_over.load(Ordering::Relaxed) {
                let row = admin
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE application_name = 'bank-sandbox api'
                           AND datname = current_database() AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                    .expect("terminate");
                terminated += row.get::<_, i64>(0) as u64;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            terminated
        })
    };

    let body = json!({"to": "bob", "amount": "1.00"});
    let storm: Vec<_> = (0..200)
        .map(|i| {
            let (client, token, body) = (
                api.client.clone(),
                issuer.token(ALICE, "alice", STEP_UP),
                body.clone(),
            );
            async move { client.transfer(&token, &format!("drop-{i}"), &body).await }
        })
        .collect();
    let answers = join_all(storm).await;
    storm_over.store(true, Ordering::Relaxed);
    let terminated = killer.await.expect("killer");
    assert!(terminated > 0, "no connection was dropped");

    let mut unanswered = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        match answer.status {
            201 => {}
            503 => unanswered.push(i),
            other => panic!("transfer {i} answered {other}: {}", answer.body),
        }
    }
    for i in unanswered {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let retry = api
                .client
                .transfer(
                    &issuer.token(ALICE, "alice", STEP_UP),
                    &format!("drop-{i}"),
                    &body,
                )
                .await;
            if retry.status == 201 {
                break;
            }
            assert_eq!(retry.status, 503, "{}", retry.body);
            assert!(attempts < 10, "transfer {i} never went through");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.transfers, 200);
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
    assert_eq!(
        store.balance_of("alice").await.expect("read"),
        Some(100_000 - 200 * 100)
    );
}
