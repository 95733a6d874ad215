//! `bank balance` and `bank history` against the sandbox's bank API.

use crate::common::TestEnv;

#[test]
fn balance_human_and_json() {
    let env = TestEnv::start();
    env.login();
    let run = env.run(&["balance"]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");
    assert_eq!(run.stderr, "");
    let json = env.run(&["balance", "--json"]).success().json();
    assert_eq!(
        json,
        serde_json::json!({"account": "alice", "balance": "1000.00", "currency": "USD"})
    );
    // The API saw two authenticated GETs.
    let seen: Vec<_> = env
        .sandbox()
        .bank()
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".to_owned(), "/v1/balance".to_owned(), 200),
            ("GET".to_owned(), "/v1/balance".to_owned(), 200)
        ]
    );
}

#[test]
fn history_table_and_json() {
    // The API's audit trail records paths without the query: the proxy sees the raw line.
    let (env, proxy) = TestEnv::behind_proxy();
    env.login();
    let run = env.run(&["history"]).success();
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "No transfers yet.\n");
    let json = env
        .run(&["history", "--json", "--limit", "5"])
        .success()
        .json();
    assert_eq!(json, serde_json::json!([]));
    let last = env.sandbox().bank().requests().pop().expect("a request");
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("GET", "/v1/transfers", 200)
    );
    assert_eq!(
        proxy.request_lines(),
        [
            "GET /v1/transfers?limit=20 HTTP/1.1",
            "GET /v1/transfers?limit=5 HTTP/1.1"
        ]
    );
}

#[test]
fn server_down_exits_5() {
    let mut env = TestEnv::start();
    env.login();
    env.stop_sandbox();
    let run = env.run(&["balance"]).code(5);
    assert!(
        run.stderr
            .starts_with("error: cannot reach the bank API at [API]\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_rejected_bank_token_exits_3() {
    let mut env = TestEnv::start();
    env.set_env("BANK_TOKEN", "not-a-valid-token");
    let run = env.run(&["balance"]).code(3);
    assert!(
        run.stderr
            .starts_with("error: the bank API rejected the token in BANK_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-a-valid-token"), "{}", run.stderr);
    let last = env.sandbox().bank().requests().pop().expect("a request");
    assert_eq!(last.status, 401);
    assert!(
        last.www_authenticate
            .expect("a challenge")
            .contains("invalid_token")
    );
}

/// Times are the person's: `bank history` shows them in the local zone (TZ, else the
/// system's), with the zone named; `--json` keeps the API's RFC 3339 in UTC.
#[test]
fn history_shows_times_in_the_local_zone_and_names_it() {
    let mut env = TestEnv::start_with(|config| config.authz.mfa_auto_approve = true);
    env.login();
    env.run_with_browser(&["transfer", "--to", "bob", "--amount", "5", "--yes"])
        .success();
    let json = env.run(&["history", "--json"]).success().json();
    let utc = json[0]["created_at"]
        .as_str()
        .expect("created_at")
        .to_owned();
    assert!(utc.ends_with('Z'), "{utc}");
    let at = time::OffsetDateTime::parse(&utc, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let minute = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");

    env.set_env("TZ", "UTC");
    let run = env.run(&["history"]).success();
    // The zone is named once, in the header, so that a row fits 80 columns.
    assert!(run.stdout.starts_with("DATE (UTC)  "), "{}", run.stdout);
    let shown = format!("\n{}  to bob", at.format(&minute).expect("formats"));
    assert!(run.stdout.contains(&shown), "{shown}:\n{}", run.stdout);
    assert!(
        run.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        run.stdout
    );

    // A POSIX zone string needs no zone database: nine hours east of UTC.
    env.set_env("TZ", "JST-9");
    let run = env.run(&["history"]).success();
    let tokyo = at.to_offset(time::macros::offset!(+9));
    assert!(run.stdout.starts_with("DATE (+09:00)  "), "{}", run.stdout);
    let shown = format!("\n{}  to bob", tokyo.format(&minute).expect("formats"));
    assert!(run.stdout.contains(&shown), "{shown}:\n{}", run.stdout);
    let json = env.run(&["history", "--json"]).success().json();
    assert_eq!(json[0]["created_at"], utc.as_str());
}
