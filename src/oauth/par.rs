//! RFC 9126 pushed authorization requests, the client's side.
//!
//! Where the provider takes them, the authorization request is POSTed to it directly, and
//! the browser is sent to a URL that carries only `client_id` and the `request_uri` the
//! provider answered with. The scopes, the PKCE challenge, `login_hint` and a step-up's
//! payment details then never pass through the address bar, the browser's history or a
//! proxy's log, and a request the provider refuses fails here, before a browser opens.
//! The pushed parameters are exactly the ones a plain authorization URL would carry: they
//! are taken from that URL, so the two can never differ.
//!
//! [`endpoint`] decides (the `par` setting against the metadata), [`push`] is the one request
//! to the provider's endpoint.

use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;
use url::Url;

use super::{Metadata, OAuthError, discovery};
use crate::config::Use;

/// What the provider answered a push with (RFC 9126 §2.2).
#[derive(Debug)]
pub struct Pushed {
    /// The reference to the pushed request, for the browser's URL.
    pub request_uri: String,
    /// How long it may be used.
    pub expires_in: Duration,
}

#[derive(Deserialize)]
struct PushResponse {
    request_uri: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Where to push the authorization request, if anywhere: decided before anything is sent or
/// a browser opened, so that a setting the provider contradicts fails at once.
pub fn endpoint(setting: Use, metadata: &Metadata) -> Result<Option<&str>, OAuthError> {
    let offered = metadata.pushed_authorization_request_endpoint.as_deref();
    match setting {
        Use::Never if metadata.require_pushed_authorization_requests => {
            Err(OAuthError::ParRequired)
        }
        Use::Never => Ok(None),
        Use::Always if offered.is_none() => Err(OAuthError::ParUnavailable {
            issuer: metadata.issuer.clone(),
        }),
        Use::Always | Use::Auto => Ok(offered),
    }
}

/// Pushes the request that `authorization_url` (built for the authorization endpoint) carries,
/// and returns the URL for the browser — the endpoint with only `client_id` and
/// `request_uri` — and how long it may be used.
pub(crate) async fn by_reference(
    http: &reqwest::Client,
    endpoint: &str,
    metadata: &Metadata,
    authorization_url: &Url,
    client_id: &str,
) -> Result<(Url, Duration), OAuthError> {
    let (mut browser_url, params) =
        request_parameters(&metadata.authorization_endpoint, authorization_url)?;
    let pushed = push(http, endpoint, &params).await?;
    browser_url
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", &pushed.request_uri);
    Ok((browser_url, pushed.expires_in))
}

/// Splits an authorization URL into the authorization endpoint (with any query of its own,
/// which RFC 6749 §3.1 says to keep) and the request's parameters after it.
fn request_parameters(
    authorization_endpoint: &str,
    url: &Url,
) -> Result<(Url, Vec<(String, String)>), OAuthError> {
    let endpoint = Url::parse(authorization_endpoint).map_err(OAuthError::BadUrl)?;
    let own = endpoint.query_pairs().count();
    let params = url
        .query_pairs()
        .skip(own)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok((endpoint, params))
}

/// The one request to the pushed authorization request endpoint (RFC 9126 §2.1): the
/// authorization request's parameters, form-encoded. A public client has no credentials;
/// `client_id` among the parameters names it. Redirects are not followed (the session's
/// HTTP client never does), so the parameters go nowhere but the endpoint named by the
/// provider's metadata.
pub async fn push(
    http: &reqwest::Client,
    endpoint: &str,
    params: &[(String, String)],
) -> Result<Pushed, OAuthError> {
    discovery::check_endpoint(endpoint)?;
    let failed = |source: reqwest::Error| OAuthError::Http {
        what: "the pushed authorization request failed".into(),
        source: Some(Box::new(source.without_url())),
    };
    let response = http
        .post(endpoint)
        .header(ACCEPT, "application/json")
        .form(params)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let body = response.bytes().await.map_err(failed)?;
    if status.is_success() {
        let unparsable = || OAuthError::Http {
            what: "the pushed authorization request endpoint's answer could not be parsed".into(),
            source: None,
        };
        let answer: PushResponse = serde_json::from_slice(&body).map_err(|_| unparsable())?;
        if answer.request_uri.is_empty() || answer.expires_in == 0 {
            return Err(unparsable());
        }
        return Ok(Pushed {
            request_uri: answer.request_uri,
            expires_in: Duration::from_secs(answer.expires_in),
        });
    }
    // §2.3: the token endpoint's error format (RFC 6749 §5.2); anything else (a 413, a 429,
    // a proxy's page) is reported by its status.
    match serde_json::from_slice::<ErrorResponse>(&body) {
        Ok(refusal) => Err(OAuthError::PushRefused {
            error: shown(&refusal.error),
            description: refusal.error_description.as_deref().map(shown),
        }),
        Err(_) => Err(OAuthError::Http {
            what: format!("the pushed authorization request endpoint answered {status}"),
            source: None,
        }),
    }
}

/// The provider wrote this; it may not act on the terminal.
fn shown(text: &str) -> String {
    bank_protocol::text::escape_hidden(text, &[]).into_owned()
}

/// What a refused push means, in words (`OAuthError::PushRefused`).
pub(crate) fn refusal_words(error: &str, description: &Option<String>) -> String {
    let what = match error {
        "invalid_client" => "the authorization server does not accept this client id",
        "unauthorized_client" => {
            "the authorization server does not allow this client to push authorization requests"
        }
        "invalid_scope" => "the authorization server refused the requested scopes",
        "invalid_target" => "the authorization server does not know the API the request names",
        "invalid_authorization_details" => {
            "the authorization server refused the payment details of the request"
        }
        "access_denied" => "the authorization server denied the request",
        "server_error" | "temporarily_unavailable" => {
            "the authorization server could not take the request right now"
        }
        _ => "the authorization server refused the request",
    };
    let mut words = format!("{what} (pushed authorization request: {error})");
    if let Some(d) = description.as_deref().filter(|d| !d.is_empty()) {
        words.push_str(": ");
        words.push_str(d);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(endpoint: Option<&str>, required: bool) -> Metadata {
        Metadata {
            issuer: "https://id.example".into(),
            authorization_endpoint: "https://id.example/authorize".into(),
            token_endpoint: "https://id.example/token".into(),
            revocation_endpoint: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: true,
            authorization_details_types_supported: Vec::new(),
            pushed_authorization_request_endpoint: endpoint.map(str::to_owned),
            require_pushed_authorization_requests: required,
            dpop_signing_alg_values_supported: Vec::new(),
            device_authorization_endpoint: None,
        }
    }

    #[test]
    fn the_setting_meets_the_metadata() {
        let par = Some("https://id.example/par");
        let offered = metadata(par, false);
        let absent = metadata(None, false);
        let required = metadata(par, true);
        assert_eq!(endpoint(Use::Auto, &offered).expect("auto"), par);
        assert_eq!(endpoint(Use::Auto, &absent).expect("auto"), None);
        assert_eq!(endpoint(Use::Always, &offered).expect("always"), par);
        assert!(matches!(
            endpoint(Use::Always, &absent),
            Err(OAuthError::ParUnavailable { issuer }) if issuer == "https://id.example"
        ));
        assert_eq!(endpoint(Use::Never, &offered).expect("never"), None);
        assert!(matches!(
            endpoint(Use::Never, &required),
            Err(OAuthError::ParRequired)
        ));
        assert_eq!(endpoint(Use::Auto, &required).expect("auto"), par);
    }

    #[test]
    fn the_endpoints_own_query_stays_in_the_url_and_out_of_the_push() {
        let url = Url::parse(
            "https://id.example/authorize?tenant=a&response_type=code&client_id=bank-cli&scope=openid",
        )
        .expect("url");
        let (endpoint, params) =
            request_parameters("https://id.example/authorize?tenant=a", &url).expect("splits");
        assert_eq!(endpoint.as_str(), "https://id.example/authorize?tenant=a");
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["response_type", "client_id", "scope"]);
        let (endpoint, params) =
            request_parameters("https://id.example/authorize", &url).expect("splits");
        assert_eq!(endpoint.as_str(), "https://id.example/authorize");
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn a_refusal_reads_as_words_with_the_code() {
        assert_eq!(
            refusal_words("invalid_scope", &Some("unknown scope x".into())),
            "the authorization server refused the requested scopes (pushed authorization request: invalid_scope): unknown scope x"
        );
        assert_eq!(
            refusal_words("something_new", &None),
            "the authorization server refused the request (pushed authorization request: something_new)"
        );
    }
}
