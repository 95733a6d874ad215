//! What the client reads from tokens: the ID token's checks (OIDC Core §3.1.3.7) and the
//! claims decoded for display. Nothing here authorizes anything: the bank API verifies every
//! access token it accepts.

use base64::Engine as _;

use super::OAuthError;

/// How far the provider's clock may be ahead of ours when checking `exp`.
const ID_TOKEN_LEEWAY_SECS: i64 = 60;

/// What the client knows about the `nonce` an ID token must carry (OIDC Core §3.1.3.7 (11)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Nonce<'a> {
    /// The authorization request sent this one: the ID token must carry exactly it.
    Sent(&'a str),
    /// The request sent none (the device flow): an ID token carrying one answers some
    /// other request.
    NotSent,
    /// A refresh: the provider may repeat the original request's nonce or leave it out.
    Unchecked,
}

/// Checks an ID token from a token response and returns its claims (OIDC Core §3.1.3.7).
///
/// The signature is deliberately not verified: item 6 of §3.1.3.7 lets a client rely on
/// the TLS server validation of the token endpoint instead when the ID token came directly
/// from it, over a connection the client opened — which is the only way `token_set` is
/// reached (the endpoint is https, or plain http only to a loopback server, as
/// `discovery::check_endpoint` enforces). Every claim that binds the token to this login is
/// still checked: `iss` is exactly the discovered issuer (item 2), `aud` contains our
/// client id (item 3), several audiences only with an `azp` (item 4) that is our client id
/// (item 5), `exp` has not passed (item 9), `iat` is present (item 10), the `nonce` is the
/// one sent (item 11), and `sub` is present (§2).
pub(super) fn check_id_token(
    jwt: &str,
    issuer: &str,
    client_id: &str,
    nonce: Nonce<'_>,
    now: i64,
) -> Result<serde_json::Value, OAuthError> {
    let invalid = |reason| OAuthError::InvalidIdToken { reason };
    let claims = claims(jwt).ok_or(invalid("it is not a JWT"))?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(invalid("it was issued by another issuer"));
    }
    let (audience_ok, several) = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => (aud == client_id, false),
        Some(serde_json::Value::Array(auds)) => (
            auds.iter().any(|a| a.as_str() == Some(client_id)),
            auds.len() > 1,
        ),
        _ => (false, false),
    };
    if !audience_ok {
        return Err(invalid("it is not for this client (aud)"));
    }
    match claims.get("azp") {
        Some(azp) if azp.as_str() != Some(client_id) => {
            return Err(invalid("it was issued to another client (azp)"));
        }
        None if several => {
            return Err(invalid(
                "it names several audiences without saying which client it was issued to (azp)",
            ));
        }
        _ => {}
    }
    match claims.get("exp").and_then(serde_json::Value::as_i64) {
        Some(exp) if now < exp.saturating_add(ID_TOKEN_LEEWAY_SECS) => {}
        Some(_) => return Err(invalid("it has expired")),
        None => return Err(invalid("it has no expiry (exp)")),
    }
    if !claims.get("iat").is_some_and(serde_json::Value::is_number) {
        return Err(invalid("it does not say when it was issued (iat)"));
    }
    let found = claims.get("nonce");
    match (nonce, found) {
        (Nonce::Sent(sent), Some(serde_json::Value::String(got))) => {
            // Constant-time: the nonce is a secret of this login until it is used.
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                sent.as_bytes(),
                got.as_bytes(),
            )) {
                return Err(invalid("it answers another sign-in (nonce)"));
            }
        }
        (Nonce::Sent(_), _) => return Err(invalid("it does not carry this sign-in's nonce")),
        (Nonce::NotSent, Some(_)) => return Err(invalid("it carries a nonce bank never sent")),
        (Nonce::NotSent | Nonce::Unchecked, _) => {}
    }
    match claims.get("sub").and_then(|v| v.as_str()) {
        Some(sub) if !sub.is_empty() => Ok(claims),
        _ => Err(invalid("it does not name the user (sub)")),
    }
}

/// The name the provider knows the user by, for `login_hint` (OIDC Core §3.1.2.1): the
/// username or email as the provider gave them, never a display name.
pub(super) fn login_name(claims: &serde_json::Value) -> Option<String> {
    ["preferred_username", "email"]
        .iter()
        .find_map(|k| claims.get(k).and_then(|v| v.as_str()))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
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

    const ISS: &str = "https://bank.example";

    fn good() -> serde_json::Value {
        serde_json::json!({
            "iss": ISS, "aud": "bank-cli", "sub": "usr_1", "exp": 2_000, "iat": 1_000,
            "nonce": "n-1",
        })
    }

    fn with(k: &str, v: serde_json::Value) -> serde_json::Value {
        let mut c = good();
        c[k] = v;
        c
    }

    fn without(k: &str) -> serde_json::Value {
        let mut c = good();
        c.as_object_mut().expect("object").remove(k);
        c
    }

    fn check(claims: serde_json::Value, nonce: Nonce<'_>) -> Result<serde_json::Value, OAuthError> {
        check_id_token(&jwt(claims), ISS, "bank-cli", nonce, 1_500)
    }

    fn reason(r: Result<serde_json::Value, OAuthError>) -> &'static str {
        match r {
            Err(OAuthError::InvalidIdToken { reason }) => reason,
            other => panic!("expected InvalidIdToken, got {other:?}"),
        }
    }

    const SENT: Nonce<'static> = Nonce::Sent("n-1");

    #[test]
    fn a_good_id_token_passes_and_expiry_has_a_leeway() {
        assert_eq!(check(good(), SENT).expect("good")["sub"], "usr_1");
        let at = |now| check_id_token(&jwt(good()), ISS, "bank-cli", SENT, now);
        assert!(at(2_059).is_ok());
        assert_eq!(reason(at(2_060)), "it has expired");
        assert_eq!(
            reason(check_id_token("opaque", ISS, "bank-cli", SENT, 1_500)),
            "it is not a JWT"
        );
    }

    /// The ID token faults of the OpenID Foundation's client conformance modules
    /// (`oidcc-client-test-*`) that a code-flow client with a TLS-checked token endpoint
    /// must refuse, one per module. The signature modules (`invalid-sig-*`,
    /// `idtoken-sig-none`, `kid-absent-*`, `signing-key-rotation`) do not apply: §3.1.3.7 (6)
    /// lets such a client rely on TLS instead of the signature.
    #[test]
    fn every_conformance_fault_is_refused() {
        let cases = [
            (
                "nonce-invalid",
                with("nonce", "n-2".into()),
                "it answers another sign-in (nonce)",
            ),
            (
                "missing-nonce",
                without("nonce"),
                "it does not carry this sign-in's nonce",
            ),
            (
                "invalid-iss",
                with("iss", "https://evil.example".into()),
                "it was issued by another issuer",
            ),
            (
                "missing-iss",
                without("iss"),
                "it was issued by another issuer",
            ),
            (
                "invalid-aud",
                with("aud", "other-client".into()),
                "it is not for this client (aud)",
            ),
            (
                "missing-aud",
                without("aud"),
                "it is not for this client (aud)",
            ),
            (
                "aud-multiple-no-azp",
                with("aud", serde_json::json!(["api", "bank-cli"])),
                "it names several audiences without saying which client it was issued to (azp)",
            ),
            (
                "invalid-azp",
                with("azp", "other-client".into()),
                "it was issued to another client (azp)",
            ),
            (
                "missing-iat",
                without("iat"),
                "it does not say when it was issued (iat)",
            ),
            (
                "missing-sub",
                without("sub"),
                "it does not name the user (sub)",
            ),
            (
                "empty-sub",
                with("sub", "".into()),
                "it does not name the user (sub)",
            ),
            ("missing-exp", without("exp"), "it has no expiry (exp)"),
        ];
        for (module, claims, expected) in cases {
            assert_eq!(reason(check(claims, SENT)), expected, "{module}");
        }
        let mut several = with("aud", serde_json::json!(["api", "bank-cli"]));
        several["azp"] = "bank-cli".into();
        assert!(
            check(several, SENT).is_ok(),
            "several audiences with our azp"
        );
    }

    #[test]
    fn a_nonce_nobody_sent_is_refused_and_a_refresh_may_repeat_one() {
        assert_eq!(
            reason(check(good(), Nonce::NotSent)),
            "it carries a nonce bank never sent"
        );
        assert!(check(without("nonce"), Nonce::NotSent).is_ok());
        assert!(check(good(), Nonce::Unchecked).is_ok());
        assert!(check(without("nonce"), Nonce::Unchecked).is_ok());
    }

    #[test]
    fn the_login_hint_is_the_login_name_never_the_display_name() {
        let claims = serde_json::json!({"name": "Alice Liddell", "preferred_username": "alice"});
        assert_eq!(login_name(&claims).as_deref(), Some("alice"));
        let claims = serde_json::json!({"name": "Alice Liddell", "email": "alice@example.com"});
        assert_eq!(login_name(&claims).as_deref(), Some("alice@example.com"));
        assert_eq!(
            login_name(&serde_json::json!({"name": "Alice Liddell"})),
            None
        );
    }
}
