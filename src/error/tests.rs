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
