//! RFC 9457 problem details: the body of every error answer of the bank API.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Media type of problem documents (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Base of the API's problem `type` URIs (RFC 9457 §3.1.1): stable identifiers, not fetched.
pub const PROBLEM_BASE: &str = "https://bank.example/problems/";

/// A problem document. Every member is optional on the way in (a proxy's error page is not
/// a problem document), and `status` falls back to the HTTP status the reader saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `about:blank` or a URI under [`PROBLEM_BASE`].
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A batch's refused payments (an extension member, RFC 9457 §3.2), each by its
    /// 1-based position in the batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<crate::batch::PaymentProblem>,
}

impl Problem {
    /// The slug after [`PROBLEM_BASE`] (`insufficient-funds`), when the type is one of ours.
    pub fn slug(&self) -> Option<&str> {
        self.kind.as_deref()?.strip_prefix(PROBLEM_BASE)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.title, &self.detail) {
            (Some(t), Some(d)) if t != d => write!(f, "{t} ({}): {d}", self.status),
            (Some(t), _) => write!(f, "{t} ({})", self.status),
            (None, Some(d)) => write!(f, "{d} ({})", self.status),
            (None, None) => write!(f, "{} {}", self.status, reason_phrase(self.status)),
        }
    }
}

/// The reason phrases of the statuses the bank API answers with (RFC 9110 §15).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_one_line() {
        let p = Problem {
            title: Some("Insufficient funds".into()),
            detail: Some("balance is 10.00 USD".into()),
            kind: Some(format!("{PROBLEM_BASE}insufficient-funds")),
            status: 422,
            ..Problem::default()
        };
        assert_eq!(
            p.to_string(),
            "Insufficient funds (422): balance is 10.00 USD"
        );
        assert_eq!(p.slug(), Some("insufficient-funds"));
        let p = Problem {
            status: 503,
            ..Problem::default()
        };
        assert_eq!(p.to_string(), "503 Service Unavailable");
    }

    #[test]
    fn problems_round_trip_as_rfc_9457_json() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"about:blank","title":"Not found","status":404,"detail":"no such thing","extra":1}"#,
        )
        .expect("a problem");
        assert_eq!(p.kind.as_deref(), Some("about:blank"));
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["status"], 404);
    }
}
