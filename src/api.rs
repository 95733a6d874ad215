//! The bank API client (DESIGN.md "Bank API"), and what its failures mean.
//!
//! Every answer is turned into data or a [`ClientError`] variant a caller can act on: a
//! `401 invalid_token` means "refresh or log in again", a `403 insufficient_scope` or RFC 9470
//! `401 insufficient_user_authentication` means "step up" (with the scope/acr/max_age the
//! `WWW-Authenticate` challenge named, parsed by `challenge.rs`), other 4xx carry the RFC 9457
//! problem body's text, and 5xx or transport failures are the server's or network's fault.
//! Bodies are kept as `serde_json::Value` so `--json` passes the API's objects through as-is.

use std::fmt;

use oauth2::AccessToken;
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;

use crate::challenge::{BearerChallenge, StepUpChallenge};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// RFC 6750 §3.1 `invalid_token` (or a 401 without a usable challenge).
    #[error("the bank API rejected the access token{}", suffix(.description))]
    InvalidToken { description: Option<String> },
    /// RFC 6750 §3.1 `insufficient_scope` or RFC 9470 `insufficient_user_authentication`:
    /// the `stepup` layer answers this by authorizing again with the challenge's parameters.
    #[error("the bank API requires a stronger authorization{}", suffix(&.0.description))]
    StepUpRequired(StepUpChallenge),
    #[error("the bank API refused: {problem}")]
    Forbidden { problem: Problem },
    #[error("the bank API rejected the request: {problem}")]
    BadRequest { problem: Problem },
    #[error("the bank API failed: {problem}")]
    Server { problem: Problem },
    #[error("unexpected answer from the bank API ({status}): {what}")]
    UnexpectedResponse { status: StatusCode, what: String },
    #[error("cannot reach the bank API at {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl ClientError {
    /// Whether a failed request may nevertheless have been carried out by the server: the
    /// connection broke after the request was sent, or the server failed while answering.
    /// Only a failure to connect proves that nothing reached it.
    pub fn may_have_reached_server(&self) -> bool {
        match self {
            ClientError::Network { source, .. } => !source.is_connect(),
            ClientError::Server { .. } => true,
            // A success we could not read may well be a transfer; a 404 or 405 is not.
            ClientError::UnexpectedResponse { status, .. } => !status.is_client_error(),
            _ => false,
        }
    }
}

fn suffix(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

/// An RFC 9457 problem (or the best we can say about a non-problem error body).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(skip)]
    pub status: u16,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        match (&self.title, &self.detail) {
            (Some(t), Some(d)) if t != d => write!(f, "{t} ({}): {d}", self.status),
            (Some(t), _) => write!(f, "{t} ({})", self.status),
            (None, Some(d)) => write!(f, "{d} ({})", self.status),
            (None, None) => write!(f, "{} {reason}", self.status),
        }
    }
}

/// Talks to one bank API base URL.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    pub fn new(http: reqwest::Client, base: &str) -> ApiClient {
        ApiClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/balance` → `{"account","balance","currency"}`.
    pub async fn balance(&self, token: &AccessToken) -> Result<Value, ClientError> {
        self.send(Method::GET, "/v1/balance", token, None).await
    }

    /// `GET /v1/transfers` → the account's transfers, newest first.
    pub async fn transfers(
        &self,
        token: &AccessToken,
        limit: Option<u32>,
    ) -> Result<Value, ClientError> {
        let path = match limit {
            Some(n) => format!("/v1/transfers?limit={n}"),
            None => "/v1/transfers".to_owned(),
        };
        self.send(Method::GET, &path, token, None).await
    }

    /// `POST /v1/transfers` with an `Idempotency-Key`: `201` with the transfer and the new
    /// balance. The same key with the same request returns the original transfer (marked
    /// `Idempotent-Replayed: true`) and moves no money, so a retry is always safe.
    pub async fn create_transfer(
        &self,
        token: &AccessToken,
        request: &TransferRequest,
        key: &IdempotencyKey,
    ) -> Result<TransferReceipt, ClientError> {
        let mut body = serde_json::json!({
            "to": request.to,
            "amount": request.amount.to_string(),
            "currency": request.currency,
        });
        if let Some(memo) = &request.memo {
            body["memo"] = Value::String(memo.clone());
        }
        let (body, headers) = self
            .send_full(
                Method::POST,
                "/v1/transfers",
                token,
                Some((body, vec![("Idempotency-Key", key.as_str().to_owned())])),
            )
            .await?;
        let replayed = headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(TransferReceipt { body, replayed })
    }

    /// One authenticated request. `extra` adds a JSON body and headers (e.g. the transfer's
    /// `Idempotency-Key`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &AccessToken,
        extra: Option<(Value, Vec<(&'static str, String)>)>,
    ) -> Result<Value, ClientError> {
        self.send_full(method, path, token, extra)
            .await
            .map(|(body, _)| body)
    }

    /// [`ApiClient::send`], also returning the answer's headers.
    async fn send_full(
        &self,
        method: Method,
        path: &str,
        token: &AccessToken,
        extra: Option<(Value, Vec<(&'static str, String)>)>,
    ) -> Result<(Value, header::HeaderMap), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(token.secret())
            .header(header::ACCEPT, "application/json");
        if let Some((body, headers)) = extra {
            request = request.json(&body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Network {
                url: self.base.clone(),
                source: source.without_url(),
            })?;
        interpret(response, &self.base).await
    }
}

async fn interpret(
    response: reqwest::Response,
    base: &str,
) -> Result<(Value, header::HeaderMap), ClientError> {
    let status = response.status();
    let headers = response.headers().clone();
    let challenge = BearerChallenge::from_headers(
        response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let bytes = response
        .bytes()
        .await
        .map_err(|source| ClientError::Network {
            url: base.to_owned(),
            source: source.without_url(),
        })?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map(|body| (body, headers))
            .map_err(|_| ClientError::UnexpectedResponse {
                status,
                what: "the body is not JSON".into(),
            });
    }
    let mut problem: Problem = serde_json::from_slice(&bytes).unwrap_or_default();
    problem.status = status.as_u16();

    if let Some(step_up) = challenge.as_ref().and_then(|c| c.step_up(status.as_u16())) {
        return Err(ClientError::StepUpRequired(step_up));
    }
    match status {
        StatusCode::UNAUTHORIZED => Err(ClientError::InvalidToken {
            description: challenge
                .and_then(|c| c.error_description)
                .or(problem.detail),
        }),
        StatusCode::FORBIDDEN => Err(ClientError::Forbidden { problem }),
        // RFC 9457 bodies for bad input: the request itself was wrong (exit 2).
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {
            Err(ClientError::BadRequest { problem })
        }
        // 404, 405, …: the CLI and the API disagree (wrong `api_url`?), not the person's input.
        s if s.is_client_error() => Err(ClientError::UnexpectedResponse {
            status: s,
            what: problem.to_string(),
        }),
        s if s.is_server_error() => Err(ClientError::Server { problem }),
        s => Err(ClientError::UnexpectedResponse {
            status: s,
            what: "unexpected status".into(),
        }),
    }
}

/// The largest amount the CLI will send in one transfer, in minor units: 10,000.00, the bank
/// API's default per-transfer limit (sandbox/API.md). The server enforces its own configured
/// limit as well; this bound only stops an obvious typo before anything is sent.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000;

/// Why an amount typed by the person was refused (before any network call).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{0}` is not an amount: use digits with at most two decimals, like 25 or 25.00")]
    Syntax(String),
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("the amount must be at most {} per transfer", Amount(MAX_AMOUNT_MINOR))]
    TooLarge,
}

/// An amount of money in integer minor units (cents), never a float: `0.1 + 0.2` must not
/// be a bank's problem. The grammar mirrors the bank API's (`api/money.rs` in the sandbox):
/// digits, an optional `.` with one or two decimals, no sign, exponent, spaces or leading
/// zeros, strictly positive, at most [`MAX_AMOUNT_MINOR`]. `Display` gives exactly two
/// decimals, which is what goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let syntax = || AmountError::Syntax(text.to_owned());
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
            return Err(syntax());
        }
        if let Some(f) = fraction
            && (!digits(f) || f.len() > 2)
        {
            return Err(syntax());
        }
        // Anything with more than 15 integer digits is far above the bound; checking the
        // length first keeps the arithmetic below inside i64.
        if whole.len() > 15 {
            return Err(AmountError::TooLarge);
        }
        let whole: i64 = whole.parse().map_err(|_| syntax())?;
        let cents: i64 = match fraction {
            None => 0,
            Some(f) if f.len() == 1 => f.parse::<i64>().map_err(|_| syntax())? * 10,
            Some(f) => f.parse().map_err(|_| syntax())?,
        };
        let minor = whole * 100 + cents;
        if minor <= 0 {
            return Err(AmountError::NotPositive);
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount(minor))
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl std::str::FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Amount, AmountError> {
        Amount::parse(s)
    }
}

/// The `Idempotency-Key` of one transfer: the same key on a retry makes the bank answer
/// with the original transfer instead of moving money again. Not a secret (it is printed
/// so a person can retry with it), but unguessable so two transfers never share one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A random UUIDv4 (RFC 9562 §5.4) from the thread's CSPRNG.
    pub fn generate() -> IdempotencyKey {
        let mut b: [u8; 16] = rand::random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        IdempotencyKey(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// A key given by the person: 1-255 visible ASCII characters, as the API accepts.
    pub fn parse(text: &str) -> Result<IdempotencyKey, String> {
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an idempotency key is 1-255 visible ASCII characters (no spaces)".into());
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest memo the API accepts, in characters.
pub const MAX_MEMO_CHARS: usize = 140;

/// Why a transfer's recipient, currency or memo was refused locally.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferInputError {
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error("`{0}` is not an account handle: use 1-64 of a-z 0-9 . _ - + @")]
    Recipient(String),
    #[error("`{0}` is not a currency: use a three-letter ISO 4217 code such as USD")]
    Currency(String),
    #[error("the memo must be at most {MAX_MEMO_CHARS} characters, without control characters")]
    Memo,
}

/// A transfer, validated before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRequest {
    /// The recipient's account handle, lower-cased as the bank compares them.
    pub to: String,
    pub amount: Amount,
    /// ISO 4217, upper-case.
    pub currency: String,
    pub memo: Option<String>,
}

impl TransferRequest {
    pub fn new(
        to: &str,
        amount: &str,
        currency: &str,
        memo: Option<&str>,
    ) -> Result<TransferRequest, TransferInputError> {
        let handle = to.trim().to_ascii_lowercase();
        if handle.is_empty()
            || handle.len() > 64
            || !handle
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-+@".contains(&b))
        {
            return Err(TransferInputError::Recipient(to.to_owned()));
        }
        let amount = Amount::parse(amount.trim())?;
        let code = currency.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(TransferInputError::Currency(currency.to_owned()));
        }
        if let Some(m) = memo
            && (m.chars().count() > MAX_MEMO_CHARS || m.chars().any(char::is_control))
        {
            return Err(TransferInputError::Memo);
        }
        Ok(TransferRequest {
            to: handle,
            amount,
            currency: code,
            memo: memo.map(str::to_owned),
        })
    }
}

/// The bank's answer to a transfer.
#[derive(Clone, Debug)]
pub struct TransferReceipt {
    /// The API's object, passed through unchanged by `--json`.
    pub body: Value,
    /// `Idempotent-Replayed: true`: this key was used before; no money moved now.
    pub replayed: bool,
}

/// Formats integer-free decimal strings for people: `1000.00` → `1,000.00`. The API sends
/// money as a decimal string with two places; it is never parsed into a float.
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands_without_floats() {
        for (input, want) in [
            ("1000.00", "1,000.00"),
            ("975.00", "975.00"),
            ("1234567.89", "1,234,567.89"),
            ("-25.00", "-25.00"),
            ("-1000.50", "-1,000.50"),
            ("0.00", "0.00"),
            ("weird", "weird"),
        ] {
            assert_eq!(group_thousands(input), want);
        }
    }

    #[test]
    fn amounts_parse_like_the_api_without_floats() {
        for (input, minor) in [
            ("25", 2500),
            ("25.5", 2550),
            ("25.05", 2505),
            ("0.01", 1),
            ("0.5", 50),
            ("10000", MAX_AMOUNT_MINOR),
            ("10000.00", MAX_AMOUNT_MINOR),
        ] {
            assert_eq!(
                Amount::parse(input).map(Amount::minor_units),
                Ok(minor),
                "{input}"
            );
        }
        for input in [
            "", "-1", "+1", "1e3", "NaN", "inf", "0x10", "1,000.00", " 1", "1 ", "01", "1.", ".5",
            "1.234", "25.0.0", "٣", "1_000",
        ] {
            assert!(
                matches!(Amount::parse(input), Err(AmountError::Syntax(_))),
                "should refuse {input:?}"
            );
        }
        for input in ["0", "0.0", "0.00"] {
            assert_eq!(Amount::parse(input), Err(AmountError::NotPositive));
        }
        for input in ["10000.01", "99999999999999999999", "1000000"] {
            assert_eq!(Amount::parse(input), Err(AmountError::TooLarge), "{input}");
        }
        assert_eq!(Amount::parse("25.5").expect("valid").to_string(), "25.50");
        assert_eq!(Amount::parse("0.01").expect("valid").to_string(), "0.01");
        assert_eq!(
            AmountError::TooLarge.to_string(),
            "the amount must be at most 10000.00 per transfer"
        );
    }

    #[test]
    fn transfer_input_is_validated_locally() {
        let ok = TransferRequest::new(" Bob ", "25", "usd", Some("lunch")).expect("valid");
        assert_eq!(ok.to, "bob");
        assert_eq!(ok.amount.to_string(), "25.00");
        assert_eq!(ok.currency, "USD");
        assert!(matches!(
            TransferRequest::new("bob smith", "25", "USD", None),
            Err(TransferInputError::Recipient(_))
        ));
        assert!(matches!(
            TransferRequest::new("", "25", "USD", None),
            Err(TransferInputError::Recipient(_))
        ));
        assert!(matches!(
            TransferRequest::new("bob", "25", "US", None),
            Err(TransferInputError::Currency(_))
        ));
        assert!(matches!(
            TransferRequest::new("bob", "25", "USD", Some("a\u{7}b")),
            Err(TransferInputError::Memo)
        ));
        assert!(matches!(
            TransferRequest::new("bob", "25", "USD", Some(&"m".repeat(141))),
            Err(TransferInputError::Memo)
        ));
        assert!(matches!(
            TransferRequest::new("bob", "-5", "USD", None),
            Err(TransferInputError::Amount(AmountError::Syntax(_)))
        ));
    }

    #[test]
    fn idempotency_keys_are_random_uuids_or_checked() {
        let a = IdempotencyKey::generate();
        let b = IdempotencyKey::generate();
        assert_ne!(a, b);
        let text = a.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "version 4: {text}");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert!(IdempotencyKey::parse("retry-42").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}").is_err());
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            title: Some("Insufficient funds".into()),
            detail: Some("balance is 10.00 USD".into()),
            kind: None,
            status: 422,
        };
        assert_eq!(
            p.to_string(),
            "Insufficient funds (422): balance is 10.00 USD"
        );
        let p = Problem {
            status: 503,
            ..Problem::default()
        };
        assert_eq!(p.to_string(), "503 Service Unavailable");
    }
}
