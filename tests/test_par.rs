//! Pushed authorization requests (RFC 9126) end to end: the built `bank` against sandboxes
//! that offer PAR (the default), require it, or lack it; what the browser is handed, and what
//! the authorization server saw pushed.

use bank_sandbox::authz::AuthzEvent;

use crate::common::mfa::{Mfa, with_mfa};
use crate::common::{PUSHED_URL, TestEnv};

const BY_REFERENCE: [&str; 2] = ["client_id", "request_uri"];
const TRANSFER: &[&str] = &["transfer", "--to", "bob", "--amount", "25.00", "--yes"];

fn browser_runs(env: &TestEnv) -> usize {
    env.browser_log().matches("started").count()
}

fn authorizations(env: &TestEnv) -> usize {
    env.sandbox()
        .authz()
        .events()
        .iter()
        .filter(|e| matches!(e, AuthzEvent::AuthorizationRequested { .. }))
        .count()
}

/// Login, balance and a transfer with its step-up, every authorization pushed.
fn login_balance_transfer_by_reference(env: &TestEnv) {
    let run = env.run_with_browser(&["login"]).success();
    assert!(run.stderr.contains(PUSHED_URL), "{}", run.stderr);
    let run = env.run(&["balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    let run = with_mfa(env, TRANSFER, Mfa::Approve).success();
    assert!(run.stderr.contains(PUSHED_URL), "{}", run.stderr);
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(52_500));

    // The browser was handed a reference, twice; the request itself went to the server.
    assert_eq!(env.browser_url_parameters(), [BY_REFERENCE, BY_REFERENCE]);
    let pushed = env.pushed_requests();
    assert_eq!(pushed.len(), 2, "{pushed:?}");
    let login = &pushed[0];
    assert_eq!(login.scope, "openid profile offline_access view:balance");
    assert_eq!(login.login_hint, None);
    for name in [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
    ] {
        assert!(
            login.parameters.iter().any(|p| p == name),
            "{name}: {login:?}"
        );
    }
    let step_up = &pushed[1];
    assert_eq!(step_up.scope, "openid transfer:funds");
    assert_eq!(step_up.login_hint.as_deref(), Some("alice"));
    assert!(
        step_up
            .authorization_details
            .as_deref()
            .is_some_and(|d| d.contains(r#""creditorAccount":{"handle":"bob"}"#)),
        "RFC 9396 details are pushed too: {step_up:?}"
    );
    // Each reference was spent by exactly one authorization.
    assert_eq!(authorizations(env), 2);
}

#[test]
fn login_balance_and_transfer_push_their_authorization_requests() {
    let env = TestEnv::start();
    login_balance_transfer_by_reference(&env);
}

#[test]
fn a_provider_that_requires_par_gets_it_and_par_never_stops_before_the_browser() {
    let mut env = TestEnv::start_with(|config| {
        config.authz.clients[0].require_pushed_authorization_requests = true;
    });
    login_balance_transfer_by_reference(&env);

    env.set_env("BANK_PAR", "never");
    let before = browser_runs(&env);
    let run = env.run(&["login"]).code(2);
    assert_eq!(
        run.stderr,
        "error: the authorization server requires pushed authorization requests (RFC 9126), but this profile's `par` setting is `never`\n  \
         hint: `par = auto` pushes exactly where the provider offers it: unset BANK_PAR (it overrides the profile's `par`)\n"
    );
    assert_eq!(browser_runs(&env), before, "no browser was opened");
    assert_eq!(authorizations(&env), 2, "nothing reached /authorize");
}

#[test]
fn without_par_the_request_travels_in_the_url() {
    let env = TestEnv::start_with(|config| config.authz.pushed_authorization_requests = false);
    let run = env.run_with_browser(&["login"]).success();
    assert!(
        run.stderr
            .contains("\n  [ISSUER]/authorize?response_type=code&client_id=bank-cli&"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("code_challenge_method=S256"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("request_uri"), "{}", run.stderr);
    let run = with_mfa(&env, TRANSFER, Mfa::Approve).success();
    assert!(run.stderr.contains("login_hint=alice"), "{}", run.stderr);
    assert!(
        run.stderr.contains("authorization_details="),
        "{}",
        run.stderr
    );
    let urls = env.browser_url_parameters();
    assert_eq!(urls.len(), 2);
    for names in &urls {
        assert!(names.iter().any(|n| n == "code_challenge"), "{names:?}");
        assert!(!names.iter().any(|n| n == "request_uri"), "{names:?}");
    }
    assert!(env.pushed_requests().is_empty());
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(52_500));
}

#[test]
fn par_never_keeps_the_plain_url_where_par_is_offered() {
    let mut env = TestEnv::start();
    env.set_env("BANK_PAR", "never");
    env.login();
    let names = env.browser_url_parameters().pop().expect("the login's URL");
    assert!(names.iter().any(|n| n == "scope"), "{names:?}");
    assert!(env.pushed_requests().is_empty());
}

#[test]
fn par_always_needs_a_provider_that_offers_it() {
    let env = TestEnv::start_with(|config| config.authz.pushed_authorization_requests = false);
    env.run(&["config", "set", "par", "always"]).success();
    let run = env.run(&["login"]).code(2);
    assert_eq!(
        run.stderr,
        "error: this profile's `par` setting is `always`, but [ISSUER] offers no pushed authorization requests (its metadata names no pushed_authorization_request_endpoint)\n  \
         hint: `par = auto` pushes exactly where the provider offers it: `bank config set par auto`\n"
    );
    assert_eq!(env.browser_log(), "", "no browser was opened");
    assert_eq!(authorizations(&env), 0);

    let offered = TestEnv::start();
    offered.run(&["config", "set", "par", "always"]).success();
    offered.login();
    assert_eq!(offered.browser_url_parameters(), [BY_REFERENCE]);
}

#[test]
fn a_refused_push_is_an_error_in_words_before_any_browser_opens() {
    let mut env = TestEnv::start();
    let run = env.run(&["login", "--scope", "launch:missiles"]).code(4);
    assert_eq!(
        run.stderr,
        "error: the authorization server refused the requested scopes (pushed authorization request: invalid_scope): unknown scope launch:missiles\n"
    );
    env.set_env("BANK_CLIENT_ID", "evil-cli");
    let run = env.run(&["login"]).code(2);
    assert_eq!(
        run.stderr,
        "error: the authorization server does not accept this client id (pushed authorization request: invalid_client): unknown client\n  \
         hint: check the profile's client id (`bank config get client_id`) and the client's settings at the provider; where it may not push requests at all, `bank config set par never` sends the plain URL\n"
    );
    assert_eq!(env.browser_log(), "", "no browser was opened");
    assert!(env.pushed_requests().is_empty());
}

#[test]
fn the_par_setting_takes_three_values_from_the_file_or_bank_par() {
    let mut env = TestEnv::without_sandbox("http://127.0.0.1:9", "http://127.0.0.1:9");
    let run = env.run(&["config", "get", "par"]).success();
    assert_eq!(run.stdout, "auto\n");
    let run = env.run(&["config", "set", "par", "sometimes"]).code(2);
    assert!(
        run.stderr
            .starts_with("error: invalid value for `par`: expected `auto` (where the provider offers it, the default), `always` or `never`\n"),
        "{}",
        run.stderr
    );
    env.run(&["config", "set", "par", "never"]).success();
    let json = env.run(&["--json", "config", "list"]).success().json();
    assert_eq!(json["par"]["value"], "never");
    assert_eq!(json["par"]["source"], "file");
    env.set_env("BANK_PAR", "on");
    let run = env.run(&["status"]).code(2);
    assert!(
        run.stderr.starts_with(
            "error: invalid value for `par (from BANK_PAR)`: expected `auto` (where the provider offers it, the default), `always` or `never`\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_client_held_to_par_by_the_server_alone_hears_why_a_plain_request_fails() {
    // Another client may still use plain requests, so the metadata cannot say PAR is
    // required; `par = never` then sends a plain request, and the server refuses it.
    let mut env = TestEnv::start_with(|config| {
        config.authz.clients[0].require_pushed_authorization_requests = true;
        config
            .authz
            .clients
            .push(bank_sandbox::authz::ClientConfig {
                client_id: "web-app".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                ..bank_sandbox::authz::ClientConfig::default()
            });
    });
    env.set_env("BANK_PAR", "never");
    let run = env.run_with_browser(&["login"]).code(4);
    assert!(
        run.stderr.contains(
            "error: the authorization server refused: invalid_request: this client must push its authorization requests"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(authorizations(&env), 0, "no sign-in was started");
}

/// A pushed request's link that the person must open themselves dies unopened after the
/// lifetime the push answered: bank says so then, not only when its own timeout ends.
#[test]
fn a_pushed_link_nobody_opened_in_time_is_reported_when_it_expires() {
    let env = TestEnv::start_with(|config| {
        config.authz.device.enabled = false;
        config.authz.request_uri_lifetime_secs = 1;
    });
    let run = env
        .run(&["login", "--no-browser", "--timeout", "4s"])
        .code(4);
    assert!(
        run.stderr.contains(
            "the link above expired 1s after bank sent the request: if it was not opened by then, nothing can finish this sign-in; press Ctrl-C and run the command again"
        ),
        "{}",
        run.stderr
    );
}
