//! Every way a token can fail, with the exact status, challenge and problem body.

use serde_json::json;

use super::{ALICE, Api, BOB};
use crate::common::issuer::{self, MFA_ACR, TestIssuer, TestKey, hs256, now, unsigned};

const VIEW: &str = "openid profile view:balance";
const STEP_UP: &str = "openid transfer:funds";

#[tokio::test]
async fn good_tokens_of_every_allowed_algorithm_read_the_balance() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let claims = issuer.claims(ALICE, "alice", VIEW);
    for key in [&issuer.es256, &issuer.rs256, &issuer.eddsa] {
        let token = key.sign(&key.header(), &claims);
        let answer = api.get("/v1/balance", Some(&token)).await;
        assert_eq!(answer.status, 200, "{:?}: {}", key.alg, answer.body);
        assert_eq!(
            answer.body,
            json!({"account": "alice", "balance": "1000.00", "currency": "USD"})
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert_eq!(answer.header("content-type"), Some("application/json"));
    }
    // Auth0 style: `typ: JWT`, `aud` an array, scopes in `permissions`, no jti.
    let auth0_style = TestIssuer::edit(
        &claims,
        json!({"aud": [issuer::AUDIENCE, "https://tenant.auth0.com/userinfo"],
               "scope": "openid", "permissions": ["view:balance"], "jti": null}),
    );
    let header = json!({"alg": "RS256", "kid": issuer.rs256.kid, "typ": "JWT"});
    let answer = api
        .get(
            "/v1/balance",
            Some(&issuer.rs256.sign(&header, &auth0_style)),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // `scp` as an array (Okta style).
    let okta_style = TestIssuer::edit(&claims, json!({"scope": null, "scp": ["view:balance"]}));
    let answer = api
        .get("/v1/balance", Some(&issuer.sign(&okta_style)))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn no_token_gets_a_bare_bearer_challenge() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    for path in ["/v1/balance", "/v1/transfers"] {
        let answer = api.get(path, None).await;
        answer.assert_problem(401, "unauthenticated");
        // RFC 6750 §3.1: no error code when the request had no authentication at all.
        assert_eq!(answer.www_authenticate(), Some("Bearer"));
    }
    // Another scheme is not bearer credentials either.
    let answer = crate::test_api::Answer::from(
        api.http
            .get(format!("{}/v1/balance", api.url))
            .basic_auth("alice", Some("wonderland"))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    answer.assert_problem(401, "unauthenticated");
    assert_eq!(answer.www_authenticate(), Some("Bearer"));
    // No network call to the issuer was needed to say so.
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn forged_malformed_and_misdirected_tokens_are_invalid_token() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let claims = issuer.claims(ALICE, "alice", VIEW);
    let good = issuer.sign(&claims);
    let header = issuer.es256.header();
    let pem = issuer.es256.public_pem.clone().expect("public PEM");

    // Tampered payload: the signature no longer matches.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let richer = TestIssuer::edit(&claims, json!({"sub": BOB}));
    parts[1] = issuer::b64(richer.to_string().as_bytes());
    let tampered = parts.join(".");

    // Signed by another key under a published kid, and under an unknown kid.
    let mut impostor = TestKey::es256(&issuer.es256.kid);
    let other_key = impostor.sign(&header, &claims);
    impostor.kid = "not-published".into();
    let unknown_kid = impostor.sign(&impostor.header(), &claims);

    let t = now();
    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "not-a-jwt".into(), "malformed token"),
        ("two parts", "abc.def".into(), "malformed token"),
        ("bad base64", "a*b.c.d".into(), "malformed token"),
        ("tampered payload", tampered, "invalid signature"),
        ("other key", other_key, "invalid signature"),
        ("unknown kid", unknown_kid, "unknown signing key"),
        (
            "alg none",
            unsigned(
                &json!({"alg": "none", "typ": "at+jwt", "kid": issuer.es256.kid}),
                &claims,
            ),
            "signature algorithm not allowed",
        ),
        (
            "HS256 keyed with the public key",
            hs256(
                &json!({"alg": "HS256", "typ": "at+jwt", "kid": issuer.es256.kid}),
                &claims,
                pem.as_bytes(),
            ),
            "signature algorithm not allowed",
        ),
        (
            "ES256 header on an RS256 key",
            issuer.rs256.sign(
                &json!({"alg": "RS256", "typ": "at+jwt", "kid": issuer.es256.kid}),
                &claims,
            ),
            "algorithm does not match the key",
        ),
        (
            "jku header",
            issuer.es256.sign(
                &TestIssuer::edit(&header, json!({"jku": "https://evil.example/jwks"})),
                &claims,
            ),
            "token must not name or embed its own key",
        ),
        (
            "x5u header",
            issuer.es256.sign(
                &TestIssuer::edit(&header, json!({"x5u": "https://evil.example/cert"})),
                &claims,
            ),
            "token must not name or embed its own key",
        ),
        (
            "embedded jwk",
            impostor.sign(
                &TestIssuer::edit(&header, json!({"jwk": impostor.jwk})),
                &claims,
            ),
            "token must not name or embed its own key",
        ),
        (
            "crit header",
            issuer.es256.sign(
                &TestIssuer::edit(&header, json!({"crit": ["exp"]})),
                &claims,
            ),
            "unsupported critical header",
        ),
        (
            "ID token typ",
            issuer.es256.sign(
                &TestIssuer::edit(&header, json!({"typ": "id_token+jwt"})),
                &claims,
            ),
            "not an access token (typ)",
        ),
        (
            "no typ",
            issuer
                .es256
                .sign(&TestIssuer::edit(&header, json!({"typ": null})), &claims),
            "not an access token (typ)",
        ),
        (
            "no kid",
            issuer
                .es256
                .sign(&TestIssuer::edit(&header, json!({"kid": null})), &claims),
            "token has no key id (kid)",
        ),
        (
            "expired",
            issuer.sign(&TestIssuer::edit(
                &claims,
                json!({"exp": t - 120, "iat": t - 600}),
            )),
            "token expired",
        ),
        (
            "not yet valid",
            issuer.sign(&TestIssuer::edit(&claims, json!({"nbf": t + 300}))),
            "token not yet valid",
        ),
        (
            "issued in the future",
            issuer.sign(&TestIssuer::edit(
                &claims,
                json!({"iat": t + 300, "exp": t + 900}),
            )),
            "token issued in the future",
        ),
        (
            "wrong issuer",
            issuer.sign(&TestIssuer::edit(
                &claims,
                json!({"iss": "https://evil.example"}),
            )),
            "wrong issuer",
        ),
        (
            "issuer with a trailing slash is another issuer",
            issuer.sign(&TestIssuer::edit(
                &claims,
                json!({"iss": format!("{}/", issuer.issuer)}),
            )),
            "wrong issuer",
        ),
        (
            "issuer as an array",
            issuer.sign(&TestIssuer::edit(&claims, json!({"iss": [issuer.issuer]}))),
            "wrong issuer",
        ),
        (
            "wrong audience",
            issuer.sign(&TestIssuer::edit(
                &claims,
                json!({"aud": "https://other.example/api"}),
            )),
            "wrong audience",
        ),
        (
            "no audience",
            issuer.sign(&TestIssuer::edit(&claims, json!({"aud": null}))),
            "missing aud",
        ),
        (
            "no sub",
            issuer.sign(&TestIssuer::edit(&claims, json!({"sub": null}))),
            "missing sub",
        ),
        (
            "no exp",
            issuer.sign(&TestIssuer::edit(&claims, json!({"exp": null}))),
            "missing exp",
        ),
        (
            "no iat",
            issuer.sign(&TestIssuer::edit(&claims, json!({"iat": null}))),
            "missing iat",
        ),
        (
            "absurd exp",
            issuer.sign(&TestIssuer::edit(&claims, json!({"exp": i64::MAX}))),
            "invalid exp",
        ),
        (
            "oversized",
            issuer.sign(&TestIssuer::edit(&claims, json!({"pad": "x".repeat(9000)}))),
            "token too large",
        ),
    ];
    for (name, token, description) in cases {
        let answer = api.get("/v1/balance", Some(&token)).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        answer.assert_invalid_token(description);
    }
    // Within the 60 s leeway, a just-expired token still works.
    let lenient = issuer.sign(&TestIssuer::edit(&claims, json!({"exp": t - 30})));
    assert_eq!(api.get("/v1/balance", Some(&lenient)).await.status, 200);
    // None of the rejected tokens touched the ledger.
    assert_eq!(api.state.balance_of("alice"), Some(100_000));
    assert_eq!(api.state.balance_of("bob"), Some(50_000));
}

#[tokio::test]
async fn two_authorization_headers_are_an_invalid_request() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", VIEW);
    let answer = crate::test_api::Answer::from(
        api.http
            .get(format!("{}/v1/balance", api.url))
            .header("authorization", format!("Bearer {token}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    answer.assert_problem(400, "invalid-request");
    assert_eq!(
        answer.www_authenticate(),
        Some(
            r#"Bearer error="invalid_request", error_description="more than one Authorization header""#
        )
    );
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;

    let no_view = issuer.token(ALICE, "alice", "openid transfer:funds");
    let answer = api.get("/v1/balance", Some(&no_view)).await;
    answer.assert_problem(403, "insufficient-scope");
    assert_eq!(
        answer.www_authenticate(),
        Some(r#"Bearer error="insufficient_scope", scope="view:balance""#)
    );

    // The everyday token cannot move money: the step-up trigger.
    let everyday = issuer.token(ALICE, "alice", VIEW);
    let answer = api
        .transfer(&everyday, "k1", &json!({"to": "bob", "amount": "25.00"}))
        .await;
    answer.assert_problem(403, "insufficient-scope");
    assert_eq!(
        answer.www_authenticate(),
        Some(r#"Bearer error="insufficient_scope", scope="transfer:funds""#)
    );
    assert_eq!(api.state.balance_of("alice"), Some(100_000));
}

#[tokio::test]
async fn weak_or_stale_authentication_is_401_insufficient_user_authentication() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let claims = issuer.claims(ALICE, "alice", STEP_UP);
    let challenge = format!(
        r#"Bearer error="insufficient_user_authentication", acr_values="{MFA_ACR}", max_age=300"#
    );
    let t = now();
    let cases = [
        (
            "password only",
            TestIssuer::edit(&claims, json!({"amr": ["pwd"], "acr": "urn:bank:acr:pwd"})),
        ),
        (
            "no amr, no acr",
            TestIssuer::edit(&claims, json!({"amr": null, "acr": null})),
        ),
        (
            "stale auth_time",
            TestIssuer::edit(&claims, json!({"auth_time": t - 301})),
        ),
        (
            "no auth_time",
            TestIssuer::edit(&claims, json!({"auth_time": null})),
        ),
    ];
    for (i, (name, claims)) in cases.into_iter().enumerate() {
        let answer = api
            .transfer(
                &issuer.sign(&claims),
                &format!("k{i}"),
                &json!({"to": "bob", "amount": "25.00"}),
            )
            .await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        answer.assert_problem(401, "insufficient-user-authentication");
        assert_eq!(
            answer.www_authenticate(),
            Some(challenge.as_str()),
            "{name}"
        );
    }
    // MFA proven by `amr` alone, or by `acr` alone, is enough.
    let by_amr = TestIssuer::edit(&claims, json!({"acr": null, "jti": "jti-by-amr"}));
    let by_acr = TestIssuer::edit(&claims, json!({"amr": ["pwd"], "jti": "jti-by-acr"}));
    for (i, claims) in [by_amr, by_acr].into_iter().enumerate() {
        let answer = api
            .transfer(
                &issuer.sign(&claims),
                &format!("ok{i}"),
                &json!({"to": "bob", "amount": "1.00"}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    assert_eq!(api.state.balance_of("alice"), Some(100_000 - 200));
}

#[tokio::test]
async fn the_audit_trail_records_answers_but_never_tokens() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let claims = issuer.claims(ALICE, "alice", VIEW);
    let token = issuer.sign(&claims);
    api.get("/v1/balance", Some(&token)).await;
    api.get("/v1/balance", None).await;
    let records = api.state.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].status, 200);
    assert_eq!(records[0].path, "/v1/balance");
    assert_eq!(records[0].jti.as_deref(), claims["jti"].as_str());
    assert_eq!(records[1].status, 401);
    assert_eq!(records[1].www_authenticate.as_deref(), Some("Bearer"));
    assert!(!format!("{records:?}").contains(&token));
}
