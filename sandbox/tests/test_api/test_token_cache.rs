//! The verified-token cache changes how often signatures are checked, never what is
//! accepted: a cached token still expires, a spent step-up token is still refused, a
//! tampered token never hits the cache, and a key that leaves the JWKS takes its cached
//! tokens with it. Each test reads the cache's counters to prove which path answered.

use std::time::Duration;

use bank_sandbox::api::TokenCacheStats;
use serde_json::json;

use super::{ALICE, Api, config};
use crate::common::issuer::{TestIssuer, TestKey, b64};

const VIEW: &str = "openid view:balance";
const STEP_UP: &str = "openid transfer:funds";

fn stats(api: &Api) -> TokenCacheStats {
    api.state.token_cache_stats()
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", VIEW);
    for _ in 0..2 {
        assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);
    }
    assert_eq!(
        stats(&api),
        TokenCacheStats {
            hits: 1,
            misses: 1,
            entries: 1
        }
    );

    // exp is now + 300 and the leeway 60 s: past both, the cached entry is refused and dropped.
    api.state.clock().advance(Duration::from_secs(361));
    api.get("/v1/balance", Some(&token))
        .await
        .assert_invalid_token("token expired");
    assert_eq!(
        stats(&api),
        TokenCacheStats {
            hits: 2,
            misses: 1,
            entries: 0
        }
    );
}

#[tokio::test]
async fn a_spent_step_up_token_is_refused_when_cached() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", STEP_UP);
    let body = json!({"to": "bob", "amount": "1.00"});
    assert_eq!(api.transfer(&token, "cache-1", &body).await.status, 201);
    api.transfer(&token, "cache-2", &body)
        .await
        .assert_token_already_used();
    // The same key and body with the spent token that paid: its own receipt, replayed (a
    // lost answer), from the cache too.
    let lost = api.transfer(&token, "cache-1", &body).await;
    assert_eq!(lost.status, 201);
    assert_eq!(lost.header("idempotent-replayed"), Some("true"));
    let s = stats(&api);
    assert_eq!((s.hits, s.misses), (2, 1), "{s:?}");
    assert_eq!(api.state.balance_of("alice"), Some(99_900));
    assert_eq!(api.state.ledger_summary().transfers, 1);
}

#[tokio::test]
async fn a_tampered_token_never_hits_the_cache() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let claims = issuer.claims(ALICE, "alice", VIEW);
    let token = issuer.sign(&claims);
    assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);

    let parts: Vec<&str> = token.split('.').collect();
    // The same signature over a payload naming another scope...
    let wider = TestIssuer::edit(
        &claims,
        json!({"scope": "openid view:balance transfer:funds"}),
    );
    let payload = b64(&serde_json::to_vec(&wider).expect("claims JSON"));
    let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
    // ...and the original payload with one signature character changed (not the last one,
    // whose low bits are padding).
    let at = token.len() - 10;
    let flipped_char = if &token[at..=at] == "A" { "B" } else { "A" };
    let flipped = format!("{}{flipped_char}{}", &token[..at], &token[at + 1..]);
    for forged in [&swapped, &flipped] {
        api.get("/v1/balance", Some(forged))
            .await
            .assert_invalid_token("invalid signature");
        api.transfer(forged, "forged", &json!({"to": "bob", "amount": "1.00"}))
            .await
            .assert_invalid_token("invalid signature");
    }
    assert_eq!(
        stats(&api),
        TokenCacheStats {
            hits: 0,
            misses: 5,
            entries: 1
        }
    );
    assert_eq!(api.state.ledger_summary().transfers, 0);
}

#[tokio::test]
async fn a_key_leaving_the_jwks_takes_its_cached_tokens_with_it() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let old = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&old)).await.status, 200);
    assert_eq!(api.get("/v1/balance", Some(&old)).await.status, 200);

    // The issuer replaces its keys; a token under the new key makes the API refetch.
    let rotated = TestKey::es256("rotated");
    issuer.publish(&[&rotated]);
    let new = rotated.sign(&rotated.header(), &issuer.claims(ALICE, "alice", VIEW));
    assert_eq!(api.get("/v1/balance", Some(&new)).await.status, 200);
    api.get("/v1/balance", Some(&old))
        .await
        .assert_invalid_token("unknown signing key");
    assert_eq!(stats(&api).hits, 1);
}

#[tokio::test]
async fn capacity_zero_turns_the_cache_off() {
    let issuer = TestIssuer::start().await;
    let api = Api::start(bank_sandbox::api::ApiConfig {
        verified_token_cache_capacity: 0,
        ..config(&issuer.issuer)
    })
    .await;
    let token = issuer.token(ALICE, "alice", VIEW);
    for _ in 0..3 {
        assert_eq!(api.get("/v1/balance", Some(&token)).await.status, 200);
    }
    assert_eq!(stats(&api), TokenCacheStats::default());
}
