//! DPoP (RFC 9449) end to end: the built `bank`, the real sandbox and the real keyring.
//! A login binds its tokens to a key kept beside them; a copy of either token without the
//! key gets nothing; nonces are asked for and answered at both servers; `bank token
//! --dpop-proof` lets a script make one request; and `bank` falls back by metadata where a
//! provider has no DPoP, or works where it demands DPoP and PAR together.

use bank::dpop::DpopKey;
use bank_sandbox::api::DpopMode;
use bank_sandbox::authz::{AuthzEvent, DpopSupport};

use crate::common::mfa::{Mfa, with_mfa};
use crate::common::{PUSHED_URL, TestEnv};
use crate::test_transfer::browser_runs;

const TRANSFER: &[&str] = &["transfer", "--to", "bob", "--amount", "25.00", "--yes"];

/// The DPoP key stored with the login, as any program reading the keyring would find it.
fn stored_key(env: &TestEnv) -> DpopKey {
    let bundle = env.keyring_bundle().expect("stored in the keyring");
    serde_json::from_value(bundle["dpop_key"].clone()).expect("a DPoP key beside the tokens")
}

/// The `cnf.jkt` of every token the authorization server issued, with its grant type.
fn issued(env: &TestEnv) -> Vec<(String, Option<String>)> {
    env.sandbox()
        .authz()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuthzEvent::TokenIssued {
                grant, dpop_jkt, ..
            } => Some((grant, dpop_jkt)),
            _ => None,
        })
        .collect()
}

fn balance_url(env: &TestEnv) -> String {
    format!("{}/v1/balance", env.api_url)
}

/// `GET /v1/balance` sent by hand: status and `WWW-Authenticate`.
fn get_balance(env: &TestEnv, authorization: &str, proof: Option<&str>) -> (u16, Option<String>) {
    env.rt.block_on(async {
        let mut request = reqwest::Client::new()
            .get(balance_url(env))
            .header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        let response = request.send().await.expect("the API answers");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), challenge)
    })
}

/// A refresh sent by hand to the token endpoint: status and the JSON answer.
fn refresh_by_hand(
    env: &TestEnv,
    refresh_token: &str,
    key: Option<&DpopKey>,
) -> (u16, serde_json::Value) {
    let endpoint = format!("{}/oauth/token", env.issuer);
    env.rt.block_on(async {
        let mut request = reqwest::Client::new().post(&endpoint).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "bank-cli"),
        ]);
        if let Some(key) = key {
            let url = url::Url::parse(&endpoint).expect("url");
            request = request.header("dpop", key.proof("POST", &url, None, None));
        }
        let response = request.send().await.expect("the token endpoint answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    })
}

#[test]
fn a_login_binds_its_tokens_to_a_key_stored_beside_them_and_removed_at_logout() {
    let env = TestEnv::start();
    env.login();
    let key = stored_key(&env);
    let bundle = env.keyring_bundle().expect("stored");
    assert!(
        bundle["dpop_key"]["d"].is_string(),
        "the private key: {bundle}"
    );
    assert_eq!(
        issued(&env),
        [(
            "authorization_code".to_owned(),
            Some(key.thumbprint().to_owned())
        )],
        "the access token's cnf.jkt is the stored key's thumbprint"
    );
    // The authorization request named the key (RFC 9449 §10), pushed with the rest.
    let pushed = env.pushed_requests();
    assert!(
        pushed[0].parameters.iter().any(|p| p == "dpop_jkt"),
        "{pushed:?}"
    );

    let run = env.run(&["--json", "status"]).success();
    assert_eq!(run.json()["dpop_jkt"], key.thumbprint());
    let run = env.run(&["-v", "balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    assert!(
        run.stderr
            .contains(&format!("DPoP proof by key {}", key.thumbprint())),
        "{}",
        run.stderr
    );

    // The private key is in the keyring only: no file, no output names it.
    let private = bundle["dpop_key"]["d"].as_str().expect("d");
    assert!(!run.stderr.contains(private) && !run.stdout.contains(private));
    let token = env.run(&["--json", "token"]).success();
    assert!(!token.stdout.contains(private), "{}", token.stdout);
    assert_eq!(
        env.files_containing(private),
        Vec::<std::path::PathBuf>::new()
    );

    env.run(&["logout"]).success();
    assert!(env.keyring_bundle().is_none(), "key and tokens are gone");
}

#[test]
fn a_copied_access_token_is_worthless_without_its_key() {
    let env = TestEnv::start();
    env.login();
    let token = env.run(&["--json", "token"]).success().json();
    assert_eq!(token["token_type"], "DPoP");
    let access = token["access_token"].as_str().expect("access token");

    // As a bearer token: the API says which scheme a bound token needs.
    let (status, challenge) = get_balance(&env, &format!("Bearer {access}"), None);
    assert_eq!(status, 401);
    assert!(
        challenge.as_deref().is_some_and(|c| c.contains(
            r#"error_description="a DPoP-bound token must be sent with the DPoP scheme""#
        )),
        "{challenge:?}"
    );
    // `BANK_TOKEN` is for bearer tokens; a copied bound token there is refused the same way.
    let mut thief = TestEnv::without_sandbox(&env.issuer, &env.api_url);
    thief.set_env("BANK_TOKEN", access);
    let run = thief.run(&["balance"]).code(3);
    assert!(run.stderr.contains("DPoP"), "{}", run.stderr);
    // With the DPoP scheme but no proof, or a proof by the thief's own key.
    let (status, challenge) = get_balance(&env, &format!("DPoP {access}"), None);
    assert_eq!(status, 401);
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with(r#"DPoP error="invalid_dpop_proof""#)),
        "{challenge:?}"
    );
    let url = url::Url::parse(&balance_url(&env)).expect("url");
    let other = DpopKey::generate();
    let proof = other.proof("GET", &url, Some(access), None);
    let (status, challenge) = get_balance(&env, &format!("DPoP {access}"), Some(&proof));
    assert_eq!(status, 401);
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with(r#"DPoP error="invalid_dpop_proof""#)),
        "{challenge:?}"
    );
    // The owner is unaffected.
    env.run(&["balance"]).success();
}

#[test]
fn a_copied_refresh_token_is_refused_without_its_key_and_stays_the_owners() {
    let env = TestEnv::start();
    let run = env
        .run_with_browser(&["login", "--insecure-storage"])
        .success();
    assert!(run.stderr.contains("Logged in"), "{}", run.stderr);
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.token_file()).expect("bundle"))
            .expect("bundle JSON");
    let refresh = bundle["refresh_token"].as_str().expect("refresh token");
    let key: DpopKey = serde_json::from_value(bundle["dpop_key"].clone()).expect("key");

    let (status, answer) = refresh_by_hand(&env, refresh, None);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let (status, answer) = refresh_by_hand(&env, refresh, Some(&DpopKey::generate()));
    assert_eq!(
        (
            status,
            answer["error"].as_str(),
            answer["error_description"].as_str()
        ),
        (
            400,
            Some("invalid_grant"),
            Some("refresh token is bound to another DPoP key")
        )
    );

    // Neither attempt spent the token: the owner's expired login refreshes with its key.
    env.edit_token_file(|b| b["expires_at"] = 0.into());
    let run = env.run(&["balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    let refreshes: Vec<_> = issued(&env)
        .into_iter()
        .filter(|(grant, _)| grant == "refresh_token")
        .collect();
    assert_eq!(
        refreshes,
        [(
            "refresh_token".to_owned(),
            Some(key.thumbprint().to_owned())
        )]
    );
}

#[test]
fn nonces_demanded_by_both_servers_are_answered_once_each() {
    let env = TestEnv::start_with(|config| {
        config.authz.dpop_proofs.require_nonce = true;
        config.api.dpop_proofs.require_nonce = true;
    });
    let run = env.run_with_browser(&["-v", "login"]).success();
    assert!(run.stderr.contains("Logged in"), "{}", run.stderr);
    let key = stored_key(&env);
    assert_eq!(
        issued(&env),
        [(
            "authorization_code".to_owned(),
            Some(key.thumbprint().to_owned())
        )]
    );
    let run = env.run(&["-v", "balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    // The first request learned the nonce (401 use_dpop_nonce), the retry carried it.
    assert_eq!(
        run.stderr.matches("→ GET [API]/v1/balance").count(),
        2,
        "{}",
        run.stderr
    );
    let answers: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("debug: ← ") || l.contains("WWW-Authenticate"))
        .collect();
    assert_eq!(answers.len(), 3, "{}", run.stderr);
    assert!(answers[0].ends_with("401 Unauthorized"), "{answers:?}");
    assert!(
        answers[1].contains(r#"DPoP error="use_dpop_nonce""#),
        "{answers:?}"
    );
    assert!(answers[2].ends_with("200 OK"), "{answers:?}");
    let run = with_mfa(&env, TRANSFER, Mfa::Approve).success();
    assert!(run.stdout.contains("Transferred"), "{}", run.stdout);
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(52_500));
}

#[test]
fn dpop_never_gets_bearer_tokens_and_the_sandbox_moves_no_money_for_them() {
    let mut env = TestEnv::start();
    env.set_env("BANK_DPOP", "never");
    env.login();
    assert!(env.keyring_bundle().expect("stored")["dpop_key"].is_null());
    assert_eq!(issued(&env), [("authorization_code".to_owned(), None)]);
    let token = env.run(&["--json", "token"]).success().json();
    assert_eq!(token["token_type"], "Bearer");
    env.run(&["balance"]).success();
    // The sandbox's own API takes only bound tokens for transfers (`transfers` mode): the
    // bearer everyday token is refused before any step-up (no sign-in, no push), in the
    // DPoP scheme alone, and bank says what to change.
    let run = env.run(TRANSFER).code(2);
    assert_eq!(browser_runs(&env), 1, "only the login's sign-in");
    assert!(
        run.stderr.ends_with(
            "error: the bank API takes only DPoP-bound tokens here: moving money needs a DPoP-bound token\n  \
             hint: this login holds bearer tokens: where the provider offers DPoP, unset BANK_DPOP (it overrides the profile's `dpop`) and `bank login` again\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(50_000));
}

#[test]
fn a_provider_without_dpop_or_par_gets_bearer_tokens_and_always_is_a_usage_error() {
    let mut env = TestEnv::start_with(|config| {
        config.authz.dpop = DpopSupport::Off;
        config.authz.pushed_authorization_requests = false;
        config.api.dpop = Some(DpopMode::Optional);
    });
    env.run(&["config", "set", "dpop", "always"]).success();
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr.starts_with(
            "error: the provider does not offer DPoP with ES256, and this profile requires it (dpop = always)\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("or allow bearer tokens: `bank config set dpop auto`\n"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "", "no browser was opened");

    // Set by the environment, the hint names the variable: `config set` would change nothing.
    env.run(&["config", "set", "dpop", "auto"]).success();
    env.set_env("BANK_DPOP", "always");
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr.ends_with(
            "or allow bearer tokens: unset BANK_DPOP (it overrides the profile's `dpop`)\n"
        ),
        "{}",
        run.stderr
    );
    env.remove_env("BANK_DPOP");

    env.run(&["config", "set", "dpop", "auto"]).success();
    env.login();
    assert!(env.keyring_bundle().expect("stored")["dpop_key"].is_null());
    // The whole request in the browser's URL, without a key's thumbprint.
    let login = env.browser_url_parameters().pop().expect("the login's URL");
    assert!(login.iter().any(|p| p == "scope"), "{login:?}");
    assert!(!login.iter().any(|p| p == "dpop_jkt"), "{login:?}");
    env.run(&["balance"]).success();
    let run = with_mfa(&env, TRANSFER, Mfa::Approve).success();
    assert!(run.stdout.contains("Transferred"), "{}", run.stdout);
    let run = env
        .run(&[
            "token",
            "--dpop-proof",
            "--method",
            "GET",
            "--url",
            &balance_url(&env),
        ])
        .code(2);
    assert!(run.stderr.contains("bearer token"), "{}", run.stderr);
}

#[test]
fn bank_token_dpop_proof_signs_exactly_one_request() {
    let env = TestEnv::start();
    env.login();
    let url = balance_url(&env);
    let printed = env
        .run(&[
            "--json",
            "token",
            "--dpop-proof",
            "--method",
            "GET",
            "--url",
            &url,
        ])
        .success()
        .json();
    let access = printed["access_token"].as_str().expect("token");
    let proof = printed["dpop_proof"].as_str().expect("proof");
    assert_eq!(printed["dpop_jkt"], stored_key(&env).thumbprint());
    let authorization = format!("DPoP {access}");
    assert_eq!(get_balance(&env, &authorization, Some(proof)).0, 200);
    // The same proof again is a replay.
    let (status, challenge) = get_balance(&env, &authorization, Some(proof));
    assert_eq!(status, 401);
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with(r#"DPoP error="invalid_dpop_proof""#)),
        "{challenge:?}"
    );
    // A proof for another method does not fit this request.
    let printed = env
        .run(&[
            "--json",
            "token",
            "--dpop-proof",
            "--method",
            "POST",
            "--url",
            &url,
        ])
        .success()
        .json();
    let proof = printed["dpop_proof"].as_str().expect("proof");
    assert_eq!(get_balance(&env, &authorization, Some(proof)).0, 401);
}

#[test]
fn a_provider_that_requires_par_and_dpop_gets_both() {
    let mut env = TestEnv::start_with(|config| {
        config.authz.dpop = DpopSupport::Required;
        config.authz.clients[0].require_pushed_authorization_requests = true;
        config.api.dpop = Some(DpopMode::Required);
    });
    let run = env.run_with_browser(&["login"]).success();
    assert!(run.stderr.contains(PUSHED_URL), "{}", run.stderr);
    let key = stored_key(&env);
    env.run(&["balance"]).success();
    let run = with_mfa(&env, TRANSFER, Mfa::Approve).success();
    assert!(run.stdout.contains("Transferred"), "{}", run.stdout);
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(52_500));
    let grants = issued(&env);
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert_eq!(grants[0].1.as_deref(), Some(key.thumbprint()));
    assert!(grants.iter().all(|(_, jkt)| jkt.is_some()), "{grants:?}");

    // A CLI told not to use DPoP is refused by the token endpoint, with its words.
    env.set_env("BANK_DPOP", "never");
    let run = env.run_with_browser(&["login", "--force"]).code(2);
    assert!(
        run.stderr.contains(
            "error: the provider requires DPoP-bound tokens, and this profile does not use DPoP (dpop = never)\n  hint: let bank bind its tokens where the provider offers it: unset BANK_DPOP (it overrides the profile's `dpop`)\n"
        ),
        "{}",
        run.stderr
    );
}

/// A proof carries the time: when this computer's clock and the API's disagree by more
/// than the proof window, the API refuses the proof (not the token), and `bank` says to
/// check the clock instead of sending the person to log in again.
#[test]
fn a_clock_far_off_is_a_refused_proof_with_a_hint_about_the_clock() {
    let env = TestEnv::start();
    env.login();
    env.run(&["balance"]).success();
    // The API's clock two minutes ahead: every fresh proof looks two minutes old.
    env.sandbox()
        .bank()
        .clock()
        .advance(std::time::Duration::from_secs(120));
    let run = env.run(&["balance"]).code(4);
    assert!(
        run.stderr
            .starts_with("error: the bank API refused the DPoP proof"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: a DPoP proof carries the time: check this computer's clock"),
        "{}",
        run.stderr
    );
    // Nothing was thrown away: the stored login is intact.
    assert!(
        env.keyring_bundle()
            .is_some_and(|b| b["refresh_token"].is_string())
    );
}
