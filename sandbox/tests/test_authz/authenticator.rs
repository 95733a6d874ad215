//! The authenticator page (the user's "phone"): it lists and answers the user's own
//! requests, and it is a separate device: its own sign-in, its own session, never the
//! browser's login session.

use bank_sandbox::authz::MfaStatusView;
use reqwest::StatusCode;

use super::mfa::{TRANSFER, start_step_up, txn_of};
use crate::common::*;

#[tokio::test]
async fn authenticator_page_lists_and_approves_the_users_own_requests() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let (mut browser, wait_url) = start_step_up(&sandbox, &pkce).await;
    let txn = txn_of(&wait_url);

    // The phone is another browser.
    let mut phone = Browser::new(&sandbox);
    let signin = phone.get("/authenticator").await;
    assert_eq!(signin.status, StatusCode::OK);
    let csrf = signin.input("csrf_token");
    // bob signs in on his phone: he does not see alice's request.
    let bob = phone
        .post_form(
            "/authenticator/login",
            &[
                ("csrf_token", &csrf),
                ("username", "bob"),
                ("password", "builder"),
            ],
        )
        .await;
    assert_eq!(bob.status, StatusCode::SEE_OTHER);
    let list = phone.get("/authenticator").await;
    assert!(list.body.contains("No pending requests"), "{}", list.body);
    // ...and cannot approve it by id either.
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    let forged = phone
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &list.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);

    // alice's phone: sign in, see the request, approve it (with the CSRF token).
    let mut phone = Browser::new(&sandbox);
    let signin = phone.get("/authenticator").await;
    let alice = phone
        .post_form(
            "/authenticator/login",
            &[
                ("csrf_token", &signin.input("csrf_token")),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
        )
        .await;
    assert_eq!(alice.status, StatusCode::SEE_OTHER);
    let list = phone.get("/authenticator").await;
    assert!(list.body.contains("bank CLI wants to"), "{}", list.body);
    assert!(list.body.contains(&id));
    let no_csrf = phone
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", "forged"),
                ("id", &id),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    // Approving needs the number the waiting browser shows; a wrong one is refused.
    let number = browser.get(&wait_url).await.binding_code();
    let wrong = if number == "10" { "11" } else { "10" };
    let refused = phone
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &list.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
                ("code", wrong),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains(
            "That number does not match the one your browser shows. 2 tries left before the request is denied."
        ),
        "{}",
        refused.body
    );
    assert_eq!(
        sandbox.authz().mfa_status(&txn).expect("store"),
        Some(MfaStatusView::Pending)
    );
    let approved = phone
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &refused.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
                ("code", &number),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);

    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code after approval");
    let (status, _, _) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    sandbox.shutdown().await;
}

/// The `Set-Cookie` headers of a response, by cookie name.
fn set_cookies(page: &Page) -> Vec<(String, String)> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let v = v.to_str().expect("ascii cookie");
            let name = v.split('=').next().expect("name").to_owned();
            (name, v.to_owned())
        })
        .collect()
}

/// Signs in on the authenticator page in `browser`, returning the request list.
async fn authenticator_sign_in(browser: &mut Browser, username: &str, password: &str) -> Page {
    let signin = browser.get("/authenticator").await;
    assert_eq!(signin.status, StatusCode::OK);
    assert!(
        signin
            .body
            .contains(r#"<form method="post" action="/authenticator/login">"#),
        "the authenticator asks for its own sign-in:\n{}",
        signin.body
    );
    let done = browser
        .post_form(
            "/authenticator/login",
            &[
                ("csrf_token", &signin.input("csrf_token")),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let names: Vec<String> = set_cookies(&done).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["bank_authenticator"],
        "only the authenticator's own session changes"
    );
    let list = browser.get("/authenticator").await;
    assert!(
        list.body
            .contains(&format!("Signed in as <strong>{username}</strong>")),
        "{}",
        list.body
    );
    list
}

#[tokio::test]
async fn signing_in_on_the_login_page_does_not_unlock_the_authenticator() {
    let sandbox = start().await;
    let pkce = Pkce::new();
    let (mut browser, wait_url) = start_step_up(&sandbox, &pkce).await;
    let txn = txn_of(&wait_url);
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    let login_session = browser.session_cookie().expect("signed-in browser session");

    // The browser that just signed in opens the authenticator: it is asked to sign in
    // there too, and sees no request.
    let page = browser.get("/authenticator").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<form method="post" action="/authenticator/login">"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&id), "{}", page.body);
    assert!(!page.body.contains("Signed in as"));
    let cookies = set_cookies(&page);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let (name, cookie) = &cookies[0];
    assert_eq!(name, "bank_authenticator");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/authenticator;"] {
        assert!(cookie.contains(attr), "{cookie} has {attr}");
    }
    assert_ne!(
        browser.cookie("bank_authenticator"),
        Some(login_session.clone())
    );

    // Deciding from that (anonymous) authenticator session does nothing.
    let attempt = browser
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &page.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(attempt.status, StatusCode::SEE_OTHER);
    assert_eq!(attempt.location(), "/authenticator");
    assert_eq!(
        sandbox.authz().mfa_status(&txn).expect("store"),
        Some(MfaStatusView::Pending)
    );

    // Nor does the login session's id, presented as the authenticator's cookie.
    let swapped = http()
        .get(format!("{}/authenticator", sandbox.issuer()))
        .header("cookie", format!("bank_authenticator={login_session}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(swapped.status(), StatusCode::OK);
    let body = swapped.text().await.expect("body");
    assert!(body.contains(r#"action="/authenticator/login""#), "{body}");
    assert!(!body.contains(&id));

    // Signing in on the authenticator leaves the login session as it was...
    let list = authenticator_sign_in(&mut browser, "alice", "wonderland").await;
    assert_eq!(browser.session_cookie(), Some(login_session));
    assert_eq!(browser.get(&wait_url).await.status, StatusCode::OK);
    // ...and approving there (with its CSRF token) lets the flow finish.
    assert!(list.body.contains(&id), "{}", list.body);
    let number = browser.get(&wait_url).await.binding_code();
    let approved = browser
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &list.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
                ("code", &number),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    let code = query_param(done.location(), "code").expect("code after approval");
    let (status, _, _) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_authenticator_never_touches_the_login_session() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();

    // Signing in on the authenticator alone does not sign the browser in.
    let mut phone = Browser::new(&sandbox);
    authenticator_sign_in(&mut phone, "alice", "wonderland").await;
    assert_eq!(phone.session_cookie(), None);
    let authorize = phone
        .get(&authorize_url(&iss, &Pkce::new(), "view:balance", &[]))
        .await;
    assert!(
        authorize.location().starts_with("/login?"),
        "{}",
        authorize.location()
    );

    // A login form is open; the authenticator is opened and signed in to in the same
    // browser (another tab); the form still works.
    let mut browser = Browser::new(&sandbox);
    let pkce = Pkce::new();
    let first = browser
        .get(&authorize_url(&iss, &pkce, "view:balance", &[]))
        .await;
    let login = browser.get(first.location()).await;
    let anonymous = browser.session_cookie().expect("the form's session");
    authenticator_sign_in(&mut browser, "alice", "wonderland").await;
    assert_eq!(browser.session_cookie(), Some(anonymous));
    let done = browser.submit_login(&login, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let code = query_param(done.location(), "code").expect("code");
    assert_eq!(
        exchange(&sandbox, &code, &pkce.verifier).await.0,
        StatusCode::OK
    );

    // A step-up in that browser, denied on its authenticator with the CSRF token.
    let step_up = browser
        .get(&authorize_url(&iss, &Pkce::new(), TRANSFER, &[]))
        .await;
    let wait_url = step_up.location().to_owned();
    assert!(wait_url.starts_with("/mfa/wait?txn="), "{wait_url}");
    let txn = txn_of(&wait_url);
    let list = browser.get("/authenticator").await;
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    assert!(list.body.contains(&id), "{}", list.body);
    let forged = browser
        .post_form(
            "/authenticator/decide",
            &[("csrf_token", "forged"), ("id", &id), ("decision", "deny")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let denied = browser
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &list.input("csrf_token")),
                ("id", &id),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    let finished = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(
        query_param(finished.location(), "error").as_deref(),
        Some("access_denied")
    );

    // Signing out of the authenticator clears only its own cookie: the browser stays
    // signed in to applications.
    let list = browser.get("/authenticator").await;
    let out = browser
        .post_form(
            "/authenticator/logout",
            &[("csrf_token", &list.input("csrf_token"))],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let cookies = set_cookies(&out);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0]
            .1
            .starts_with("bank_authenticator=; HttpOnly; SameSite=Strict; Path=/authenticator;"),
        "{cookies:?}"
    );
    assert_eq!(browser.cookie("bank_authenticator"), None);
    let again = browser
        .get(&authorize_url(&iss, &Pkce::new(), "view:balance", &[]))
        .await;
    assert!(
        query_param(again.location(), "code").is_some(),
        "{}",
        again.location()
    );
    sandbox.shutdown().await;
}
