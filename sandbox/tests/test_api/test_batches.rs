//! Batch payments (`POST /v1/transfer-batches`) on SQLite: one approval for exactly one
//! batch, all or nothing, the order of the checks (validate, then step up), idempotency
//! and the lost answer. The PostgreSQL twins are in `test_postgres::test_batches`.

use bank_protocol::{
    Approval, BatchOrder, DEFAULT_TRANSFER_LIMIT_MINOR, PAYMENT_BATCH, PAYMENT_INITIATION,
    TransferBatchRequest,
};
use bank_sandbox::api::{AccountSeed, ApiConfig};
use serde_json::{Value, json};

use super::{ALICE, Answer, Api, config};
use crate::common::issuer::TestIssuer;

const STEP_UP: &str = "openid transfer:funds";
const VIEW: &str = "openid view:balance";
pub const CAROL: &str = "usr_carol00000000003";

/// The test config with carol (0.00) as a third account.
pub fn with_carol(issuer: &str) -> ApiConfig {
    let mut config = config(issuer);
    config.accounts.retain(|a| a.handle != "carol");
    config.accounts.push(AccountSeed {
        handle: "carol".into(),
        sub: Some(CAROL.into()),
        balance_minor: 0,
    });
    config
}

/// `{"payments": [...]}` from `(to, amount, memo)` rows.
pub fn body(rows: &[(&str, &str, Option<&str>)]) -> Value {
    json!({
        "payments": rows
            .iter()
            .map(|(to, amount, memo)| {
                let mut p = json!({"to": to, "amount": amount});
                if let Some(memo) = memo {
                    p["memo"] = json!(memo);
                }
                p
            })
            .collect::<Vec<_>>()
    })
}

/// The canonical batch of a body, as the CLI would build it.
pub fn order(body: &Value) -> BatchOrder {
    let request: TransferBatchRequest = serde_json::from_value(body.clone()).expect("a batch");
    BatchOrder::from_request(&request, "USD", DEFAULT_TRANSFER_LIMIT_MINOR, 100_000).expect("valid")
}

/// The `authorization_details` a token carries for `body`: one `payment_initiation` per
/// payment up to `max_inline`, else a `payment_batch`.
pub fn details(body: &Value, max_inline: usize) -> Value {
    let types = [PAYMENT_INITIATION.to_owned(), PAYMENT_BATCH.to_owned()];
    Approval::for_batch(&order(body), None, &types, max_inline)
        .expect("an approval")
        .for_token()
        .to_value()
}

/// A step-up token for `sub` whose approval is `details`.
pub fn approved(issuer: &TestIssuer, sub: &str, name: &str, details: Value) -> String {
    let claims = issuer.claims(sub, name, STEP_UP);
    issuer.sign(&TestIssuer::edit(
        &claims,
        json!({"authorization_details": details}),
    ))
}

fn step_up(issuer: &TestIssuer) -> String {
    issuer.token(ALICE, "alice", STEP_UP)
}

async fn start(issuer: &TestIssuer) -> Api {
    Api::start(with_carol(&issuer.issuer)).await
}

fn balances(api: &Api) -> [Option<i64>; 3] {
    ["alice", "bob", "carol"].map(|h| api.state.balance_of(h))
}

fn indexes(answer: &Answer) -> Vec<u64> {
    answer.body["payments"]
        .as_array()
        .map(|list| list.iter().filter_map(|p| p["index"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_batch_makes_every_payment_with_running_balances_and_names_itself_everywhere() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let batch = body(&[
        ("bob", "25", Some("rent")),
        ("carol", "10.50", None),
        ("bob", "4.50", None),
    ]);
    let answer = api.batch(&step_up(&issuer), "b-1", &batch).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.header("idempotent-replayed"), None);
    let receipt = &answer.body;
    let id = receipt["id"].as_str().expect("id");
    assert!(id.starts_with("bt_") && id.len() == 27, "{id}");
    assert_eq!(receipt["from"], "alice");
    assert_eq!(receipt["count"], 3);
    assert_eq!(receipt["reference"], order(&batch).reference());
    assert_eq!(
        receipt["totals"],
        json!([{"currency": "USD", "amount": "40.00"}])
    );
    assert_eq!(receipt["balance_after"], "960.00");
    let transfers = receipt["transfers"].as_array().expect("transfers");
    let seen: Vec<(&str, &str, &str)> = transfers
        .iter()
        .map(|t| {
            assert_eq!(t["batch"], id);
            (
                t["to"].as_str().expect("to"),
                t["amount"].as_str().expect("amount"),
                t["balance_after"].as_str().expect("balance"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("bob", "25.00", "975.00"),
            ("carol", "10.50", "964.50"),
            ("bob", "4.50", "960.00")
        ]
    );
    assert_eq!(transfers[0]["memo"], "rent");
    assert_eq!(balances(&api), [Some(96_000), Some(52_950), Some(1_050)]);
    let history = api
        .get("/v1/transfers", Some(&issuer.token(ALICE, "alice", VIEW)))
        .await;
    let list = history.body["transfers"].as_array().expect("history");
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|t| t["batch"] == id), "{}", history.body);
    let summary = api.state.ledger_summary();
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
}

#[tokio::test]
async fn a_batch_whose_third_payment_cannot_happen_moves_nothing() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let before = balances(&api);
    let answer = api
        .batch(
            &step_up(&issuer),
            "b-2",
            &body(&[
                ("bob", "1", None),
                ("carol", "1", None),
                ("nobody", "1", None),
                ("alice", "1", None),
            ]),
        )
        .await;
    answer.assert_problem(422, "unknown-recipient");
    assert_eq!(indexes(&answer), vec![3, 4]);
    assert_eq!(balances(&api), before);
    assert_eq!(api.state.ledger_summary().transfers, 0);
}

#[tokio::test]
async fn a_payee_changed_after_the_approval_is_refused_and_spends_the_token() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let approved_batch = body(&[("bob", "5", None), ("carol", "5", None)]);
    let token = approved(&issuer, ALICE, "alice", details(&approved_batch, 5));
    let changed = body(&[("bob", "5", None), ("bob", "5", None)]);
    let answer = api.batch(&token, "b-3", &changed).await;
    answer.assert_problem(403, "authorization-details-mismatch");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("payments are different")),
        "{}",
        answer.body
    );
    assert_eq!(api.state.ledger_summary().transfers, 0);
    // Spent: not even the approved batch goes through with it now.
    api.batch(&token, "b-3b", &approved_batch)
        .await
        .assert_token_already_used();
    assert_eq!(balances(&api), [Some(100_000), Some(50_000), Some(0)]);
}

#[tokio::test]
async fn inline_and_digest_approvals_each_execute_their_exact_batch() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let small = body(&[
        ("bob", "1", None),
        ("carol", "2", Some("x")),
        ("bob", "3", None),
    ]);
    let inline = details(&small, 5);
    assert_eq!(inline.as_array().map(Vec::len), Some(3));
    assert!(
        inline
            .as_array()
            .expect("list")
            .iter()
            .all(|d| d["type"] == PAYMENT_INITIATION)
    );
    let answer = api
        .batch(&approved(&issuer, ALICE, "alice", inline), "b-4", &small)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);

    let large = body(&[("carol", "1", None); 8]);
    let digest = details(&large, 5);
    assert_eq!(digest[0]["type"], PAYMENT_BATCH);
    assert!(
        digest[0].get("payments").is_none(),
        "a token carries no list"
    );
    let answer = api
        .batch(&approved(&issuer, ALICE, "alice", digest), "b-5", &large)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["count"], 8);
    assert_eq!(
        balances(&api),
        [Some(100_000 - 600 - 800), Some(50_400), Some(1_000)]
    );
}

#[tokio::test]
async fn approvals_pay_only_their_own_shape_of_request() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    // A batch approval at /v1/transfers: refused and spent.
    let batch = body(&[("bob", "5", None), ("carol", "5", None)]);
    let token = approved(&issuer, ALICE, "alice", details(&batch, 5));
    let answer = api
        .transfer(&token, "t-1", &json!({"to": "bob", "amount": "5.00"}))
        .await;
    answer.assert_problem(403, "authorization-details-mismatch");
    api.batch(&token, "b-6", &batch)
        .await
        .assert_token_already_used();
    // A one-payment approval for a two-payment batch: the count differs.
    let one = body(&[("bob", "5", None)]);
    let token = approved(&issuer, ALICE, "alice", details(&one, 5));
    let answer = api
        .batch(
            &token,
            "b-7",
            &body(&[("bob", "5", None), ("bob", "5", None)]),
        )
        .await;
    answer.assert_problem(403, "authorization-details-mismatch");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("number of payments"))
    );
    // A digest approval for another API (locations): refused.
    let mut elsewhere = details(&batch, 0);
    elsewhere[0]["locations"] = json!(["https://other.example/api"]);
    let token = approved(&issuer, ALICE, "alice", elsewhere);
    api.batch(&token, "b-8", &batch)
        .await
        .assert_problem(403, "authorization-details-mismatch");
    assert_eq!(api.state.ledger_summary().transfers, 0);
}

#[tokio::test]
async fn a_bad_batch_is_refused_before_any_step_up() {
    let issuer = TestIssuer::start().await;
    let mut config = with_carol(&issuer.issuer);
    config.max_batch_payments = 3;
    let api = Api::start(config).await;
    let bad = body(&[
        ("bob", "1", None),
        ("bob smith", "1", None),
        ("bob", "0", None),
    ]);
    for token in [step_up(&issuer), issuer.token(ALICE, "alice", VIEW)] {
        let answer = api.batch(&token, "b-9", &bad).await;
        answer.assert_problem(400, "invalid-batch");
        assert_eq!(indexes(&answer), vec![2, 3], "{}", answer.body);
        assert!(
            answer.body["payments"][0]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not an account handle"))
        );
    }
    let too_many = api
        .batch(&step_up(&issuer), "b-10", &body(&[("bob", "1", None); 4]))
        .await;
    too_many.assert_problem(400, "invalid-batch");
    assert!(
        too_many.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 3"))
    );
    api.batch(&step_up(&issuer), "b-11", &json!({"payments": []}))
        .await
        .assert_problem(400, "invalid-batch");
    // A good batch with a view-only token: now the step-up is what is missing.
    let answer = api
        .batch(
            &issuer.token(ALICE, "alice", VIEW),
            "b-12",
            &body(&[("bob", "1", None)]),
        )
        .await;
    answer.assert_problem(403, "insufficient-scope");
    assert!(
        answer
            .www_authenticate()
            .is_some_and(|c| c.contains("insufficient_scope"))
    );
    assert_eq!(api.state.ledger_summary().transfers, 0);
}

#[tokio::test]
async fn a_total_the_balance_does_not_cover_is_refused_before_the_step_up() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    // Each payment alone is affordable (1,000.00 on the account); together they are not.
    let batch = body(&[("bob", "600", None), ("carol", "600", None)]);
    for token in [issuer.token(ALICE, "alice", VIEW), step_up(&issuer)] {
        let answer = api.batch(&token, "b-13", &batch).await;
        answer.assert_problem(422, "insufficient-funds");
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("1,200.00 USD"))
        );
    }
    assert_eq!(balances(&api), [Some(100_000), Some(50_000), Some(0)]);
}

#[tokio::test]
async fn the_same_key_answers_with_the_original_batch_and_refuses_another() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let batch = body(&[("bob", "25.00", None), ("carol", "1.00", None)]);
    let first = api.batch(&step_up(&issuer), "b-14", &batch).await;
    assert_eq!(first.status, 201, "{}", first.body);
    // Another token, the same batch written differently: the original receipts.
    let again = api
        .batch(
            &step_up(&issuer),
            "b-14",
            &body(&[("BOB", "25", None), ("carol", "1", None)]),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    // The same key, another batch: refused.
    api.batch(&step_up(&issuer), "b-14", &body(&[("bob", "25.00", None)]))
        .await
        .assert_problem(422, "idempotency-key-reused");
    // A key a single transfer used, and a batch's key at /v1/transfers: refused.
    let single = api
        .transfer(
            &step_up(&issuer),
            "t-2",
            &json!({"to": "bob", "amount": "1.00"}),
        )
        .await;
    assert_eq!(single.status, 201);
    api.batch(&step_up(&issuer), "t-2", &body(&[("bob", "1.00", None)]))
        .await
        .assert_problem(422, "idempotency-key-reused");
    api.transfer(
        &step_up(&issuer),
        "b-14",
        &json!({"to": "bob", "amount": "25.00"}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
    assert_eq!(api.state.ledger_summary().transfers, 3);
}

#[tokio::test]
async fn a_lost_answer_is_answered_with_the_receipt_for_the_same_token() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let batch = body(&[("bob", "2", None), ("carol", "3", None)]);
    let token = approved(&issuer, ALICE, "alice", details(&batch, 5));
    let first = api.batch(&token, "b-15", &batch).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = api.batch(&token, "b-15", &batch).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    // The spent token buys nothing else.
    api.batch(&token, "b-16", &batch)
        .await
        .assert_token_already_used();
    assert_eq!(balances(&api), [Some(99_500), Some(50_200), Some(300)]);
}

/// 1,000 payments with 140-character memos: within the body limit, one transaction, every
/// row there, the books balanced.
#[tokio::test]
async fn a_thousand_payments_go_through_as_one_batch() {
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let memo = "é".repeat(140);
    let rows: Vec<(&str, &str, Option<&str>)> = (0..1000)
        .map(|i| {
            (
                if i % 2 == 0 { "bob" } else { "carol" },
                "0.01",
                Some(memo.as_str()),
            )
        })
        .collect();
    let batch = body(&rows);
    assert!(serde_json::to_vec(&batch).expect("json").len() > 256 * 1024);
    let answer = api.batch(&step_up(&issuer), "b-17", &batch).await;
    assert_eq!(answer.status, 201, "{}", answer.body["detail"]);
    assert_eq!(
        answer.body["transfers"].as_array().map(Vec::len),
        Some(1000)
    );
    assert_eq!(answer.body["balance_after"], "990.00");
    let summary = api.state.ledger_summary();
    assert_eq!(summary.transfers, 1000);
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
    assert_eq!(balances(&api), [Some(99_000), Some(50_500), Some(500)]);
}

/// The transaction decides again under its lock (no precheck in front of it here): a batch
/// whose third payment cannot happen moves nothing, and the token stays spent.
#[tokio::test]
async fn inside_the_sqlite_transaction_a_batch_is_all_or_nothing() {
    use bank_sandbox::store::bank::{
        BatchCommand, BatchError, PaymentRefusal, PlannedBatch, PlannedPayment,
    };
    let issuer = TestIssuer::start().await;
    let api = start(&issuer).await;
    let store = api.state.store();
    let alice = store
        .account_by_sub(ALICE)
        .await
        .expect("read")
        .expect("alice")
        .id;
    let now = crate::common::issuer::now();
    let command = |key: &str, token: &str, payments: &[(&str, i64)]| BatchCommand {
        plan: PlannedBatch {
            from_account: alice,
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
        },
        issuer: issuer.issuer.clone(),
        token_id: token.into(),
        token_expires_at: now + 300,
        dpop_proof: None,
    };
    let third_fails = command("k-1", "tok-1", &[("bob", 1), ("carol", 1), ("nobody", 1)]);
    match store.execute_batch(third_fails, now).await {
        Err(BatchError::Payments(refused)) => {
            assert_eq!(refused, vec![(3, PaymentRefusal::UnknownRecipient)]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store
            .execute_batch(command("k-2", "tok-1", &[("bob", 1)]), now)
            .await,
        Err(BatchError::TokenAlreadyUsed)
    ));
    assert!(matches!(
        store
            .execute_batch(
                command("k-3", "tok-2", &[("bob", 60_000), ("carol", 60_000)]),
                now
            )
            .await,
        Err(BatchError::InsufficientFunds)
    ));
    assert_eq!(balances(&api), [Some(100_000), Some(50_000), Some(0)]);
    assert_eq!(api.state.ledger_summary().transfers, 0);
}
