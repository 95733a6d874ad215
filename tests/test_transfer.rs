//! `bank transfer` end to end: the built binary against the in-process sandbox, the
//! scripted browser for every authorization, MFA decided through the sandbox library, and
//! assertions on what the servers saw (`events()`, `requests()`, balances, the ledger).

use std::time::Duration;

use bank::challenge::{BearerChallenge, StepUpChallenge, StepUpReason};
use bank_sandbox::api::ApiRequestRecord;
use bank_sandbox::authz::AuthzEvent;

use crate::common::TestEnv;
use crate::common::mfa::{Mfa, with_mfa};

/// What the terminal says on every transfer's step-up (after "pay <to> <amount> USD").
pub(crate) const STEP_UP_MESSAGE: &str =
    "sign in again and approve the payment as your provider asks";

pub(crate) fn transfer_posts(env: &TestEnv) -> Vec<ApiRequestRecord> {
    env.sandbox()
        .bank()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/transfers")
        .collect()
}

pub(crate) fn authorization_requests(env: &TestEnv) -> Vec<AuthzEvent> {
    env.sandbox()
        .authz()
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthzEvent::AuthorizationRequested { .. }))
        .collect()
}

/// Asserts balances (minor units) and that money was conserved.
#[track_caller]
pub(crate) fn assert_money(env: &TestEnv, alice: i64, bob: i64, transfers: i64) {
    let bank = env.sandbox().bank();
    assert_eq!(bank.balance_of("alice"), Some(alice), "alice's balance");
    assert_eq!(bank.balance_of("bob"), Some(bob), "bob's balance");
    let ledger = bank.ledger_summary();
    assert_eq!(ledger.transfers, transfers, "number of transfers");
    assert_eq!(ledger.total_balance_minor, ledger.total_opening_minor);
}

pub(crate) fn browser_runs(env: &TestEnv) -> usize {
    env.browser_log().matches("started").count()
}

#[test]
fn step_up_approved_moves_money_once_and_the_token_never_reaches_the_keyring() {
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    let before = env.keyring_bundle().expect("login stored a bundle");

    // Scripted use: --no-input forbids prompts, not the browser (BANK_BROWSER is set).
    let run = with_mfa(
        &env,
        &[
            "--no-input",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "25.00",
            "--yes",
            "--json",
        ],
        Mfa::Approve,
    )
    .success();
    let receipt = run.json();
    assert_eq!(receipt["from"], "alice");
    assert_eq!(receipt["to"], "bob");
    assert_eq!(receipt["amount"], "25.00");
    assert_eq!(receipt["currency"], "USD");
    assert_eq!(receipt["balance_after"], "975.00");
    assert!(
        receipt["id"].as_str().expect("id").starts_with("tr_"),
        "{receipt}"
    );
    assert!(
        run.stderr.contains(
            "To pay bob 25.00 USD, sign in again and approve the payment as your provider asks"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    // The step-up names the logged-in user to the provider (OIDC `login_hint`), in the
    // request it pushed (RFC 9126), and the browser's URL carries only the reference.
    let pushed = env.pushed_requests().pop().expect("a pushed step-up");
    assert_eq!(
        (pushed.scope.as_str(), pushed.login_hint.as_deref()),
        ("openid transfer:funds", Some("alice"))
    );
    assert_eq!(
        env.browser_url_parameters()
            .pop()
            .expect("the step-up's URL"),
        ["client_id", "request_uri"]
    );
    // ...and exactly this transfer (RFC 9396, as `Approval::to_json` writes it), built from
    // the body it retries, with the API's identifier (not its URL, here a proxy's) as
    // `locations`: the page the person sees says so, with the number to type.
    assert_eq!(
        pushed.authorization_details.as_deref(),
        Some(
            r#"[{"creditorAccount":{"handle":"bob"},"instructedAmount":{"amount":"25.00","currency":"USD"},"locations":["https://bank.example/api"],"type":"payment_initiation"}]"#
        )
    );
    // (The number shows while the push is pending; this test's phone may be quicker.)
    assert!(
        env.browser_log()
            .contains("mfa: waiting; the page says: Pay bob 25.00 USD"),
        "{}",
        env.browser_log()
    );

    // The bank API: a 403 naming transfer:funds, then one 201, both with the same key.
    let posts = transfer_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [403, 201]
    );
    let challenge = posts[0].www_authenticate.as_deref().expect("a challenge");
    assert_eq!(
        BearerChallenge::from_headers([challenge]).and_then(|c| c.step_up(403)),
        Some(StepUpChallenge {
            reason: StepUpReason::InsufficientScope,
            scope: vec!["transfer:funds".into()],
            acr_values: vec![],
            max_age: None,
            description: None,
        })
    );
    let key = posts[0].idempotency_key.clone().expect("a key");
    assert_eq!(posts[1].idempotency_key.as_deref(), Some(key.as_str()));
    assert_money(&env, 97_500, 52_500, 1);

    // The authorization server: a step-up request for transfer:funds, MFA, a token with mfa.
    let events = env.sandbox().authz().events();
    let requested: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AuthzEvent::AuthorizationRequested { scope, .. } => Some(scope.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        requested,
        [
            "openid profile offline_access view:balance",
            "openid transfer:funds"
        ]
    );
    assert!(events.iter().any(
        |e| matches!(e, AuthzEvent::MfaRequired { scope, .. } if scope == "openid transfer:funds")
    ));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuthzEvent::MfaApproved { .. }))
    );
    let step_up_jti = events
        .iter()
        .find_map(|e| match e {
            AuthzEvent::TokenIssued {
                scope,
                amr,
                jti,
                sub,
                ..
            } if scope.contains("transfer:funds") => {
                assert!(amr.iter().any(|a| a == "mfa"), "{amr:?}");
                // The login stored who signed in; the step-up was the same user.
                assert_eq!(before["sub"].as_str(), Some(sub.as_str()));
                Some(jti.clone())
            }
            _ => None,
        })
        .expect("a step-up token was issued");
    assert_eq!(posts[1].jti.as_deref(), Some(step_up_jti.as_str()));

    // What went over the wire: the everyday token first, then the step-up token.
    let tokens = proxy.transfer_tokens();
    assert_eq!(tokens.len(), 2, "two transfer requests passed the proxy");
    assert_eq!(tokens[0], before["access_token"].as_str().expect("token"));
    let step_up_token = &tokens[1];
    assert_ne!(step_up_token, &tokens[0]);

    // The keyring still holds the everyday bundle, byte for byte; the step-up token is
    // nowhere on disk.
    assert_eq!(env.keyring_bundle().as_ref(), Some(&before));
    assert_eq!(
        env.files_containing(step_up_token),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(!run.stderr.contains(step_up_token.as_str()));

    // A thief replaying the step-up token without the key is refused; so is the CLI's own
    // key, with a fresh proof: the token is spent. Neither moves anything.
    let url = format!("{}/v1/transfers", proxy.url);
    let replay = |authorization: String, proof: Option<String>| {
        env.rt.block_on(async {
            let mut request = reqwest::Client::new()
                .post(&url)
                .header("Authorization", authorization)
                .header("Idempotency-Key", "replay-attempt")
                .json(&serde_json::json!({"to": "bob", "amount": "25.00"}));
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            let response = request.send().await.expect("the API answers");
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (response.status().as_u16(), challenge)
        })
    };
    let (status, challenge) = replay(format!("Bearer {step_up_token}"), None);
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer error="invalid_token", error_description="a DPoP-bound token must be sent with the DPoP scheme""#
        )
    );
    let key: bank::dpop::DpopKey =
        serde_json::from_value(before["dpop_key"].clone()).expect("the login's DPoP key");
    let proof = key.proof(
        "POST",
        &url::Url::parse(&url).expect("url"),
        Some(step_up_token),
        None,
    );
    let (status, challenge) = replay(format!("DPoP {step_up_token}"), Some(proof));
    assert_eq!(status, 401);
    assert!(
        challenge.as_deref().is_some_and(|c| c
            .starts_with(r#"DPoP error="invalid_token", error_description="token already used""#)),
        "{challenge:?}"
    );
    assert_money(&env, 97_500, 52_500, 1);
    env.run(&["balance"]).success();
}

/// Issue 5: the step-up is bound to the logged-in user. Logged in as alice, the step-up is
/// signed (and MFA-approved) by bob: bank refuses before the retry, so bob's fresh transfer
/// token is never used and no money moves — in particular not out of bob's account.
/// `-v` shows the exchange the client's layers went through, as the observer saw it: the
/// everyday request and its 403 challenge, the step-up's parameters, the one retry and its
/// 201 — and never a token.
#[test]
fn verbose_shows_each_request_challenge_and_step_up() {
    let env = TestEnv::start();
    env.login();
    let run = with_mfa(
        &env,
        &["-v", "transfer", "--to", "bob", "--amount", "5", "--yes"],
        Mfa::Approve,
    )
    .success();
    // Run output names the API as `[API]`.
    let api = "[API]";
    let mut rest = run.stderr.as_str();
    for line in [
        &format!("debug: → POST {api}/v1/transfers  Idempotency-Key: ") as &str,
        &format!("debug: ← POST {api}/v1/transfers: 403 Forbidden"),
        "debug:   WWW-Authenticate: DPoP error=\"insufficient_scope\", scope=\"transfer:funds\", algs=\"ES256\"",
        "debug: the bank API asked for step-up (InsufficientScope)",
        "debug: step-up: requesting scope `openid transfer:funds`",
        STEP_UP_MESSAGE,
        "debug: step-up token received: used for one retry, never stored",
        &format!("debug: → POST {api}/v1/transfers  Idempotency-Key: "),
        &format!("debug: ← POST {api}/v1/transfers: 201 Created"),
    ] {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => panic!("missing (or out of order) {line:?}:\n{}", run.stderr),
        }
    }
    for word in run.stderr.split_whitespace() {
        assert!(
            !(word.starts_with("eyJ") && word.matches('.').count() >= 2),
            "a token was printed: {word}"
        );
    }
}

/// There is no unbound step-up: a login that dropped `openid` from its scopes still asks for
/// it (so `sub` is recorded), and a stored login without `sub` (written by an older `bank`
/// or another program) is refused before any authorization starts.
#[test]
fn step_up_never_runs_unbound() {
    let env = TestEnv::start();
    env.run(&[
        "config",
        "set",
        "scopes",
        "profile offline_access view:balance",
    ])
    .success();
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    // `openid` is added to the profile's scopes.
    let pushed = env.pushed_requests().pop().expect("a pushed login");
    assert_eq!(pushed.scope, "openid profile offline_access view:balance");
    let mut sub = None;
    env.edit_token_file(|bundle| sub = bundle.as_object_mut().and_then(|b| b.remove("sub")));
    assert!(sub.is_some(), "the login recorded who signed in");
    let run = env
        .run_with_browser(&["transfer", "--to", "bob", "--amount", "5", "--yes"])
        .code(3);
    assert!(
        run.stderr.contains(
            "error: the stored login does not record who signed in, so a step-up cannot be bound to it; nothing was sent"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run `bank login` again"),
        "{}",
        run.stderr
    );
    assert_eq!(browser_runs(&env), 1, "only the login opened a browser");
    assert_money(&env, 100_000, 50_000, 0);
}

#[test]
fn step_up_signed_by_another_user_is_refused_before_the_retry() {
    // A provider that treats `login_hint` as advisory (the sandbox enforces it by default),
    // so that the CLI's own check of who signed in is what refuses.
    let mut env = TestEnv::start_with(|c| c.authz.enforce_login_hint = false);
    env.login();
    env.set_env("BANK_TEST_USERNAME", "bob");
    env.set_env("BANK_TEST_PASSWORD", "builder");
    let run = std::thread::scope(|s| {
        let run = s.spawn(|| {
            env.run_with_browser(&["transfer", "--to", "bob", "--amount", "10", "--yes"])
        });
        let authz = env.sandbox().authz().clone();
        let pending = env
            .rt
            .block_on(authz.wait_for_pending_mfa("bob", Duration::from_secs(60)))
            .expect("bob's step-up asks for MFA");
        authz.approve_mfa(&pending.id).expect("approve");
        run.join().expect("the bank run does not panic")
    })
    .code(4);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains(
            "error: the step-up sign-in was for bob, but you are logged in as alice; nothing was sent\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: sign in as alice when asked to approve"),
        "{}",
        run.stderr
    );
    // The request did name alice; the provider (here: the sandbox) may ignore the hint.
    let pushed = env.pushed_requests().pop().expect("a pushed step-up");
    assert_eq!(pushed.login_hint.as_deref(), Some("alice"));
    assert!(
        env.browser_log().contains("mfa: approved"),
        "{}",
        env.browser_log()
    );
    // The authorization server issued bob a transfer token…
    assert!(env.sandbox().authz().events().iter().any(|e| matches!(
        e,
        AuthzEvent::TokenIssued { scope, .. } if scope.contains("transfer:funds")
    )));
    // …which never reached the API: its only transfer request is the first, refused one.
    assert_eq!(
        transfer_posts(&env)
            .iter()
            .map(|p| p.status)
            .collect::<Vec<_>>(),
        [403]
    );
    assert_money(&env, 100_000, 50_000, 0);
}

#[test]
fn step_up_denied_exits_4_and_moves_nothing() {
    let env = TestEnv::start();
    env.login();
    let run = with_mfa(
        &env,
        &["transfer", "--to", "bob", "--amount", "25", "--yes"],
        Mfa::Deny,
    )
    .code(4);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("error: Transfer not authorized: the request was denied\n"),
        "{}",
        run.stderr
    );
    assert!(
        env.browser_log().contains("mfa: denied"),
        "{}",
        env.browser_log()
    );
    assert!(
        env.sandbox()
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::MfaDenied { .. }))
    );
    // No retry without a token: the only POST is the first one.
    let posts = transfer_posts(&env);
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), [403]);
    assert_money(&env, 100_000, 50_000, 0);
}

#[test]
fn step_up_mfa_timeout_exits_4_with_a_hint() {
    let env = TestEnv::start();
    env.login();
    let run = with_mfa(
        &env,
        &["transfer", "--to", "bob", "--amount", "25", "--yes"],
        Mfa::Expire,
    )
    .code(4);
    assert!(
        run.stderr.contains("error: Transfer not authorized"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: if you meant to allow it, run the transfer again"),
        "{}",
        run.stderr
    );
    assert!(
        env.browser_log().contains("mfa: expired"),
        "{}",
        env.browser_log()
    );
    assert!(
        env.sandbox()
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::MfaExpired { .. }))
    );
    assert_eq!(transfer_posts(&env).len(), 1);
    assert_money(&env, 100_000, 50_000, 0);
}
