//! The ledger rules on PostgreSQL, through the real API in-process, and the durability
//! settings as each engine reports them.

use bank_sandbox::api::{Durability, OpenAccounts};
use bank_sandbox::store::bank::{
    BankStore, Opened, ProofSpend, TransferCommand, TransferError, TransferOutcome,
};
use serde_json::json;

use super::{fresh_store, open_store};
use crate::common::issuer::TestIssuer;
use crate::test_api::{ALICE, Api, BOB, config, join_all};

const STEP_UP: &str = "openid transfer:funds";
const VIEW: &str = "openid view:balance";

#[tokio::test]
async fn durability_is_full_by_default_and_relaxed_on_request_on_both_engines() {
    let sqlite = |d| async move {
        let store = BankStore::open(&bank_sandbox::api::Database::Sqlite(None), d, 1)
            .await
            .expect("sqlite");
        store.durability_setting().await.expect("pragma")
    };
    assert_eq!(sqlite(Durability::Full).await, "FULL");
    assert_eq!(sqlite(Durability::Relaxed).await, "NORMAL");
    assert_eq!(
        bank_sandbox::api::ApiConfig::default().durability,
        Durability::Full
    );

    let Some((url, full)) = fresh_store().await else {
        return;
    };
    assert_eq!(full.engine(), "postgres");
    assert_eq!(full.durability_setting().await.expect("show"), "on");
    let relaxed = open_store(&url, Durability::Relaxed).await;
    assert_eq!(relaxed.durability_setting().await.expect("show"), "off");
}

#[tokio::test]
async fn the_ledger_rules_hold_on_postgres() {
    let Some((_, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let api = Api::start_on(config(&issuer.issuer), store.clone()).await;
    let token = issuer.token(ALICE, "alice", STEP_UP);
    let body = json!({"to": "bob", "amount": "25.00", "memo": "lunch"});
    let first = api.transfer(&token, "k-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["balance_after"], "975.00");
    // Single use, across keys.
    api.transfer(&token, "k-2", &body)
        .await
        .assert_token_already_used();
    // A lost answer: the spent token that paid gets the receipt of its own transfer.
    let lost = api.transfer(&token, "k-1", &body).await;
    assert_eq!(lost.status, 201, "{}", lost.body);
    assert_eq!(lost.header("idempotent-replayed"), Some("true"));
    assert_eq!(lost.body, first.body);
    // A retry with a fresh token and the same key is the same transfer.
    let retry = api
        .transfer(&issuer.token(ALICE, "alice", STEP_UP), "k-1", &body)
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["id"], first.body["id"]);
    // The same key for another transfer is refused; so are overdrafts and strangers.
    api.transfer(
        &issuer.token(ALICE, "alice", STEP_UP),
        "k-1",
        &json!({"to": "bob", "amount": "26.00"}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
    api.transfer(
        &issuer.token(BOB, "bob", STEP_UP),
        "k-3",
        &json!({"to": "alice", "amount": "5000.00"}),
    )
    .await
    .assert_problem(422, "insufficient-funds");
    api.transfer(
        &issuer.token(BOB, "bob", STEP_UP),
        "k-4",
        &json!({"to": "nobody", "amount": "1.00"}),
    )
    .await
    .assert_problem(422, "unknown-recipient");

    let history = api
        .get("/v1/transfers", Some(&issuer.token(BOB, "bob", VIEW)))
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(history.body["transfers"][0]["id"], first.body["id"]);
    assert_eq!(history.body["transfers"][0]["memo"], "lunch");
    let balance = api
        .get("/v1/balance", Some(&issuer.token(BOB, "bob", VIEW)))
        .await;
    assert_eq!(balance.body["balance"], "525.00");
    let summary = store.ledger_summary().await.expect("summary");
    assert_eq!(summary.transfers, 1);
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
}

#[tokio::test]
async fn migrations_run_once_however_many_instances_start_together() {
    let Some((url, store)) = fresh_store().await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            async move { open_store(&url, Durability::Full).await }
        })
        .collect();
    let stores = join_all(opens).await;
    assert_eq!(
        stores[3]
            .open_account("s-1", "first", "USD", 10)
            .await
            .expect("open"),
        Opened::New
    );
    assert_eq!(store.ledger_summary().await.expect("summary").accounts, 1);
}

#[tokio::test]
async fn first_use_on_postgres_never_hands_out_a_taken_handle() {
    let Some((_, store)) = fresh_store().await else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let mut cfg = config(&issuer.issuer);
    cfg.open_accounts = Some(OpenAccounts::OnFirstUse);
    // Two instances over one database, racing for one verified email.
    let a = Api::start_on(cfg.clone(), store.clone()).await;
    let b = Api::start_on(cfg, store.clone()).await;
    let mut requests = Vec::new();
    for i in 0..20 {
        let claims = TestIssuer::edit(
            &issuer.claims(&format!("usr_racer_{i}"), "racer", VIEW),
            json!({"email": "prize@example.com", "email_verified": true}),
        );
        let token = issuer.sign(&claims);
        let client = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        requests.push(async move { client.get("/v1/balance", Some(&token)).await });
    }
    let mut handles: Vec<String> = join_all(requests)
        .await
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.body["account"].as_str().expect("handle").to_owned()
        })
        .collect();
    assert_eq!(
        handles.iter().filter(|h| *h == "prize@example.com").count(),
        1
    );
    handles.sort();
    handles.dedup();
    assert_eq!(handles.len(), 20);
}

/// A transfer's DPoP proof is spent in the transfer's own transaction, with one rule on
/// both engines: a proof recorded there refuses a second transfer (which changes nothing,
/// its token not even spent), also when the first was refused for funds; a record whose
/// proof window has passed no longer counts. The nonce key is one per database.
#[tokio::test]
async fn a_transfers_proof_is_spent_with_the_money_on_both_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = bank_sandbox::api::Database::Sqlite(Some(dir.path().join("bank.sqlite3")));
    let sqlite = BankStore::open(&file, Durability::Full, 1)
        .await
        .expect("sqlite");
    let mut stores = vec![sqlite];
    if let Some((_, pg)) = fresh_store().await {
        stores.push(pg);
    }
    for store in stores {
        let engine = store.engine();
        super::open_accounts(&store, &[("s-a", "alice", 1_000), ("s-b", "bob", 0)]).await;
        let from = store
            .account_by_sub("s-a")
            .await
            .expect("read")
            .expect("alice")
            .id;
        let now = 1_000_000;
        let transfer = |token: &'static str, key: &'static str, amount, proof: u8, at| {
            let store = store.clone();
            async move {
                let cmd = TransferCommand {
                    issuer: "https://issuer.test",
                    token_id: token,
                    token_expires_at: at + 300,
                    from_account: from,
                    to_handle: "bob",
                    amount_minor: amount,
                    currency: "USD",
                    memo: None,
                    idempotency_key: key,
                    request_hash: [amount as u8; 32],
                    dpop_proof: Some(ProofSpend {
                        key: [proof; 32],
                        expires_at: now + 60,
                    }),
                };
                store.consume_jti_and_transfer(&cmd, at).await
            }
        };
        let first = transfer("t1", "k1", 10, 1, now).await;
        assert!(
            matches!(first, Ok(TransferOutcome::Created(_))),
            "{engine}: {first:?}"
        );
        // The same proof with a fresh token and key: refused, and nothing spent or moved.
        let replay = transfer("t2", "k2", 10, 1, now + 1).await;
        assert!(
            matches!(replay, Err(TransferError::ProofAlreadyUsed)),
            "{engine}: {replay:?}"
        );
        let fresh = transfer("t2", "k2", 10, 2, now + 1).await;
        assert!(
            matches!(fresh, Ok(TransferOutcome::Created(_))),
            "{engine}: {fresh:?}"
        );
        // Refused for funds in the transaction: the attempt spent its proof and its token.
        let poor = transfer("t3", "k3", 5_000, 3, now + 2).await;
        assert!(
            matches!(poor, Err(TransferError::InsufficientFunds)),
            "{engine}: {poor:?}"
        );
        let again = transfer("t4", "k4", 10, 3, now + 2).await;
        assert!(
            matches!(again, Err(TransferError::ProofAlreadyUsed)),
            "{engine}: {again:?}"
        );
        let token_again = transfer("t3", "k5", 10, 4, now + 2).await;
        assert!(
            matches!(token_again, Err(TransferError::TokenAlreadyUsed)),
            "{engine}: {token_again:?}"
        );
        // Last second of the window, then past it.
        let last = transfer("t5", "k6", 10, 1, now + 60).await;
        assert!(
            matches!(last, Err(TransferError::ProofAlreadyUsed)),
            "{engine}: {last:?}"
        );
        let after = transfer("t5", "k6", 10, 1, now + 61).await;
        assert!(
            matches!(after, Ok(TransferOutcome::Created(_))),
            "{engine}: {after:?}"
        );
        assert_eq!(
            store.balance_of("bob").await.expect("read"),
            Some(30),
            "{engine}"
        );

        let secret = store.server_secret("k", "first").await.expect("secret");
        assert_eq!(secret, "first", "{engine}");
        assert_eq!(
            store.server_secret("k", "second").await.expect("again"),
            "first",
            "{engine}"
        );
    }
}
