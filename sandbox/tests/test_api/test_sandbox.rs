//! The bank API with tokens from the real sandbox authorization server: the seed's story
//! end to end (everyday token → 403 → push-MFA step-up → single-use transfer → idempotent
//! retry), and attacks built from real tokens and the real JWKS.

use std::time::Duration;

use bank_sandbox::api::ApiConfig;
use bank_sandbox::{Sandbox, SandboxConfig};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Answer, Api, ApiClient, join_all};
use crate::common::dpop::client_key;
use crate::common::issuer::{TestIssuer, TestKey, b64, hs256, unsigned};
use crate::common::{
    ACR_MFA, Browser, Pkce, authorize_and_login, authorize_url, details_for, exchange,
    exchange_dpop, exchange_with_proof, get_json, query_param, start, start_with, token_endpoint,
};

const EVERYDAY: &str = "openid profile offline_access view:balance";
const TRANSFER: &str = "openid transfer:funds";

fn client(sandbox: &Sandbox) -> ApiClient {
    ApiClient {
        url: sandbox.api_url().to_owned(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
    }
}

/// Logs in through the sandbox's pages and exchanges the code: a token without MFA.
async fn token_without_mfa(sandbox: &Sandbox, user: &str, password: &str, scope: &str) -> String {
    let (code, pkce) = code_without_mfa(sandbox, user, password, scope).await;
    access_token(sandbox, &code, &pkce).await
}

async fn code_without_mfa(
    sandbox: &Sandbox,
    user: &str,
    password: &str,
    scope: &str,
) -> (String, Pkce) {
    let pkce = Pkce::new();
    let mut browser = Browser::new(sandbox);
    let url = authorize_url(sandbox.issuer(), &pkce, scope, &[]);
    let done = authorize_and_login(&mut browser, &url, user, password).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let code = query_param(done.location(), "code")
        .unwrap_or_else(|| panic!("code in {}", done.location()));
    (code, pkce)
}

/// The step-up the CLI performs after a challenge: authorize for `transfer:funds` and
/// exactly `transfer` (RFC 9396 details) with the challenge's `acr_values` / `max_age`, then
/// approve the push on the "phone" with the number the waiting page shows.
async fn step_up_token(sandbox: &Sandbox, user: &str, password: &str, transfer: &Value) -> String {
    let pkce = Pkce::new();
    let mut browser = Browser::new(sandbox);
    let details = details_for(transfer);
    let url = authorize_url(
        sandbox.issuer(),
        &pkce,
        TRANSFER,
        &[
            ("acr_values", ACR_MFA),
            ("max_age", "300"),
            ("authorization_details", &details),
        ],
    );
    let waiting = authorize_and_login(&mut browser, &url, user, password).await;
    assert_eq!(waiting.status, StatusCode::FOUND, "{}", waiting.body);
    let txn = query_param(waiting.location(), "txn").expect("MFA transaction");
    let number = browser.get(waiting.location()).await.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code(user, &number)
        .expect("approve");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code after approval");
    bound_access_token(sandbox, &code, &pkce).await
}

async fn access_token(sandbox: &Sandbox, code: &str, pkce: &Pkce) -> String {
    let (status, _, body) = exchange(sandbox, code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The code exchanged with a proof by the tests' client key: a DPoP-bound token, which
/// the sandbox's API demands for moving money.
async fn bound_access_token(sandbox: &Sandbox, code: &str, pkce: &Pkce) -> String {
    let (status, _, body) = exchange_dpop(sandbox, code, &pkce.verifier, client_key()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A transfer proof signed by a client whose clock is `secs` ahead of real time, as the
/// servers' are in tests that move their clocks.
fn aged_proof(api: &ApiClient, token: &str, secs: i64) -> String {
    let key = client_key();
    let mut claims = key.claims(
        "POST",
        &format!("{}/v1/transfers", api.url),
        Some(token),
        None,
    );
    claims["iat"] = json!(claims["iat"].as_i64().expect("iat") + secs);
    key.sign(&key.header(), &claims)
}

#[tokio::test]
async fn the_step_up_story_with_real_tokens() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let everyday = token_without_mfa(&sandbox, "alice", "wonderland", EVERYDAY).await;

    let balance = api.get("/v1/balance", Some(&everyday)).await;
    assert_eq!(balance.status, 200, "{}", balance.body);
    assert_eq!(
        balance.body,
        json!({"account": "alice", "balance": "1000.00", "currency": "USD"})
    );

    // A bearer everyday token could never move money here (transfers need DPoP-bound
    // tokens): the API says so before any step-up, in the DPoP scheme alone.
    let transfer = json!({"to": "bob", "amount": "25.00"});
    let refused = api.transfer(&everyday, "story-1", &transfer).await;
    refused.assert_problem(401, "dpop-required");
    assert_eq!(
        refused.challenges(),
        [
            r#"DPoP error="invalid_token", error_description="moving money needs a DPoP-bound token", algs="ES256""#
        ]
    );
    // A bound everyday token is told what it lacks: the scope.
    let (code, pkce) = code_without_mfa(&sandbox, "alice", "wonderland", EVERYDAY).await;
    let (status, _, body) =
        crate::common::exchange_dpop(&sandbox, &code, &pkce.verifier, client_key()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bound = body["access_token"].as_str().expect("access token");
    api.transfer_dpop(bound, client_key(), "story-1", &transfer)
        .await
        .assert_problem(403, "insufficient-scope");

    // Step up with push MFA (a DPoP-bound token), retry the same transfer with the same key.
    let step_up = step_up_token(&sandbox, "alice", "wonderland", &transfer).await;
    let done = api
        .transfer_dpop(&step_up, client_key(), "story-1", &transfer)
        .await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert_eq!(done.body["balance_after"], "975.00");
    assert_eq!(sandbox.bank().balance_of("alice"), Some(97_500));
    assert_eq!(sandbox.bank().balance_of("bob"), Some(52_500));

    // The step-up token is spent.
    let replay = api
        .transfer_dpop(&step_up, client_key(), "story-2", &transfer)
        .await;
    replay.assert_problem(401, "token-already-used");
    // The very transfer it paid for, asked again (its answer lost): the receipt, with a
    // fresh proof and no second approval; the same token for another payment: 401.
    let lost = api
        .transfer_dpop(&step_up, client_key(), "story-1", &transfer)
        .await;
    assert_eq!(lost.status, 201, "{}", lost.body);
    assert_eq!(lost.header("idempotent-replayed"), Some("true"));
    assert_eq!(lost.body, done.body);
    api.transfer_dpop(
        &step_up,
        client_key(),
        "story-3",
        &json!({"to": "bob", "amount": "26.00"}),
    )
    .await
    .assert_problem(401, "token-already-used");

    // A lost response retried with a fresh step-up token: the original answer, once.
    let fresh = step_up_token(&sandbox, "alice", "wonderland", &transfer).await;
    let retry = api
        .transfer_dpop(&fresh, client_key(), "story-1", &transfer)
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, done.body);
    assert_eq!(sandbox.bank().balance_of("alice"), Some(97_500));

    let summary = sandbox.bank().ledger_summary();
    assert_eq!(summary.transfers, 1);
    assert_eq!(summary.total_balance_minor, 150_000);
    // The audit trail saw the consumed token's jti, never a token.
    let records = sandbox.bank().requests();
    assert!(records.iter().any(|r| r.status == 201 && r.jti.is_some()));
    assert!(!format!("{records:?}").contains(&step_up));
}

#[tokio::test]
async fn fifty_racing_requests_with_one_real_step_up_token_move_money_once() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let transfer = json!({"to": "alice", "amount": "5.00"});
    let token = step_up_token(&sandbox, "bob", "builder", &transfer).await;
    let requests = (0..50)
        .map(|i| {
            let api = api.clone();
            let token = token.clone();
            let transfer = transfer.clone();
            async move {
                api.transfer_dpop(&token, client_key(), &format!("race-{i}"), &transfer)
                    .await
            }
        })
        .collect();
    let answers: Vec<Answer> = join_all(requests).await;
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_problem(401, "token-already-used");
        assert_eq!(
            answer.www_authenticate(),
            Some(
                r#"DPoP error="invalid_token", error_description="token already used", algs="ES256""#
            )
        );
    }
    assert_eq!(sandbox.bank().balance_of("bob"), Some(49_500));
    assert_eq!(sandbox.bank().ledger_summary().transfers, 1);
}

#[tokio::test]
async fn a_real_transfer_token_without_mfa_is_refused_with_rfc_9470() {
    // A tenant whose rule forgot MFA: the API still insists.
    let mut config = SandboxConfig::ephemeral();
    for client in &mut config.authz.clients {
        client.mfa_scopes.clear();
    }
    config.api.dpop = Some(bank_sandbox::api::DpopMode::Transfers);
    let sandbox = start_with(config).await;
    let api = client(&sandbox);
    let (code, pkce) = code_without_mfa(&sandbox, "alice", "wonderland", TRANSFER).await;
    let token = bound_access_token(&sandbox, &code, &pkce).await;
    let answer = api
        .transfer_dpop(
            &token,
            client_key(),
            "no-mfa",
            &json!({"to": "bob", "amount": "1.00"}),
        )
        .await;
    answer.assert_problem(401, "insufficient-user-authentication");
    // In the scheme the client used (RFC 9449 §7.1), and without a bearer offer: moving
    // money takes a bound token here.
    assert_eq!(
        answer.challenges(),
        [format!(
            r#"DPoP error="insufficient_user_authentication", acr_values="{ACR_MFA}", max_age=300, algs="ES256""#
        )]
    );
    assert_eq!(sandbox.bank().balance_of("alice"), Some(100_000));
}

#[tokio::test]
async fn forgeries_built_from_real_tokens_are_refused() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let real = token_without_mfa(&sandbox, "alice", "wonderland", EVERYDAY).await;
    assert_eq!(api.get("/v1/balance", Some(&real)).await.status, 200);

    let parts: Vec<&str> = real.split('.').collect();
    let decode = |s: &str| -> Value {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let bob_sub = sandbox
        .authz()
        .user_sub("bob")
        .expect("store")
        .expect("bob exists");

    // The issuer's real public key, as the attacker sees it in the JWKS.
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("published key");
    // Only the key members: p256's JWK parser refuses `kid`, `alg` and `use`.
    let bare = json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]});
    let public_pem = p256::PublicKey::from_jwk_str(&bare.to_string())
        .expect("P-256 JWK")
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");

    let attacker = TestKey::es256(&kid);
    let as_bob = TestIssuer::edit(&claims, json!({"sub": bob_sub}));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "tampered payload (sub swapped to bob)",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(as_bob.to_string().as_bytes()),
                parts[2]
            ),
            "invalid signature",
        ),
        (
            "re-signed by another key under the real kid",
            attacker.sign(&header, &as_bob),
            "invalid signature",
        ),
        (
            "alg none",
            unsigned(&TestIssuer::edit(&header, json!({"alg": "none"})), &as_bob),
            "signature algorithm not allowed",
        ),
        (
            "HS256 keyed with the issuer's public key",
            hs256(
                &TestIssuer::edit(&header, json!({"alg": "HS256"})),
                &as_bob,
                public_pem.as_bytes(),
            ),
            "signature algorithm not allowed",
        ),
        (
            "jku pointing at the attacker's keys",
            attacker.sign(
                &TestIssuer::edit(&header, json!({"jku": "http://127.0.0.1:1/jwks"})),
                &as_bob,
            ),
            "token must not name or embed its own key",
        ),
        (
            "embedded attacker jwk",
            attacker.sign(
                &TestIssuer::edit(&header, json!({"jwk": attacker.jwk})),
                &as_bob,
            ),
            "token must not name or embed its own key",
        ),
        (
            "oversized",
            format!("{real}{}", "A".repeat(8 * 1024)),
            "token too large",
        ),
    ];
    for (name, token, description) in cases {
        let answer = api.get("/v1/balance", Some(&token)).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        answer.assert_invalid_token(description);
    }

    // The same real token at an API with another identifier: wrong audience.
    let elsewhere = Api::start(ApiConfig {
        issuer: sandbox.issuer().to_owned(),
        audience: "https://other-bank.example/api".into(),
        ..ApiConfig::default()
    })
    .await;
    elsewhere
        .get("/v1/balance", Some(&real))
        .await
        .assert_invalid_token("wrong audience");
    // And at an API that trusts another issuer: the sandbox's keys are not its keys.
    let other_issuer = TestIssuer::start().await;
    let stranger = Api::for_issuer(&other_issuer).await;
    stranger
        .get("/v1/balance", Some(&real))
        .await
        .assert_invalid_token("unknown signing key");
    assert_eq!(sandbox.bank().balance_of("bob"), Some(50_000));
}

#[tokio::test]
async fn a_key_rotation_at_the_sandbox_is_picked_up_at_once() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let before = token_without_mfa(&sandbox, "alice", "wonderland", EVERYDAY).await;
    assert_eq!(api.get("/v1/balance", Some(&before)).await.status, 200);

    sandbox.authz().rotate_keys().expect("rotate");
    let after = token_without_mfa(&sandbox, "alice", "wonderland", EVERYDAY).await;
    let answer = api.get("/v1/balance", Some(&after)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The retired key stays published until its tokens expire: old tokens still work.
    assert_eq!(api.get("/v1/balance", Some(&before)).await.status, 200);
    assert!(
        sandbox.bank().requests().iter().all(|r| r.status == 200),
        "no request was refused"
    );
}

#[tokio::test]
async fn real_tokens_age_out_stale_authentication_then_expiry() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let transfer = json!({"to": "bob", "amount": "1.00"});
    let token = step_up_token(&sandbox, "alice", "wonderland", &transfer).await;

    // 330 s later: the 5-minute token is still inside its 60 s leeway, but the MFA is older
    // than max_age=300, so the API asks for a fresh authentication (RFC 9470). A proof
    // signed by a clock that did not move with the API's is too old by then.
    sandbox.bank().clock().advance(Duration::from_secs(330));
    let stale = api
        .transfer_dpop(&token, client_key(), "aged-1", &transfer)
        .await;
    stale.assert_problem(401, "invalid-dpop-proof");
    let stale = api
        .send_dpop(
            reqwest::Method::POST,
            "/v1/transfers",
            &token,
            &[&aged_proof(&api, &token, 330)],
            Some("aged-1"),
            Some(&transfer),
        )
        .await;
    stale.assert_problem(401, "insufficient-user-authentication");
    assert_eq!(
        stale.www_authenticate(),
        Some(
            format!(
                r#"DPoP error="insufficient_user_authentication", acr_values="{ACR_MFA}", max_age=300, algs="ES256""#
            )
            .as_str()
        )
    );

    // 100 s more: past exp + leeway, the token is simply expired.
    sandbox.bank().clock().advance(Duration::from_secs(100));
    let expired = api
        .send_dpop(
            reqwest::Method::POST,
            "/v1/transfers",
            &token,
            &[&aged_proof(&api, &token, 430)],
            Some("aged-2"),
            Some(&transfer),
        )
        .await;
    expired.assert_problem(401, "invalid-token");
    assert_eq!(
        expired.www_authenticate(),
        Some(r#"DPoP error="invalid_token", error_description="token expired", algs="ES256""#)
    );
    assert_eq!(sandbox.bank().balance_of("alice"), Some(100_000));
}

/// A person's browser keeps its session: an hour after signing in, the step-up reuses the
/// session (no password), asks only for the push, and the MFA approval is the `auth_time`
/// the API checks, so the transfer goes through on the first step-up.
#[tokio::test]
async fn a_step_up_on_an_old_browser_session_is_fresh_authentication() {
    let sandbox = start().await;
    let api = client(&sandbox);
    let mut browser = Browser::new(&sandbox);
    let pkce = Pkce::new();
    let url = authorize_url(sandbox.issuer(), &pkce, EVERYDAY, &[]);
    let signed_in = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert!(query_param(signed_in.location(), "code").is_some());

    let an_hour = Duration::from_secs(3600);
    sandbox.authz().clock().advance(an_hour);
    sandbox.bank().clock().advance(an_hour);

    // The CLI's first step-up after a 403 names the scope and the transfer, nothing more.
    let pkce = Pkce::new();
    let transfer = json!({"to": "bob", "amount": "1.00"});
    let details = details_for(&transfer);
    let waiting = browser
        .get(&authorize_url(
            sandbox.issuer(),
            &pkce,
            TRANSFER,
            &[("authorization_details", &details)],
        ))
        .await;
    assert_eq!(waiting.status, StatusCode::FOUND, "{}", waiting.body);
    assert!(
        waiting.location().starts_with("/mfa/wait?"),
        "the session is reused and only the push is asked for: {}",
        waiting.location()
    );
    let txn = query_param(waiting.location(), "txn").expect("MFA transaction");
    let number = browser.get(waiting.location()).await.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("approve");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code after approval");
    // The client's clock agrees with the servers' (all moved an hour).
    let key = client_key();
    let mut claims = key.claims("POST", &token_endpoint(&sandbox), None, None);
    claims["iat"] = json!(claims["iat"].as_i64().expect("iat") + 3600);
    let (status, _, tokens) = exchange_with_proof(
        &sandbox,
        &code,
        &pkce.verifier,
        &key.sign(&key.header(), &claims),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().expect("token").to_owned();

    let (_, claims) = crate::common::verify_jwt(
        &get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await,
        &token,
    );
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(
        claims["auth_time"].as_i64(),
        Some(iat),
        "auth_time is the approval"
    );

    let answer = api
        .send_dpop(
            reqwest::Method::POST,
            "/v1/transfers",
            &token,
            &[&aged_proof(&api, &token, 3600)],
            Some("after-an-hour"),
            Some(&transfer),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
}

#[tokio::test]
async fn a_user_added_while_the_sandbox_runs_gets_the_account_the_message_promises() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut config = SandboxConfig::ephemeral();
    config.data_dir = Some(dir.path().to_owned());
    let sandbox = start_with(config).await;
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_bank-sandbox"))
        .env_clear()
        .args(["users", "add", "carol", "--data-dir"])
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run users add");
    {
        use std::io::Write as _;
        let mut stdin = add.stdin.take().expect("stdin");
        stdin.write_all(b"in-the-garden\n").expect("password");
    }
    let out = add.wait_with_output().expect("users add");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{message}");
    assert!(
        message.contains("opens an account for them on their first request (1,000.00 USD)")
            || message.contains("opens an account for them on their first request (1000.00 USD)"),
        "{message}"
    );
    assert!(message.contains("named carol"), "{message}");
    let token = token_without_mfa(&sandbox, "carol", "in-the-garden", EVERYDAY).await;
    let answer = client(&sandbox).get("/v1/balance", Some(&token)).await;
    assert_eq!(
        answer.body,
        json!({"account": "carol", "balance": "1000.00", "currency": "USD"})
    );
}
