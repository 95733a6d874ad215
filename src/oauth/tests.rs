//! The token response's checks and the issuer check, without a server.

use super::*;

#[test]
fn secrets_do_not_leak_through_debug() {
    let fields = IdTokenFields {
        id_token: Some("eyJsecret".into()),
    };
    assert!(!format!("{fields:?}").contains("eyJsecret"));
    let set = TokenSet {
        access_token: AccessToken::new("at-secret".into()),
        refresh_token: Some(RefreshToken::new("rt-secret".into())),
        expires_at: None,
        scopes: vec![],
        username: None,
        subject: None,
        login_name: None,
        bound: false,
    };
    let text = format!("{set:?}");
    assert!(
        !text.contains("at-secret") && !text.contains("rt-secret"),
        "{text}"
    );
}

/// RFC 9449 §5: the token type must be what the request could have asked for.
#[test]
fn a_token_type_the_login_did_not_ask_for_is_refused() {
    use crate::config::{ConfigFile, Env, Overrides, resolve};
    let response = |token_type: &str| {
        let kind = if token_type == "Bearer" {
            BasicTokenType::Bearer
        } else {
            BasicTokenType::Extension(token_type.into())
        };
        TokenEndpointResponse::new(
            AccessToken::new("at".into()),
            kind,
            IdTokenFields::default(),
        )
    };
    let metadata: Metadata = serde_json::from_value(serde_json::json!({
        "issuer": "https://bank.example",
        "authorization_endpoint": "https://bank.example/authorize",
        "token_endpoint": "https://bank.example/oauth/token",
    }))
    .expect("metadata");
    let mut profile = resolve(
        &ConfigFile::default(),
        &Env::default(),
        &Overrides::default(),
    )
    .expect("profile");
    let key = DpopKey::generate();
    let scopes = ["openid".to_owned()];
    let set = |token_type: &str, profile: &Profile, sender: Option<&DpopKey>| {
        token_set(
            response(token_type),
            profile,
            &metadata,
            &scopes,
            Nonce::Unchecked,
            None,
            sender,
        )
    };
    // An authorization that asked for `openid` and got no ID token: whoever signed in is
    // unknown, and every later step-up could not be bound to them.
    assert!(matches!(
        token_set(
            response("Bearer"),
            &profile,
            &metadata,
            &scopes,
            Nonce::Sent("n"),
            None,
            None,
        ),
        Err(OAuthError::InvalidIdToken { .. })
    ));
    assert!(matches!(
        token_set(
            response("Bearer"),
            &profile,
            &metadata,
            &scopes,
            Nonce::NotSent,
            None,
            None,
        ),
        Err(OAuthError::InvalidIdToken { .. })
    ));
    // A DPoP token for a request without a proof: a server confused, or not ours.
    assert!(matches!(
        set("DPoP", &profile, None),
        Err(OAuthError::UnexpectedTokenType { .. })
    ));
    assert!(set("DPoP", &profile, Some(&key)).is_ok_and(|t| t.bound));
    // A proof answered with a bearer token: fine under `auto`, refused under `always`.
    assert!(set("Bearer", &profile, Some(&key)).is_ok_and(|t| !t.bound));
    profile.dpop = Use::Always;
    assert!(matches!(
        set("Bearer", &profile, Some(&key)),
        Err(OAuthError::NotBound)
    ));
}

#[test]
fn the_response_issuer_must_be_ours_rfc_9207() {
    let mut metadata = Metadata {
        issuer: "https://bank.example".into(),
        authorization_endpoint: "https://bank.example/authorize".into(),
        token_endpoint: "https://bank.example/oauth/token".into(),
        revocation_endpoint: None,
        code_challenge_methods_supported: None,
        authorization_response_iss_parameter_supported: false,
        authorization_details_types_supported: Vec::new(),
        dpop_signing_alg_values_supported: Vec::new(),
        pushed_authorization_request_endpoint: None,
        require_pushed_authorization_requests: false,
        device_authorization_endpoint: None,
    };
    assert!(check_response_issuer(&metadata, Some("https://bank.example")).is_ok());
    assert!(check_response_issuer(&metadata, None).is_ok());
    assert!(matches!(
        check_response_issuer(&metadata, Some("https://evil.example")),
        Err(OAuthError::IssuerMixUp { found: Some(f), .. }) if f == "https://evil.example"
    ));
    // A trailing slash is another issuer: identifiers are compared exactly.
    assert!(check_response_issuer(&metadata, Some("https://bank.example/")).is_err());
    metadata.authorization_response_iss_parameter_supported = true;
    assert!(matches!(
        check_response_issuer(&metadata, None),
        Err(OAuthError::IssuerMixUp { found: None, .. })
    ));
}
