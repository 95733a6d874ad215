//! What the client reads from tokens: the ID token's checks (OIDC Core §3.1.3.7) and the
//! claims decoded for display. Nothing here authorizes anything: the bank API verifies every
//! access token it accepts.

use base64::Engine as _;

use super::OAuthError;

/// How far the provider's clock may be ahead of ours when checking `exp`.
const ID_TOKEN_LEEWAY_SECS: i64 = 60;

/// Checks an ID token from a token response and returns its claims (OIDC Core §3.1.3.7).
///
/// The signature is deliberately not verified: item 6 of §3.1.3.7 lets a client rely on
/// the TLS server validation of the token endpoint instead when the ID token came directly
/// from it, over a connection the client opened — which is the only way `token_set` is
/// reached (the endpoint is https, or plain http only to a loopback server, as
/// `discovery::check_endpoint` enforces). The claims that bind the token to this login are
/// still checked: `iss` is exactly the discovered issuer (item 2), `aud` contains our
/// client id (item 3) and any `azp` is our client id (item 5), `exp` has not passed
/// (item 9), and `sub` is present (§2).
pub(super) fn check_id_token(
    jwt: &str,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<serde_json::Value, OAuthError> {
    let invalid = |reason| OAuthError::InvalidIdToken { reason };
    let claims = claims(jwt).ok_or(invalid("it is not a JWT"))?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(invalid("it was issued by another issuer"));
    }
    let audience_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == client_id,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid("it is not for this client (aud)"));
    }
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(client_id)
    {
        return Err(invalid("it was issued to another client (azp)"));
    }
    match claims.get("exp").and_then(serde_json::Value::as_i64) {
        Some(exp) if now < exp.saturating_add(ID_TOKEN_LEEWAY_SECS) => {}
        Some(_) => return Err(invalid("it has expired")),
        None => return Err(invalid("it has no expiry (exp)")),
    }
    match claims.get("sub").and_then(|v| v.as_str()) {
        Some(sub) if !sub.is_empty() => Ok(claims),
        _ => Err(invalid("it does not name the user (sub)")),
    }
}

/// A JWT's claims, decoded WITHOUT verification (callers say why that is acceptable).
pub fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// A human name among the claims, if any.
pub(super) fn name_claim(claims: &serde_json::Value) -> Option<String> {
    ["preferred_username", "nickname", "name", "email"]
        .iter()
        .find_map(|k| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned))
}

/// A human name from a JWT's claims, decoded WITHOUT verification. This is display-only
/// ("Logged in as alice"); nothing is ever authorized on it — the API verifies its tokens.
pub fn display_name(jwt: &str) -> Option<String> {
    let claims = claims(jwt)?;
    name_claim(&claims).or_else(|| {
        claims
            .get("sub")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_prefers_preferred_username() {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = format!(
            "x.{}.sig",
            enc(serde_json::json!({"sub": "usr_1", "preferred_username": "alice"}))
        );
        assert_eq!(display_name(&jwt).as_deref(), Some("alice"));
        let jwt = format!("x.{}.sig", enc(serde_json::json!({"sub": "usr_1"})));
        assert_eq!(display_name(&jwt).as_deref(), Some("usr_1"));
        assert_eq!(display_name("opaque-token"), None);
    }

    fn jwt(claims: serde_json::Value) -> String {
        let enc = |v: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(r#"{"alg":"ES256"}"#.into()),
            enc(claims.to_string())
        )
    }

    #[test]
    fn id_tokens_are_checked_for_issuer_audience_expiry_and_subject() {
        let iss = "https://bank.example";
        let good = serde_json::json!({
            "iss": iss, "aud": "bank-cli", "sub": "usr_1", "exp": 2_000, "iat": 1_000,
        });
        let check =
            |claims: serde_json::Value, now| check_id_token(&jwt(claims), iss, "bank-cli", now);
        let claims = check(good.clone(), 1_500).expect("a good ID token");
        assert_eq!(claims["sub"], "usr_1");
        // Within the leeway, then past it.
        assert!(check(good.clone(), 2_059).is_ok());
        let reason = |r: Result<serde_json::Value, OAuthError>| match r {
            Err(OAuthError::InvalidIdToken { reason }) => reason,
            other => panic!("expected InvalidIdToken, got {other:?}"),
        };
        assert_eq!(reason(check(good.clone(), 2_060)), "it has expired");
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        assert_eq!(
            reason(check(with("iss", "https://evil.example".into()), 1_500)),
            "it was issued by another issuer"
        );
        assert_eq!(
            reason(check(with("aud", "other-client".into()), 1_500)),
            "it is not for this client (aud)"
        );
        assert!(check(with("aud", serde_json::json!(["api", "bank-cli"])), 1_500).is_ok());
        assert_eq!(
            reason(check(with("azp", "other-client".into()), 1_500)),
            "it was issued to another client (azp)"
        );
        assert_eq!(
            reason(check(with("sub", "".into()), 1_500)),
            "it does not name the user (sub)"
        );
        let mut no_exp = good.clone();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(reason(check(no_exp, 1_500)), "it has no expiry (exp)");
        assert_eq!(
            reason(check_id_token("opaque", iss, "bank-cli", 1_500)),
            "it is not a JWT"
        );
    }
}
