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
