use oauth2::AccessToken;

use super::*;
use crate::challenge::{StepUpReason, describe_requirement};

fn challenge(
    reason: StepUpReason,
    scope: &[&str],
    acr: &[&str],
    max_age: Option<u64>,
) -> StepUpChallenge {
    StepUpChallenge {
        reason,
        scope: scope.iter().map(|s| s.to_string()).collect(),
        acr_values: acr.iter().map(|s| s.to_string()).collect(),
        max_age,
        description: None,
    }
}

#[test]
fn params_follow_the_challenge() {
    let p = step_up_params(
        &challenge(
            StepUpReason::InsufficientScope,
            &["transfer:funds", "offline_access"],
            &[],
            None,
        ),
        Some(TRANSFER_FUNDS),
    );
    assert_eq!(p.scopes, ["openid", "transfer:funds"]);
    assert!(p.acr_values.is_empty());
    assert_eq!(p.max_age, None);

    let mfa = bank_protocol::scopes::MFA_ACR;
    let p = step_up_params(
        &challenge(
            StepUpReason::InsufficientUserAuthentication,
            &[],
            &[mfa],
            Some(300),
        ),
        Some(TRANSFER_FUNDS),
    );
    assert_eq!(p.scopes, ["openid", "transfer:funds"]);
    assert_eq!(p.acr_values, [mfa]);
    assert_eq!(p.max_age, Some(300));
    assert!(!p.prompt_login);
}

#[test]
fn requirements_name_the_scope_or_the_authentication() {
    assert_eq!(
        describe_requirement(
            &challenge(StepUpReason::InsufficientScope, &[], &[], None),
            Some(TRANSFER_FUNDS)
        ),
        "a token with the `transfer:funds` scope"
    );
    assert_eq!(
        describe_requirement(
            &challenge(
                StepUpReason::InsufficientUserAuthentication,
                &[],
                &["urn:mfa"],
                Some(300)
            ),
            Some(TRANSFER_FUNDS)
        ),
        "a stronger or more recent sign-in (acr_values `urn:mfa`, max_age 300s)"
    );
}

fn everyday(sub: Option<&str>) -> TokenBundle {
    TokenBundle {
        issuer: "https://bank.example".into(),
        client_id: "bank-cli".into(),
        access_token: AccessToken::new("at".into()),
        expires_at: None,
        scopes: vec!["openid".into()],
        refresh_token: None,
        username: Some("alice".into()),
        sub: sub.map(str::to_owned),
        login_hint: Some("alice".into()),
        dpop_key: None,
    }
}

fn step_up_tokens(subject: Option<&str>, username: Option<&str>) -> oauth::TokenSet {
    oauth::TokenSet {
        access_token: AccessToken::new("step-up".into()),
        refresh_token: None,
        expires_at: None,
        scopes: vec!["openid".into(), "transfer:funds".into()],
        username: username.map(str::to_owned),
        subject: subject.map(str::to_owned),
        login_name: None,
        bound: false,
    }
}

#[test]
fn the_step_up_must_be_signed_by_the_logged_in_user() {
    let alice = everyday(Some("usr_a"));
    assert!(check_same_user(&alice, &step_up_tokens(Some("usr_a"), Some("alice"))).is_ok());
    let err = check_same_user(&alice, &step_up_tokens(Some("usr_b"), Some("bob")))
        .expect_err("another user");
    assert_eq!(
        err.to_string(),
        "the step-up sign-in was for bob, but you are logged in as alice; nothing was sent"
    );
    // Without names, the subjects themselves are named.
    let mut nameless = everyday(Some("usr_a"));
    nameless.username = None;
    assert_eq!(
        check_same_user(&nameless, &step_up_tokens(Some("usr_b"), None))
            .expect_err("another user")
            .to_string(),
        "the step-up sign-in was for usr_b, but you are logged in as usr_a; nothing was sent"
    );
    // A step-up that does not say who signed in cannot be bound.
    assert!(matches!(
        check_same_user(&alice, &step_up_tokens(None, Some("alice"))),
        Err(StepUpError::UnknownUser)
    ));
    // A login that recorded no `sub` has nothing to compare with: no unbound step-up.
    assert!(matches!(
        check_same_user(&everyday(None), &step_up_tokens(Some("usr_b"), None)),
        Err(StepUpError::Unbound)
    ));
}

#[test]
fn step_up_credentials_do_not_print() {
    let t = Credential::StepUp {
        token: AccessToken::new("eyJ.secret.sig".into()),
        sender: Some(crate::dpop::DpopKey::generate()),
    };
    assert_eq!(format!("{t:?}"), "Credential::StepUp([redacted])");
}

#[test]
fn a_transfer_asks_for_exactly_its_body() {
    let order = TransferOrder::new("bob", "25", "USD", Some("lunch"), i64::MAX).expect("order");
    let transfer = Operation::Transfer {
        body: order.to_request(),
        key: bank_protocol::IdempotencyKey::generate(),
    };
    let detail = payment_for(&transfer, "https://api.bank.example").expect("a detail");
    assert_eq!(detail.action(), "pay bob 25.00 USD");
    assert_eq!(detail.memo(), Some("lunch"));
    assert_eq!(
        detail.locations.as_deref(),
        Some(&["https://api.bank.example".to_owned()][..])
    );
    assert_eq!(detail.check(&order), Ok(()));
    assert_eq!(payment_for(&Operation::Balance, "https://x"), None);
    // A body the bank would read differently from the detail binds nothing.
    let loose = Operation::Transfer {
        body: bank_protocol::TransferRequest {
            to: "Bob".into(),
            amount: "25".into(),
            currency: None,
            memo: None,
        },
        key: bank_protocol::IdempotencyKey::generate(),
    };
    assert_eq!(payment_for(&loose, "https://x"), None);
}

fn batch_of(n: usize) -> Operation {
    let orders = (0..n)
        .map(|i| {
            TransferOrder::new(
                if i % 2 == 0 { "bob" } else { "carol" },
                "2",
                "USD",
                None,
                i64::MAX / 100,
            )
            .expect("order")
        })
        .collect();
    let batch = BatchOrder::new(orders, usize::MAX).expect("batch");
    Operation::TransferBatch {
        body: batch.to_request(),
        key: bank_protocol::IdempotencyKey::generate(),
    }
}

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const API: &str = "https://api.bank.example";

#[test]
fn a_batch_asks_for_its_payments_listed_or_for_its_digest() {
    let both = types(&[PAYMENT_INITIATION, bank_protocol::PAYMENT_BATCH]);
    let inline = types(&[PAYMENT_INITIATION]);
    // A few payments: listed one by one, in order, each for the API.
    let few = approval_for(&batch_of(3), API, &inline, 5)
        .expect("ok")
        .expect("some");
    let Approval::Payments(payments) = &few else {
        panic!("listed: {few:?}")
    };
    assert_eq!(payments.len(), 3);
    assert!(few.is_for(API));
    assert_eq!(
        few.summary(),
        "Pay 3 payments, 6.00 USD in total, to 2 payees"
    );
    let Operation::TransferBatch { body, .. } = batch_of(3) else {
        unreachable!()
    };
    let batch = BatchOrder::from_request(&body, "USD", i64::MAX / 100, 10).expect("batch");
    assert_eq!(few.check_batch(&batch), Ok(()));
    assert_eq!(few.reference(), Some(batch.reference()));
    // More than the inline limit: one payment_batch, bound by the digest.
    let many = approval_for(&batch_of(6), API, &both, 5)
        .expect("ok")
        .expect("some");
    assert!(
        matches!(many, Approval::Batch(ref b) if b.number_of_payments == 6),
        "{many:?}"
    );
    // The profile's limit decides where listing stops; 0 = always by digest.
    let zero = approval_for(&batch_of(1), API, &both, 0)
        .expect("ok")
        .expect("some");
    assert!(matches!(zero, Approval::Batch(_)), "{zero:?}");
    // A provider that cannot bind the batch: an error, never an unbound step-up.
    assert!(matches!(
        approval_for(&batch_of(6), API, &inline, 5),
        Err(StepUpError::NoBatchApproval(
            bank_protocol::NoBatchApproval::TooManyForProvider {
                count: 6,
                max_inline: 5
            }
        ))
    ));
    assert!(matches!(
        approval_for(&batch_of(2), API, &[], 5),
        Err(StepUpError::NoBatchApproval(
            bank_protocol::NoBatchApproval::NoPaymentDetails
        ))
    ));
    // A body the bank would read differently from the approval binds nothing.
    let loose = Operation::TransferBatch {
        body: bank_protocol::TransferBatchRequest {
            payments: vec![bank_protocol::TransferRequest {
                to: "Bob".into(),
                amount: "2".into(),
                currency: Some("USD".into()),
                memo: None,
            }],
        },
        key: bank_protocol::IdempotencyKey::generate(),
    };
    assert!(matches!(
        approval_for(&loose, API, &both, 5),
        Err(StepUpError::BatchNotCanonical)
    ));
}

#[test]
fn a_single_transfer_asks_for_itself_only_where_the_provider_can_say_so() {
    let order = TransferOrder::new("bob", "25", "USD", None, i64::MAX).expect("order");
    let transfer = Operation::Transfer {
        body: order.to_request(),
        key: bank_protocol::IdempotencyKey::generate(),
    };
    let asked = approval_for(&transfer, API, &types(&[PAYMENT_INITIATION]), 5)
        .expect("ok")
        .expect("some");
    assert_eq!(asked, Approval::for_order(&order, Some(API)));
    assert_eq!(approval_for(&transfer, API, &[], 5).expect("ok"), None);
    assert_eq!(
        approval_for(&Operation::Balance, API, &types(&[PAYMENT_INITIATION]), 5).expect("ok"),
        None
    );
}

#[test]
fn the_terminal_names_the_batch_and_its_reference() {
    let approval = approval_for(&batch_of(3), API, &types(&[PAYMENT_INITIATION]), 5)
        .expect("ok")
        .expect("some");
    let reference = approval.reference().expect("a reference");
    assert_eq!(
        notice(Some(&approval), "pay the batch"),
        format!(
            "To pay 3 payments, 6.00 USD in total, to 2 payees (reference {reference}), sign in again and approve the payments as your provider asks"
        )
    );
    let one = Approval::for_order(
        &TransferOrder::new("bob", "25", "USD", None, i64::MAX).expect("order"),
        Some(API),
    );
    assert_eq!(
        notice(Some(&one), "transfer funds"),
        "To pay bob 25.00 USD, sign in again and approve the payment as your provider asks"
    );
}

fn metadata(par: bool, device: bool) -> oauth::Metadata {
    oauth::Metadata {
        issuer: "https://id.example".into(),
        authorization_endpoint: "https://id.example/authorize".into(),
        token_endpoint: "https://id.example/token".into(),
        revocation_endpoint: None,
        code_challenge_methods_supported: None,
        authorization_response_iss_parameter_supported: true,
        authorization_details_types_supported: Vec::new(),
        pushed_authorization_request_endpoint: par.then(|| "https://id.example/par".into()),
        require_pushed_authorization_requests: false,
        dpop_signing_alg_values_supported: Vec::new(),
        device_authorization_endpoint: device.then(|| "https://id.example/device".into()),
    }
}

#[test]
fn a_listed_batch_travels_only_by_par_or_the_device_flow() {
    use crate::config::{ConfigFile, Env, Overrides, Use, resolve};
    use device::Flow;
    let mut profile = resolve(
        &ConfigFile::default(),
        &Env::default(),
        &Overrides::default(),
    )
    .expect("default");
    let both = types(&[PAYMENT_INITIATION, bank_protocol::PAYMENT_BATCH]);
    let with = |approval: Option<Approval>| AuthParams {
        authorization_details: approval,
        ..AuthParams::default()
    };
    let big = with(approval_for(&batch_of(6), API, &both, 5).expect("ok"));
    let small = with(approval_for(&batch_of(2), API, &both, 5).expect("ok"));
    let ok = |params: &AuthParams, flow, profile: &crate::config::Profile, m: &oauth::Metadata| {
        check_carrier(params, flow, profile, m)
    };
    assert!(ok(&big, Flow::Browser, &profile, &metadata(true, false)).is_ok());
    assert!(ok(&big, Flow::Device, &profile, &metadata(false, true)).is_ok());
    // A few payments listed one by one fit in a URL.
    assert!(ok(&small, Flow::Browser, &profile, &metadata(false, false)).is_ok());
    assert!(matches!(
        ok(&big, Flow::Browser, &profile, &metadata(false, false)),
        Err(StepUpError::BatchNeedsPush {
            par_offered: false,
            max_inline: 5
        })
    ));
    profile.par = Use::Never;
    assert!(matches!(
        ok(&big, Flow::Browser, &profile, &metadata(true, false)),
        Err(StepUpError::BatchNeedsPush {
            par_offered: true,
            ..
        })
    ));
}
