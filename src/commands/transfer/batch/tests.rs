use bank_protocol::PaymentProblem;

use super::*;

fn file(text: &str) -> BatchFile {
    let rules = Rules {
        default_currency: "USD",
        limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR,
        max_payments: DEFAULT_MAX_BATCH_PAYMENTS,
    };
    batch_file::parse(text.as_bytes(), None, &rules).expect("a valid file")
}

#[test]
fn the_confirmation_shows_the_summary_the_reference_and_the_first_payments() {
    let f = file("to,amount,memo\nbob,1000,rent\ncarol,2.5,\"lunch, Friday\"\nbob,1,\n");
    let reference = f.batch.reference();
    assert_eq!(
        describe(&f.batch, 10),
        format!(
            "Pay 3 payments, 1,003.50 USD in total, to 2 payees (reference {reference}):\n  bob    1,000.00 USD  rent\n  carol      2.50 USD  lunch, Friday\n  bob        1.00 USD"
        )
    );
    let shown = describe(&f.batch, 2);
    assert!(shown.ends_with("\n  … and 1 more"), "{shown}");
    assert_eq!(shown.lines().count(), 4, "{shown}");
}

#[test]
fn payments_the_bank_refuses_are_shown_by_the_files_lines() {
    // Payment 2 is on line 3 of the file (the header is line 1): the person fixes the
    // file, not the batch.
    let f = file("to,amount\nbob,1\ncarol,2\n");
    assert_eq!(f.lines, [2, 3]);
    let problem = Problem {
        title: Some("Unknown recipient".into()),
        detail: Some("1 of the batch's payments cannot be made (the first: payment 2)".into()),
        status: 422,
        payments: vec![PaymentProblem {
            index: 2,
            detail: "no account `carol`\u{1b}[2J".into(),
        }],
        ..Problem::default()
    };
    let key = IdempotencyKey::parse("k-1").expect("key");
    let retry = Retry {
        profile: "default",
        path: "pay.csv",
        currency: "USD",
        format: None,
        key: &key,
    };
    let err = api_failure(ApiError::BadRequest { problem }, &f, &retry);
    assert_eq!(err.kind, ErrorKind::Refused);
    assert_eq!(
        err.message,
        "the bank refused the batch: Unknown recipient (422); no money moved:\n  line 3: no account `carol`\\u{1b}[2J"
    );
}

#[test]
fn the_retry_command_names_the_file_the_key_and_the_profile() {
    let key = IdempotencyKey::parse("k;1").expect("key");
    let retry = Retry {
        profile: "my work",
        path: "pay day.csv",
        currency: "EUR",
        format: Some(Format::Jsonl),
        key: &key,
    };
    assert_eq!(
        retry.command(),
        "bank --profile 'my work' transfer --yes --batch 'pay day.csv' --idempotency-key 'k;1' --currency EUR --format jsonl"
    );
    let stdin = Retry {
        path: "-",
        currency: "USD",
        format: None,
        ..retry
    };
    assert_eq!(
        stdin.command(),
        "bank --profile 'my work' transfer --yes --batch - --idempotency-key 'k;1'   # with the same file on stdin"
    );
}

#[test]
fn bad_files_are_bad_input() {
    let err = file_error(BatchFileError::Empty);
    assert_eq!(err.kind.exit_code(), 2);
    let rules = Rules {
        default_currency: "USD",
        limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR,
        max_payments: 2,
    };
    let e =
        batch_file::parse(b"to,amount\nbob,1\nbob,2\nbob,3\n", None, &rules).expect_err("too many");
    let err = file_error(e);
    assert_eq!(err.kind, ErrorKind::Usage);
    assert!(err.hints[0].contains("split"), "{:?}", err.hints);
    let e = batch_file::parse(b"bob,1\n", None, &rules).expect_err("no header");
    assert!(file_error(e).hints[0].contains("header line"));
    let missing = batch_file::read("/nonexistent/pay.csv", 2).expect_err("no such file");
    let err = file_error(missing);
    assert_eq!(err.kind, ErrorKind::Usage);
    assert_eq!(
        err.message,
        "cannot read the batch file /nonexistent/pay.csv"
    );
}
