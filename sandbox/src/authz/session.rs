//! Sessions and CSRF tokens, for two kinds of device.
//!
//! The **browser** session (`bank_session`) is the one applications send people to: the
//! login page starts it, `/authorize` and the MFA waiting page read it. The
//! **authenticator** session (`bank_authenticator`) belongs to `/authenticator`, which
//! stands for the user's phone: a separate device with its own sign-in. Keeping them apart
//! is what makes the push a second factor — a browser that has just signed in holds no
//! authenticator session, so it cannot approve its own request with one click, and signing
//! in on the authenticator never creates, replaces or re-tokens the browser's session (a
//! login form open in another tab keeps working).
//!
//! A session starts anonymous the first time a device sees a form, so the form's CSRF
//! token can be bound to it: a cross-site POST carries neither the cookie nor a token that
//! matches it. Signing in replaces the session id (no session fixation). Only SHA-256
//! hashes of session ids and CSRF tokens are stored; authenticator ids are hashed under a
//! distinct prefix, so a cookie value of one kind never names a session of the other, even
//! if copied into the other cookie.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::AuthzState;
use super::secrets::{Secret, ct_eq, sha256};
use crate::store::StoreError;
use crate::store::authz::{SecretHash, SessionRecord};

/// Which device a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// The browser that signs in to applications (`/login`, `/authorize`, `/mfa/*`).
    Browser,
    /// The authenticator page: the user's "phone".
    Authenticator,
}

impl SessionKind {
    pub const fn cookie_name(self) -> &'static str {
        match self {
            SessionKind::Browser => "bank_session",
            SessionKind::Authenticator => "bank_authenticator",
        }
    }

    /// HttpOnly for both: no script reads them. The browser session is SameSite=Lax because
    /// it must ride along the top-level navigation from the client to `/authorize`
    /// (RFC 6265bis §8.8.2), but not on cross-site POSTs. Nothing outside the
    /// authenticator's own pages ever needs its session: SameSite=Strict, and only sent
    /// to `/authenticator…`.
    const fn attributes(self) -> &'static str {
        match self {
            SessionKind::Browser => "HttpOnly; SameSite=Lax; Path=/",
            SessionKind::Authenticator => "HttpOnly; SameSite=Strict; Path=/authenticator",
        }
    }

    /// The stored hash of a session id of this kind.
    fn hash(self, id: &Secret) -> SecretHash {
        match self {
            SessionKind::Browser => id.hash(),
            SessionKind::Authenticator => {
                sha256(&[b"bank_authenticator\0", id.expose().as_bytes()].concat())
            }
        }
    }
}

/// A session found from the request's cookie.
pub struct Session {
    pub kind: SessionKind,
    pub id_hash: SecretHash,
    pub record: SessionRecord,
}

impl Session {
    pub fn user_id(&self) -> Option<i64> {
        self.record.user_id
    }
}

/// The value of this kind's session cookie, if the request has one.
pub fn cookie(headers: &HeaderMap, kind: SessionKind) -> Option<Secret> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == kind.cookie_name())
        .map(|(_, value)| Secret::from_wire(value))
}

/// Adds `Set-Cookie` for a new session id of this kind.
pub fn set_cookie(response: &mut Response, kind: SessionKind, id: &Secret, max_age: u64) {
    let value = format!(
        "{}={}; {}; Max-Age={max_age}",
        kind.cookie_name(),
        id.expose(),
        kind.attributes(),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Removes this kind's cookie (same name, path and attributes, so the browser matches it).
pub fn clear_cookie(response: &mut Response, kind: SessionKind) {
    let value = format!("{}=; {}; Max-Age=0", kind.cookie_name(), kind.attributes());
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

impl AuthzState {
    fn session_lifetime(&self) -> i64 {
        i64::try_from(self.config().session_lifetime_secs).unwrap_or(8 * 3600)
    }

    /// The live session of this kind named by the request's cookie, if any.
    pub(crate) fn current_session(
        &self,
        kind: SessionKind,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, StoreError> {
        let Some(id) = cookie(headers, kind) else {
            return Ok(None);
        };
        let id_hash = kind.hash(&id);
        Ok(self
            .store()
            .session(&id_hash, self.now())?
            .map(|record| Session {
                kind,
                id_hash,
                record,
            }))
    }

    /// The current session of this kind or a new anonymous one; the `Secret` is set when a
    /// cookie must be sent.
    pub(crate) fn session_for_form(
        &self,
        kind: SessionKind,
        headers: &HeaderMap,
    ) -> Result<(Session, Option<Secret>), StoreError> {
        if let Some(session) = self.current_session(kind, headers)? {
            return Ok((session, None));
        }
        let id = Secret::generate();
        let now = self.now();
        let csrf = Secret::generate();
        let id_hash = kind.hash(&id);
        self.store().create_session(
            &id_hash,
            None,
            &csrf.hash(),
            now,
            now + self.session_lifetime(),
        )?;
        let record = self
            .store()
            .session(&id_hash, now)?
            .ok_or(StoreError::NotFound)?;
        Ok((
            Session {
                kind,
                id_hash,
                record,
            },
            Some(id),
        ))
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

    /// Replaces `old` (if any) by a new authenticated session of this kind for `user_id`,
    /// returning the new cookie value, its hash and the sign-in time.
    pub(crate) fn sign_in_session(
        &self,
        kind: SessionKind,
        old: Option<&Session>,
        user_id: i64,
    ) -> Result<(Secret, SecretHash, i64), StoreError> {
        if let Some(old) = old {
            debug_assert_eq!(
                old.kind, kind,
                "a session is replaced by one of its own kind"
            );
            self.store().delete_session(&old.id_hash)?;
        }
        let id = Secret::generate();
        let now = self.now();
        let hash = kind.hash(&id);
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
