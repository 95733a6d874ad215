use crate::common::*;

#[tokio::test]
async fn both_discovery_documents_describe_the_server() {
    let sandbox = start().await;
    let iss = sandbox.issuer();
    assert!(
        iss.starts_with("http://127.0.0.1:") && !iss.ends_with('/'),
        "{iss}"
    );
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc = get_json(&format!("{iss}{path}")).await;
        assert_eq!(doc["issuer"], iss, "{path}: issuer is exact");
        assert_eq!(doc["authorization_endpoint"], format!("{iss}/authorize"));
        assert_eq!(doc["token_endpoint"], format!("{iss}/oauth/token"));
        assert_eq!(doc["revocation_endpoint"], format!("{iss}/oauth/revoke"));
        assert_eq!(doc["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            doc["device_authorization_endpoint"],
            format!("{iss}/oauth/device/code")
        );
        let scopes = doc["scopes_supported"].as_array().expect("scopes");
        for s in [
            "openid",
            "profile",
            "offline_access",
            "view:balance",
            "transfer:funds",
        ] {
            assert!(scopes.iter().any(|v| v == s), "{path} lists {s}");
        }
        let acrs = doc["acr_values_supported"].as_array().expect("acrs");
        assert!(acrs.iter().any(|v| v == ACR_MFA));
    }
    let jwks = get_json(&format!("{iss}/.well-known/jwks.json")).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "no private part published");
    sandbox.shutdown().await;
}
