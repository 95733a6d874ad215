//! DPoP at the bank API (RFC 9449 §7, §9) with tokens from an independent issuer: a bound
//! token is accepted only with a proof by its key for this request, each `WWW-Authenticate`
//! answer is the RFC's, the verified-token cache never spares the proof, nonces, the
//! modes, the public URL, and the replay cache across a restart.

use bank_sandbox::api::{ApiConfig, DpopMode};
use bank_sandbox::store;
use reqwest::Method;
use serde_json::json;

use super::broken_proofs;
use crate::common::dpop::DpopKey;
use crate::common::issuer::TestIssuer;
use crate::test_api::{ALICE, Answer, Api, config};

const VIEW: &str = "openid view:balance";
const STEP_UP: &str = "openid transfer:funds";

/// A token for alice with `scope`, bound to `key` (`cnf.jkt`).
fn bound(issuer: &TestIssuer, key: &DpopKey, scope: &str) -> String {
    let claims = TestIssuer::edit(
        &issuer.claims(ALICE, "alice", scope),
        json!({"cnf": {"jkt": key.jkt}}),
    );
    issuer.sign(&claims)
}

fn with_mode(issuer: &TestIssuer, mode: Option<DpopMode>) -> ApiConfig {
    ApiConfig {
        dpop: mode,
        ..config(&issuer.issuer)
    }
}

/// Asserts the RFC 9449 §7.1 refusal of a proof: 401, `invalid_dpop_proof` in the DPoP
/// challenge (with `algs`), a bearer offer where bearer tokens are accepted.
#[track_caller]
fn assert_invalid_proof(answer: &Answer, phrase: &str, token: &str) {
    answer.assert_problem(401, "invalid-dpop-proof");
    let challenges = answer.challenges();
    assert!(
        challenges[0].starts_with(r#"DPoP error="invalid_dpop_proof", error_description=""#)
            && challenges[0].ends_with(r#", algs="ES256""#)
            && challenges[0].contains(phrase),
        "{phrase}: {challenges:?}"
    );
    assert!(!answer.body.to_string().contains(token), "never echoed");
    assert!(
        !challenges.iter().any(|c| c.contains(token)),
        "never echoed"
    );
}

#[tokio::test]
async fn a_bound_token_works_only_with_its_proof() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, VIEW);

    let ok = api.get_dpop("/v1/balance", &token, &key).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["balance"], "1000.00");
    // The proof names the URL without its query (RFC 9449 §4.3 step 9).
    let url = format!("{}/v1/transfers", api.url);
    let history = api
        .send_dpop(
            Method::GET,
            "/v1/transfers?limit=5",
            &token,
            &[&key.proof("GET", &url, Some(&token))],
            None,
            None,
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.body);

    // A stolen token without the key: no proof, or a proof by the thief's own key.
    let no_proof = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[], None, None)
        .await;
    assert_invalid_proof(&no_proof, "needs a DPoP proof", &token);
    assert_eq!(
        no_proof.challenges()[1],
        "Bearer",
        "bearer tokens work here"
    );
    let thief = DpopKey::new();
    let theirs = api.get_dpop("/v1/balance", &token, &thief).await;
    assert_invalid_proof(&theirs, "cnf.jkt", &token);

    // Sent as a bearer token, it is refused in the bearer scheme (RFC 9449 §7.2).
    let as_bearer = api.get("/v1/balance", Some(&token)).await;
    as_bearer.assert_problem(401, "invalid-token");
    assert_eq!(
        as_bearer.challenges(),
        [
            r#"Bearer error="invalid_token", error_description="a DPoP-bound token must be sent with the DPoP scheme""#,
            r#"DPoP algs="ES256""#
        ]
    );

    // The DPoP scheme with an unbound token proves nothing.
    let unbound = issuer.token(ALICE, "alice", VIEW);
    let proof = key.proof("GET", &format!("{}/v1/balance", api.url), Some(&unbound));
    let answer = api
        .send_dpop(Method::GET, "/v1/balance", &unbound, &[&proof], None, None)
        .await;
    answer.assert_problem(401, "invalid-token");
    assert!(answer.challenges()[0].starts_with(r#"DPoP error="invalid_token""#));
}

#[tokio::test]
async fn every_broken_proof_is_refused_at_the_api() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, VIEW);
    let url = format!("{}/v1/balance", api.url);
    for broken in broken_proofs(&key, "GET", &url, Some(&token)) {
        let headers: Vec<&str> = broken.headers.iter().map(String::as_str).collect();
        let answer = api
            .send_dpop(Method::GET, "/v1/balance", &token, &headers, None, None)
            .await;
        assert_eq!(answer.status, 401, "{}: {}", broken.case, answer.body);
        assert_invalid_proof(&answer, broken.phrase, &token);
    }
    // A good proof works once; the same proof again is a replay.
    let proof = key.proof("GET", &url, Some(&token));
    let first = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&proof], None, None)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&proof], None, None)
        .await;
    assert_invalid_proof(&replay, "already used", &token);
}

#[tokio::test]
async fn the_verified_token_cache_never_spares_the_proof() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, VIEW);
    assert_eq!(api.get_dpop("/v1/balance", &token, &key).await.status, 200);
    let hits = api.state.token_cache_stats().hits;
    // The token is now cached: a request without a proof, or with one for another URL, is
    // still refused, and counts as a cache hit (the signature was not checked again).
    let no_proof = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[], None, None)
        .await;
    assert_invalid_proof(&no_proof, "needs a DPoP proof", &token);
    let elsewhere = key.proof("GET", &format!("{}/v1/transfers", api.url), Some(&token));
    let answer = api
        .send_dpop(
            Method::GET,
            "/v1/balance",
            &token,
            &[&elsewhere],
            None,
            None,
        )
        .await;
    assert_invalid_proof(&answer, "htu", &token);
    assert_eq!(api.state.token_cache_stats().hits, hits + 2);
    assert_eq!(api.get_dpop("/v1/balance", &token, &key).await.status, 200);
}

#[tokio::test]
async fn the_nonce_round_trip_at_the_api() {
    let issuer = TestIssuer::start().await;
    let mut cfg = config(&issuer.issuer);
    cfg.dpop_proofs.require_nonce = true;
    let api = Api::start(cfg).await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, VIEW);
    let url = format!("{}/v1/balance", api.url);

    let first = api.get_dpop("/v1/balance", &token, &key).await;
    first.assert_problem(401, "use-dpop-nonce");
    assert_eq!(
        first.challenges()[0],
        r#"DPoP error="use_dpop_nonce", error_description="the resource server requires a nonce in the DPoP proof", algs="ES256""#
    );
    let nonce = first
        .header("dpop-nonce")
        .expect("RFC 9449 §9: DPoP-Nonce")
        .to_owned();
    let made_up = key.proof_with_nonce("GET", &url, Some(&token), "made-up");
    let answer = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&made_up], None, None)
        .await;
    answer.assert_problem(401, "use-dpop-nonce");

    let proof = key.proof_with_nonce("GET", &url, Some(&token), &nonce);
    let ok = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&proof], None, None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.header("dpop-nonce"),
        Some(nonce.as_str()),
        "handed out on success too"
    );
    // Bearer clients are not asked for nonces: they send no proof.
    let bearer = api
        .get("/v1/balance", Some(&issuer.token(ALICE, "alice", VIEW)))
        .await;
    assert_eq!(bearer.status, 200, "{}", bearer.body);
}

#[tokio::test]
async fn each_mode_refuses_what_it_says() {
    let issuer = TestIssuer::start().await;
    let key = DpopKey::new();
    let transfer = json!({"to": "bob", "amount": "1.00"});
    let unbound = || issuer.token(ALICE, "alice", VIEW);
    let unbound_step_up = || issuer.token(ALICE, "alice", STEP_UP);

    // optional (the default of `bank-sandbox api --issuer`): unbound tokens work everywhere.
    let optional = Api::start(with_mode(&issuer, None)).await;
    assert_eq!(optional.state.sender().mode(), DpopMode::Optional);
    assert_eq!(
        optional.get("/v1/balance", Some(&unbound())).await.status,
        200
    );
    let paid = optional
        .transfer(&unbound_step_up(), "o-1", &transfer)
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);

    // transfers: reading works with a bearer token, moving money needs a bound one.
    let transfers = Api::start(with_mode(&issuer, Some(DpopMode::Transfers))).await;
    assert_eq!(
        transfers.get("/v1/balance", Some(&unbound())).await.status,
        200
    );
    let refused = transfers
        .transfer(&unbound_step_up(), "t-1", &transfer)
        .await;
    refused.assert_problem(401, "dpop-required");
    assert_eq!(
        refused.challenges(),
        [
            r#"DPoP error="invalid_token", error_description="moving money needs a DPoP-bound token", algs="ES256""#
        ]
    );
    // So is an unbound everyday token, before its scope: no step-up could make it move
    // money here, so nobody is asked to approve one.
    let unbound_everyday = transfers.transfer(&unbound(), "t-2", &transfer).await;
    unbound_everyday.assert_problem(401, "dpop-required");
    let bound_step_up = bound(&issuer, &key, STEP_UP);
    let paid = transfers
        .transfer_dpop(&bound_step_up, &key, "t-3", &transfer)
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(transfers.state.balance_of("alice"), Some(99_900));

    // required: every request needs a bound token, and only DPoP is offered.
    let required = Api::start(with_mode(&issuer, Some(DpopMode::Required))).await;
    let refused = required.get("/v1/balance", Some(&unbound())).await;
    refused.assert_problem(401, "dpop-required");
    assert_eq!(
        refused.challenges(),
        [
            r#"DPoP error="invalid_token", error_description="this API accepts only DPoP-bound tokens", algs="ES256""#
        ]
    );
    let nothing = required.get("/v1/balance", None).await;
    nothing.assert_problem(401, "unauthenticated");
    assert_eq!(nothing.challenges(), [r#"DPoP algs="ES256""#]);
    let token = bound(&issuer, &key, VIEW);
    assert_eq!(
        required.get_dpop("/v1/balance", &token, &key).await.status,
        200
    );
}

#[tokio::test]
async fn proofs_name_the_configured_public_url_not_the_host_header() {
    let issuer = TestIssuer::start().await;
    let api = Api::start(ApiConfig {
        public_url: Some("https://bank.example/".into()),
        ..config(&issuer.issuer)
    })
    .await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, VIEW);
    // Where the listener is, is not where the clients are sent.
    let local = key.proof("GET", &format!("{}/v1/balance", api.url), Some(&token));
    let answer = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&local], None, None)
        .await;
    assert_invalid_proof(&answer, "htu", &token);
    // A Host header cannot make the API believe it is elsewhere.
    let spoofed = key.proof("GET", &format!("{}/v1/balance", api.url), Some(&token));
    let response = api
        .http
        .get(format!("{}/v1/balance", api.url))
        .header("host", "bank.example")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", spoofed)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    // Normalized as RFC 3986 §6.2.2–6.2.3 say: case of scheme and host, default port.
    let public = key.proof("GET", "HTTPS://Bank.Example:443/v1/balance", Some(&token));
    let answer = api
        .send_dpop(Method::GET, "/v1/balance", &token, &[&public], None, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// A read's proof is remembered by the instance that accepted it, in memory; a transfer's
/// proof is spent in the transfer's transaction, so a restarted instance refuses it too.
/// A proof whose transfer was refused still cannot be used again by the same instance.
#[tokio::test]
async fn a_replayed_transfer_proof_is_refused_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bank.sqlite3");
    let issuer = TestIssuer::start().await;
    let key = DpopKey::new();
    let token = bound(&issuer, &key, STEP_UP);
    let cfg = ApiConfig {
        public_url: Some("http://bank.test".into()),
        ..config(&issuer.issuer)
    };
    let transfers = "http://bank.test/v1/transfers";
    let proof = key.proof("POST", transfers, Some(&token));
    let body = json!({"to": "bob", "amount": "1.00"});
    let open = || {
        let path = path.clone();
        async move {
            store::bank::BankStore::open(
                &bank_sandbox::api::Database::Sqlite(Some(path)),
                bank_sandbox::api::Durability::Full,
                1,
            )
            .await
            .expect("open the bank file")
        }
    };
    let post = |api: &Api, token: &str, proof: &str, key: &str, body: &serde_json::Value| {
        let (api, token, proof, key, body) = (
            api.client.clone(),
            token.to_owned(),
            proof.to_owned(),
            key.to_owned(),
            body.clone(),
        );
        async move {
            api.send_dpop(
                Method::POST,
                "/v1/transfers",
                &token,
                &[&proof],
                Some(&key),
                Some(&body),
            )
            .await
        }
    };
    {
        let first = Api::start_on(cfg.clone(), open().await).await;
        let answer = post(&first, &token, &proof, "k-1", &body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        // The same instance refuses it before looking at the ledger.
        let replay = post(&first, &token, &proof, "k-1", &body).await;
        assert_invalid_proof(&replay, "already used", &token);
        // A transfer the bank refuses (funds) spends nothing in the ledger, but its proof
        // is still refused by this instance.
        let poor_token = bound(&issuer, &key, STEP_UP);
        let poor_proof = key.proof("POST", transfers, Some(&poor_token));
        let huge = json!({"to": "bob", "amount": "9000.00"});
        let refused = post(&first, &poor_token, &poor_proof, "k-2", &huge).await;
        refused.assert_problem(422, "insufficient-funds");
        let again = post(&first, &poor_token, &poor_proof, "k-2", &huge).await;
        assert_invalid_proof(&again, "already used", &poor_token);
    }
    let restarted = Api::start_on(cfg, open().await).await;
    let replay = post(&restarted, &token, &proof, "k-1", &body).await;
    assert_invalid_proof(&replay, "already used", &token);
    assert_eq!(restarted.state.balance_of("bob"), Some(50_100));
    // The record is kept while the proof could pass: a minute on, it is too old anyway.
    restarted
        .state
        .clock()
        .advance(std::time::Duration::from_secs(61));
    let late = post(&restarted, &token, &proof, "k-1", &body).await;
    assert_invalid_proof(&late, "too old", &token);
}
