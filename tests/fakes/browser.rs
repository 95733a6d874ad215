//! `bank-test-browser`: a scripted person with a browser, for the end-to-end tests.
//!
//! `bank login` runs it (through `BANK_BROWSER`) with the authorization URL as its last
//! argument. The walking itself — real HTTP with a cookie jar, the login form with its CSRF
//! field, the MFA waiting page, the loopback callback — is `bank_sandbox::walker`, which
//! `bank demo` and the benchmark driver use too; this binary adds what only tests need. It logs in as
//! `BANK_TEST_USERNAME`/`BANK_TEST_PASSWORD` and appends one line per step to
//! `BANK_TEST_BROWSER_LOG`, which the tests read (and use to fail when the browser was
//! expected but never ran), starting with the names of the URL's query parameters. `BANK_TEST_BROWSER_MODE` scripts misbehaviour: `idle` (never sign
//! in: the login times out), `tamper-state` (deliver the callback with a different `state`
//! only), `tamper-state-then-real` (that, then the real callback).

use std::io::Write as _;
use std::process::ExitCode;

use bank_sandbox::walker::{Password, Walker};
use reqwest::Url;

fn main() -> ExitCode {
    let log = Log(std::env::var("BANK_TEST_BROWSER_LOG").ok());
    let Some(url) = std::env::args().next_back() else {
        log.line("error: no URL argument");
        return ExitCode::from(2);
    };
    log.line("started");
    // Names only: the values (state, a PKCE challenge) are not for a log.
    if let Ok(parsed) = Url::parse(&url) {
        let names: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
        log.line(&format!("authorize parameters: {}", names.join(" ")));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log.line(&format!("error: runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(browse(&log, &url)) {
        Ok(()) => {
            log.line("done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log.line(&format!("error: {e}"));
            eprintln!("bank-test-browser: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Log(Option<String>);

impl Log {
    fn line(&self, text: &str) {
        if let Some(path) = &self.0
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{text}");
        }
    }
}

async fn browse(log: &Log, start: &str) -> Result<(), bank_sandbox::walker::WalkError> {
    let mode = std::env::var("BANK_TEST_BROWSER_MODE").unwrap_or_default();
    if mode == "idle" {
        log.line(&format!(
            "open {}",
            Url::parse(start).map_or_else(|_| start.to_owned(), |u| u.path().to_owned())
        ));
        log.line("idle: not signing in");
        return Ok(());
    }
    let username = std::env::var("BANK_TEST_USERNAME").unwrap_or_else(|_| "alice".into());
    let password = std::env::var("BANK_TEST_PASSWORD").unwrap_or_else(|_| "wonderland".into());
    let walker = Walker::new(&username, Password::new(password))?
        .mfa_deadline(std::time::Duration::from_secs(60));
    let mut observe = |step: &bank_sandbox::walker::Step| log.line(&step.to_string());
    let callback = walker.walk_to_callback(start, &mut observe).await?;
    if mode.starts_with("tamper-state") {
        let tampered = tamper_state(&callback);
        log.line("tampered with state");
        walker.deliver(&tampered, &mut observe).await?;
        if mode == "tamper-state" {
            return Ok(());
        }
        // `tamper-state-then-real`: the stray request did not end the login.
    }
    walker.deliver(&callback, &mut observe).await?;
    Ok(())
}

fn tamper_state(url: &Url) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}-tampered")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}
