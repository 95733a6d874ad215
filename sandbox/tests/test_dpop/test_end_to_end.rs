//! DPoP through the whole sandbox: tokens bound at its authorization server and held to
//! their key by its bank API, as the CLI will use them, with and without nonces.

use bank_sandbox::api::DpopMode;
use bank_sandbox::{Sandbox, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{EVERYDAY, bound_login, refresh, token_proof};
use crate::common::dpop::DpopKey;
use crate::common::{
    Browser, Pkce, authorize_and_login, authorize_url, details_for, exchange, exchange_dpop,
    exchange_with_proof, query_param, start, start_with, token_endpoint,
};
use crate::test_api::ApiClient;

fn api(sandbox: &Sandbox) -> ApiClient {
    ApiClient {
        url: sandbox.api_url().to_owned(),
        http: reqwest::Client::new(),
    }
}

/// alice's step-up for exactly `transfer`: push approved with the page's number; the code
/// as it comes back, and its PKCE verifier.
async fn step_up_code(sandbox: &Sandbox, transfer: &serde_json::Value) -> (String, Pkce) {
    let pkce = Pkce::new();
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &pkce,
        "openid transfer:funds",
        &[("authorization_details", &details_for(transfer))],
    );
    let waiting = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    let txn = query_param(waiting.location(), "txn").expect("MFA transaction");
    let number = browser.get(waiting.location()).await.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("approve");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code after approval");
    (code, pkce)
}

#[tokio::test]
async fn bound_tokens_read_refresh_and_move_money_and_nothing_works_without_the_key() {
    let mut config = SandboxConfig::ephemeral();
    config.api.dpop = Some(DpopMode::Transfers);
    let sandbox = start_with(config).await;
    let api = api(&sandbox);
    let key = DpopKey::new();
    let tokens = bound_login(&sandbox, &key, EVERYDAY).await;
    let everyday = tokens["access_token"].as_str().expect("token");
    let balance = api.get_dpop("/v1/balance", everyday, &key).await;
    assert_eq!(balance.status, 200, "{}", balance.body);

    // Whoever copies the everyday token gets nothing with it.
    let thief = DpopKey::new();
    api.get_dpop("/v1/balance", everyday, &thief)
        .await
        .assert_problem(401, "invalid-dpop-proof");
    api.get("/v1/balance", Some(everyday))
        .await
        .assert_problem(401, "invalid-token");

    // The refresh needs the key too, and gives a token bound to it.
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    let (status, _, body) =
        refresh(&sandbox, refresh_token, &[&token_proof(&sandbox, &thief)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _, renewed) =
        refresh(&sandbox, refresh_token, &[&token_proof(&sandbox, &key)]).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let renewed = renewed["access_token"].as_str().expect("token");
    assert_eq!(api.get_dpop("/v1/balance", renewed, &key).await.status, 200);

    // The step-up: a bound, single-use token for exactly this transfer.
    let transfer = json!({"to": "bob", "amount": "25.00"});
    let refused = api.transfer_dpop(everyday, &key, "e2e-1", &transfer).await;
    refused.assert_problem(403, "insufficient-scope");
    assert_eq!(
        refused.challenges(),
        [r#"DPoP error="insufficient_scope", scope="transfer:funds", algs="ES256""#]
    );
    let (code, pkce) = step_up_code(&sandbox, &transfer).await;
    let (status, _, step_up) = exchange_dpop(&sandbox, &code, &pkce.verifier, &key).await;
    assert_eq!(status, StatusCode::OK, "{step_up}");
    let step_up = step_up["access_token"].as_str().expect("token").to_owned();
    // Intercepted between the token response and the retry, it is worthless.
    api.transfer_dpop(&step_up, &thief, "e2e-1", &transfer)
        .await
        .assert_problem(401, "invalid-dpop-proof");
    let paid = api.transfer_dpop(&step_up, &key, "e2e-1", &transfer).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(sandbox.bank().balance_of("bob"), Some(52_500));

    // A step-up token obtained without a proof cannot move money at the sandbox's API.
    let (code, pkce) = step_up_code(&sandbox, &transfer).await;
    let (_, _, unbound) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(unbound["token_type"], "Bearer");
    let refused = api
        .transfer(
            unbound["access_token"].as_str().expect("token"),
            "e2e-2",
            &transfer,
        )
        .await;
    refused.assert_problem(401, "dpop-required");
    assert_eq!(sandbox.bank().balance_of("bob"), Some(52_500));
    sandbox.shutdown().await;
}

/// `serve` and `Sandbox::start` default to `transfers`: the sandbox's issuer binds tokens,
/// so its API moves money only with bound ones, and reads with either.
#[tokio::test]
async fn the_sandboxs_own_api_moves_money_only_with_bound_tokens() {
    let sandbox = start().await;
    assert_eq!(sandbox.bank().sender().mode(), DpopMode::Transfers);
    let api = api(&sandbox);
    let transfer = json!({"to": "bob", "amount": "2.00"});
    let (code, pkce) = step_up_code(&sandbox, &transfer).await;
    let (_, _, unbound) = exchange(&sandbox, &code, &pkce.verifier).await;
    let unbound = unbound["access_token"].as_str().expect("token");
    let refused = api.transfer(unbound, "default-1", &transfer).await;
    refused.assert_problem(401, "dpop-required");
    assert_eq!(
        refused.challenges(),
        [
            r#"DPoP error="invalid_token", error_description="moving money needs a DPoP-bound token", algs="ES256""#
        ]
    );
    let pkce = Pkce::new();
    let code = crate::common::get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (_, _, everyday) = exchange(&sandbox, &code, &pkce.verifier).await;
    let balance = api
        .get("/v1/balance", everyday["access_token"].as_str())
        .await;
    assert_eq!(balance.status, 200, "{}", balance.body);
    let key = DpopKey::new();
    let (code, pkce) = step_up_code(&sandbox, &transfer).await;
    let (_, _, bound) = exchange_dpop(&sandbox, &code, &pkce.verifier, &key).await;
    let bound = bound["access_token"].as_str().expect("token");
    let paid = api.transfer_dpop(bound, &key, "default-2", &transfer).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_nonce_round_trip_at_both_servers() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.dpop_proofs.require_nonce = true;
    config.api.dpop_proofs.require_nonce = true;
    let sandbox = start_with(config).await;
    let key = DpopKey::new();

    // The authorization server: 400 use_dpop_nonce with DPoP-Nonce, then the retry.
    let pkce = Pkce::new();
    let code = crate::common::get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let url = token_endpoint(&sandbox);
    let (status, headers, body) = exchange_with_proof(
        &sandbox,
        &code,
        &pkce.verifier,
        &key.proof("POST", &url, None),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
    );
    let as_nonce = headers["dpop-nonce"].to_str().expect("nonce").to_owned();
    let retry = key.proof_with_nonce("POST", &url, None, &as_nonce);
    let (status, _, tokens) = exchange_with_proof(&sandbox, &code, &pkce.verifier, &retry).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().expect("token");

    // The bank API: 401 with the DPoP challenge use_dpop_nonce and its own nonce.
    let api = api(&sandbox);
    let first = api.get_dpop("/v1/balance", token, &key).await;
    first.assert_problem(401, "use-dpop-nonce");
    assert!(first.challenges()[0].starts_with(r#"DPoP error="use_dpop_nonce""#));
    let api_nonce = first.header("dpop-nonce").expect("nonce").to_owned();
    assert_ne!(api_nonce, as_nonce, "each server keys its own nonces");
    let proof = key.proof_with_nonce(
        "GET",
        &format!("{}/v1/balance", api.url),
        Some(token),
        &api_nonce,
    );
    let ok = api
        .send_dpop(Method::GET, "/v1/balance", token, &[&proof], None, None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    sandbox.shutdown().await;
}
