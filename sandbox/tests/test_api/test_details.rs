//! Transaction-bound step-up against the real sandbox over HTTP: RFC 9396
//! `authorization_details` of type `payment_initiation` at `/authorize`, what the waiting
//! page shows (payment, memo, number), number matching, the details in the token, and the
//! bank API executing a bound token for exactly its transfer and nothing else.

use bank_sandbox::Sandbox;
use bank_sandbox::authz::MfaError;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::ApiClient;
use crate::common::dpop::client_key;
use crate::common::{
    Browser, Pkce, authorize_and_login, authorize_url, details_for, exchange, exchange_dpop,
    get_json, query_param, start, token_request, verify_jwt,
};

/// A bound step-up, stopped on the waiting page: the browser, the page, and the transaction.
struct Waiting {
    browser: Browser,
    pkce: Pkce,
    page: crate::common::Page,
    txn: String,
}

async fn ask(sandbox: &Sandbox, scope: &str, details: &str) -> Waiting {
    let pkce = Pkce::new();
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &pkce,
        scope,
        &[("authorization_details", details)],
    );
    let redirect = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    assert!(
        redirect.location().starts_with("/mfa/wait?"),
        "details demand MFA: {}",
        redirect.location()
    );
    let txn = query_param(redirect.location(), "txn").expect("txn");
    let page = browser.get(redirect.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    Waiting {
        browser,
        pkce,
        page,
        txn,
    }
}

/// After the approval: the token response, for a code exchanged with a DPoP proof by the
/// tests' client key (transfers need bound tokens at the sandbox's API).
async fn collect(sandbox: &Sandbox, waiting: &mut Waiting) -> Value {
    let done = waiting
        .browser
        .get(&format!("/mfa/continue?txn={}", waiting.txn))
        .await;
    let code = query_param(done.location(), "code")
        .unwrap_or_else(|| panic!("a code: {}", done.location()));
    let (status, _, body) =
        exchange_dpop(sandbox, &code, &waiting.pkce.verifier, client_key()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A token for exactly `transfer`, approved with the number its page shows.
async fn bound_token(sandbox: &Sandbox, transfer: &Value) -> String {
    let mut waiting = ask(sandbox, "openid transfer:funds", &details_for(transfer)).await;
    let number = waiting.page.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("approve");
    collect(sandbox, &mut waiting).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn api(sandbox: &Sandbox) -> ApiClient {
    ApiClient {
        url: sandbox.api_url().to_owned(),
        http: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn the_step_ups_pages_say_they_are_for_a_payment_and_put_it_first() {
    let sandbox = start().await;
    let transfer = json!({"to": "bob", "amount": "25.00", "currency": "USD", "memo": "lunch"});
    let details = details_for(&transfer);
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("authorization_details", &details)],
    );
    let first = browser.get(&url).await;
    let login = browser.get(first.location()).await;
    assert!(
        login
            .body
            .contains("<h1 id=\"h\">Sign in to approve a payment</h1>"),
        "{}",
        login.body
    );
    assert!(login.body.contains("Pay bob 25.00 USD"), "{}", login.body);
    let waiting = browser.submit_login(&login, "alice", "wonderland").await;
    let page = browser.get(waiting.location()).await.body;
    // The payment comes first, then who asked and when (its zone named), then the number.
    let payment = page.find("Pay bob 25.00 USD").expect("the payment");
    let asked = page
        .find("Asked by <strong>bank CLI</strong> for <strong>alice</strong> at ")
        .expect("who asked, on one line");
    let number = page.find("data-binding-code").expect("the number");
    assert!(payment < asked && asked < number, "{page}");
    assert!(page[asked..].contains(" UTC</time></p>"), "{page}");
    assert!(
        page.contains("<h1 id=\"h\">Approve this payment</h1>"),
        "{page}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_person_sees_the_payment_and_the_token_carries_exactly_it() {
    let sandbox = start().await;
    let meta = get_json(&format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer()
    ))
    .await;
    assert_eq!(
        meta["authorization_details_types_supported"],
        json!(["payment_initiation", "payment_batch"])
    );

    // Details alone (no transfer:funds) still demand MFA, and kill the refresh token that
    // offline_access would otherwise bring.
    let transfer = json!({"to": "bob", "amount": "25.00", "currency": "USD", "memo": "lunch"});
    let mut waiting = ask(
        &sandbox,
        "openid offline_access view:balance",
        &details_for(&transfer),
    )
    .await;
    let body = &waiting.page.body;
    assert!(body.contains("Pay bob 25.00 USD"), "{body}");
    assert!(body.contains("lunch"), "{body}");
    assert!(body.contains("bank CLI"), "{body}");
    let number = waiting.page.binding_code();
    assert!(
        number.len() == 2 && number.bytes().all(|b| b.is_ascii_digit()),
        "{number}"
    );

    // The phone (admin API / library) sees the same payment, never the number.
    let pending = sandbox.authz().pending_mfa(Some("alice"));
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]
            .summary()
            .starts_with("Pay bob 25.00 USD, memo \u{201c}lunch\u{201d} \u{2014} bank CLI, ")
    );
    assert!(
        !serde_json::to_string(&pending)
            .expect("json")
            .contains(&format!("\"{number}\""))
    );

    let wrong = if number == "10" { "11" } else { "10" };
    assert!(matches!(
        sandbox.authz().approve_pending_with_code("alice", wrong),
        Err(MfaError::WrongCode { left: 2 })
    ));
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("the right number approves");
    let tokens = collect(&sandbox, &mut waiting).await;
    let expected = json!([{
        "type": "payment_initiation",
        "instructedAmount": {"currency": "USD", "amount": "25.00"},
        "creditorAccount": {"handle": "bob"},
        "remittanceInformationUnstructured": "lunch",
    }]);
    assert_eq!(tokens["authorization_details"], expected, "RFC 9396 §7");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (_, claims) = verify_jwt(&jwks, tokens["access_token"].as_str().expect("token"));
    assert_eq!(claims["authorization_details"], expected);
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn invalid_details_are_refused_before_anyone_signs_in() {
    let sandbox = start().await;
    let detail = |amount: &str, currency: &str, to: &str| {
        json!([{"type": "payment_initiation",
            "instructedAmount": {"currency": currency, "amount": amount},
            "creditorAccount": {"handle": to}}])
        .to_string()
    };
    for bad in [
        "not json".to_owned(),
        "[]".to_owned(),
        r#"[{"type":"account_information"}]"#.to_owned(),
        detail("25", "USD", "bob"),
        detail("0.00", "USD", "bob"),
        detail("10000.01", "USD", "bob"),
        detail("25.00", "DOLLARS", "bob"),
        detail("25.00", "USD", "bob smith"),
    ] {
        let url = authorize_url(
            sandbox.issuer(),
            &Pkce::new(),
            "openid transfer:funds",
            &[("authorization_details", &bad)],
        );
        let answer = Browser::new(&sandbox).get(&url).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{bad}");
        assert_eq!(
            query_param(answer.location(), "error").as_deref(),
            Some("invalid_authorization_details"),
            "{bad}: {}",
            answer.location()
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_token_for_bob_pays_bob_that_amount_with_that_memo_and_nothing_else() {
    let sandbox = start().await;
    let api = api(&sandbox);
    let approved = json!({"to": "bob", "amount": "25.00", "currency": "USD", "memo": "lunch"});
    for (tried, field) in [
        (
            json!({"to": "bob", "amount": "26.00", "currency": "USD", "memo": "lunch"}),
            "amount",
        ),
        (
            json!({"to": "carol", "amount": "25.00", "currency": "USD", "memo": "lunch"}),
            "recipient",
        ),
        (
            json!({"to": "bob", "amount": "25.00", "currency": "USD", "memo": "dinner"}),
            "memo",
        ),
        (
            json!({"to": "bob", "amount": "25.00", "currency": "USD"}),
            "memo",
        ),
    ] {
        let token = bound_token(&sandbox, &approved).await;
        let refused = api
            .transfer_dpop(&token, client_key(), &format!("misuse-{field}"), &tried)
            .await;
        // carol has no account: the mismatch is answered before any business rule.
        refused.assert_problem(403, "authorization-details-mismatch");
        let detail = refused.body["detail"].as_str().expect("detail");
        assert!(detail.contains(&format!("transfer's {field}")), "{detail}");
        assert!(detail.contains("pay bob 25.00 USD"), "{detail}");
        // The token was spent by the attempt: not even the approved transfer goes now.
        api.transfer_dpop(&token, client_key(), "then-the-real-one", &approved)
            .await
            .assert_problem(401, "token-already-used");
    }
    assert_eq!(sandbox.bank().balance_of("alice"), Some(100_000));
    assert_eq!(sandbox.bank().ledger_summary().transfers, 0);

    let token = bound_token(&sandbox, &approved).await;
    let paid = api
        .transfer_dpop(&token, client_key(), "the-real-one", &approved)
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(sandbox.bank().balance_of("bob"), Some(52_500));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_transfer_token_without_details_is_refused_where_they_are_required() {
    let sandbox = start().await;
    let mut browser = Browser::new(&sandbox);
    let pkce = Pkce::new();
    let url = authorize_url(sandbox.issuer(), &pkce, "openid transfer:funds", &[]);
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    let txn = query_param(waiting.location(), "txn").expect("txn");
    let number = browser.get(waiting.location()).await.binding_code();
    let pending = sandbox.authz().pending_mfa(Some("alice"));
    sandbox
        .authz()
        .approve_with_code(&pending[0].id, &number)
        .expect("approve by id and number");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code");
    let (_, _, tokens) = exchange_dpop(&sandbox, &code, &pkce.verifier, client_key()).await;
    let token = tokens["access_token"].as_str().expect("token");
    let refused = api(&sandbox)
        .transfer_dpop(
            token,
            client_key(),
            "unbound",
            &json!({"to": "bob", "amount": "1.00"}),
        )
        .await;
    refused.assert_problem(403, "authorization-details-required");
    let challenge = refused.www_authenticate().expect("a challenge");
    assert!(
        challenge.starts_with(r#"DPoP error="insufficient_authorization_details""#)
            && challenge.contains(r#"authorization_details_types="payment_initiation""#),
        "{challenge}"
    );
    assert_eq!(sandbox.bank().balance_of("alice"), Some(100_000));
    sandbox.shutdown().await;
}

/// The attack of issue 11: someone with alice's password starts a push for carol at the
/// same time as alice's own for bob. Each push is released only by its own number, and
/// "approve alice's" with her number approves hers, not the oldest.
#[tokio::test]
async fn two_pushes_for_alice_are_told_apart_and_each_releases_only_its_transfer() {
    let sandbox = start().await;
    let api = api(&sandbox);
    let theirs = json!({"to": "bob", "amount": "50.00", "currency": "USD", "memo": "rent"});
    let mine = json!({"to": "bob", "amount": "25.00", "currency": "USD"});
    let mut attacker = ask(&sandbox, "openid transfer:funds", &details_for(&theirs)).await;
    let mut alice = ask(&sandbox, "openid transfer:funds", &details_for(&mine)).await;
    let (their_number, my_number) = (attacker.page.binding_code(), alice.page.binding_code());
    assert_ne!(
        their_number, my_number,
        "a user's pending pushes never share a number"
    );
    assert!(alice.page.body.contains("Pay bob 25.00 USD"));
    let pending = sandbox.authz().pending_mfa(Some("alice"));
    let lines: Vec<String> = pending.iter().map(|r| r.summary()).collect();
    assert!(
        lines[0].starts_with("Pay bob 50.00 USD, memo \u{201c}rent\u{201d}"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("Pay bob 25.00 USD \u{2014}"),
        "{lines:?}"
    );

    // Alice types the number in front of her: her push, although the attacker's is older.
    let approved = sandbox
        .authz()
        .approve_pending_with_code("alice", &my_number)
        .expect("approve");
    assert_eq!(
        approved.payment().map(|p| p.action()).as_deref(),
        Some("pay bob 25.00 USD")
    );
    let token = collect(&sandbox, &mut alice).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        sandbox.authz().pending_mfa(Some("alice")).len(),
        1,
        "theirs still waits"
    );
    let done = attacker
        .browser
        .get(&format!("/mfa/continue?txn={}", attacker.txn))
        .await;
    assert!(
        query_param(done.location(), "code").is_none(),
        "{}",
        done.location()
    );

    // Her token pays her transfer, and cannot be turned into theirs.
    let misuse = api
        .transfer_dpop(&token, client_key(), "theirs", &theirs)
        .await;
    misuse.assert_problem(403, "authorization-details-mismatch");
    assert_eq!(sandbox.bank().balance_of("alice"), Some(100_000));

    // Guessing the attacker's push open: three wrong numbers deny it.
    let wrong: Vec<String> = (10..100)
        .map(|n| n.to_string())
        .filter(|n| *n != their_number)
        .take(3)
        .collect();
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    assert!(matches!(
        sandbox.authz().approve_with_code(&id, &wrong[0]),
        Err(MfaError::WrongCode { left: 2 })
    ));
    assert!(matches!(
        sandbox.authz().approve_with_code(&id, &wrong[1]),
        Err(MfaError::WrongCode { left: 1 })
    ));
    assert!(matches!(
        sandbox.authz().approve_with_code(&id, &wrong[2]),
        Err(MfaError::WrongCodeDenied(3))
    ));
    assert!(matches!(
        sandbox.authz().approve_with_code(&id, &their_number),
        Err(MfaError::NotPending)
    ));
    let denied = attacker
        .browser
        .get(&format!("/mfa/continue?txn={}", attacker.txn))
        .await;
    assert_eq!(
        query_param(denied.location(), "error").as_deref(),
        Some("access_denied")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refresh_never_adds_details() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let code =
        crate::common::get_code(&sandbox, &pkce, "openid offline_access view:balance", &[]).await;
    let (_, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let details = details_for(&json!({"to": "bob", "amount": "25.00"}));
    let (status, _, body) = token_request(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "bank-cli"),
            ("refresh_token", refresh),
            ("authorization_details", &details),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_authorization_details");
    sandbox.shutdown().await;
}

/// Another issuer's tokens (Auth0 with RAR, say): the claim binds the transfer the same way,
/// and `require_authorization_details` decides whether an unbound transfer token is enough.
#[tokio::test]
async fn any_issuers_bound_token_is_held_to_its_transfer() {
    use super::{ALICE, Api, config};
    use crate::common::issuer::TestIssuer;
    let issuer = TestIssuer::start().await;
    let bound = |amount: &str| {
        let claims = TestIssuer::edit(
            &issuer.claims(ALICE, "alice", "openid transfer:funds"),
            json!({"authorization_details": [{"type": "payment_initiation",
                "instructedAmount": {"currency": "USD", "amount": amount},
                "creditorAccount": {"handle": "bob"}}]}),
        );
        issuer.sign(&claims)
    };
    let unbound = || issuer.token(ALICE, "alice", "openid transfer:funds");
    let transfer = json!({"to": "bob", "amount": "25.00", "currency": "USD"});

    // Off (the default for an external issuer): an unbound token still pays, a bound one
    // only its transfer.
    let api = Api::start(config(&issuer.issuer)).await;
    assert_eq!(api.transfer(&unbound(), "k1", &transfer).await.status, 201);
    api.transfer(&bound("26.00"), "k2", &transfer)
        .await
        .assert_problem(403, "authorization-details-mismatch");
    assert_eq!(
        api.transfer(&bound("25.00"), "k3", &transfer).await.status,
        201
    );

    // On: the unbound token is refused, naming what is missing.
    let mut strict = config(&issuer.issuer);
    strict.require_authorization_details = Some(true);
    let api = Api::start(strict).await;
    let refused = api.transfer(&unbound(), "k4", &transfer).await;
    refused.assert_problem(403, "authorization-details-required");
    assert!(
        refused
            .www_authenticate()
            .is_some_and(|c| c.contains(r#"authorization_details_types="payment_initiation""#))
    );
    assert_eq!(
        api.transfer(&bound("25.00"), "k5", &transfer).await.status,
        201
    );
}

/// RFC 9396 §2.2: a payment names the API it is for by its identifier. The authorization
/// server issues details only for the API it serves, and the bank executes a payment only
/// where `locations`, when present, name it.
#[tokio::test]
async fn a_payment_is_approved_and_executed_only_for_the_api_its_locations_name() {
    use super::{ALICE, Api, config};
    use crate::common::issuer::{AUDIENCE, TestIssuer};
    let sandbox = start().await;
    let detail = |location: &str| {
        json!([{"type": "payment_initiation",
            "instructedAmount": {"currency": "USD", "amount": "25.00"},
            "creditorAccount": {"handle": "bob"},
            "locations": [location]}])
        .to_string()
    };
    // The API's base URL is not the API's identifier: refused before anyone signs in.
    for foreign in [sandbox.api_url(), "https://other-bank.example/api"] {
        let url = authorize_url(
            sandbox.issuer(),
            &Pkce::new(),
            "openid transfer:funds",
            &[("authorization_details", &detail(foreign))],
        );
        let answer = Browser::new(&sandbox).get(&url).await;
        assert_eq!(
            query_param(answer.location(), "error").as_deref(),
            Some("invalid_authorization_details"),
            "{foreign}: {}",
            answer.location()
        );
    }
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        "openid transfer:funds",
        &[("authorization_details", &detail(AUDIENCE))],
    );
    let answer = Browser::new(&sandbox).get(&url).await;
    assert!(
        query_param(answer.location(), "error").is_none(),
        "{}",
        answer.location()
    );
    sandbox.shutdown().await;

    // Another issuer's token for a payment at another bank moves nothing here, and is spent.
    let issuer = TestIssuer::start().await;
    let at = |location: &str| {
        issuer.sign(&TestIssuer::edit(
            &issuer.claims(ALICE, "alice", "openid transfer:funds"),
            json!({"authorization_details": [{"type": "payment_initiation",
                "instructedAmount": {"currency": "USD", "amount": "25.00"},
                "creditorAccount": {"handle": "bob"},
                "locations": [location]}]}),
        ))
    };
    let transfer = json!({"to": "bob", "amount": "25.00", "currency": "USD"});
    let api = Api::start(config(&issuer.issuer)).await;
    let elsewhere = at("https://other-bank.example/api");
    let refused = api.transfer(&elsewhere, "k1", &transfer).await;
    refused.assert_problem(403, "authorization-details-mismatch");
    assert!(
        refused.body.to_string().contains("another API"),
        "{}",
        refused.body
    );
    assert_eq!(api.state.balance_of("bob"), Some(50_000));
    api.transfer(&elsewhere, "k2", &transfer)
        .await
        .assert_problem(401, "token-already-used");
    assert_eq!(
        api.transfer(&at(AUDIENCE), "k3", &transfer).await.status,
        201
    );
}
