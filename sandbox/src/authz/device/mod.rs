//! The device authorization grant (RFC 8628), for clients that cannot open a browser.
//!
//! 1. The device posts its request to the device authorization endpoint (§3.1), validated
//!    exactly as `/authorize` validates one (`validate_access`); it gets a `device_code`, a
//!    `user_code` and the `verification_uri` (§3.2).
//! 2. The person opens `/device` on any browser, enters the user code (or arrives with it
//!    from `verification_uri_complete`), and the request becomes an ordinary authorization
//!    transaction: the same login page, session reuse, `login_hint`, MFA rule, push and
//!    number matching as the code flow (`page`).
//! 3. Where the code flow would hand out a code, the person instead sees what is being
//!    authorized — the client, the scopes in words, the payment — and approves or denies
//!    it (§5.4: never a bare "Allow", against remote phishing).
//! 4. Meanwhile the device polls the token endpoint (§3.4, §3.5): `authorization_pending`,
//!    `slow_down` when it polls sooner than its interval (which then grows by 5 s),
//!    `access_denied`, `expired_token`; an approved device code yields its tokens once,
//!    issued exactly as for the code flow, and a second redemption revokes them.
//!
//! User codes are 8 characters of the RFC's recommended alphabet (§6.1, no vowels, no
//! ambiguous characters: 34.5 bits), shown as `XXXX-XXXX`, compared without case and
//! punctuation; wrong codes are throttled per source address by the login throttle's
//! store. Both codes are stored hashed.

mod page;

pub use page::{device_confirm_page, device_confirm_submit, device_page, device_submit};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rand::Rng as _;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use super::authorize::param;
use super::mfa::MfaStatusView;
use super::pages::{error_page, redirect};
use super::secrets::{self, Secret};
use super::token::{TokenResponse, form_params};
use super::{AuthzEvent, AuthzState};
use crate::dpop::VerifiedProof;
use crate::error::{OAuthError, OAuthErrorKind};
use crate::store::StoreError;
use crate::store::authz::{
    DevicePoll, DeviceRecord, DeviceStatus, SecretHash, TxnRecord, UserRecord,
};

/// The grant type of the token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// RFC 8628 §6.1: consonants only (no words), no easily confused characters.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code, shown as two groups of four.
pub const USER_CODE_LEN: usize = 8;

/// A user code as typed, in its canonical form: upper case, alphabet only, no dash.
/// `None` when it cannot be a user code at all.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn format_user_code(canonical: &str) -> String {
    let (a, b) = canonical.split_at(canonical.len() / 2);
    format!("{a}-{b}")
}

fn new_user_code() -> String {
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[OsRng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// What is stored for a user code (canonical form, under its own prefix).
fn user_code_hash(canonical: &str) -> SecretHash {
    secrets::sha256(&[b"user_code\0", canonical.as_bytes()].concat())
}

/// The RFC 8628 §3.2 answer. Holds the device code: no `Debug`.
#[derive(Serialize)]
struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// A pending device authorization, as `bank-sandbox mfa list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequestInfo {
    pub id: String,
    /// Who signed in for it so far, if anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    /// What the device asks to pay (as `MfaRequestInfo`'s), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<bank_protocol::Approval>,
    /// The details in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approves: Option<String>,
    /// A batch's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `waiting for the code`, `signing in` or `waiting for approval`.
    pub stage: String,
}

impl DeviceRequestInfo {
    /// "Pay bob 25.00 USD — bank CLI, 21:04:05 UTC (device: waiting for the code)".
    pub fn summary(&self) -> String {
        let what = match &self.authorization_details {
            Some(approval) => super::binding::approval_line(approval),
            None => self.scopes.join(" "),
        };
        format!(
            "{what} \u{2014} {}, {} (device: {})",
            self.client_name,
            super::clock_time(self.created_at),
            self.stage
        )
    }
}

impl AuthzState {
    fn device_lifetime(&self) -> i64 {
        i64::try_from(self.config().device.code_lifetime_secs).unwrap_or(600)
    }

    fn client_display_name(&self, client_id: &str) -> String {
        self.config()
            .client(client_id)
            .map_or_else(|| client_id.to_owned(), |c| c.name.clone())
    }

    /// RFC 8628 §3.1–3.2.
    fn device_authorization(
        &self,
        params: &[(String, String)],
    ) -> Result<DeviceAuthorizationResponse, OAuthError> {
        let client_id = param(params, "client_id")
            .ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
        if self.config().client(client_id).is_none() {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        let access = self.validate_access(params)?;
        self.maybe_purge();
        let now = self.now();
        let lifetime = self.device_lifetime();
        let record = DeviceRecord {
            id: secrets::random_id("dev_"),
            client_id: client_id.to_owned(),
            scope: access.scope,
            audience: access.audience,
            acr_values: access.acr_values,
            max_age: access.max_age,
            prompt: access.prompt,
            login_hint: access.login_hint,
            authorization_details: access.authorization_details,
            created_at: now,
            expires_at: now + lifetime,
            interval_secs: i64::try_from(self.config().device.interval_secs).unwrap_or(5),
            status: DeviceStatus::Pending,
            txn_id: None,
            user_id: None,
            auth_time: None,
            amr: None,
            acr: None,
        };
        // A user code that is already taken (live or not yet purged) is drawn again.
        for _ in 0..8 {
            let device_code = Secret::generate();
            let user_code = new_user_code();
            if self.store().insert_device(
                &record,
                &device_code.hash(),
                &user_code_hash(&user_code),
            )? {
                self.record(AuthzEvent::DeviceAuthorizationRequested {
                    id: record.id.clone(),
                    client_id: record.client_id.clone(),
                    scope: record.scope.clone(),
                });
                let iss = self.base_url();
                let shown = format_user_code(&user_code);
                return Ok(DeviceAuthorizationResponse {
                    device_code: device_code.expose().to_owned(),
                    verification_uri: format!("{iss}/device"),
                    verification_uri_complete: format!("{iss}/device?user_code={shown}"),
                    user_code: shown,
                    expires_in: self.config().device.code_lifetime_secs,
                    interval: self.config().device.interval_secs,
                });
            }
        }
        tracing::error!("no free user code after 8 draws");
        Err(OAuthError::server_error())
    }

    /// The `device_code` grant at the token endpoint (RFC 8628 §3.4–3.5).
    pub(crate) fn device_grant(
        &self,
        client_id: &str,
        params: &[(String, String)],
        proof: Option<&VerifiedProof>,
    ) -> Result<TokenResponse, OAuthError> {
        if !self.config().device.enabled {
            return Err(OAuthError::new(
                OAuthErrorKind::UnsupportedGrantType,
                format!("grant_type {DEVICE_CODE_GRANT} is not supported"),
            ));
        }
        let code = Secret::from_wire(
            param(params, "device_code")
                .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?,
        );
        let now = self.now();
        let poll = self.store().poll_device(&code.hash(), client_id, now)?;
        let answer = |kind, description: &str| {
            self.record(AuthzEvent::DevicePolled {
                answer: OAuthErrorKind::code(kind).to_owned(),
            });
            Err(OAuthError::new(kind, description))
        };
        match poll {
            DevicePoll::Unknown => Err(OAuthError::invalid_grant("unknown device code")),
            DevicePoll::OtherClient => Err(OAuthError::invalid_grant(
                "device code was issued to another client",
            )),
            DevicePoll::Replayed { grant_id } => {
                self.record(AuthzEvent::DeviceCodeReplayed { grant_id });
                Err(OAuthError::invalid_grant(
                    "device code already used; its refresh tokens are revoked (access tokens already issued stay valid until they expire)",
                ))
            }
            DevicePoll::Expired => answer(
                OAuthErrorKind::ExpiredToken,
                "the device code expired before it was approved",
            ),
            DevicePoll::SlowDown => answer(
                OAuthErrorKind::SlowDown,
                "polling too often: wait 5 seconds longer between requests",
            ),
            DevicePoll::Denied => answer(OAuthErrorKind::AccessDenied, "the request was denied"),
            DevicePoll::Pending { id, txn_id } => {
                if self.second_factor_failed(txn_id.as_deref())? {
                    self.store().deny_device(&id, txn_id.as_deref(), now)?;
                    self.record(AuthzEvent::DeviceDenied { id });
                    return answer(
                        OAuthErrorKind::AccessDenied,
                        "the multi-factor request was denied or expired",
                    );
                }
                answer(
                    OAuthErrorKind::AuthorizationPending,
                    "waiting for the user to approve the request",
                )
            }
            DevicePoll::Approved(grant) => {
                self.record(AuthzEvent::DevicePolled {
                    answer: "tokens".into(),
                });
                // As for a code (RFC 9449 §5): the key that redeems the device code binds
                // the access token and the refresh token family.
                let mut grant = grant;
                if let Some(proof) = proof {
                    self.store().bind_grant_to_dpop_key(&grant.id, &proof.jkt)?;
                    grant.dpop_jkt.get_or_insert_with(|| proof.jkt.clone());
                }
                let scope = grant.scope.clone();
                self.issue(&grant, &scope, None, DEVICE_CODE_GRANT, proof)
            }
        }
    }

    /// Whether the push of the device's current sign-in was denied or expired: the device
    /// learns it at once, as the code flow's client would.
    fn second_factor_failed(&self, txn_id: Option<&str>) -> Result<bool, StoreError> {
        let Some(txn_id) = txn_id else {
            return Ok(false);
        };
        Ok(matches!(
            self.mfa_status(txn_id)?,
            Some(MfaStatusView::Denied | MfaStatusView::Expired)
        ))
    }

    /// The transaction of a browser that entered `device`'s user code.
    fn device_txn(&self, device: &DeviceRecord) -> TxnRecord {
        let now = self.now();
        TxnRecord {
            id: secrets::random_id("txn_"),
            client_id: device.client_id.clone(),
            // Where errors of the sign-in (a denied push, too many pushes) are shown: the
            // device page, which says so in its own words.
            redirect_uri: format!("{}/device", self.base_url()),
            scope: device.scope.clone(),
            audience: device.audience.clone(),
            state: None,
            nonce: None,
            // No code is ever issued for this transaction: without a PKCE challenge,
            // `finish_with_code` hands it to `device_authenticated`.
            code_challenge: String::new(),
            acr_values: device.acr_values.clone(),
            max_age: device.max_age,
            prompt: device.prompt.clone(),
            login_hint: device.login_hint.clone(),
            authorization_details: device.authorization_details.clone(),
            // The device's token request carries the proof: nothing to name here.
            dpop_jkt: None,
            session_hash: None,
            user_id: None,
            auth_time: None,
            created_at: now,
            expires_at: device
                .expires_at
                .min(now + i64::try_from(self.config().transaction_lifetime_secs).unwrap_or(900)),
            completed_at: None,
        }
    }

    /// The person is authenticated for a device's transaction (MFA passed when the rule
    /// asked): remember who and how, then ask them to decide.
    pub(crate) fn device_authenticated(
        &self,
        txn: &TxnRecord,
        user: &UserRecord,
        amr: &[&str],
        acr: &str,
    ) -> Result<Response, OAuthError> {
        let now = self.now();
        let finished = || {
            error_page(
                axum::http::StatusCode::BAD_REQUEST,
                "Request already finished",
                "This device request was already decided, replaced or has expired. Start again on your device.",
            )
        };
        // Another browser may have entered the code since: then this one is done.
        let device = self.store().device_by_txn(&txn.id)?;
        let (true, Some(device)) = (self.store().complete_txn(&txn.id, now)?, device) else {
            return Ok(finished());
        };
        // As for a code: approving the push authenticates the user now (see finish_with_code).
        let auth_time = if amr.contains(&"mfa") {
            now
        } else {
            txn.auth_time.unwrap_or(now)
        };
        if !self.store().device_authenticated(
            &device.id,
            &txn.id,
            user.id,
            auth_time,
            &amr.join(" "),
            acr,
            now,
        )? {
            return Ok(finished());
        }
        // RFC 8628 §5.4: someone who sends you a code gets what you approve, so the person
        // must see what a code grants before it is granted. A payment approved just now on
        // the authenticator — which showed exactly that payment, and took the number only
        // this page's browser had — is that decision already: asking again adds a click, not
        // protection. A sign-in (scopes, no payment, or no second factor) is confirmed on
        // the page as before.
        if amr.contains(&"mfa")
            && device.authorization_details.is_some()
            && let Some(decided) = self.store().device_by_txn(&txn.id)?
        {
            return Ok(self.decide_device(txn, &decided, true)?);
        }
        Ok(redirect(&format!("/device/confirm?txn={}", txn.id)))
    }

    /// Pending device authorizations, oldest first.
    pub fn pending_devices(&self) -> Vec<DeviceRequestInfo> {
        let now = self.now();
        let list = match self.store().pending_devices(now) {
            Ok(list) => list,
            Err(err) => {
                tracing::error!(error = %err, "pending_devices");
                return Vec::new();
            }
        };
        list.iter()
            .map(|d| {
                let username = d
                    .user_id
                    .and_then(|id| self.store().user_by_id(id).ok().flatten())
                    .map(|u| u.username);
                let stage = match (&d.txn_id, &username) {
                    (None, _) => "waiting for the code",
                    (Some(_), None) => "signing in",
                    (Some(_), Some(_)) => "waiting for approval",
                };
                let approval = super::binding::details_of(d.authorization_details.as_deref());
                DeviceRequestInfo {
                    id: d.id.clone(),
                    username,
                    client_id: d.client_id.clone(),
                    client_name: self.client_display_name(&d.client_id),
                    scopes: d.scope.split(' ').map(str::to_owned).collect(),
                    created_at: d.created_at,
                    expires_at: d.expires_at,
                    approves: approval.as_ref().map(bank_protocol::Approval::summary),
                    reference: approval
                        .as_ref()
                        .and_then(bank_protocol::Approval::reference),
                    authorization_details: approval,
                    stage: stage.to_owned(),
                }
            })
            .collect()
    }

    /// Denies a pending device authorization (`bank-sandbox mfa deny dev_…`).
    pub fn deny_device(&self, id: &str) -> Result<bool, StoreError> {
        let denied = self.store().deny_device(id, None, self.now())?;
        if denied {
            self.record(AuthzEvent::DeviceDenied { id: id.to_owned() });
        }
        Ok(denied)
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/device/code`.
pub async fn device_authorization(
    State(state): State<AuthzState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.config().device.enabled {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let result = form_params(&headers, &body).and_then(|p| state.device_authorization(&p));
    match result {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_read_back_however_typed() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), USER_CODE_LEN);
            assert!(
                code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            let shown = format_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalize_user_code(&format!(" {} ", shown.to_lowercase())).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(
            normalize_user_code("bcdf ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        // Vowels and digits are not in the alphabet; the length is exact.
        assert_eq!(normalize_user_code("BCDF-GHJA"), None);
        assert_eq!(normalize_user_code("BCDF-GHJ1"), None);
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("BCDF-GHJKL"), None);
    }
}
