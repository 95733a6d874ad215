//! Parsing `WWW-Authenticate` (RFC 9110 §11.6.1) into challenges, and reading the Bearer
//! challenge's RFC 6750 §3 / RFC 9470 §3 parameters out of them.
//!
//! Step-up authentication hinges on this header: `error="insufficient_scope", scope="…"` or
//! `error="insufficient_user_authentication", acr_values="…", max_age=…` tells the CLI what
//! to ask the authorization server for. Substring searches get this wrong (a `scope` inside
//! an `error_description`, a second challenge, escaped quotes), so this is a real parser for
//! the grammar: several challenges per header, quoted strings with `\` escapes, parameters in
//! any order, scheme and parameter names case-insensitive, `token68` credentials.

use std::fmt;

/// One challenge: a scheme and either auth-params or a token68.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// As sent; compare with [`Challenge::is`].
    pub scheme: String,
    /// `(name lower-cased, value unquoted)`, in order.
    pub params: Vec<(String, String)>,
    pub token68: Option<String>,
}

impl Challenge {
    /// Scheme names are case-insensitive (RFC 9110 §11.1).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// A parameter's value; names are case-insensitive (RFC 9110 §11.2).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed WWW-Authenticate header at byte {at}: {what}")]
pub struct ChallengeError {
    pub at: usize,
    pub what: &'static str,
}

/// The parameters of a Bearer challenge that matter to a client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: Option<String>,
    /// RFC 6750 §3.1 error code (`invalid_token`, `insufficient_scope`, RFC 9470's
    /// `insufficient_user_authentication`, …).
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 6750 §3: space-delimited scopes needed.
    pub scope: Vec<String>,
    /// RFC 9470 §3: acceptable authentication context classes, in preference order.
    pub acr_values: Vec<String>,
    /// RFC 9470 §3: the maximum authentication age in seconds.
    pub max_age: Option<u64>,
}

impl BearerChallenge {
    /// The challenge that says what went wrong, among all `WWW-Authenticate` header values:
    /// the first `Bearer` or `DPoP` challenge naming an `error` (a server that takes both
    /// schemes sends one challenge for each, RFC 9449 §7.1, and names the error in the scheme
    /// the request used), else the first `Bearer` one.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<BearerChallenge> {
        let challenges: Vec<Challenge> = values
            .into_iter()
            .filter_map(|v| parse(v).ok())
            .flatten()
            .filter(|c| c.is("Bearer") || c.is(bank_protocol::dpop::TOKEN_TYPE))
            .collect();
        challenges
            .iter()
            .find(|c| c.param("error").is_some())
            .or_else(|| challenges.iter().find(|c| c.is("Bearer")))
            .map(BearerChallenge::from_challenge)
    }

    pub fn from_challenge(c: &Challenge) -> BearerChallenge {
        let words = |name: &str| {
            c.param(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        BearerChallenge {
            realm: c.param("realm").map(str::to_owned),
            error: c.param("error").map(str::to_owned),
            error_description: c.param("error_description").map(str::to_owned),
            scope: words("scope"),
            acr_values: words("acr_values"),
            max_age: c.param("max_age").and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// Whether the `WWW-Authenticate` values challenge in the DPoP scheme and not in `Bearer`:
/// the resource server takes only DPoP-bound tokens for what was asked (RFC 9449 §7.1).
pub fn offers_only_dpop<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let challenges: Vec<Challenge> = values
        .into_iter()
        .filter_map(|v| parse(v).ok())
        .flatten()
        .collect();
    challenges
        .iter()
        .any(|c| c.is(bank_protocol::dpop::TOKEN_TYPE))
        && !challenges.iter().any(|c| c.is("Bearer"))
}

/// Why a resource server asked for a stronger token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepUpReason {
    /// RFC 6750 §3.1 `insufficient_scope` on a `403`: the token lacks a scope.
    InsufficientScope,
    /// RFC 9470 §3 `insufficient_user_authentication` on a `401`: the user's
    /// authentication was too weak (`acr_values`) or too old (`max_age`).
    InsufficientUserAuthentication,
}

/// A step-up challenge: what the resource server wants the next token to carry. This is
/// the parsed input of `stepup::authorize_step_up`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepUpChallenge {
    pub reason: StepUpReason,
    /// RFC 6750 §3: the scopes the request needs (may be empty, notably for RFC 9470).
    pub scope: Vec<String>,
    /// RFC 9470 §3: acceptable authentication context classes, in preference order.
    pub acr_values: Vec<String>,
    /// RFC 9470 §3: the maximum age of the authentication, in seconds.
    pub max_age: Option<u64>,
    pub description: Option<String>,
}

impl BearerChallenge {
    /// The step-up this answer asks for, if any. Only the two combinations the RFCs define
    /// count: `403` + `insufficient_scope` (RFC 6750 §3.1) and `401` +
    /// `insufficient_user_authentication` (RFC 9470 §3). Any other pairing (say a `401`
    /// naming `insufficient_scope`) is not a step-up request and is not treated as one.
    pub fn step_up(&self, status: u16) -> Option<StepUpChallenge> {
        let reason = match (status, self.error.as_deref()?) {
            (403, "insufficient_scope") => StepUpReason::InsufficientScope,
            (401, "insufficient_user_authentication") => {
                StepUpReason::InsufficientUserAuthentication
            }
            _ => return None,
        };
        Some(StepUpChallenge {
            reason,
            scope: self.scope.clone(),
            acr_values: self.acr_values.clone(),
            max_age: self.max_age,
            description: self.error_description.clone(),
        })
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(t) = &self.token68 {
            write!(f, " {t}")?;
        }
        for (i, (n, v)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            write!(f, "{sep}{n}=\"{escaped}\"")?;
        }
        Ok(())
    }
}

/// Parses one `WWW-Authenticate` field value into its challenges.
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut p = Parser {
        s: header.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_list_separators();
        if p.eof() {
            break;
        }
        let scheme = p.token().ok_or(p.err("expected an auth-scheme"))?;
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
            token68: None,
        };
        let spaces = p.skip_ows();
        if p.eof() || p.peek() == Some(b',') {
            out.push(challenge);
            continue;
        }
        if spaces == 0 {
            return Err(p.err("expected a space after the auth-scheme"));
        }
        // token68 (e.g. `Basic abc==`) is only possible right after the scheme, and only
        // when what follows is the end of this challenge rather than `name=value`.
        let mark = p.pos;
        if let Some(t68) = p.token68() {
            p.skip_ows();
            if p.eof() || p.peek() == Some(b',') {
                challenge.token68 = Some(t68);
                out.push(challenge);
                continue;
            }
        }
        p.pos = mark;
        loop {
            p.skip_ows();
            let start = p.pos;
            let Some(name) = p.token() else {
                return Err(p.err("expected an auth-param name"));
            };
            p.skip_ows();
            if p.peek() != Some(b'=') {
                // Not `name=`: this token starts the next challenge.
                p.pos = start;
                break;
            }
            p.pos += 1;
            p.skip_ows();
            let value = if p.peek() == Some(b'"') {
                p.quoted()?
            } else {
                p.token()
                    .ok_or(p.err("expected a token or quoted-string value"))?
            };
            let name = name.to_ascii_lowercase();
            // RFC 9110 §11.2: each parameter name MUST occur only once per challenge;
            // a duplicate makes the challenge ambiguous, so refuse rather than guess.
            if challenge.params.iter().any(|(n, _)| *n == name) {
                return Err(p.err("duplicate auth-param"));
            }
            challenge.params.push((name, value));
            p.skip_ows();
            if p.eof() {
                break;
            }
            if p.peek() != Some(b',') {
                return Err(p.err("expected `,` between auth-params"));
            }
            p.skip_list_separators();
            if p.eof() {
                break;
            }
        }
        out.push(challenge);
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn err(&self, what: &'static str) -> ChallengeError {
        ChallengeError { at: self.pos, what }
    }

    fn skip_ows(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `#rule` lists allow empty elements: `a, , b`.
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn token68(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    /// RFC 9110 §5.6.4 quoted-string; `\` escapes the next octet.
    fn quoted(&mut self) -> Result<String, ChallengeError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted-string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(b) = self.peek() else {
                        return Err(self.err("unterminated quoted-string"));
                    };
                    out.push(b);
                    self.pos += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the API wants, in words, naming the scope or the authentication it asked for.
pub fn describe_requirement(challenge: &StepUpChallenge, required_scope: Option<&str>) -> String {
    match challenge.reason {
        StepUpReason::InsufficientScope => match (challenge.scope.is_empty(), required_scope) {
            (false, _) => format!("a token with the `{}` scope", challenge.scope.join(" ")),
            (true, Some(scope)) => format!("a token with the `{scope}` scope"),
            (true, None) => "a token with more scope".to_owned(),
        },
        StepUpReason::InsufficientUserAuthentication => {
            let mut what = "a stronger or more recent sign-in".to_owned();
            if !challenge.acr_values.is_empty() {
                what.push_str(&format!(
                    " (acr_values `{}`",
                    challenge.acr_values.join(" ")
                ));
                match challenge.max_age {
                    Some(m) => what.push_str(&format!(", max_age {m}s)")),
                    None => what.push(')'),
                }
            } else if let Some(m) = challenge.max_age {
                what.push_str(&format!(" (max_age {m}s)"));
            }
            what
        }
    }
}

#[cfg(test)]
mod tests;
