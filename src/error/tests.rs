//! The classes errors fall in: what a script acting on the exit code relies on.

use bank_protocol::Problem;

use super::*;

fn problem(status: u16) -> Problem {
    Problem {
        status,
        ..Problem::default()
    }
}

/// The classes a script acts on: a 503 that says when is "later", not "broken"; the
/// bank's refusals are not bad input.
#[test]
fn api_answers_fall_in_their_class() {
    let kind = |e: ApiError| CliError::from(e).kind;
    let busy = ApiError::Server {
        problem: Problem {
            title: Some("Try again".into()),
            ..problem(503)
        },
        retry_after: Some(1),
    };
    assert_eq!(
        busy.to_string(),
        "the bank API cannot do this right now: Try again (503); try again in 1 second"
    );
    assert_eq!(kind(busy), ErrorKind::Unavailable);
    let broken = ApiError::Server {
        problem: problem(500),
        retry_after: None,
    };
    assert_eq!(kind(broken), ErrorKind::Network);
    for status in [409, 422] {
        let refused = ApiError::BadRequest {
            problem: problem(status),
        };
        assert_eq!(kind(refused), ErrorKind::Refused, "{status}");
    }
    let bad = ApiError::BadRequest {
        problem: problem(400),
    };
    assert_eq!(kind(bad), ErrorKind::Usage);
    assert_eq!(
        [
            ErrorKind::General,
            ErrorKind::Usage,
            ErrorKind::LoginRequired,
            ErrorKind::Denied,
            ErrorKind::Network,
            ErrorKind::Refused,
            ErrorKind::Unavailable,
            ErrorKind::Interrupted,
        ]
        .map(ErrorKind::exit_code),
        [1, 2, 3, 4, 5, 6, 7, 130]
    );
}

#[test]
fn a_provider_that_is_busy_is_temporarily_unavailable() {
    let err = CliError::from(OAuthError::Authorization {
        error: "temporarily_unavailable".into(),
        description: Some("try again in 1 minute".into()),
    });
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.ends_with("try again in 1 minute"), "{err:?}");
}

/// A batch this provider cannot approve is something to change here (exit 2), named before
/// anything opens; the hint says how.
#[test]
fn a_batch_the_provider_cannot_approve_is_bad_input() {
    let too_many = CliError::from(StepUpError::NoBatchApproval(
        bank_protocol::NoBatchApproval::TooManyForProvider {
            count: 20,
            max_inline: 5,
        },
    ));
    assert_eq!(too_many.kind, ErrorKind::Usage);
    assert_eq!(too_many.kind.exit_code(), 2);
    assert!(
        too_many.message.contains("20 payments"),
        "{}",
        too_many.message
    );
    assert!(
        too_many.message.contains("at most 5"),
        "{}",
        too_many.message
    );
    assert!(
        too_many.hints[0].contains("batches of at most 5 payments"),
        "{:?}",
        too_many.hints
    );
    assert!(too_many.hints[0].contains("max_inline_payments"));
    let no_rar = CliError::from(StepUpError::NoBatchApproval(
        bank_protocol::NoBatchApproval::NoPaymentDetails,
    ));
    assert_eq!(no_rar.kind, ErrorKind::Usage);
    assert!(no_rar.hints[0].contains("one by one"), "{:?}", no_rar.hints);
    let unpushed = CliError::from(StepUpError::BatchNeedsPush {
        par_offered: true,
        max_inline: 5,
    });
    assert_eq!(unpushed.kind, ErrorKind::Usage);
    assert!(
        unpushed.message.contains("`par` setting"),
        "{}",
        unpushed.message
    );
    assert!(
        unpushed.hints[0].contains("config set par auto"),
        "{:?}",
        unpushed.hints
    );
    let nowhere = CliError::from(StepUpError::BatchNeedsPush {
        par_offered: false,
        max_inline: 5,
    });
    assert!(
        nowhere.message.contains("offers neither"),
        "{}",
        nowhere.message
    );
    assert!(
        nowhere.hints[0].contains("at most 5"),
        "{:?}",
        nowhere.hints
    );
}
