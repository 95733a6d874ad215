//! Batch payments with one approval (RFC 9396): several `payment_initiation`s, or one
//! `payment_batch` with its list pushed (RFC 9126), each one push with number matching and
//! one token whose claim binds the batch without listing it; what does not add up, too
//! many payments, and a provider without `payment_batch`.

use bank_protocol::{Approval, BatchOrder, PaymentBatch, TransferOrder, parse_granted_details};
use bank_sandbox::authz::AuthzEvent;
use bank_sandbox::{Sandbox, SandboxConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// `count` payments to 7 payees, amounts 1.01, 2.02, …, each memo `memo_len` characters
/// (none for 0).
pub(super) fn batch(count: usize, memo_len: usize) -> BatchOrder {
    let orders = (0..count)
        .map(|i| {
            let memo = (memo_len > 0).then(|| {
                let head = format!("invoice {} ", i + 1);
                format!("{head}{}", "x".repeat(memo_len.saturating_sub(head.len())))
            });
            let amount = format!("{}.{:02}", i % 900 + 1, (i + 1) % 100);
            TransferOrder::new(
                &format!("payee{}", i % 7),
                &amount,
                "USD",
                memo.as_deref(),
                bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR,
            )
            .expect("a valid payment")
        })
        .collect();
    BatchOrder::new(orders, 10_000).expect("a batch")
}

/// The `payment_batch` detail that asks for `batch`, with its list.
pub(super) fn batch_details(batch: &BatchOrder) -> String {
    Approval::Batch(PaymentBatch::for_batch(batch, Some(AUDIENCE))).to_json()
}

/// One `payment_initiation` per payment of `batch`.
pub(super) fn inline_details(batch: &BatchOrder) -> String {
    let payments = batch
        .orders()
        .iter()
        .map(|o| bank_protocol::PaymentInitiation::for_order(o, Some(AUDIENCE)))
        .collect();
    Approval::Payments(payments).to_json()
}

/// POSTs an authorization request with `details` to the PAR endpoint.
pub(super) async fn push_details(
    sandbox: &Sandbox,
    pkce: &Pkce,
    details: &str,
) -> (StatusCode, Value) {
    let form = authorize_params(
        pkce,
        "openid transfer:funds",
        &[("authorization_details", details), ("login_hint", "alice")],
    );
    let response = http()
        .post(format!("{}/oauth/par", sandbox.issuer()))
        .form(&form)
        .send()
        .await
        .expect("push");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Pushes `details`, opens the `request_uri` and signs in: the browser and the waiting
/// page's URL.
pub(super) async fn pushed_step_up(
    sandbox: &Sandbox,
    pkce: &Pkce,
    details: &str,
) -> (Browser, String) {
    let (status, body) = push_details(sandbox, pkce, details).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CLIENT_ID)
        .append_pair("request_uri", body["request_uri"].as_str().expect("uri"))
        .finish();
    let mut browser = Browser::new(sandbox);
    let url = format!("{}/authorize?{query}", sandbox.issuer());
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(waiting.status, StatusCode::FOUND, "{}", waiting.body);
    let wait_url = waiting.location().to_owned();
    assert!(wait_url.starts_with("/mfa/wait?txn="), "{wait_url}");
    (browser, wait_url)
}

/// Approves the one push with the number the waiting page shows, collects the code and
/// redeems it: the token response and the access token's claims.
async fn approve_and_redeem(
    sandbox: &Sandbox,
    browser: &mut Browser,
    wait_url: &str,
    pkce: &Pkce,
) -> (Value, Value) {
    let number = browser.get(wait_url).await.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("the page's number approves");
    let txn = query_param(wait_url, "txn").expect("txn");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("a code");
    let (status, _, tokens) = exchange(sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (_, claims) = verify_jwt(&jwks, tokens["access_token"].as_str().expect("token"));
    (tokens, claims)
}

fn pushes(sandbox: &Sandbox) -> usize {
    sandbox
        .authz()
        .events()
        .iter()
        .filter(|e| matches!(e, AuthzEvent::MfaRequired { .. }))
        .count()
}

/// The pending pushes as the admin API (`bank-sandbox mfa list --json`) serializes them.
fn listed_json(sandbox: &Sandbox) -> Value {
    serde_json::to_value(sandbox.authz().pending_mfa(Some("alice"))).expect("json")
}

#[tokio::test]
async fn three_inline_payments_are_one_push_and_one_token_for_exactly_them() {
    let sandbox = start().await;
    let three = batch(3, 12);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &inline_details(&three)).await;
    assert_eq!(pushes(&sandbox), 1);
    let listed = listed_json(&sandbox);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let push = &listed[0];
    assert_eq!(push["approves"], three.summary());
    assert_eq!(push["reference"], three.reference());
    assert_eq!(
        push["authorization_details"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        push["authorization_details"][2]["creditorAccount"]["handle"],
        "payee2"
    );

    let (tokens, claims) = approve_and_redeem(&sandbox, &mut browser, &wait_url, &pkce).await;
    assert_eq!(
        tokens["authorization_details"],
        claims["authorization_details"]
    );
    let granted =
        parse_granted_details(claims["authorization_details"].clone(), 1000).expect("parses");
    assert!(matches!(&granted, Approval::Payments(p) if p.len() == 3));
    assert_eq!(granted.check_batch(&three), Ok(()));
    assert_eq!(pushes(&sandbox), 1, "one push for the three");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_pushed_batch_of_60_is_one_push_and_its_token_binds_it_without_the_list() {
    let sandbox = start().await;
    let sixty = batch(60, 20);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &batch_details(&sixty)).await;
    assert_eq!(pushes(&sandbox), 1);
    let listed = listed_json(&sandbox);
    let push = &listed[0];
    assert_eq!(push["approves"], sixty.summary());
    assert_eq!(
        push["approves"],
        "Pay 60 payments, 1,848.30 USD in total, to 7 payees"
    );
    assert_eq!(push["reference"], sixty.reference());
    let detail = &push["authorization_details"][0];
    assert_eq!(detail["type"], "payment_batch");
    assert_eq!(detail["numberOfPayments"], 60);
    assert_eq!(
        detail["totals"],
        json!([{"currency": "USD", "amount": "1848.30"}])
    );
    assert_eq!(detail["payments"].as_array().map(Vec::len), Some(60));
    assert_eq!(detail["payments"][59]["to"], "payee3");
    // The audit trail names the batch by its digest, not by its thousand lines.
    let recorded = sandbox.authz().events().into_iter().find_map(|e| match e {
        AuthzEvent::AuthorizationPushed {
            authorization_details,
            ..
        } => authorization_details,
        _ => None,
    });
    let recorded = recorded.expect("the push is recorded");
    assert!(recorded.contains(&sixty.digest()), "{recorded}");
    assert!(!recorded.contains("\"payments\""), "{recorded}");

    let (tokens, claims) = approve_and_redeem(&sandbox, &mut browser, &wait_url, &pkce).await;
    let claim = &claims["authorization_details"];
    assert!(!claim.to_string().contains("\"payments\""), "{claim}");
    assert_eq!(&tokens["authorization_details"], claim, "RFC 9396 §7");
    let granted = parse_granted_details(claim.clone(), 1000).expect("parses");
    assert_eq!(granted.check_batch(&sixty), Ok(()));
    assert_eq!(granted.reference(), Some(sixty.reference()));
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_1000_with_long_memos_is_pushed_and_its_token_stays_under_4_kb() {
    let sandbox = start().await;
    let thousand = batch(1000, bank_protocol::text::MAX_MEMO_CHARS);
    let details = batch_details(&thousand);
    // Far over the 16 KiB a push used to be allowed.
    assert!(details.len() > 150_000, "{}", details.len());
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &details).await;
    let page = browser.get(&wait_url).await;
    assert!(page.body.contains(&thousand.summary()), "{}", page.body);
    let (tokens, claims) = approve_and_redeem(&sandbox, &mut browser, &wait_url, &pkce).await;
    let granted =
        parse_granted_details(claims["authorization_details"].clone(), 1000).expect("parses");
    assert_eq!(granted.check_batch(&thousand), Ok(()));
    let token = tokens["access_token"].as_str().expect("token");
    assert!(token.len() < 4096, "{} bytes", token.len());
    assert_eq!(pushes(&sandbox), 1);

    // A body past the limit is refused before it is read.
    let huge = "x".repeat(4 * 1024 * 1024);
    let (status, _) = push_details(&sandbox, &Pkce::new(), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_access_token_for_1000_payments_is_under_4_kb() {
    let sandbox = start().await;
    let thousand = batch(1000, 0);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &batch_details(&thousand)).await;
    let (tokens, _) = approve_and_redeem(&sandbox, &mut browser, &wait_url, &pkce).await;
    let token = tokens["access_token"].as_str().expect("token");
    assert!(token.len() < 4096, "{} bytes", token.len());
    sandbox.shutdown().await;
}

/// The error of a push with `details`.
async fn refused(sandbox: &Sandbox, details: &str) -> String {
    let (status, body) = push_details(sandbox, &Pkce::new(), details).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_authorization_details", "{body}");
    body["error_description"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_batch_whose_count_totals_or_digest_do_not_match_its_list_is_refused() {
    let sandbox = start().await;
    let five = batch(5, 0);
    let good: Value = serde_json::from_str(&batch_details(&five)).expect("json");
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v[0]);
        v.to_string()
    };
    let other_digest = batch(6, 0).digest();
    for (what, details) in [
        ("count", edited(&|d| d["numberOfPayments"] = json!(4))),
        (
            "totals",
            edited(&|d| d["totals"][0]["amount"] = json!("1.00")),
        ),
        ("digest", edited(&|d| d["digest"] = json!(other_digest))),
        (
            "a payee",
            edited(&|d| d["payments"][0]["to"] = json!("mallory")),
        ),
        ("a missing list", edited(&|d| d["payments"] = Value::Null)),
    ] {
        let words = refused(&sandbox, &details).await;
        assert!(!words.is_empty(), "{what}");
    }
    assert!(
        refused(&sandbox, &edited(&|d| d["digest"] = json!(other_digest)))
            .await
            .contains("do not match its payments")
    );
    // The unedited batch goes through.
    let (status, body) = push_details(&sandbox, &Pkce::new(), &good.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(pushes(&sandbox), 0, "nothing refused ever reached a phone");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn more_inline_payments_than_allowed_are_refused() {
    let sandbox = start().await;
    let limit = bank_protocol::DEFAULT_MAX_INLINE_PAYMENTS;
    let (status, body) =
        push_details(&sandbox, &Pkce::new(), &inline_details(&batch(limit, 0))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let words = refused(&sandbox, &inline_details(&batch(limit + 1, 0))).await;
    assert!(words.contains(&format!("at most {limit}")), "{words}");
    // And at /authorize, whose query carries small requests as before.
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[(
            "authorization_details",
            &inline_details(&batch(limit + 1, 0)),
        )],
    );
    let answer = Browser::new(&sandbox).get(&url).await;
    assert_eq!(
        query_param(answer.location(), "error").as_deref(),
        Some("invalid_authorization_details")
    );
    let small = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("authorization_details", &batch_details(&batch(3, 10)))],
    );
    let answer = Browser::new(&sandbox).get(&small).await;
    assert!(
        answer.location().starts_with("/login?"),
        "{}",
        answer.location()
    );
    sandbox.shutdown().await;

    // A provider that allows two lists two, and refuses three.
    let mut config = SandboxConfig::ephemeral();
    config.authz.max_inline_payments = 2;
    let sandbox = start_with(config).await;
    let words = refused(&sandbox, &inline_details(&batch(3, 0))).await;
    assert!(words.contains("at most 2"), "{words}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn without_payment_batch_the_type_is_neither_advertised_nor_accepted() {
    let types = |sandbox: &Sandbox| {
        let url = format!("{}/.well-known/openid-configuration", sandbox.issuer());
        async move { get_json(&url).await["authorization_details_types_supported"].clone() }
    };
    let sandbox = start().await;
    assert_eq!(
        types(&sandbox).await,
        json!(["payment_initiation", "payment_batch"])
    );
    sandbox.shutdown().await;

    let mut config = SandboxConfig::ephemeral();
    config.authz.max_batch_payments = 0;
    let sandbox = start_with(config).await;
    assert_eq!(types(&sandbox).await, json!(["payment_initiation"]));
    let words = refused(&sandbox, &batch_details(&batch(3, 0))).await;
    assert!(words.contains("payment_batch"), "{words}");
    // Inline payments still work there.
    let (status, body) = push_details(&sandbox, &Pkce::new(), &inline_details(&batch(3, 0))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    sandbox.shutdown().await;

    // And a batch bigger than max_batch_payments is refused.
    let mut config = SandboxConfig::ephemeral();
    config.authz.max_batch_payments = 10;
    let sandbox = start_with(config).await;
    let words = refused(&sandbox, &batch_details(&batch(11, 0))).await;
    assert!(words.contains("at most 10"), "{words}");
    sandbox.shutdown().await;
}
