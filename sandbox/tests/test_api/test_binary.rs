//! `bank-sandbox api` and `bank-sandbox accounts open` as a person runs them, on SQLite.

use std::process::Command;

use serde_json::json;

use crate::common::dpop::DpopKey;
use crate::common::issuer::TestIssuer;
use crate::test_postgres::ApiProcess;

fn sandbox_bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bank-sandbox"));
    command.env_clear();
    command
}

#[test]
fn an_issuer_over_plain_http_is_refused_unless_it_is_on_loopback() {
    let dir = tempfile::tempdir().expect("data dir");
    let out = sandbox_bin()
        .args([
            "api",
            "--issuer",
            "http://idp.example.test",
            "--api-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run api");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("issuer (--issuer, [api] issuer) must use https")
            && stderr.contains("http://idp.example.test"),
        "{stderr}"
    );
    // Refused before anything was opened or written.
    assert!(!dir.path().join("bank.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_open_works_on_the_sqlite_file_while_the_api_runs() {
    let dir = tempfile::tempdir().expect("data dir");
    let data_dir = dir.path().display().to_string();
    let issuer = TestIssuer::start().await;
    let api = ApiProcess::spawn_with(&issuer.issuer, &["--data-dir", &data_dir]);
    let token = issuer.token("okta|frank", "frank", "openid view:balance");
    api.client
        .get("/v1/balance", Some(&token))
        .await
        .assert_problem(403, "account-not-open");
    let open = |handle: &str, sub: &str| {
        sandbox_bin()
            .args(["accounts", "open", "--sub", sub, "--handle", handle])
            .args(["--balance", "7.00", "--data-dir", &data_dir])
            .output()
            .expect("run accounts open")
    };
    let out = open("frank", "okta|frank");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = api.client.get("/v1/balance", Some(&token)).await;
    assert_eq!(
        answer.body,
        json!({"account": "frank", "balance": "7.00", "currency": "USD"})
    );
    // A taken handle is refused with a clear message; the same account again is a no-op.
    let taken = open("frank", "okta|someone-else");
    assert!(!taken.status.success());
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("belongs to another account"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert!(open("frank", "okta|frank").status.success());
    let bad = sandbox_bin()
        .args([
            "accounts",
            "open",
            "--sub",
            "x",
            "--handle",
            "Not A Handle",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run accounts open");
    assert!(!bad.status.success());
}

/// `--dpop` and `--public-url` as a person passes them: `required` refuses an unbound
/// token, and the proof names the public URL, not where the process listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_dpop_required_with_a_public_url() {
    let dir = tempfile::tempdir().expect("data dir");
    let data_dir = dir.path().display().to_string();
    let issuer = TestIssuer::start().await;
    let api = ApiProcess::spawn_with(
        &issuer.issuer,
        &[
            "--data-dir",
            &data_dir,
            "--dpop",
            "required",
            "--public-url",
            "https://bank.example",
        ],
    );
    let sub = "okta|grace";
    assert!(
        sandbox_bin()
            .args(["accounts", "open", "--sub", sub, "--handle", "grace"])
            .args(["--balance", "3.00", "--data-dir", &data_dir])
            .output()
            .expect("run accounts open")
            .status
            .success()
    );
    let unbound = issuer.token(sub, "grace", "openid view:balance");
    api.client
        .get("/v1/balance", Some(&unbound))
        .await
        .assert_problem(401, "dpop-required");
    let key = DpopKey::new();
    let claims = TestIssuer::edit(
        &issuer.claims(sub, "grace", "openid view:balance"),
        json!({"cnf": {"jkt": key.jkt}}),
    );
    let token = issuer.sign(&claims);
    let proof = key.proof("GET", "https://bank.example/v1/balance", Some(&token));
    let answer = api
        .client
        .send_dpop(
            reqwest::Method::GET,
            "/v1/balance",
            &token,
            &[&proof],
            None,
            None,
        )
        .await;
    assert_eq!(answer.body["balance"], "3.00", "{}", answer.body);
    let bad = sandbox_bin()
        .args([
            "api",
            "--issuer",
            &issuer.issuer,
            "--api-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--public-url",
            "https://bank.example/?x=1",
            "--data-dir",
            &data_dir,
        ])
        .output()
        .expect("run api");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("public_url must be"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// `bank-sandbox api --issuer …` says which assurance policy it applies, and applies it: the
/// provider's MFA rule for `transfer:funds` is the evidence (Auth0's default access tokens
/// carry no `amr`, `acr` or `auth_time`), and claims that are present must not deny it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_issuers_rule_is_the_mfa_evidence_and_the_banner_says_so() {
    let dir = tempfile::tempdir().expect("data dir");
    let data_dir = dir.path().display().to_string();
    let issuer = TestIssuer::start().await;
    let api = ApiProcess::spawn_with(&issuer.issuer, &["--data-dir", &data_dir]);
    assert!(
        api.banner
            .contains("Transfers       the provider's MFA rule (amr/acr/auth_time checked"),
        "{}",
        api.banner
    );
    let sub = "auth0|grace";
    for (who, handle) in [(sub, "grace"), ("auth0|henry", "henry")] {
        assert!(
            sandbox_bin()
                .args(["accounts", "open", "--sub", who, "--handle", handle])
                .args(["--balance", "30.00", "--data-dir", &data_dir])
                .output()
                .expect("run accounts open")
                .status
                .success()
        );
    }
    let plain = TestIssuer::edit(
        &issuer.claims(sub, "grace", "transfer:funds"),
        json!({"amr": null, "acr": null, "auth_time": null}),
    );
    let transfer = json!({"to": "henry", "amount": "1.00", "currency": "USD"});
    let paid = api
        .client
        .transfer(&issuer.sign(&plain), "k1", &transfer)
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let single_factor = TestIssuer::edit(&plain, json!({"amr": ["pwd"]}));
    let refused = api
        .client
        .transfer(&issuer.sign(&single_factor), "k2", &transfer)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused
            .www_authenticate()
            .is_some_and(|c| c.contains("insufficient_user_authentication")),
        "{:?}",
        refused.www_authenticate()
    );
}
