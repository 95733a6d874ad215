//! Number matching and "what is approved": what makes one push distinguishable from another
//! and ties it to the browser that asked.
//!
//! A push alone cannot tell the person *which* sign-in it belongs to: someone who knows the
//! password can start one at the same moment, and "approve the oldest" then approves theirs.
//! So every push gets a two-digit number that only the waiting browser shows
//! (`data-binding-code`), and approving means typing it — on the authenticator page or with
//! `bank-sandbox mfa approve --code NN` — as Microsoft Authenticator and Duo Verified Push
//! do against push fatigue. Three wrong numbers deny the push, so it cannot be guessed in
//! the 90 tries the number space allows. With the RFC 9396 details every surface shows the
//! same words for the same request: "Pay bob 25.00 USD", the memo, the client, the time.

use rand::Rng as _;
use rand::rngs::OsRng;

use super::AuthzState;
use super::mfa::{MfaError, MfaRequestInfo};
use crate::store::StoreError;
use crate::store::authz::MfaStatus;

/// Wrong numbers after which a push is denied.
pub const MAX_WRONG_CODES: u32 = 3;

/// The numbers a push may show: two digits.
const BINDING_CODES: std::ops::RangeInclusive<u32> = 10..=99;

/// The most pushes `[authz.mfa_push_limit] max_pushes` may allow: one fewer than there are
/// numbers, so a user's pending pushes never take them all and a guessed number can still
/// be wrong.
pub const MAX_PUSHES_BOUND: u32 = *BINDING_CODES.end() - *BINDING_CODES.start();

/// A number none of `taken` shows, drawn evenly from the free ones; `None` when every
/// number is taken. Bounded: one pass over 90 numbers, never a loop of retries.
pub fn draw_binding_code(taken: &[String]) -> Option<String> {
    let mut free: Vec<String> = BINDING_CODES
        .map(|n| n.to_string())
        .filter(|code| !taken.contains(code))
        .collect();
    if free.is_empty() {
        return None;
    }
    let pick = OsRng.gen_range(0..free.len());
    Some(free.swap_remove(pick))
}

/// The details a transaction stored (validated JSON), for display.
pub(crate) fn details_of(json: Option<&str>) -> Option<bank_protocol::Approval> {
    serde_json::from_str(json?).ok()
}

/// The details a grant keeps and its access tokens carry: a batch without its list
/// (`Approval::for_token`), whose digest binds the list, so a token for 1,000 payments
/// stays small. `None` for no details; stored details that no longer read are an error.
pub(crate) fn granted_details(json: Option<&str>) -> Result<Option<String>, serde_json::Error> {
    json.map(|json| {
        serde_json::from_str::<bank_protocol::Approval>(json).map(|a| a.for_token().to_json())
    })
    .transpose()
}

/// What the audit trail records of pushed details: as pushed, except a batch, which is
/// recorded without its list (a thousand payments are not a log line; the digest names
/// them).
pub(crate) fn recorded_details(json: &str) -> String {
    match serde_json::from_str::<bank_protocol::Approval>(json) {
        Ok(batch @ bank_protocol::Approval::Batch(_)) => batch.for_token().to_json(),
        _ => json.to_owned(),
    }
}

/// "Pay bob 25.00 USD, memo “lunch”" for one payment; "Pay 3 payments, 36.00 USD in total,
/// to 3 payees (reference 3F9A-21C7)" for more.
pub fn approval_line(approval: &bank_protocol::Approval) -> String {
    if let Some(payment) = approval.single() {
        return match payment.memo() {
            Some(memo) => format!("{payment}, memo \u{201c}{memo}\u{201d}"),
            None => payment.to_string(),
        };
    }
    match approval.reference() {
        Some(reference) => format!("{} (reference {reference})", approval.summary()),
        None => approval.summary(),
    }
}

/// Unix seconds as `HH:MM:SS UTC`: enough to tell two pushes of the same minute apart.
pub fn clock_time(unix: i64) -> String {
    let format = time::macros::format_description!("[hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

impl MfaRequestInfo {
    /// The payment the push approves, if it is bound to exactly one.
    pub fn payment(&self) -> Option<&bank_protocol::PaymentInitiation> {
        self.authorization_details.as_ref()?.single()
    }

    /// One line that tells this request apart: "Pay bob 25.00 USD, memo “lunch” — bank CLI,
    /// 21:04:05 UTC", a batch's summary and reference, or the scopes when it is not bound to
    /// a payment.
    pub fn summary(&self) -> String {
        let what = match &self.authorization_details {
            Some(approval) => approval_line(approval),
            None => self.scopes.join(" "),
        };
        format!(
            "{what} \u{2014} {}, {}",
            self.client_name,
            clock_time(self.created_at)
        )
    }
}

impl AuthzState {
    /// A number from 10 to 99 that none of the user's other pending pushes shows, so that
    /// with `--user` the number alone picks the push; `None` when all are taken.
    pub(super) fn new_binding_code(&self, username: &str) -> Result<Option<String>, StoreError> {
        let taken: Vec<String> = self
            .store()
            .pending_mfa(Some(username), self.now())?
            .into_iter()
            .map(|r| r.binding_code)
            .collect();
        Ok(draw_binding_code(&taken))
    }

    /// Approves request `id` if `code` is its number; a wrong number counts towards
    /// [`MAX_WRONG_CODES`].
    pub fn approve_with_code(&self, id: &str, code: &str) -> Result<MfaRequestInfo, MfaError> {
        let record = self.store().mfa_by_id(id)?.ok_or(MfaError::NotFound)?;
        if record.status != MfaStatus::Pending || record.expires_at <= self.now() {
            return Err(MfaError::NotPending);
        }
        if !super::secrets::ct_eq(record.binding_code.as_bytes(), code.trim().as_bytes()) {
            return Err(self.wrong_code(&[id])?);
        }
        self.decide(id, MfaStatus::Approved)?;
        Ok(self.info(&record))
    }

    /// Approves the one pending push of `username` whose number is `code`. A number that
    /// matches none counts as a wrong number for each of them: the person is looking at one
    /// browser, and whoever guesses must not get a free try per push.
    pub fn approve_pending_with_code(
        &self,
        username: &str,
        code: &str,
    ) -> Result<MfaRequestInfo, MfaError> {
        let pending = self.store().pending_mfa(Some(username), self.now())?;
        if pending.is_empty() {
            return Err(MfaError::NonePending(username.to_owned()));
        }
        match pending.iter().find(|r| r.binding_code == code.trim()) {
            Some(record) => self.approve_with_code(&record.id, code),
            None => {
                let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
                Err(self.wrong_code(&ids)?)
            }
        }
    }

    /// Approves the one pending push, of any user, whose number is `code`: what the waiting
    /// page's `bank-sandbox mfa approve --code NN` does. As with a user named, a number that
    /// matches none counts as wrong for each pending push; two users' pushes showing the
    /// same number are not guessed between.
    pub fn approve_any_with_code(&self, code: &str) -> Result<MfaRequestInfo, MfaError> {
        let pending = self.store().pending_mfa(None, self.now())?;
        if pending.is_empty() {
            return Err(MfaError::NonePending("anyone".into()));
        }
        let matching: Vec<_> = pending
            .iter()
            .filter(|r| r.binding_code == code.trim())
            .collect();
        match matching.as_slice() {
            [record] => self.approve_with_code(&record.id, code),
            [] => {
                let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
                Err(self.wrong_code(&ids)?)
            }
            _ => Err(MfaError::Ambiguous),
        }
    }

    fn wrong_code(&self, ids: &[&str]) -> Result<MfaError, StoreError> {
        let mut denied = false;
        let mut left = MAX_WRONG_CODES;
        for id in ids {
            if self
                .store()
                .wrong_mfa_code(id, MAX_WRONG_CODES, self.now())?
            {
                denied = true;
                self.record(super::AuthzEvent::MfaDenied {
                    id: (*id).to_owned(),
                });
            }
            let wrong = self.store().mfa_wrong_codes(id)?;
            left = left.min(MAX_WRONG_CODES.saturating_sub(wrong));
        }
        if denied {
            self.inner.mfa_changes.send_modify(|n| *n += 1);
            return Ok(MfaError::WrongCodeDenied(MAX_WRONG_CODES));
        }
        Ok(MfaError::WrongCode { left })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
        range.map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_draw_takes_the_one_free_number_and_refuses_when_none_is_left() {
        assert_eq!(MAX_PUSHES_BOUND, 89);
        let mut taken = codes(10..=99);
        assert_eq!(
            draw_binding_code(&taken),
            None,
            "all 90 taken: refused, not a hang"
        );
        taken.retain(|c| c != "57");
        for _ in 0..20 {
            assert_eq!(draw_binding_code(&taken).as_deref(), Some("57"));
        }
        let drawn = draw_binding_code(&[]).expect("a number");
        assert!(BINDING_CODES.contains(&drawn.parse::<u32>().expect("digits")));
    }
}
