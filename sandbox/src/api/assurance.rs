//! How the API decides that a `transfer:funds` token carries strong authentication: the
//! assurance policy of RFC 9470, in one place.
//!
//! Two sources of evidence, chosen by `[api] require_mfa_for_transfers`:
//!
//! - **The token's claims** (`true`, the default for the sandbox's own issuer): the token
//!   itself must say the person used more than one factor (`amr`, RFC 8176, or an `acr`
//!   listed in `mfa_acr_values`) and when (`auth_time`, at most `max_auth_age_secs` ago).
//! - **The provider's rule** (`false`, the default for an external issuer): the provider
//!   grants `transfer:funds` only after multi-factor authentication (an Auth0 Action, an Okta
//!   authentication policy, a Keycloak flow), which is the seed article's model; RFC 9068
//!   makes `amr`, `acr` and `auth_time` optional and Auth0's default access tokens carry none.
//!   Whatever the token does say must not contradict the rule: an `amr`/`acr` that is
//!   present and names no second factor, or an `auth_time` older than the limit, is refused.

use super::auth::Claims;
use crate::error::ApiError;

/// The `acr` value meaning "authenticated with more than one factor" (OpenID PAPE), the
/// one Auth0 uses and the one our challenge asks for.
pub const MFA_ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// Where the evidence of a second factor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The token must carry it (`amr`/`acr`, `auth_time`).
    TokenClaims,
    /// The provider's rule for `transfer:funds`; claims present must agree with it.
    ProviderRule,
}

/// The RFC 9470 policy for operations that move money.
#[derive(Debug, Clone)]
pub struct StepUpPolicy {
    pub evidence: Evidence,
    /// `acr` values that mean multi-factor (`[api] mfa_acr_values`).
    pub mfa_acr_values: Vec<String>,
    /// Demand that the token names its payments (RFC 9396 `payment_initiation`, or a
    /// `payment_batch` for a batch).
    pub require_authorization_details: bool,
    /// How long ago the person may have authenticated (`auth_time`); `None`: no limit.
    pub max_auth_age_secs: Option<u64>,
    pub leeway_secs: u64,
}

impl StepUpPolicy {
    /// What the token's `amr` and `acr` say about the factors used: `None` when it says
    /// nothing, `Some(true)` when either names more than one factor.
    fn multi_factor(&self, claims: &Claims) -> Option<bool> {
        let amr_present = !claims.amr.is_empty();
        // RFC 8176: `mfa`, or two different methods (Keycloak's `["pwd","otp"]`).
        let amr_mfa = claims.amr.iter().any(|m| m == "mfa") || {
            let mut methods: Vec<&str> = claims.amr.iter().map(String::as_str).collect();
            methods.sort_unstable();
            methods.dedup();
            methods.len() >= 2
        };
        let acr_mfa = claims
            .acr
            .as_deref()
            .is_some_and(|acr| self.mfa_acr_values.iter().any(|v| v == acr));
        if amr_mfa || acr_mfa {
            Some(true)
        } else if amr_present || claims.acr.is_some() {
            Some(false)
        } else {
            None
        }
    }

    /// Checks the claims of a token that already has the right scope.
    pub fn check(&self, claims: &Claims, now: i64) -> Result<(), ApiError> {
        let refuse = |detail| ApiError::InsufficientUserAuthentication {
            detail,
            acr_values: self.mfa_acr_values.first().cloned(),
            max_age: self.max_auth_age_secs,
        };
        match (self.evidence, self.multi_factor(claims)) {
            (_, Some(true)) | (Evidence::ProviderRule, None) => {}
            (Evidence::TokenClaims, None) => {
                return Err(refuse(
                    "This bank needs the token to show multi-factor authentication (amr or acr), and it shows none",
                ));
            }
            (_, Some(false)) => {
                return Err(refuse(
                    "The token says you signed in without a second factor; this bank requires multi-factor authentication to move money",
                ));
            }
        }
        if self.require_authorization_details && claims.approval.is_none() {
            return Err(ApiError::AuthorizationDetailsRequired);
        }
        let Some(max_age) = self.max_auth_age_secs else {
            return Ok(());
        };
        let Some(auth_time) = claims.auth_time else {
            if self.evidence == Evidence::TokenClaims {
                return Err(refuse("The token does not say when you authenticated"));
            }
            return Ok(());
        };
        if auth_time > now + self.leeway_secs as i64 {
            return Err(ApiError::InvalidToken("auth_time is in the future"));
        }
        if now - auth_time > max_age as i64 {
            return Err(refuse("Your authentication is too old for this operation"));
        }
        Ok(())
    }

    /// One line for the API's start-up banner: which policy it applies.
    pub fn describe(&self) -> String {
        let age = match self.max_auth_age_secs {
            Some(secs) => format!("at most {secs} s old"),
            None => "of any age".to_owned(),
        };
        match self.evidence {
            Evidence::TokenClaims => format!("MFA shown in the token (amr/acr), auth_time {age}"),
            Evidence::ProviderRule => {
                format!("the provider's MFA rule (amr/acr/auth_time checked if present, {age})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(amr: &[&str], acr: Option<&str>, auth_time: Option<i64>) -> Claims {
        Claims {
            issuer: "http://127.0.0.1:1".into(),
            sub: "usr_1".into(),
            scopes: vec![super::super::auth::SCOPE_TRANSFER_FUNDS.into()],
            token_id: "j".into(),
            jti: Some("j".into()),
            exp: 0,
            iat: 0,
            auth_time,
            acr: acr.map(str::to_owned),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            client_id: None,
            preferred_username: None,
            nickname: None,
            email: None,
            email_verified: false,
            approval: None,
            dpop_jkt: None,
        }
    }

    fn policy(evidence: Evidence, max_age: Option<u64>) -> StepUpPolicy {
        StepUpPolicy {
            evidence,
            mfa_acr_values: vec![MFA_ACR.into()],
            require_authorization_details: false,
            max_auth_age_secs: max_age,
            leeway_secs: 60,
        }
    }

    const NOW: i64 = 1_000_000;

    fn refused(result: Result<(), ApiError>) -> bool {
        matches!(result, Err(ApiError::InsufficientUserAuthentication { .. }))
    }

    #[test]
    fn token_claims_need_mfa_and_recent_auth() {
        let strict = policy(Evidence::TokenClaims, Some(300));
        for good in [
            claims(&["pwd", "mfa"], None, Some(NOW - 10)),
            claims(&["pwd"], Some(MFA_ACR), Some(NOW)),
            claims(&["pwd", "otp"], None, Some(NOW)),
        ] {
            assert!(strict.check(&good, NOW).is_ok(), "{good:?}");
        }
        for bad in [
            claims(&["pwd"], None, Some(NOW)),
            claims(&[], None, Some(NOW)),
            claims(&["pwd", "mfa"], None, None),
            claims(&["pwd", "mfa"], None, Some(NOW - 301)),
            claims(&["pwd", "pwd"], Some("1"), Some(NOW)),
        ] {
            assert!(refused(strict.check(&bad, NOW)), "{bad:?}");
        }
        // No age limit: auth_time is not needed.
        let ageless = policy(Evidence::TokenClaims, None);
        assert!(ageless.check(&claims(&["mfa"], None, None), NOW).is_ok());
    }

    #[test]
    fn the_provider_rule_trusts_the_scope_unless_the_claims_contradict_it() {
        let rule = policy(Evidence::ProviderRule, Some(300));
        // Auth0's default access token: no amr, acr or auth_time.
        assert!(rule.check(&claims(&[], None, None), NOW).is_ok());
        assert!(
            rule.check(&claims(&["mfa"], None, Some(NOW - 5)), NOW)
                .is_ok()
        );
        // Present and single-factor, or present and too old: refused.
        assert!(refused(rule.check(&claims(&["pwd"], None, None), NOW)));
        assert!(refused(
            rule.check(&claims(&[], Some("urn:bank:acr:pwd"), None), NOW)
        ));
        assert!(refused(
            rule.check(&claims(&["mfa"], None, Some(NOW - 301)), NOW)
        ));
    }
}
