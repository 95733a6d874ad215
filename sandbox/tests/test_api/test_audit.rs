//! What the security audit found to hold at the bank API, each property pinned by a test
//! that fails if it breaks: JWKS fetches stay bounded under a flood of unknown `kid`s, a
//! step-up token is spent once under concurrent use, idempotency keys bind one request, the
//! amount grammar refuses hostile amounts, and oversized bodies are refused before anything
//! moves.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ALICE, Answer, Api, ApiClient, config, join_all};
use crate::common::issuer::{TestIssuer, TestKey};

const STEP_UP: &str = "openid transfer:funds";
const VIEW: &str = "openid view:balance";
const CAROL: &str = "usr_carol00000000003";

/// POSTs raw bytes as a JSON transfer body (the length is sent as `Content-Length`).
async fn post_raw(api: &ApiClient, token: &str, key: &str, body: Vec<u8>) -> Answer {
    let response = api
        .http
        .post(format!("{}/v1/transfers", api.url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    Answer::from(response).await
}

/// POSTs `body` with `Transfer-Encoding: chunked` over a plain socket, so no length is known
/// before the body is read; returns the status and the response's JSON.
async fn post_chunked(api: &ApiClient, token: &str, key: &str, body: &[u8]) -> (u16, Value) {
    let addr = api.url.strip_prefix("http://").expect("http URL");
    let mut request = format!(
        "POST /v1/transfers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(1024) {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&request).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("answer");
    let text = String::from_utf8(response).expect("UTF-8 answer");
    let (head, rest) = text.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "a sized answer: {head}"
    );
    (status, serde_json::from_str(rest).expect("JSON answer"))
}

#[tokio::test]
async fn three_hundred_unknown_kids_cost_the_issuer_a_bounded_number_of_fetches() {
    let issuer = TestIssuer::start().await;
    // No refill within the test, so the bound is the burst exactly, however slow the run.
    let cfg = bank_sandbox::api::ApiConfig {
        jwks_min_refresh_secs: 3600,
        ..config(&issuer.issuer)
    };
    let burst = cfg.jwks_refresh_burst as usize;
    let api = Api::start(cfg).await;
    let good = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&good)).await.status, 200);
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));

    let stranger = TestKey::es256("stranger");
    let claims = issuer.claims(ALICE, "alice", VIEW);
    for wave in 0..6 {
        let requests: Vec<_> = (0..50)
            .map(|i| {
                let header =
                    json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("made-up-{wave}-{i}")});
                let token = stranger.sign(&header, &claims);
                let client = api.client.clone();
                async move { client.get("/v1/balance", Some(&token)).await }
            })
            .collect();
        for answer in join_all(requests).await {
            answer.assert_invalid_token("unknown signing key");
        }
    }
    assert!(
        issuer.jwks_fetches() <= burst,
        "300 unknown kids cost {} JWKS fetches (burst {burst})",
        issuer.jwks_fetches()
    );
    // Discovery is never repeated for them, and the known key still works from the cache.
    assert_eq!(issuer.discovery_fetches(), 1);
    let fetches = issuer.jwks_fetches();
    let good = issuer.token(ALICE, "alice", VIEW);
    assert_eq!(api.get("/v1/balance", Some(&good)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), fetches);
}

#[tokio::test]
async fn forty_concurrent_retries_of_one_token_and_key_succeed_exactly_once() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let token = issuer.token(ALICE, "alice", STEP_UP);
    // The same request forty times, as a retry storm sends it: one token, one key, one body.
    // One transfer; every other send is the very transfer the token paid for (a lost
    // answer), so it gets that receipt, replayed, and moves nothing.
    let requests: Vec<_> = (0..40)
        .map(|_| {
            let client = api.client.clone();
            let token = token.clone();
            async move {
                client
                    .transfer(&token, "storm", &json!({"to": "bob", "amount": "10.00"}))
                    .await
            }
        })
        .collect();
    let answers = join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 201));
    let created: Vec<_> = answers
        .iter()
        .filter(|a| a.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(created.len(), 1);
    assert!(answers.iter().all(|a| a.body == created[0].body));
    assert_eq!(api.state.balance_of("alice"), Some(99_000));
    assert_eq!(api.state.balance_of("bob"), Some(51_000));
    assert_eq!(api.state.ledger_summary().transfers, 1);
}

#[tokio::test]
async fn an_idempotency_key_binds_every_field_of_its_request() {
    let issuer = TestIssuer::start().await;
    let mut cfg = config(&issuer.issuer);
    cfg.accounts.push(bank_sandbox::api::AccountSeed {
        handle: "carol".into(),
        sub: Some(CAROL.into()),
        balance_minor: 0,
    });
    let api = Api::start(cfg).await;
    let fresh = || issuer.token(ALICE, "alice", STEP_UP);
    let original = json!({"to": "bob", "amount": "25.00", "memo": "rent"});
    // Forty concurrent sends of one request under one key, each with a fresh token (the
    // CLI's retry after a step-up): one transfer, thirty-nine replays of it.
    let sends: Vec<_> = (0..40)
        .map(|_| {
            let client = api.client.clone();
            let token = fresh();
            let body = original.clone();
            async move { client.transfer(&token, "idem-1", &body).await }
        })
        .collect();
    let answers = join_all(sends).await;
    for answer in &answers {
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let (created, replayed): (Vec<_>, Vec<_>) = answers
        .iter()
        .partition(|a| a.header("idempotent-replayed").is_none());
    assert_eq!(created.len(), 1);
    let first = created[0];
    for replay in replayed {
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.body, first.body);
    }
    assert_eq!(api.state.ledger_summary().transfers, 1);

    // Any other request under the same key is refused, whichever field differs.
    for other in [
        json!({"to": "carol", "amount": "25.00", "memo": "rent"}),
        json!({"to": "bob", "amount": "25.01", "memo": "rent"}),
        json!({"to": "bob", "amount": "2.50", "memo": "rent"}),
        json!({"to": "bob", "amount": "25.00", "memo": "rent!"}),
        json!({"to": "bob", "amount": "25.00"}),
    ] {
        let answer = api.transfer(&fresh(), "idem-1", &other).await;
        answer.assert_problem(422, "idempotency-key-reused");
    }
    // Nothing moved but the first transfer, and the key still means that transfer.
    assert_eq!(api.state.ledger_summary().transfers, 1);
    assert_eq!(api.state.balance_of("alice"), Some(97_500));
    assert_eq!(api.state.balance_of("bob"), Some(52_500));
    assert_eq!(api.state.balance_of("carol"), Some(0));
    let same = json!({"to": "bob", "amount": "25", "memo": "rent", "currency": "USD"});
    let replay = api.transfer(&fresh(), "idem-1", &same).await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body);
}

#[tokio::test]
async fn hostile_amounts_are_refused_over_the_wire() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let before = api.state.ledger_summary();
    let hostile: Vec<Value> = [
        "",
        " ",
        " 1",
        "1 ",
        "1\n",
        "\t1",
        "\u{a0}1",   // no-break space
        "1\u{2028}", // line separator
        "\u{3000}1", // ideographic space
        "-1",
        "-0",
        "-0.01",
        "+1",
        "1e3",
        "1E3",
        "1e-2",
        "0.1e1",
        "0.001",
        "1.005",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        "1.",
        ".5",
        "01",
        "00.50",
        "1,00",
        "1,000.00",
        "1.2.3",
        "0x10",
        "0b1",
        "1_000",
        "1 000",
        "1. 5",
        "1/2",
        "\u{bd}",    // ½
        "\u{661}",   // Arabic-Indic one
        "\u{ff11}",  // fullwidth one
        "1\u{0}",    // NUL
        "1\u{202e}", // right-to-left override
        "0",
        "0.0",
        "0.00",
        "10000.01",
        "10001",
        "9223372036854775807",
        "92233720368547758.07",
        "99999999999999999999999",
    ]
    .into_iter()
    .map(Value::from)
    .chain([
        json!(25),
        json!(25.5),
        json!(-1),
        json!(1e3),
        json!(null),
        json!(true),
        json!(["1.00"]),
        json!({"value": "1.00"}),
    ])
    .collect();
    for (i, amount) in hostile.iter().enumerate() {
        let answer = api
            .transfer(
                &issuer.token(ALICE, "alice", STEP_UP),
                &format!("hostile-{i}"),
                &json!({"to": "bob", "amount": amount}),
            )
            .await;
        assert_eq!(answer.status, 422, "{amount}: {}", answer.body);
        answer.assert_problem(422, "invalid-body");
    }
    assert_eq!(api.state.ledger_summary(), before);
    assert_eq!(api.state.balance_of("alice"), Some(100_000));
    // The smallest amount there is goes through, and moves exactly one cent.
    let cent = api
        .transfer(
            &issuer.token(ALICE, "alice", STEP_UP),
            "cent",
            &json!({"to": "bob", "amount": "0.01"}),
        )
        .await;
    assert_eq!(cent.status, 201, "{}", cent.body);
    assert_eq!(api.state.balance_of("alice"), Some(99_999));
    assert_eq!(api.state.balance_of("bob"), Some(50_001));
}

#[tokio::test]
async fn oversized_bodies_are_413_and_move_nothing() {
    let issuer = TestIssuer::start().await;
    let api = Api::for_issuer(&issuer).await;
    let before = api.state.ledger_summary();
    let limit = bank_sandbox::api::extract::MAX_BODY_BYTES;
    // A good transfer padded with whitespace (still valid JSON) to `len` bytes: only the
    // size can be wrong with it.
    let padded = |len: usize| {
        let mut body = br#"{"to":"bob","amount":"1.00"}"#.to_vec();
        body.resize(len, b' ');
        body
    };
    let token = issuer.token(ALICE, "alice", STEP_UP);

    let sized = post_raw(&api.client, &token, "big-1", padded(limit + 1)).await;
    sized.assert_problem(413, "payload-too-large");
    // Without a length up front: the limit holds on what is read, not on what is declared.
    let (status, body) = post_chunked(&api.client, &token, "big-2", &padded(limit + 1)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["type"], "https://bank.example/problems/payload-too-large",
        "{body}"
    );
    assert_eq!(api.state.ledger_summary(), before);
    assert_eq!(api.state.balance_of("alice"), Some(100_000));
    assert_eq!(api.state.balance_of("bob"), Some(50_000));

    // The refusals spent nothing, not even the step-up token: the same token moves money
    // with a body of exactly the limit.
    let at_limit = post_raw(&api.client, &token, "big-3", padded(limit)).await;
    assert_eq!(at_limit.status, 201, "{}", at_limit.body);
    assert_eq!(api.state.balance_of("alice"), Some(99_900));
    assert_eq!(api.state.ledger_summary().transfers, before.transfers + 1);
}
