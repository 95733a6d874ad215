//! DPoP at the sandbox's authorization server (RFC 9449 §5, §8, §10): proofs at the token
//! endpoint bind access and refresh tokens, a refresh needs the key, `dpop_jkt` binds the
//! code, nonces, `dpop = "required"` and `"off"`.

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{AuthzEvent, DpopSupport};
use reqwest::StatusCode;
use serde_json::json;

use super::{EVERYDAY, bound_login, broken_proofs, payload, refresh, token_proof};
use crate::common::dpop::DpopKey;
use crate::common::{
    Browser, Pkce, authorize_and_login, authorize_url, exchange, exchange_dpop,
    exchange_with_proof, get_code, get_json, query_param, start, start_with, token_endpoint,
    token_request_with, verify_jwt,
};

fn config(edit: impl FnOnce(&mut SandboxConfig)) -> SandboxConfig {
    let mut config = SandboxConfig::ephemeral();
    edit(&mut config);
    config
}

#[tokio::test]
async fn a_proof_binds_the_access_token_and_the_refresh_family_to_its_key() {
    let sandbox = start().await;
    let meta = get_json(&format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer()
    ))
    .await;
    assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["ES256"]));

    let key = DpopKey::new();
    let tokens = bound_login(&sandbox, &key, EVERYDAY).await;
    let jwks = get_json(&format!("{}/.well-known/jwks.json", sandbox.issuer())).await;
    let (_, claims) = verify_jwt(&jwks, tokens["access_token"].as_str().expect("token"));
    assert_eq!(claims["cnf"], json!({"jkt": key.jkt}), "RFC 9449 §6.1");
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");

    // The owner refreshes with a proof by the same key: a new bound token, a new refresh
    // token.
    let (status, _, renewed) =
        refresh(&sandbox, refresh_token, &[&token_proof(&sandbox, &key)]).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["token_type"], "DPoP");
    assert_eq!(
        payload(renewed["access_token"].as_str().expect("token"))["cnf"]["jkt"],
        key.jkt
    );
    assert!(sandbox.authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { grant, dpop_jkt: Some(jkt), .. }
            if grant == "refresh_token" && *jkt == key.jkt
    )));

    // Without a proof, the same flow gives bearer tokens (dpop = "optional").
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (status, _, bearer) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bearer["token_type"], "Bearer");
    assert!(
        payload(bearer["access_token"].as_str().expect("token"))
            .get("cnf")
            .is_none()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stolen_refresh_token_is_refused_and_stays_its_owners() {
    let sandbox = start().await;
    let key = DpopKey::new();
    let tokens = bound_login(&sandbox, &key, EVERYDAY).await;
    let stolen = tokens["refresh_token"].as_str().expect("refresh token");

    let (status, _, body) = refresh(&sandbox, stolen, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let thief = DpopKey::new();
    let (status, _, body) = refresh(&sandbox, stolen, &[&token_proof(&sandbox, &thief)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(!body.to_string().contains(stolen), "never echoed: {body}");

    // Neither attempt spent the token nor revoked the family: the owner carries on.
    let (status, _, body) = refresh(&sandbox, stolen, &[&token_proof(&sandbox, &key)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::RefreshTokenReused { .. }))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_proof_on_refresh_binds_a_bearer_family_to_its_key() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (status, _, bearer) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{bearer}");
    assert_eq!(bearer["token_type"], "Bearer");
    let first = bearer["refresh_token"].as_str().expect("refresh token");

    // RFC 9449 §5: the refresh token answered to a proof is bound to the proof's key.
    let key = DpopKey::new();
    let (status, _, bound) = refresh(&sandbox, first, &[&token_proof(&sandbox, &key)]).await;
    assert_eq!(status, StatusCode::OK, "{bound}");
    assert_eq!(bound["token_type"], "DPoP");
    let second = bound["refresh_token"].as_str().expect("refresh token");

    // So the family is bound from now on: no proof, or another key, gets nothing...
    let (status, _, body) = refresh(&sandbox, second, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let thief = DpopKey::new();
    let (status, _, body) = refresh(&sandbox, second, &[&token_proof(&sandbox, &thief)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // ...and spends nothing: the key's holder carries on, bound.
    let (status, _, body) = refresh(&sandbox, second, &[&token_proof(&sandbox, &key)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().expect("token"))["cnf"]["jkt"],
        key.jkt
    );
    assert!(
        !sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::RefreshTokenReused { .. }))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_broken_proof_is_refused_with_invalid_dpop_proof_and_spends_nothing() {
    let sandbox = start().await;
    let key = DpopKey::new();
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    for broken in broken_proofs(&key, "POST", &token_endpoint(&sandbox), None) {
        let headers: Vec<&str> = broken.headers.iter().map(String::as_str).collect();
        let (status, _, body) = token_request_with(
            &sandbox,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", crate::common::CLIENT_ID),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:43210/callback"),
                ("code_verifier", &pkce.verifier),
            ],
            &headers,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", broken.case);
        assert_eq!(
            body["error"], "invalid_dpop_proof",
            "{}: {body}",
            broken.case
        );
        let description = body["error_description"].as_str().expect("description");
        assert!(
            description.contains(broken.phrase),
            "{}: {description}",
            broken.case
        );
        assert!(!body.to_string().contains(&code), "{}: {body}", broken.case);
    }
    // The proof is checked before the grant: the code is still good for an honest proof...
    let proof = token_proof(&sandbox, &key);
    let (status, _, body) = exchange_with_proof(&sandbox, &code, &pkce.verifier, &proof).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ...which is spent: sent again (with another request), it is a replay.
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    let (status, _, body) = refresh(&sandbox, refresh_token, &[&proof]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(body["error_description"], "proof already used (jti)");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dpop_required_refuses_a_token_request_without_a_proof() {
    let sandbox = start_with(config(|c| c.authz.dpop = DpopSupport::Required)).await;
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    // Refused before the grant was looked at: the code still works with a proof.
    let (status, _, body) = exchange_dpop(&sandbox, &code, &pkce.verifier, &DpopKey::new()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_to_one_key() {
    let sandbox = start().await;
    let key = DpopKey::new();
    let bound = [("dpop_jkt", key.jkt.as_str())];
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &bound).await;
    let (status, _, body) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");

    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &bound).await;
    let (status, _, body) = exchange_dpop(&sandbox, &code, &pkce.verifier, &DpopKey::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("dpop_jkt")),
        "{body}"
    );

    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &bound).await;
    let (status, _, body) = exchange_dpop(&sandbox, &code, &pkce.verifier, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().expect("token"))["cnf"]["jkt"],
        key.jkt
    );

    // A malformed thumbprint is an invalid request, answered at the redirect URI.
    let mut browser = Browser::new(&sandbox);
    let url = authorize_url(
        sandbox.issuer(),
        &Pkce::new(),
        EVERYDAY,
        &[("dpop_jkt", "short")],
    );
    let answer = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(
        query_param(answer.location(), "error").as_deref(),
        Some("invalid_request")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_nonce_round_trip_at_the_token_endpoint() {
    let sandbox = start_with(config(|c| c.authz.dpop_proofs.require_nonce = true)).await;
    let key = DpopKey::new();
    let pkce = Pkce::new();
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[]).await;
    let url = token_endpoint(&sandbox);
    let (status, headers, body) = exchange_with_proof(
        &sandbox,
        &code,
        &pkce.verifier,
        &key.proof("POST", &url, None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "use_dpop_nonce", "{body}");
    let nonce = headers
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .expect("a DPoP-Nonce header (RFC 9449 §8)")
        .to_owned();
    let made_up = key.proof_with_nonce("POST", &url, None, "made-up");
    let (_, _, body) = exchange_with_proof(&sandbox, &code, &pkce.verifier, &made_up).await;
    assert_eq!(body["error"], "use_dpop_nonce", "{body}");

    let proof = key.proof_with_nonce("POST", &url, None, &nonce);
    let (status, headers, body) =
        exchange_with_proof(&sandbox, &code, &pkce.verifier, &proof).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(
        headers.contains_key("dpop-nonce"),
        "§8.2: the nonce on success too"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dpop_off_is_a_provider_without_dpop() {
    let sandbox = start_with(config(|c| c.authz.dpop = DpopSupport::Off)).await;
    let meta = get_json(&format!(
        "{}/.well-known/oauth-authorization-server",
        sandbox.issuer()
    ))
    .await;
    assert!(
        meta.get("dpop_signing_alg_values_supported").is_none(),
        "{meta}"
    );
    let key = DpopKey::new();
    let pkce = Pkce::new();
    // Unknown parameters and headers are ignored, as by any provider without DPoP.
    let code = get_code(&sandbox, &pkce, EVERYDAY, &[("dpop_jkt", &key.jkt)]).await;
    let (status, _, body) = exchange_dpop(&sandbox, &code, &pkce.verifier, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        payload(body["access_token"].as_str().expect("token"))
            .get("cnf")
            .is_none()
    );
    sandbox.shutdown().await;
}

/// The hook of an endpoint that takes an authorization request with a proof (a pushed
/// authorization request, RFC 9449 §10.1): the proof's key, `dpop_jkt`, or both agreeing.
#[tokio::test]
async fn an_authorization_request_endpoint_gets_its_key_with_one_call() {
    let sandbox = start().await;
    let key = DpopKey::new();
    let par = format!("{}/oauth/par", sandbox.issuer());
    let headers = |proof: &str| {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("dpop", proof.parse().expect("header value"));
        headers
    };
    let authz = sandbox.authz();
    let none = axum::http::HeaderMap::new();
    assert_eq!(
        authz.request_dpop_key(&none, "/oauth/par", None).await.ok(),
        Some(None)
    );
    assert_eq!(
        authz
            .request_dpop_key(&none, "/oauth/par", Some(&key.jkt))
            .await
            .ok(),
        Some(Some(key.jkt.clone()))
    );
    let proved = authz
        .request_dpop_key(&headers(&key.proof("POST", &par, None)), "/oauth/par", None)
        .await;
    assert_eq!(proved.ok(), Some(Some(key.jkt.clone())));
    let both = authz
        .request_dpop_key(
            &headers(&key.proof("POST", &par, None)),
            "/oauth/par",
            Some(&key.jkt),
        )
        .await;
    assert_eq!(both.ok(), Some(Some(key.jkt.clone())));
    let other = DpopKey::new();
    let mismatch = authz
        .request_dpop_key(
            &headers(&other.proof("POST", &par, None)),
            "/oauth/par",
            Some(&key.jkt),
        )
        .await
        .expect_err("a proof by another key than dpop_jkt");
    assert_eq!(mismatch.kind.code(), "invalid_dpop_proof");
    // A proof for the token endpoint is not one for this endpoint.
    let elsewhere = authz
        .request_dpop_key(&headers(&token_proof(&sandbox, &key)), "/oauth/par", None)
        .await
        .expect_err("htu");
    assert_eq!(elsewhere.kind.code(), "invalid_dpop_proof");
    sandbox.shutdown().await;
}
