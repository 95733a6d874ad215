//! Browser sessions and CSRF tokens.
//!
//! A session starts anonymous the first time a browser sees a form (login or authenticator
//! sign-in), so the form's CSRF token can be bound to it: a cross-site POST carries neither
//! the SameSite=Lax cookie nor a token that matches it. Signing in replaces the session id
//! (no session fixation). Only SHA-256 hashes of session ids and CSRF tokens are stored.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::AuthzState;
use super::secrets::{Secret, ct_eq};
use crate::store::StoreError;
use crate::store::authz::{SecretHash, SessionRecord};

pub const COOKIE_NAME: &str = "bank_session";

/// A session found from the request's cookie.
pub struct Session {
    pub id_hash: SecretHash,
    pub record: SessionRecord,
}

impl Session {
    pub fn user_id(&self) -> Option<i64> {
        self.record.user_id
    }
}

/// The session cookie's value, if the request has one.
pub fn cookie(headers: &HeaderMap) -> Option<Secret> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| Secret::from_wire(value))
}

/// Adds `Set-Cookie` for a new session id (HttpOnly: no script reads it; SameSite=Lax:
/// sent on top-level navigations from the client, not on cross-site POSTs).
pub fn set_cookie(response: &mut Response, id: &Secret, max_age: u64) {
    let value = format!(
        "{COOKIE_NAME}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}",
        id.expose()
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub fn clear_cookie(response: &mut Response) {
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("bank_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    );
}

impl AuthzState {
    fn session_lifetime(&self) -> i64 {
        i64::try_from(self.config().session_lifetime_secs).unwrap_or(8 * 3600)
    }

    /// The live session named by the request's cookie, if any.
    pub(crate) fn current_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, StoreError> {
        let Some(id) = cookie(headers) else {
            return Ok(None);
        };
        let id_hash = id.hash();
        Ok(self
            .store()
            .session(&id_hash, self.now())?
            .map(|record| Session { id_hash, record }))
    }

    /// The current session or a new anonymous one; the `Secret` is set when a cookie must
    /// be sent.
    pub(crate) fn session_for_form(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Session, Option<Secret>), StoreError> {
        if let Some(session) = self.current_session(headers)? {
            return Ok((session, None));
        }
        let id = Secret::generate();
        let now = self.now();
        let csrf = Secret::generate();
        self.store().create_session(
            &id.hash(),
            None,
            &csrf.hash(),
            now,
            now + self.session_lifetime(),
        )?;
        let id_hash = id.hash();
        let record = self
            .store()
            .session(&id_hash, now)?
            .ok_or(StoreError::NotFound)?;
        Ok((Session { id_hash, record }, Some(id)))
    }

    /// A fresh CSRF token for the next form of this session (the previous one stops working).
    pub(crate) fn new_csrf(&self, session: &Session) -> Result<Secret, StoreError> {
        let csrf = Secret::generate();
        self.store()
            .set_session_csrf(&session.id_hash, &csrf.hash())?;
        Ok(csrf)
    }

    /// Whether a submitted CSRF token belongs to this session (constant time).
    pub(crate) fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        ct_eq(
            &Secret::from_wire(presented).hash(),
            &session.record.csrf_hash,
        )
    }

    /// Replaces `old` (if any) by a new authenticated session for `user_id`, returning the
    /// new cookie value and its hash.
    pub(crate) fn sign_in_session(
        &self,
        old: Option<&Session>,
        user_id: i64,
    ) -> Result<(Secret, SecretHash, i64), StoreError> {
        if let Some(old) = old {
            self.store().delete_session(&old.id_hash)?;
        }
        let id = Secret::generate();
        let now = self.now();
        let hash = id.hash();
        self.store().create_session(
            &hash,
            Some((user_id, now)),
            &Secret::generate().hash(),
            now,
            now + self.session_lifetime(),
        )?;
        Ok((id, hash, now))
    }

    pub(crate) fn session_cookie_max_age(&self) -> u64 {
        self.config().session_lifetime_secs
    }
}
