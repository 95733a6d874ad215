//! `bank transfer` against what the API's challenges ask for: RFC 9470's
//! `insufficient_user_authentication` with `acr_values` and `max_age`, a token already
//! sufficient (and single-use), a second challenge after the step-up, a step-up that never
//! completes.

use bank::challenge::{BearerChallenge, StepUpChallenge, StepUpReason};
use bank_sandbox::api::DpopMode;
use bank_sandbox::authz::{ACR_MFA, AuthzEvent};

use crate::common::TestEnv;
use crate::common::mfa::{Mfa, with_mfa};
use crate::test_transfer::{
    STEP_UP_MESSAGE, assert_money, authorization_requests, browser_runs, transfer_posts,
};

/// RFC 9470: the stored everyday token already carries `transfer:funds` without MFA (this
/// tenant's rule does not demand MFA for it, and the token comes from a provider that puts
/// every permission into every token, as Auth0's RBAC can; `bank login` itself never asks
/// for the scope), so the API answers `401 insufficient_user_authentication`; the step-up
/// honours its `acr_values` and `max_age`, and the authorization server then demands MFA
/// because of `acr_values`.
#[test]
fn rfc_9470_challenge_steps_up_with_acr_values_and_max_age() {
    // The minted everyday token is a bearer token: a bank that takes them, a login without
    // DPoP.
    let mut env = TestEnv::start_with(|c| {
        c.authz.clients[0].mfa_scopes.clear();
        c.api.dpop = Some(DpopMode::Optional);
    });
    env.set_env("BANK_DPOP", "never");
    env.run_with_browser(&["login", "--insecure-storage"])
        .success();
    let broad = env.mint_token("alice", "wonderland", "openid transfer:funds", false, None);
    env.edit_token_file(|bundle| bundle["access_token"] = broad.into());
    assert!(
        !env.browser_log().contains("mfa:"),
        "no MFA at login: {}",
        env.browser_log()
    );

    let run = with_mfa(
        &env,
        &["transfer", "--to", "bob", "--amount", "25", "--yes"],
        Mfa::Approve,
    )
    .success();
    let (first, id) = run.stdout.split_once('\n').expect("two lines");
    assert_eq!(
        first,
        "Transferred 25.00 USD to bob. New balance: 975.00 USD."
    );
    assert!(id.starts_with("Transfer id: tr_"), "{}", run.stdout);
    assert!(run.stderr.contains(STEP_UP_MESSAGE), "{}", run.stderr);

    let posts = transfer_posts(&env);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [401, 201]
    );
    let header = posts[0].www_authenticate.as_deref().expect("a challenge");
    assert_eq!(
        BearerChallenge::from_headers([header]).and_then(|c| c.step_up(401)),
        Some(StepUpChallenge {
            reason: StepUpReason::InsufficientUserAuthentication,
            scope: vec![],
            acr_values: vec![ACR_MFA.into()],
            max_age: Some(300),
            description: None,
        })
    );
    let step_up = authorization_requests(&env)
        .pop()
        .expect("a step-up authorization request");
    assert_eq!(
        step_up,
        AuthzEvent::AuthorizationRequested {
            client_id: "bank-cli".into(),
            scope: "openid transfer:funds".into(),
            acr_values: Some(ACR_MFA.into()),
            max_age: Some(300),
            prompt: None,
        }
    );
    assert!(
        env.browser_log().contains("mfa: approved"),
        "{}",
        env.browser_log()
    );
    assert_money(&env, 97_500, 52_500, 1);
}

/// A token that is already good enough needs no step-up; the bank spends it, so using it
/// again is refused. An everyday token in BANK_TOKEN is never stepped up.
#[test]
fn sufficient_token_needs_no_step_up_and_cannot_be_replayed() {
    // `BANK_TOKEN` is a bearer token: a bank that still takes bearer transfer tokens.
    let mut env = TestEnv::start_with(|c| c.api.dpop = Some(DpopMode::Optional));
    // A transfer token minted through the real flow (authorization with MFA) outside
    // `bank`, which never stores one.
    // Bound to exactly the transfer below (RFC 9396), as the sandbox's API demands.
    let details = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"USD","amount":"10.00"},"creditorAccount":{"handle":"bob"}}]"#;
    let token = env.mint_token(
        "alice",
        "wonderland",
        "openid transfer:funds",
        true,
        Some(details),
    );
    env.set_env("BANK_TOKEN", &token);
    let browsers = browser_runs(&env);
    let authorizations = authorization_requests(&env).len();

    let run = env
        .run(&[
            "transfer", "--to", "bob", "--amount", "10", "--yes", "--json",
        ])
        .success();
    assert_eq!(run.json()["balance_after"], "990.00");
    assert!(!run.stderr.contains("Step-up"), "{}", run.stderr);
    assert_eq!(
        browser_runs(&env),
        browsers,
        "no browser for a sufficient token"
    );
    assert_eq!(authorization_requests(&env).len(), authorizations);
    assert_eq!(
        transfer_posts(&env)
            .iter()
            .map(|p| p.status)
            .collect::<Vec<_>>(),
        [201]
    );

    // Replayed: the API refuses the spent token (exit 3: the token, not the person).
    let run = env
        .run(&["transfer", "--to", "bob", "--amount", "10", "--yes"])
        .code(3);
    assert!(
        run.stderr
            .contains("error: the bank API rejected the token in BANK_TOKEN: token already used"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&token), "{}", run.stderr);
    let last = transfer_posts(&env).pop().expect("a POST");
    assert_eq!(last.status, 401);
    assert_money(&env, 99_000, 51_000, 1);

    // An everyday token in BANK_TOKEN: the missing scope is named; no browser is started.
    // (A bearer login: a DPoP-bound token is useless in BANK_TOKEN, see test_dpop.)
    env.remove_env("BANK_TOKEN");
    env.set_env("BANK_DPOP", "never");
    env.login();
    let everyday = env.run(&["token"]).success().stdout.trim_end().to_owned();
    env.set_env("BANK_TOKEN", &everyday);
    let browsers = browser_runs(&env);
    let run = env
        .run(&["transfer", "--to", "bob", "--amount", "10", "--yes"])
        .code(4);
    assert!(
        run.stderr.contains(
            "error: Transfer not authorized: the bank requires a token with the `transfer:funds` scope\n"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("BANK_TOKEN is set"), "{}", run.stderr);
    assert_eq!(browser_runs(&env), browsers);
    assert_eq!(transfer_posts(&env).pop().expect("a POST").status, 403);
    assert_money(&env, 99_000, 51_000, 1);
}

/// The step-up token still does not satisfy the bank (here: this tenant grants
/// `transfer:funds` without MFA, so the API answers with the RFC 9470 challenge): the CLI
/// gives up after its one retry, exit 4, naming what is missing.
#[test]
fn a_second_challenge_after_step_up_is_final() {
    // A provider without RAR, too (RFC 9396 details are high-value: they would bring MFA
    // back), and so an API that cannot demand them.
    let env = TestEnv::start_with(|c| {
        c.authz.clients[0].mfa_scopes.clear();
        c.authz.authorization_details = false;
        c.api.require_authorization_details = Some(false);
    });
    env.login();
    let run = env
        .run_with_browser(&["transfer", "--to", "bob", "--amount", "5", "--yes"])
        .code(4);
    // Without RAR in the metadata the CLI asks for the scope alone, and says so.
    assert!(
        !run.stderr.contains("authorization_details"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "Step-up required to transfer funds — approve the request on your authenticator"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "error: Transfer not authorized: the provider issued a new token, but the bank API's policy refused it: it requires a stronger or more recent sign-in (acr_values `http://schemas.openid.net/pape/policies/2007/06/multi-factor`, max_age 300s)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        transfer_posts(&env)
            .iter()
            .map(|p| p.status)
            .collect::<Vec<_>>(),
        [403, 401],
        "exactly one retry"
    );
    assert_eq!(authorization_requests(&env).len(), 2, "login + one step-up");
    assert_money(&env, 100_000, 50_000, 0);
}

/// The CLI's own wait for the step-up has a deadline (`--timeout`).
#[test]
fn step_up_wait_times_out() {
    let mut env = TestEnv::start();
    env.login();
    env.set_env("BANK_TEST_BROWSER_MODE", "idle");
    let run = env
        .run_with_browser(&[
            "transfer",
            "--to",
            "bob",
            "--amount",
            "5",
            "--yes",
            "--timeout",
            "1s",
        ])
        .code(4);
    assert!(
        run.stderr.contains(
            "error: Transfer not authorized: timed out waiting for the step-up approval\n"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--timeout"), "{}", run.stderr);
    assert_eq!(transfer_posts(&env).len(), 1);
    assert_money(&env, 100_000, 50_000, 0);
}
