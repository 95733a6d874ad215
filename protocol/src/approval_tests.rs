use super::*;
use crate::money::DEFAULT_TRANSFER_LIMIT_MINOR as LIMIT;
use crate::transfer::TransferRequest;

const API: &str = "https://api.bank.example";

fn limits() -> DetailLimits {
    DetailLimits {
        per_payment_minor: LIMIT,
        max_inline: 3,
        max_batch: 100,
    }
}

fn batch(rows: &[(&str, &str)]) -> BatchOrder {
    batch_of(rows, 100)
}

fn batch_of(rows: &[(&str, &str)], max: usize) -> BatchOrder {
    let request = crate::batch::TransferBatchRequest {
        payments: rows
            .iter()
            .map(|(to, amount)| TransferRequest {
                to: (*to).into(),
                amount: (*amount).into(),
                currency: None,
                memo: None,
            })
            .collect(),
    };
    BatchOrder::from_request(&request, "USD", LIMIT, max).expect("valid batch")
}

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn small_batches_are_listed_and_large_ones_bound_by_digest() {
    let small = batch(&[("bob", "1"), ("carol", "2")]);
    let both = types(&[PAYMENT_INITIATION, PAYMENT_BATCH]);
    let listed = Approval::for_batch(&small, Some(API), &both, 3).expect("listed");
    assert!(matches!(&listed, Approval::Payments(p) if p.len() == 2));
    assert_eq!(listed.check_batch(&small), Ok(()));
    assert_eq!(listed.reference(), Some(small.reference()));
    assert_eq!(
        listed.summary(),
        "Pay 2 payments, 3.00 USD in total, to 2 payees"
    );
    let json = listed.to_json();
    assert_eq!(parse_request_details(&json, &limits()), Ok(listed.clone()));

    let large = batch(&[("bob", "1"); 5]);
    let bound = Approval::for_batch(&large, Some(API), &both, 3).expect("bound");
    let Approval::Batch(detail) = &bound else {
        panic!("a payment_batch: {bound:?}");
    };
    assert_eq!(detail.number_of_payments, 5);
    assert_eq!(detail.digest, large.digest());
    assert_eq!(bound.reference(), Some(large.reference()));
    assert_eq!(
        bound.summary(),
        "Pay 5 payments, 5.00 USD in total, to 1 payee"
    );
    let request = parse_request_details(&bound.to_json(), &limits()).expect("accepted");
    assert_eq!(request, bound);
    // The token's form has no list, and still checks the batch and says what it pays.
    let granted = bound.for_token();
    let token_json = granted.to_value();
    assert!(!token_json.to_string().contains("\"payments\""));
    let read = parse_granted_details(token_json, 100).expect("granted");
    assert_eq!(read.check_batch(&large), Ok(()));
    assert_eq!(read.summary(), "Pay 5 payments, 5.00 USD in total");
    assert_eq!(read.reference(), Some(large.reference()));
    assert!(read.is_for(API));
    assert!(!read.is_for("https://other.example"));
    // The list in a token is refused: it was not issued by this contract.
    assert!(parse_granted_details(bound.to_value(), 100).is_err());
}

#[test]
fn a_provider_that_cannot_bind_a_batch_is_named_before_anything_opens() {
    let large = batch(&[("bob", "1"); 5]);
    assert_eq!(
        Approval::for_batch(&large, None, &types(&[PAYMENT_INITIATION]), 3),
        Err(NoBatchApproval::TooManyForProvider {
            count: 5,
            max_inline: 3
        })
    );
    assert_eq!(
        Approval::for_batch(&large, None, &[], 3),
        Err(NoBatchApproval::NoPaymentDetails)
    );
    // Only the batch type: small batches use it too.
    let small = batch(&[("bob", "1")]);
    assert!(matches!(
        Approval::for_batch(&small, None, &types(&[PAYMENT_BATCH]), 3),
        Ok(Approval::Batch(_))
    ));
}

#[test]
fn any_change_after_approval_is_a_mismatch() {
    let approved = batch(&[("bob", "1.00"), ("carol", "2.00"), ("dave", "3.00")]);
    let both = types(&[PAYMENT_INITIATION, PAYMENT_BATCH]);
    for max_inline in [3, 0] {
        let approval = Approval::for_batch(&approved, None, &both, max_inline)
            .expect("approval")
            .for_token();
        let check = |rows: &[(&str, &str)]| approval.check_batch(&batch(rows));
        assert_eq!(
            check(&[("bob", "1.00"), ("carol", "2.00"), ("dave", "3.00")]),
            Ok(())
        );
        let payee = check(&[("bob", "1.00"), ("mallory", "2.00"), ("dave", "3.00")]);
        let amount = check(&[("bob", "1.00"), ("carol", "2.01"), ("dave", "3.00")]);
        let order = check(&[("carol", "2.00"), ("bob", "1.00"), ("dave", "3.00")]);
        let count = check(&[("bob", "1.00"), ("carol", "2.00")]);
        for result in [payee, amount, order] {
            assert!(result.is_err(), "max_inline {max_inline}");
        }
        assert_eq!(count, Err(Mismatch::Count));
        // A batch approval never pays a single transfer.
        let single = TransferOrder::new("bob", "1.00", "USD", None, LIMIT).expect("order");
        assert_eq!(
            approval.check_transfer(&single),
            Err(Mismatch::NotATransfer)
        );
    }
    // One payment's approval pays that transfer, and no batch of another size.
    let single = TransferOrder::new("bob", "1.00", "USD", None, LIMIT).expect("order");
    let one = Approval::for_order(&single, None);
    assert_eq!(one.check_transfer(&single), Ok(()));
    assert_eq!(one.check_batch(&approved), Err(Mismatch::Count));
    assert_eq!(one.summary(), "Pay bob 1.00 USD");
    assert_eq!(one.action(), "pay bob 1.00 USD");
    assert_eq!(one.reference(), None);
}

#[test]
fn requests_are_refused_unless_exact() {
    let refuse = |json: &str| parse_request_details(json, &limits()).expect_err(json);
    let good = Approval::Batch(PaymentBatch::for_batch(
        &batch(&[("bob", "1.00"), ("carol", "2.00")]),
        Some(API),
    ));
    let value = good.to_value();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v[0]);
        v.to_string()
    };
    assert_eq!(
        refuse(&with(&|d| d["numberOfPayments"] = 3.into())),
        InvalidDetails::BatchDoesNotAddUp
    );
    assert_eq!(
        refuse(&with(&|d| d["totals"][0]["amount"] = "3.01".into())),
        InvalidDetails::BatchDoesNotAddUp
    );
    assert_eq!(
        refuse(&with(&|d| d["payments"][1]["to"] = "mallory".into())),
        InvalidDetails::BatchDoesNotAddUp
    );
    assert_eq!(
        refuse(&with(&|d| d["payments"][1]["amount"] = "2".into())),
        InvalidDetails::Payment(2, Box::new(InvalidDetails::NotTwoDecimals))
    );
    assert_eq!(
        refuse(&with(&|d| {
            d.as_object_mut().map(|o| o.remove("payments"));
        })),
        InvalidDetails::BatchWithoutPayments
    );
    assert!(matches!(
        refuse(&with(&|d| d["extra"] = 1.into())),
        InvalidDetails::Syntax(_)
    ));
    // Mixed types, two batches, too many listed payments, the batch type switched off.
    let one = Approval::for_order(
        &TransferOrder::new("bob", "1", "USD", None, LIMIT).expect("order"),
        None,
    )
    .to_value();
    let mixed = serde_json::json!([one[0], value[0]]).to_string();
    assert_eq!(refuse(&mixed), InvalidDetails::MoreThanOne);
    let two = serde_json::json!([value[0], value[0]]).to_string();
    assert_eq!(refuse(&two), InvalidDetails::MoreThanOne);
    let four = serde_json::json!([one[0], one[0], one[0], one[0]]).to_string();
    assert_eq!(refuse(&four), InvalidDetails::TooManyPayments(3));
    let no_batches = DetailLimits {
        max_batch: 0,
        ..limits()
    };
    assert_eq!(
        parse_request_details(&value.to_string(), &no_batches),
        Err(InvalidDetails::UnknownType(PAYMENT_BATCH.into()))
    );
    let too_big = DetailLimits {
        max_batch: 1,
        ..limits()
    };
    assert!(matches!(
        parse_request_details(&value.to_string(), &too_big),
        Err(InvalidDetails::Batch(InvalidBatch::TooMany {
            count: 2,
            max: 1
        }))
    ));
}

#[test]
fn a_token_sized_batch_stays_small() {
    let rows: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("payee{i:04}"), format!("{}.{:02}", i + 1, i % 100)))
        .collect();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let big = batch_of(&rows, 1000);
    let approval = Approval::for_batch(&big, Some(API), &types(&[PAYMENT_BATCH]), 5)
        .expect("approval")
        .for_token();
    assert!(approval.to_json().len() < 300, "{}", approval.to_json());
}

#[test]
fn a_batch_in_too_many_currencies_is_refused() {
    let currencies = [
        "AUD", "CAD", "CHF", "EUR", "GBP", "JPY", "NOK", "SEK", "USD",
    ];
    let orders: Vec<TransferOrder> = currencies
        .iter()
        .map(|c| TransferOrder::new("bob", "1.00", c, None, LIMIT).expect("order"))
        .collect();
    let nine = BatchOrder::new(orders.clone(), 100).expect("batch");
    let detail = Approval::Batch(PaymentBatch::for_batch(&nine, None));
    assert_eq!(
        parse_request_details(&detail.to_json(), &limits()),
        Err(InvalidDetails::TooManyCurrencies(MAX_BATCH_CURRENCIES))
    );
    assert_eq!(
        parse_granted_details(detail.for_token().to_value(), 100),
        Err(InvalidDetails::TooManyCurrencies(MAX_BATCH_CURRENCIES))
    );
    let eight = BatchOrder::new(orders[..8].to_vec(), 100).expect("batch");
    let detail = Approval::Batch(PaymentBatch::for_batch(&eight, None));
    assert!(parse_request_details(&detail.to_json(), &limits()).is_ok());
}

#[test]
fn an_approval_round_trips_as_its_array() {
    let bound = Approval::Batch(PaymentBatch::for_batch(
        &batch(&[("bob", "1.00"), ("carol", "2.50")]),
        Some(API),
    ));
    let json = serde_json::to_string(&bound).expect("json");
    assert_eq!(json, bound.to_json());
    let read: Approval = serde_json::from_str(&json).expect("read back");
    assert_eq!(read, bound);
    assert_eq!(read.count(), 2);
    assert_eq!(read.locations(), vec![API]);
    assert_eq!(read.totals()[0].amount, "3.50");
    assert!(serde_json::from_str::<Approval>("[]").is_err());
    assert!(serde_json::from_str::<Approval>(r#"[{"type":"other"}]"#).is_err());
}
