//! `WWW-Authenticate` for the bank API's answers: the parameters of a refusal
//! ([`AuthChallenge`], from `ApiError::auth_challenge`) put in the scheme the request used,
//! with an offer of the other scheme where it is accepted (RFC 6750 §3, RFC 9449 §7.1).

use axum::http::HeaderValue;

/// The auth-params of a challenge (RFC 6750 §3), before a scheme is put in front of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChallenge {
    /// `error="…", error_description="…"` and friends; empty when no credentials were sent.
    pub params: String,
    /// Only the DPoP scheme can carry it (a proof's error, or "send a DPoP-bound token").
    pub dpop_only: bool,
}

/// How the request presented its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// No `Authorization` the API understands.
    None,
    Bearer,
    Dpop,
}

/// The `WWW-Authenticate` values of an answer, in order: the error in the scheme the client
/// used (RFC 9449 §7.1: a DPoP request hears about its token in the DPoP scheme, a bearer
/// request as RFC 6750 says), then an offer of the other scheme where it is accepted, so a
/// bearer client learns that DPoP is spoken (`algs`) and a DPoP client that bearer tokens
/// would do. `bearer_allowed` is false where only DPoP-bound tokens are accepted.
pub fn challenges(
    challenge: &AuthChallenge,
    used: AuthScheme,
    bearer_allowed: bool,
) -> Vec<String> {
    let dpop_offer = format!(r#"DPoP algs="{}""#, bank_protocol::dpop::ALG_ES256);
    let with_params = |scheme: &str| {
        if challenge.params.is_empty() {
            scheme.to_owned()
        } else {
            format!("{scheme} {}", challenge.params)
        }
    };
    if challenge.dpop_only
        || used == AuthScheme::Dpop
        || (!bearer_allowed && used == AuthScheme::None)
    {
        let mut dpop = with_params("DPoP");
        dpop.push_str(if challenge.params.is_empty() {
            " "
        } else {
            ", "
        });
        dpop.push_str(&format!(r#"algs="{}""#, bank_protocol::dpop::ALG_ES256));
        let mut out = vec![dpop];
        if bearer_allowed {
            out.push("Bearer".to_owned());
        }
        return out;
    }
    vec![with_params("Bearer"), dpop_offer]
}

/// A challenge as a header value (the parameters are already restricted to header-safe
/// characters).
pub fn challenge_header(challenge: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(challenge).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(params: &str, dpop_only: bool) -> AuthChallenge {
        AuthChallenge {
            params: params.into(),
            dpop_only,
        }
    }

    #[test]
    fn the_error_goes_in_the_scheme_used_and_the_other_is_offered() {
        let scope = params(
            r#"error="insufficient_scope", scope="transfer:funds""#,
            false,
        );
        assert_eq!(
            challenges(&scope, AuthScheme::Bearer, true),
            [
                r#"Bearer error="insufficient_scope", scope="transfer:funds""#,
                r#"DPoP algs="ES256""#
            ]
        );
        assert_eq!(
            challenges(&scope, AuthScheme::Dpop, true),
            [
                r#"DPoP error="insufficient_scope", scope="transfer:funds", algs="ES256""#,
                "Bearer"
            ]
        );
        assert_eq!(
            challenges(&scope, AuthScheme::Dpop, false),
            [r#"DPoP error="insufficient_scope", scope="transfer:funds", algs="ES256""#]
        );
        let none = params("", false);
        assert_eq!(
            challenges(&none, AuthScheme::None, true),
            ["Bearer", r#"DPoP algs="ES256""#]
        );
        assert_eq!(
            challenges(&none, AuthScheme::None, false),
            [r#"DPoP algs="ES256""#]
        );
        let proof = params(r#"error="invalid_dpop_proof", error_description="x""#, true);
        assert_eq!(
            challenges(&proof, AuthScheme::Bearer, true),
            [
                r#"DPoP error="invalid_dpop_proof", error_description="x", algs="ES256""#,
                "Bearer"
            ]
        );
    }
}
