//! Finding the provider's endpoints from its issuer string.
//!
//! OpenID Connect Discovery 1.0 first (`/.well-known/openid-configuration`, §4), then
//! RFC 8414's `/.well-known/oauth-authorization-server` for plain OAuth servers. The issuer
//! is compared as a string, exactly (OIDC Discovery §4.3, RFC 8414 §3.3) — never normalised
//! through a URL parser, which would add or drop a trailing `/`. Endpoints must be https,
//! except on loopback, where plain http is what a local sandbox speaks (RFC 8252 §8.3).

use serde::Deserialize;

use super::OAuthError;

/// The parts of the provider metadata the CLI uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3: the server promises an `iss` on every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 9396 §10: the authorization details types the server understands.
    #[serde(default)]
    pub authorization_details_types_supported: Vec<String>,
    /// RFC 9126 §5: where to push authorization requests, if the server takes them.
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 9126 §5: the server takes authorization requests only when pushed.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.1: the proof algorithms the server accepts; present means it binds
    /// tokens to a DPoP key.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 8628 §4: where a device without a browser asks for its codes.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
}

impl Metadata {
    /// Whether the server accepts the one proof algorithm `bank` signs with.
    pub fn offers_dpop(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .iter()
            .any(|alg| alg == bank_protocol::dpop::ALG_ES256)
    }
}

/// The two well-known locations to try, in order.
pub fn well_known_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    // OIDC: append to the issuer (path included).
    let oidc = format!("{trimmed}/.well-known/openid-configuration");
    // RFC 8414 §3.1: insert the well-known segment between the host and the issuer's path.
    let rfc8414 = match trimmed.find("://").map(|i| i + 3) {
        Some(after_scheme) => match trimmed[after_scheme..].find('/') {
            Some(path_at) => {
                let (origin, path) = trimmed.split_at(after_scheme + path_at);
                format!("{origin}/.well-known/oauth-authorization-server{path}")
            }
            None => format!("{trimmed}/.well-known/oauth-authorization-server"),
        },
        None => format!("{trimmed}/.well-known/oauth-authorization-server"),
    };
    vec![oidc, rfc8414]
}

pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, OAuthError> {
    let mut last_status = None;
    for url in well_known_urls(issuer) {
        let response = http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|source| OAuthError::Discovery {
                issuer: issuer.to_owned(),
                reason: "cannot reach the issuer".into(),
                source: Some(source),
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            last_status = Some(status);
            continue;
        }
        if !status.is_success() {
            return Err(OAuthError::Discovery {
                issuer: issuer.to_owned(),
                reason: format!("{url} answered {status}"),
                source: None,
            });
        }
        let metadata: Metadata = response
            .json()
            .await
            .map_err(|source| OAuthError::Discovery {
                issuer: issuer.to_owned(),
                reason: format!("{url} is not a valid metadata document"),
                source: Some(source),
            })?;
        validate(issuer, &metadata)?;
        return Ok(metadata);
    }
    Err(OAuthError::Discovery {
        issuer: issuer.to_owned(),
        reason: format!(
            "no discovery document ({}); is this the right issuer?",
            last_status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())
        ),
        source: None,
    })
}

fn validate(issuer: &str, m: &Metadata) -> Result<(), OAuthError> {
    if m.issuer != issuer {
        return Err(OAuthError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: m.issuer.clone(),
        });
    }
    for endpoint in [
        Some(&m.authorization_endpoint),
        Some(&m.token_endpoint),
        m.revocation_endpoint.as_ref(),
        m.pushed_authorization_request_endpoint.as_ref(),
        m.device_authorization_endpoint.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        check_endpoint(endpoint)?;
    }
    // RFC 7636 §4.2: we only ever send S256. A provider that lists methods without it would
    // reject the request (or worse, ignore PKCE); one that lists none is given the benefit.
    if let Some(methods) = &m.code_challenge_methods_supported
        && !methods.iter().any(|x| x == "S256")
    {
        return Err(OAuthError::NoS256);
    }
    Ok(())
}

/// https anywhere; http only to a loopback host.
pub fn check_endpoint(endpoint: &str) -> Result<(), OAuthError> {
    let insecure = || OAuthError::InsecureEndpoint {
        url: endpoint.to_owned(),
    };
    bank_protocol::https::check_str(endpoint)
        .map(drop)
        .map_err(|_| insecure())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_locations() {
        assert_eq!(
            well_known_urls("http://127.0.0.1:8400"),
            [
                "http://127.0.0.1:8400/.well-known/openid-configuration",
                "http://127.0.0.1:8400/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            well_known_urls("https://tenant.auth0.com/"),
            [
                "https://tenant.auth0.com/.well-known/openid-configuration",
                "https://tenant.auth0.com/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            well_known_urls("https://id.example/realms/bank"),
            [
                "https://id.example/realms/bank/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/realms/bank"
            ]
        );
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback() {
        assert!(check_endpoint("https://tenant.auth0.com/authorize").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8400/authorize").is_ok());
        assert!(check_endpoint("http://[::1]:8400/authorize").is_ok());
        assert!(check_endpoint("http://evil.example/authorize").is_err());
        assert!(check_endpoint("file:///etc/passwd").is_err());
    }

    #[test]
    fn issuer_is_compared_exactly() {
        let m = Metadata {
            issuer: "http://127.0.0.1:8400/".into(),
            authorization_endpoint: "http://127.0.0.1:8400/authorize".into(),
            token_endpoint: "http://127.0.0.1:8400/oauth/token".into(),
            revocation_endpoint: None,
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            authorization_response_iss_parameter_supported: false,
            authorization_details_types_supported: Vec::new(),
            dpop_signing_alg_values_supported: Vec::new(),
            pushed_authorization_request_endpoint: Some("http://127.0.0.1:8400/oauth/par".into()),
            require_pushed_authorization_requests: false,
            device_authorization_endpoint: None,
        };
        assert!(matches!(
            validate("http://127.0.0.1:8400", &m),
            Err(OAuthError::IssuerMismatch { .. })
        ));
        assert!(validate("http://127.0.0.1:8400/", &m).is_ok());
        let insecure_par = Metadata {
            pushed_authorization_request_endpoint: Some("http://par.example/par".into()),
            ..m.clone()
        };
        assert!(matches!(
            validate("http://127.0.0.1:8400/", &insecure_par),
            Err(OAuthError::InsecureEndpoint { url }) if url == "http://par.example/par"
        ));
        let plain_only = Metadata {
            code_challenge_methods_supported: Some(vec!["plain".into()]),
            ..m
        };
        assert!(matches!(
            validate("http://127.0.0.1:8400/", &plain_only),
            Err(OAuthError::NoS256)
        ));
    }
}
