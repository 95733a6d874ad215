//! RFC 7009 revocation of the refresh token (`bank logout`).

use oauth2::RefreshToken;

use super::{Metadata, OAuthError, discovery};
use crate::config::Profile;

/// RFC 7009: revokes a refresh token. `Ok(false)` when the provider has no revocation endpoint.
///
/// A plain form POST rather than the `oauth2` crate's request: the crate refuses non-https
/// revocation URLs outright, while our endpoint check (`discovery::check_endpoint`) already
/// allows http only for a loopback sandbox, as for every other endpoint.
pub async fn revoke(
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    token: &RefreshToken,
) -> Result<bool, OAuthError> {
    let Some(endpoint) = &metadata.revocation_endpoint else {
        return Ok(false);
    };
    discovery::check_endpoint(endpoint)?;
    // §2.1: token + token_type_hint; a public client identifies itself with client_id.
    let response = http
        .post(endpoint)
        .form(&[
            ("token", token.secret().as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", profile.client_id.as_str()),
        ])
        .send()
        .await
        .map_err(|source| OAuthError::Http {
            what: "revocation request failed".into(),
            source: Some(Box::new(source.without_url())),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(true);
    }
    // §2.2.1: an error body uses the RFC 6749 §5.2 shape.
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Err(OAuthError::Revocation {
        error: body
            .get("error")
            .and_then(|e| e.as_str())
            .map_or_else(|| status.to_string(), str::to_owned),
        description: body
            .get("error_description")
            .and_then(|d| d.as_str())
            .map(|d| bank_protocol::text::escape_hidden(d, &[]).into_owned()),
    })
}
