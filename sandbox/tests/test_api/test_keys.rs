//! The API learns keys over HTTP: lazily, once, via discovery, with rate-limited refetches.

use serde_json::json;

use super::{ALICE, Api, config, join_all};
use crate::common::issuer::{Discovery, TestIssuer, TestKey};

const VIEW: &str = "view:balance";

#[tokio::test]
async fn keys_are_fetched_lazily_once_and_then_served_from_cache() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    // Starting the API made no call to the issuer.
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (0, 0));
    for _ in 0..10 {
        let token = issuer.token(ALICE, "alice", VIEW);
        assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);
    }
    // Steady state: one discovery, one JWKS fetch for ten requests.
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_at_most_one_refetch() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let good = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&good)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 1);

    let claims = issuer.claims(ALICE, "alice", VIEW);
    let mut answers = Vec::new();
    for i in 0..20 {
        let stranger = TestKey::es256(&format!("made-up-{i}"));
        let client = api.client.clone();
        let token = stranger.sign(&stranger.header(), &claims);
        answers.push(async move { client.get("/v1/balance", Some(&token)).await });
    }
    for answer in join_all(answers).await {
        answer.assert_invalid_token("unknown signing key");
    }
    // The bucket (a burst of 3, then one per 10 s) had two fetches left after the first:
    // twenty made-up kids cost the issuer at most two more requests.
    assert!(
        issuer.jwks_fetches() <= 3,
        "{} fetches",
        issuer.jwks_fetches()
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_refetching_on_unknown_kid() {
    let issuer = TestIssuer::start().await;
    // The default limits: a rotation right after a fetch is picked up at once.
    let api = Api::for_issuer(&issuer).await;
    let old = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&old)).await.status, 200);

    let rotated = TestKey::es256("rotated-2");
    issuer.publish(&[&issuer.es256, &rotated]);
    let claims = issuer.claims(ALICE, "alice", VIEW);
    let new = rotated.sign(&rotated.header(), &claims);
    assert_eq!(api.get("/v1/balance", Some(&new)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 2);
    // Discovery is not repeated: the jwks_uri is remembered.
    assert_eq!(issuer.discovery_fetches(), 1);

    // A key removed from the JWKS stops working after the next refresh.
    issuer.publish(&[&rotated]);
    let stranger = TestKey::es256("unknown");
    api.get(
        "/v1/balance",
        Some(&stranger.sign(&stranger.header(), &claims)),
    )
    .await
    .assert_invalid_token("unknown signing key");
    let old = issuer.token(ALICE, "alice", VIEW);
    api.get("/v1/balance", Some(&old))
        .await
        .assert_invalid_token("unknown signing key");
}

#[tokio::test]
async fn an_issuer_outage_does_not_take_the_api_down() {
    let issuer = TestIssuer::start().await;
    // Keys are always "stale", so every request would like to refresh them.
    let api = Api::start(bank_sandbox::api::ApiConfig {
        jwks_max_age_secs: 0,
        ..config(&issuer.issuer)
    })
    .await;
    let token = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);

    issuer.set_jwks_down(true);
    for _ in 0..10 {
        let answer = api.get("/v1/balance", Some(&token)).await;
        assert_eq!(
            answer.status, 200,
            "cached keys keep working: {}",
            answer.body
        );
    }
    // ...and the failing issuer was asked a bounded number of times (the bucket's burst).
    assert!(
        issuer.jwks_fetches() <= 3,
        "{} fetches",
        issuer.jwks_fetches()
    );
}

#[tokio::test]
async fn discovery_falls_back_to_rfc_8414() {
    let issuer = TestIssuer::start_with(Discovery::Rfc8414Only).await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let issuer = TestIssuer::start_with(Discovery::WrongIssuer).await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", VIEW);
    let answer = api.get("/v1/balance", Some(&token)).await;
    answer.assert_problem(503, "keys-unavailable");
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_without_details() {
    // Bind and drop a listener: nothing listens on that port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let issuer = TestIssuer::start().await;
    let api = Api::start(config(&dead)).await;
    let token = issuer.sign(&TestIssuer::edit(
        &issuer.claims(ALICE, "alice", VIEW),
        json!({"iss": dead}),
    ));
    let answer = api.get("/v1/balance", Some(&token)).await;
    answer.assert_problem(503, "keys-unavailable");
    assert!(!answer.body.to_string().contains("127.0.0.1"));
}

#[tokio::test]
async fn hmac_keys_in_the_jwks_are_ignored() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    // A JWKS that (wrongly) publishes a symmetric key must not make HS256 acceptable.
    issuer.publish_raw(json!({"keys": [
        {"kty": "oct", "kid": "sym", "k": crate::common::issuer::b64(b"shared-secret"), "alg": "HS256"},
        issuer.es256.jwk,
    ]}));
    let claims = issuer.claims(ALICE, "alice", VIEW);
    let token = crate::common::issuer::hs256(
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": "sym"}),
        &claims,
        b"shared-secret",
    );
    api.get("/v1/balance", Some(&token))
        .await
        .assert_invalid_token("signature algorithm not allowed");
    // And the header check is not the only line: the key itself was never imported.
    let token = crate::common::issuer::hs256(
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "sym"}),
        &claims,
        b"shared-secret",
    );
    api.get("/v1/balance", Some(&token))
        .await
        .assert_invalid_token("unknown signing key");
}
