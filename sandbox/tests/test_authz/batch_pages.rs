//! What a person sees of a batch: the summary as the headline, the reference to compare
//! with the terminal, the list a page of 20 at a time with plain links (no JavaScript
//! needed), the totals, and the number to match on every page; the authenticator's approve
//! form on every page of its list. One payment looks as it always did.

use reqwest::StatusCode;

use super::batch::{batch, batch_details, pushed_step_up};
use crate::common::*;

fn rows(page: &Page) -> usize {
    page.body.matches("<tr data-batch-row>").count()
}

/// The memo of payment `n` as `batch` writes it, as a page shows it.
fn memo(n: usize) -> String {
    format!("invoice {n} x")
}

#[tokio::test]
async fn the_waiting_page_shows_a_batch_a_page_at_a_time() {
    let sandbox = start().await;
    let sixty = batch(60, 20);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &batch_details(&sixty)).await;

    let first = browser.get(&wait_url).await;
    assert_eq!(first.status, StatusCode::OK);
    let body = &first.body;
    assert!(
        body.contains("<h1 id=\"h\">Approve these payments</h1>"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<p class=\"payment\" data-payment><strong>{}</strong>",
            sixty.summary()
        )),
        "the summary is the headline: {body}"
    );
    assert!(
        body.contains(&format!("Reference <strong>{}</strong>", sixty.reference())),
        "{body}"
    );
    assert_eq!(rows(&first), 20, "{body}");
    assert!(body.contains("Payments 1–20 of 60 · page 1 of 3"), "{body}");
    assert!(
        body.contains(&memo(1)) && body.contains(&memo(20)),
        "{body}"
    );
    assert!(!body.contains(&memo(21)), "{body}");
    assert!(body.contains("<td class=\"to\">payee0</td>"), "{body}");
    assert!(body.contains("1,848.30 USD"), "the total: {body}");
    assert!(body.contains("data-batch-pages=\"3\""), "{body}");
    let next = format!(
        "/mfa/wait?txn={}&#38;page=2#payments",
        query_param(&wait_url, "txn").expect("txn")
    );
    assert!(
        body.contains(&format!("<a href=\"{next}\" rel=\"next\">")),
        "{body}"
    );
    let number = first.binding_code();

    // Page 2 by its link: the next 20, and still the number to type.
    let second = browser.get(&format!("{wait_url}&page=2")).await;
    assert_eq!(rows(&second), 20);
    assert!(
        second.body.contains("Payments 21–40 of 60"),
        "{}",
        second.body
    );
    assert!(second.body.contains(&memo(21)) && !second.body.contains(&memo(20)));
    assert_eq!(second.binding_code(), number);
    // A page past the end is the last one; nonsense is the first.
    let last = browser.get(&format!("{wait_url}&page=99")).await;
    assert!(last.body.contains("Payments 41–60 of 60"), "{}", last.body);
    let nonsense = browser.get(&format!("{wait_url}&page=x")).await;
    assert!(
        nonsense.body.contains("Payments 1–20 of 60"),
        "{}",
        nonsense.body
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_authenticator_pages_through_a_batch_and_approves_from_any_page() {
    let sandbox = start().await;
    let sixty = batch(60, 20);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &batch_details(&sixty)).await;
    let number = browser.get(&wait_url).await.binding_code();

    let mut phone = Browser::new(&sandbox);
    let signin = phone.get("/authenticator").await;
    let signed_in = phone
        .post_form(
            "/authenticator/login",
            &[
                ("csrf_token", &signin.input("csrf_token")),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let list = phone.get("/authenticator").await;
    let body = &list.body;
    assert!(body.contains(&sixty.summary()), "{body}");
    assert!(body.contains(&sixty.reference()), "{body}");
    assert_eq!(rows(&list), 20, "{body}");
    assert!(
        !body.contains("data-binding-code"),
        "never the number: {body}"
    );
    let id = sandbox.authz().pending_mfa(Some("alice"))[0].id.clone();
    let link = format!("/authenticator?request={id}&#38;page=2#payments-1");
    assert!(body.contains(&link), "{body}");

    let second = phone
        .get(&format!("/authenticator?request={id}&page=2"))
        .await;
    assert!(
        second.body.contains("Payments 21–40 of 60"),
        "{}",
        second.body
    );
    assert!(second.body.contains(&memo(40)) && !second.body.contains(&memo(41)));
    // The approve form is on this page too, and works from here.
    assert!(second.body.contains("name=\"code\""), "{}", second.body);
    let approved = phone
        .post_form(
            "/authenticator/decide",
            &[
                ("csrf_token", &second.input("csrf_token")),
                ("id", &id),
                ("decision", "approve"),
                ("code", &number),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert!(sandbox.authz().pending_mfa(Some("alice")).is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_step_ups_sign_in_page_shows_the_batch() {
    let sandbox = start().await;
    let sixty = batch(60, 20);
    let (status, body) =
        super::batch::push_details(&sandbox, &Pkce::new(), &batch_details(&sixty)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CLIENT_ID)
        .append_pair("request_uri", body["request_uri"].as_str().expect("uri"))
        .finish();
    let mut browser = Browser::new(&sandbox);
    let first = browser.get(&format!("/authorize?{query}")).await;
    let login = browser.get(first.location()).await;
    let page = &login.body;
    assert!(
        page.contains("<h1 id=\"h\">Sign in to approve payments</h1>"),
        "{page}"
    );
    assert!(
        page.contains(&sixty.summary()) && page.contains(&sixty.reference()),
        "{page}"
    );
    assert_eq!(rows(&login), 20);
    assert!(page.contains("action=\"/login\""), "{page}");
    let third = browser.get(&format!("{}&page=3", first.location())).await;
    assert!(
        third.body.contains("Payments 41–60 of 60"),
        "{}",
        third.body
    );
    assert!(third.body.contains(&memo(60)));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn one_payment_looks_as_it_always_did() {
    let sandbox = start().await;
    let one = batch(1, 0);
    let details = super::batch::inline_details(&one);
    let pkce = Pkce::new();
    let (mut browser, wait_url) = pushed_step_up(&sandbox, &pkce, &details).await;
    let page = browser.get(&wait_url).await;
    assert!(
        page.body.contains("<h1 id=\"h\">Approve this payment</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<strong>Pay payee0 1.01 USD</strong>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-batch"), "{}", page.body);
    assert!(!page.body.contains("Reference"), "{}", page.body);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_batchs_memos_and_payees_are_shown_as_text() {
    let sandbox = start().await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let orders = (0..3)
        .map(|i| {
            bank_protocol::TransferOrder::new(
                &format!("payee{i}"),
                "1.00",
                "USD",
                Some(hostile),
                bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR,
            )
            .expect("a memo may hold any visible text")
        })
        .collect();
    let three = bank_protocol::BatchOrder::new(orders, 10).expect("batch");
    let (mut browser, wait_url) =
        pushed_step_up(&sandbox, &Pkce::new(), &batch_details(&three)).await;
    let page = browser.get(&wait_url).await;
    assert_eq!(rows(&page), 3, "{}", page.body);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        page.body.contains("&#60;script&#62;alert(1)")
            || page.body.contains("&lt;script&gt;alert(1)"),
        "{}",
        page.body
    );
    sandbox.shutdown().await;
}
