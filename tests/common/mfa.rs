//! Answering the MFA push a `bank` run causes, as the person with the authenticator would,
//! through the sandbox's library API.

use std::time::Duration;

use super::{Run, TestEnv};

#[derive(Clone, Copy)]
pub enum Mfa {
    Approve,
    Deny,
    /// Let the push request expire by moving the authorization server's clock past it.
    Expire,
}

/// Runs `bank args` and answers the MFA push it causes for alice.
pub fn with_mfa(env: &TestEnv, args: &[&str], decision: Mfa) -> Run {
    std::thread::scope(|s| {
        let run = s.spawn(|| env.run_with_browser(args));
        let authz = env.sandbox().authz().clone();
        let pending = env
            .rt
            .block_on(authz.wait_for_pending_mfa("alice", Duration::from_secs(60)))
            .expect("the step-up asks for MFA");
        assert!(
            pending.scopes.iter().any(|s| s == "transfer:funds"),
            "{pending:?}"
        );
        if !matches!(decision, Mfa::Expire) {
            // As a person would: look at the waiting page (its payment and number) first,
            // then answer the push.
            wait_until(|| env.browser_log().contains("mfa: waiting"));
        }
        match decision {
            Mfa::Approve => authz.approve_mfa(&pending.id).expect("approve"),
            Mfa::Deny => authz.deny_mfa(&pending.id).expect("deny"),
            Mfa::Expire => authz
                .clock()
                .advance(Duration::from_secs(authz.config().mfa_timeout_secs + 1)),
        }
        run.join().expect("the bank run does not panic")
    })
}

/// Waits (up to a minute) for something another process does; not a timing assertion.
pub fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting after a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
