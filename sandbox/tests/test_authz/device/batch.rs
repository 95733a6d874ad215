//! A batch on a device (RFC 8628 with RFC 9396): the device sends the whole list in its
//! request, the person sees the batch on the sign-in and waiting pages, one push approves
//! it, and the device's token binds it without the list.

use bank_protocol::parse_granted_details;
use reqwest::StatusCode;

use super::{authorize_device, enter_code, poll, wait_interval};
use crate::common::*;
use crate::test_authz::batch::{batch, batch_details};

#[tokio::test]
async fn a_device_asks_for_a_batch_of_1000_and_the_person_sees_it_page_by_page() {
    let sandbox = start().await;
    let thousand = batch(1000, bank_protocol::text::MAX_MEMO_CHARS);
    let details = batch_details(&thousand);
    let device = authorize_device(
        &sandbox,
        "openid transfer:funds",
        &[("authorization_details", &details), ("login_hint", "alice")],
    )
    .await;
    let code = device["device_code"].as_str().expect("device_code");
    let mut browser = Browser::new(&sandbox);
    let entered = enter_code(&mut browser, &device).await;
    let login = browser.get(entered.location()).await;
    assert!(
        login.body.contains("Sign in to approve payments"),
        "{}",
        login.body
    );
    assert!(login.body.contains(&thousand.reference()), "{}", login.body);
    assert!(
        login.body.contains("data-batch-pages=\"50\""),
        "{}",
        login.body
    );
    let waiting = browser.submit_login(&login, "alice", "wonderland").await;
    let wait_url = waiting.location().to_owned();
    let wait = browser.get(&format!("{wait_url}&page=50")).await;
    assert!(
        wait.body.contains("Payments 981–1000 of 1000"),
        "{}",
        wait.body
    );
    assert!(wait.body.contains(&thousand.summary()), "{}", wait.body);
    let number = wait.binding_code();
    sandbox
        .authz()
        .approve_pending_with_code("alice", &number)
        .expect("approve");
    let txn = query_param(&wait_url, "txn").expect("txn");
    let done = browser.get(&format!("/mfa/continue?txn={txn}")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Payments approved"), "{}", done.body);

    wait_interval(&sandbox, 5);
    let (status, tokens) = poll(&sandbox, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().expect("token");
    assert!(token.len() < 4096, "{} bytes", token.len());
    let granted =
        parse_granted_details(tokens["authorization_details"].clone(), 1000).expect("parses");
    assert_eq!(granted.check_batch(&thousand), Ok(()));
}
