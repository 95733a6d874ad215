//! Who gets an account: `open_accounts = "provisioned"` serves only accounts the bank
//! opened; `on-first-use` opens one for a new `sub`, under a handle only if the issuer
//! vouches for it, and never under a handle someone else has.

use bank_sandbox::api::{ApiConfig, OpenAccounts};
use serde_json::json;

use super::{ALICE, Api, config, join_all};
use crate::common::issuer::TestIssuer;

const VIEW: &str = "openid view:balance";
const STEP_UP: &str = "openid transfer:funds";

fn with_policy(issuer: &TestIssuer, policy: Option<OpenAccounts>) -> ApiConfig {
    ApiConfig {
        open_accounts: policy,
        ..config(&issuer.issuer)
    }
}

#[tokio::test]
async fn by_default_an_unknown_subject_gets_no_account_and_no_money() {
    let issuer = TestIssuer::start().await;
    // Unset means provisioned, as for `bank-sandbox api --issuer …`.
    let api = Api::start(with_policy(&issuer, None)).await;
    let before = api.state.ledger_summary();
    let stranger = issuer.token("auth0|stranger", "alice", VIEW);
    api.get("/v1/balance", Some(&stranger))
        .await
        .assert_problem(403, "account-not-open");
    api.get("/v1/transfers", Some(&stranger))
        .await
        .assert_problem(403, "account-not-open");
    let step_up = issuer.token("auth0|stranger", "alice", STEP_UP);
    api.transfer(&step_up, "k1", &json!({"to": "bob", "amount": "1.00"}))
        .await
        .assert_problem(403, "account-not-open");
    assert_eq!(api.state.ledger_summary(), before, "nothing was opened");

    // An account the bank opens is served at once, while the API runs.
    let opened = api
        .state
        .store()
        .open_account("auth0|stranger", "stranger", "USD", 1_234)
        .await
        .expect("open");
    assert_eq!(opened, bank_sandbox::store::bank::Opened::New);
    let answer = api.get("/v1/balance", Some(&stranger)).await;
    assert_eq!(
        answer.body,
        json!({"account": "stranger", "balance": "12.34", "currency": "USD"})
    );
    // The seeded demo accounts are provisioned too.
    let alice = api
        .get("/v1/balance", Some(&issuer.token(ALICE, "alice", VIEW)))
        .await;
    assert_eq!(alice.status, 200, "{}", alice.body);
}

#[tokio::test]
async fn on_first_use_an_external_issuers_unverified_names_never_become_handles() {
    let issuer = TestIssuer::start().await;
    let api = Api::start(with_policy(&issuer, Some(OpenAccounts::OnFirstUse))).await;
    // `preferred_username` and `nickname` from an external issuer are whatever the user
    // typed there; an unverified email is no better.
    let claims = TestIssuer::edit(
        &issuer.claims("auth0|mallory", "carol", VIEW),
        json!({"nickname": "carol", "email": "carol@example.com"}),
    );
    let answer = api.get("/v1/balance", Some(&issuer.sign(&claims))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let handle = answer.body["account"].as_str().expect("handle");
    assert!(handle.starts_with("user-"), "{handle}");
    assert_eq!(answer.body["balance"], "1000.00");

    // A verified email does name the account.
    let claims = TestIssuer::edit(
        &issuer.claims("auth0|dave", "dave", VIEW),
        json!({"email": "Dave@Example.com", "email_verified": true}),
    );
    let answer = api.get("/v1/balance", Some(&issuer.sign(&claims))).await;
    assert_eq!(
        answer.body["account"], "dave@example.com",
        "{}",
        answer.body
    );
    let summary = api.state.ledger_summary();
    assert_eq!(summary.total_balance_minor, summary.total_opening_minor);
}

#[tokio::test]
async fn on_first_use_a_taken_handle_is_never_handed_out() {
    let issuer = TestIssuer::start().await;
    let mut cfg = with_policy(&issuer, Some(OpenAccounts::OnFirstUse));
    // As for the sandbox's own issuer, whose usernames are unique.
    cfg.handle_from_preferred_username = true;
    let api = Api::start(cfg).await;
    let answer = api
        .get("/v1/balance", Some(&issuer.token("usr_erin", "Erin", VIEW)))
        .await;
    assert_eq!(answer.body["account"], "erin", "{}", answer.body);

    // Someone else presenting `alice` (taken by the seeded account) gets another handle,
    // and alice's money stays alice's.
    let answer = api
        .get(
            "/v1/balance",
            Some(&issuer.token("usr_not_alice", "alice", VIEW)),
        )
        .await;
    let handle = answer.body["account"].as_str().expect("handle");
    assert_ne!(handle, "alice");
    assert_eq!(answer.body["balance"], "1000.00");
    assert_eq!(api.state.balance_of("alice"), Some(100_000));

    // Twenty new subjects racing for one verified email: exactly one gets it.
    let mut requests = Vec::new();
    for i in 0..20 {
        let claims = TestIssuer::edit(
            &issuer.claims(&format!("usr_racer_{i}"), &format!("racer{i}@x"), VIEW),
            json!({"preferred_username": null, "email": "prize@example.com", "email_verified": true}),
        );
        let token = issuer.sign(&claims);
        let client = api.client.clone();
        requests.push(async move { client.get("/v1/balance", Some(&token)).await });
    }
    let answers = join_all(requests).await;
    let mut handles: Vec<String> = answers
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
    assert_eq!(handles.len(), 20, "every subject has its own handle");
}
