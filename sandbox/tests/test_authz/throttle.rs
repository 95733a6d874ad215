//! Login throttling and MFA push limits, attacked the way an auditor did: in parallel,
//! from other addresses, and with pushes until the user gives in. Other loopback
//! addresses (127.0.0.2, …) stand for other machines.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bank_sandbox::SandboxConfig;
use bank_sandbox::authz::{AuthzEvent, LoginName, PasswordHashing};
use reqwest::StatusCode;

use crate::common::*;

/// A browser on another machine: its own address, its own cookie jar.
struct Stranger {
    http: reqwest::Client,
    issuer: String,
}

impl Stranger {
    fn from(sandbox: &bank_sandbox::Sandbox, last_octet: u8) -> Stranger {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Stranger {
            http,
            issuer: sandbox.issuer().to_owned(),
        }
    }

    /// Opens a fresh sign-in and submits `username`/`password`; returns the status.
    async fn try_login(&self, username: &str, password: &str) -> StatusCode {
        let url = authorize_url(&self.issuer, &Pkce::new(), "view:balance", &[]);
        let first = self.http.get(&url).send().await.expect("authorize");
        let login = first
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("to the login page")
            .to_owned();
        let body = self
            .http
            .get(format!("{}{login}", self.issuer))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("body");
        let page = Page {
            status: StatusCode::OK,
            headers: Default::default(),
            body,
        };
        self.http
            .post(format!("{}/login", self.issuer))
            .form(&[
                ("txn", page.input("txn").as_str()),
                ("csrf_token", &page.input("csrf_token")),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("login post")
            .status()
    }
}

fn failures_of(sandbox: &bank_sandbox::Sandbox, user: &str) -> usize {
    sandbox
        .authz()
        .events()
        .iter()
        .filter(
            |e| matches!(e, AuthzEvent::LoginFailed { username } if username.known() == Some(user)),
        )
        .count()
}

/// 60 wrong passwords at once used to be verified all (60 × 401): each attempt is now
/// counted before its password is checked, so at most the allowed number are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    // Hashing slow enough (a few milliseconds) for the attempts to overlap, as they do
    // against the production parameters.
    let mut config = SandboxConfig::ephemeral();
    config.authz.password_hashing = PasswordHashing {
        memory_kib: 4096,
        iterations: 4,
        parallelism: 1,
    };
    let sandbox = start_with(config).await;
    let mut pages = Vec::new();
    for _ in 0..60 {
        let mut browser = Browser::new(&sandbox);
        let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
        let first = browser.get(&url).await;
        let login = browser.get(first.location()).await;
        pages.push((browser, login));
    }
    let attempts: Vec<_> = pages
        .into_iter()
        .map(|(mut browser, login)| {
            tokio::spawn(async move { browser.submit_login(&login, "bob", "wrong").await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("join"));
    }
    let rejected = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(rejected + throttled, 60, "{statuses:?}");
    assert!(
        rejected <= 5,
        "{rejected} passwords were checked: {statuses:?}"
    );
    assert!(failures_of(&sandbox, "bob") <= 5);
    assert!(
        sandbox
            .authz()
            .events()
            .contains(&AuthzEvent::LoginThrottled {
                username: LoginName::Known("bob".into())
            })
    );
    // Once the wait is over, the right password works again.
    sandbox.authz().clock().advance(Duration::from_secs(3601));
    let mut bob = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
    let done = authorize_and_login(&mut bob, &url, "bob", "builder").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    sandbox.shutdown().await;
}

/// Wrong passwords from one machine slow that machine down, not the real user elsewhere;
/// failures spread over many machines still slow the account down.
#[tokio::test]
async fn a_strangers_failures_do_not_lock_out_the_real_user() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.login_throttle.max_failures = 3;
    config.authz.login_throttle.account_max_failures = 8;
    let sandbox = start_with(config).await;
    let stranger = Stranger::from(&sandbox, 2);
    for attempt in 0..6 {
        let status = stranger.try_login("alice", "guess").await;
        let expected = if attempt < 3 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "attempt {attempt}");
    }
    // Alice, on her own machine, is not affected.
    let mut alice = Browser::new(&sandbox);
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "view:balance", &[]);
    let done = authorize_and_login(&mut alice, &url, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);

    // Two more machines: the account as a whole reaches its limit (3 + 3 + 2 = 8).
    for (octet, tries) in [(3, 3), (4, 2)] {
        let stranger = Stranger::from(&sandbox, octet);
        for _ in 0..tries {
            assert_eq!(
                stranger.try_login("alice", "guess").await,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    let late = Stranger::from(&sandbox, 9);
    assert_eq!(
        late.try_login("alice", "wonderland").await,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing spread over machines is bounded too"
    );
    sandbox.authz().clock().advance(Duration::from_secs(31));
    assert_eq!(
        late.try_login("alice", "wonderland").await,
        StatusCode::FOUND
    );
    sandbox.shutdown().await;
}

/// Push fatigue: a user is sent at most `max_pushes` MFA requests in `window_secs`;
/// further sign-ins that need MFA end with `temporarily_unavailable`, and no push.
#[tokio::test]
async fn mfa_pushes_are_rate_limited_per_user() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.mfa_push_limit.max_pushes = 3;
    let sandbox = start_with(config).await;
    let mut browser = Browser::new(&sandbox);
    let pushes = |sandbox: &bank_sandbox::Sandbox| {
        sandbox
            .authz()
            .events()
            .iter()
            .filter(|e| matches!(e, AuthzEvent::MfaRequired { .. }))
            .count()
    };
    for n in 1..=3 {
        let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
        let page = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
        assert!(
            page.location().starts_with("/mfa/wait?"),
            "push {n}: {}",
            page.location()
        );
        assert_eq!(pushes(&sandbox), n);
    }
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
    let refused = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(refused.status, StatusCode::FOUND);
    assert_eq!(
        query_param(refused.location(), "error").as_deref(),
        Some("temporarily_unavailable"),
        "{}",
        refused.location()
    );
    assert_eq!(pushes(&sandbox), 3, "no fourth push");
    // Bob's pushes are his own.
    let mut bob = Browser::new(&sandbox);
    let page = authorize_and_login(&mut bob, &url, "bob", "builder").await;
    assert!(page.location().starts_with("/mfa/wait?"));
    // The window moves on.
    sandbox.authz().clock().advance(Duration::from_secs(601));
    let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
    let page = authorize_and_login(&mut Browser::new(&sandbox), &url, "alice", "wonderland").await;
    assert!(
        page.location().starts_with("/mfa/wait?"),
        "{}",
        page.location()
    );
    sandbox.shutdown().await;
}

/// Each pending push shows its own two-digit number, so there are 90 at most. Pushes can
/// outlive the window they are counted in (`mfa_timeout_secs` above `window_secs`): once a
/// user's pending pushes show every number, a further sign-in is refused at once, and both
/// servers keep answering. (It once drew numbers in a loop that never ended.) Two workers,
/// so that a handler stuck on one fails the test with a timeout instead of hanging it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_every_number_taken_is_refused_not_waited_for() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.mfa_push_limit.max_pushes = 45;
    config.authz.mfa_push_limit.window_secs = 60;
    config.authz.mfa_timeout_secs = 600;
    let sandbox = start_with(config).await;
    let sign_in = || async {
        let url = authorize_url(sandbox.issuer(), &Pkce::new(), "transfer:funds", &[]);
        let mut browser = Browser::new(&sandbox);
        authorize_and_login(&mut browser, &url, "alice", "wonderland").await
    };
    for round in 0..2 {
        for n in 1..=45 {
            let page = sign_in().await;
            assert!(
                page.location().starts_with("/mfa/wait?"),
                "round {round}, push {n}: {}",
                page.location()
            );
        }
        // The window moves on; the pushes stay pending.
        sandbox.authz().clock().advance(Duration::from_secs(61));
    }
    let pending = sandbox.authz().pending_mfa(Some("alice"));
    assert_eq!(pending.len(), 90, "every number is shown");

    let refused = tokio::time::timeout(Duration::from_secs(20), sign_in())
        .await
        .expect("a sign-in with no number left is answered");
    assert_eq!(
        query_param(refused.location(), "error").as_deref(),
        Some("temporarily_unavailable"),
        "{}",
        refused.location()
    );
    for base in [sandbox.issuer().to_owned(), sandbox.api_url().to_owned()] {
        let health = http()
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(health.status(), StatusCode::OK, "{base}");
    }
    sandbox.shutdown().await;
}

/// More pushes than numbers could not be told apart: such a limit is refused at start,
/// unless every push is approved as it is made.
#[tokio::test]
async fn a_push_limit_above_the_numbers_is_refused_at_start() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.mfa_push_limit.max_pushes = 90;
    let err = match bank_sandbox::Sandbox::start(config).await {
        Ok(_) => panic!("max_pushes = 90 was accepted"),
        Err(err) => {
            let mut chain = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                chain = format!("{chain}: {cause}");
                source = cause.source();
            }
            chain
        }
    };
    assert!(
        err.contains("mfa_push_limit.max_pushes must be at most 89"),
        "{err}"
    );
    let mut config = SandboxConfig::ephemeral();
    config.authz.mfa_push_limit.max_pushes = 89;
    start_with(config).await.shutdown().await;
    // Pushes approved as they are made never hold a number (the benchmark's setting).
    let mut config = SandboxConfig::ephemeral();
    config.authz.mfa_auto_approve = true;
    config.authz.mfa_push_limit.max_pushes = u32::MAX;
    start_with(config).await.shutdown().await;
}

#[test]
fn the_default_limits_are_written_down() {
    let config = SandboxConfig::default();
    assert_eq!(config.authz.mfa_push_limit.max_pushes, 10);
    assert_eq!(config.authz.mfa_push_limit.window_secs, 600);
    assert_eq!(config.authz.login_throttle.max_failures, 5);
    assert!(config.authz.login_throttle.account_max_failures > 5);
    let config = SandboxConfig::from_toml(
        "[authz.login_throttle]\nmax_failures = 100\nmax_concurrent = 8\n\
         [authz.mfa_push_limit]\nmax_pushes = 89\n",
    )
    .expect("limits are settings");
    assert_eq!(config.authz.login_throttle.max_failures, 100);
    assert_eq!(config.authz.login_throttle.max_concurrent, 8);
    assert_eq!(config.authz.mfa_push_limit.max_pushes, 89);
}
