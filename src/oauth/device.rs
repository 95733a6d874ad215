//! The device authorization grant (RFC 8628), for where no browser can be opened: over
//! SSH, in a container, on a server.
//!
//! [`start`] asks the device authorization endpoint for a `device_code` and a `user_code`
//! (§3.1–3.2) with the same parameters as a browser authorization (`request_params`); the
//! person opens the `verification_uri` on any device, enters the code (or scans the
//! complete URI) and approves there. [`DeviceStart::poll`] asks the token endpoint until
//! then, as §3.5 says — `authorization_pending` keeps waiting, `slow_down` adds 5 s to the
//! interval for good, `access_denied` and `expired_token` end it — through the `oauth2`
//! crate's device token request, with the same `http` and DPoP proofs (`TokenHttp`) as every other token request. The
//! tokens go through the same checks as the browser flow's (`token_set`: the ID token,
//! its `sub`). [`authorize`] is the whole interactive flow: codes to the person, a spinner,
//! the overall timeout, Ctrl-C.
//!
//! [`choose`] decides between this and the browser: the device flow when asked for, or
//! when no browser can be opened and the provider offers it.

use std::future::Future;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    ClientId, DeviceAuthorizationUrl, DeviceCodeErrorResponseType, EndpointNotSet, EndpointSet,
    RequestTokenError, Scope, StandardDeviceAuthorizationResponse, StandardErrorResponse,
    StandardRevocableToken, TokenUrl,
};
use serde::Serialize;

use super::{
    AuthParams, Browser, Interaction, Metadata, OAuthError, TokenEndpointResponse, TokenHttp,
    TokenSet, discovery, request_params, server_answer, server_words, token_error, token_set,
    without_proof,
};
use crate::config::{AudienceParam, Profile};
use crate::dpop::DpopKey;

/// Which way an interactive authorization reaches the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code with PKCE through a loopback redirect.
    Browser,
    /// RFC 8628: a code to enter on another device.
    Device,
}

/// The device flow when `asked` for (`bank login --device`; an error if the provider does
/// not offer it), or when `browser` cannot put a page in front of the person and the
/// provider offers it; otherwise the browser flow, whose URL is printed either way.
pub fn choose(asked: bool, browser: &Browser, metadata: &Metadata) -> Result<Flow, OAuthError> {
    let offered = metadata.device_authorization_endpoint.is_some();
    match (asked, offered) {
        (true, true) => Ok(Flow::Device),
        (true, false) => Err(OAuthError::NoDeviceFlow),
        (false, true) if !browser.can_open() => Ok(Flow::Device),
        (false, _) => Ok(Flow::Browser),
    }
}

/// What the person needs to approve a device authorization (RFC 8628 §3.3).
#[derive(Clone, Debug, Serialize)]
pub struct DevicePrompt {
    pub user_code: String,
    pub verification_uri: String,
    /// The URI with the code in it (§3.3.1), for a QR code or a click.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
}

impl DevicePrompt {
    /// The words for the person, without the QR code.
    pub fn instructions(&self) -> String {
        let mut text = format!(
            "To sign in, open this page on any device (a phone works):\n\n  {}\n\nand enter the code  {}\n",
            self.verification_uri, self.user_code
        );
        if let Some(complete) = &self.verification_uri_complete {
            text.push_str(&format!(
                "\nor open this link, with the code filled in:\n\n  {complete}\n"
            ));
        }
        text.push_str(&format!(
            "\nThe code expires in {}. Only approve what you asked for here.",
            crate::time_text::humanize(Duration::from_secs(self.expires_in))
        ));
        text
    }

    /// The words printed under a QR code: short, so that on a small terminal (80×24) the
    /// page and the code stay on screen below the QR code, which carries the complete link.
    pub fn beside_qr(&self) -> String {
        format!(
            "Scan the QR code with a phone, or open  {}\non any device and enter the code  {}\nThe code expires in {}. Only approve what you asked for here.",
            self.verification_uri,
            self.user_code,
            crate::time_text::humanize(Duration::from_secs(self.expires_in))
        )
    }

    /// What a QR code should carry: the complete URI, else the page itself.
    pub fn qr_target(&self) -> &str {
        self.verification_uri_complete
            .as_deref()
            .unwrap_or(&self.verification_uri)
    }
}

type DeviceClient = oauth2::Client<
    BasicErrorResponse,
    TokenEndpointResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A device authorization in progress: the codes are with the person, the device code
/// (a secret: never shown, no `Debug`) with us.
pub struct DeviceStart {
    client: DeviceClient,
    details: StandardDeviceAuthorizationResponse,
    prompt: DevicePrompt,
    audience: Option<String>,
}

impl DeviceStart {
    pub fn prompt(&self) -> &DevicePrompt {
        &self.prompt
    }

    /// Polls the token endpoint until the person decided or the codes expired (§3.4–3.5),
    /// sleeping with `sleep` between polls (the `interval`, 5 s longer after every
    /// `slow_down`). The tokens are checked like the browser flow's.
    pub async fn poll<S, F>(
        &self,
        http: &reqwest::Client,
        profile: &Profile,
        metadata: &Metadata,
        requested: &[String],
        sender: Option<&DpopKey>,
        sleep: S,
    ) -> Result<TokenSet, OAuthError>
    where
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let mut request = self.client.exchange_device_access_token(&self.details);
        if let Some(resource) = &self.audience {
            // RFC 8707 §2.2: repeat the resource on the token request.
            request = request.add_extra_param("resource", resource.clone());
        }
        let response = request
            .request_async(&TokenHttp::new(http, sender), sleep, None)
            .await
            .map_err(|e| without_proof(poll_error(e), sender))?;
        token_set(
            response,
            profile,
            metadata,
            requested,
            super::id_token::Nonce::NotSent,
            None,
            sender,
        )
    }
}

/// RFC 8628 §3.1: asks for the codes, with the same parameters a browser authorization
/// would carry.
pub async fn start(
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    params: &AuthParams,
) -> Result<DeviceStart, OAuthError> {
    let endpoint = metadata
        .device_authorization_endpoint
        .as_ref()
        .ok_or(OAuthError::NoDeviceFlow)?;
    let client: DeviceClient = oauth2::Client::new(ClientId::new(profile.client_id.clone()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(endpoint.clone()).map_err(OAuthError::BadUrl)?,
        )
        .set_token_uri(TokenUrl::new(metadata.token_endpoint.clone()).map_err(OAuthError::BadUrl)?);
    let mut request = client
        .exchange_device_code()
        .add_scopes(params.scopes.iter().cloned().map(Scope::new));
    for (name, value) in request_params(profile, params) {
        request = request.add_extra_param(name, value);
    }
    let details: StandardDeviceAuthorizationResponse =
        request.request_async(http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => OAuthError::Authorization {
                error: r.error().to_string(),
                description: server_words(r.error_description()),
            },
            other => token_error(other, false),
        })?;
    let prompt = prompt_of(&details)?;
    Ok(DeviceStart {
        client,
        details,
        prompt,
        audience: (profile.audience_param == AudienceParam::Resource)
            .then(|| profile.audience.clone()),
    })
}

/// The person's part of the answer, checked: the pages must be https (or loopback), like
/// every endpoint, since the person is sent there and may sign in.
fn prompt_of(details: &StandardDeviceAuthorizationResponse) -> Result<DevicePrompt, OAuthError> {
    let verification_uri = details.verification_uri().to_string();
    discovery::check_endpoint(&verification_uri)?;
    let complete = details
        .verification_uri_complete()
        .map(|c| c.secret().to_owned());
    if let Some(complete) = &complete {
        discovery::check_endpoint(complete)?;
    }
    Ok(DevicePrompt {
        user_code: details.user_code().secret().to_owned(),
        verification_uri,
        verification_uri_complete: complete,
        expires_in: details.expires_in().as_secs(),
    })
}

fn poll_error<RE>(
    err: RequestTokenError<RE, StandardErrorResponse<DeviceCodeErrorResponseType>>,
) -> OAuthError
where
    RE: std::error::Error + Send + Sync + 'static,
{
    let r = match server_answer(err) {
        Ok(r) => r,
        Err(other) => return other,
    };
    let description = server_words(r.error_description());
    match r.error() {
        DeviceCodeErrorResponseType::AccessDenied => OAuthError::Denied { description },
        DeviceCodeErrorResponseType::ExpiredToken => OAuthError::DeviceCodeExpired { description },
        other => OAuthError::TokenEndpoint {
            error: other.to_string(),
            description,
        },
    }
}

/// The whole device flow: the codes to the person, a spinner while they approve elsewhere,
/// the overall timeout, Ctrl-C.
pub async fn authorize(
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    params: &AuthParams,
    interaction: Interaction<'_>,
    sender: Option<&DpopKey>,
) -> Result<TokenSet, OAuthError> {
    let started = start(http, profile, metadata, params).await?;
    // Listening for Ctrl-C before the codes are shown: whoever reads them (a script on
    // stdout) may interrupt at once, and a signal before the listener would kill the process.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    std::future::poll_fn(|cx| {
        let _ = interrupted.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    let person = interaction.person;
    // Nobody asked for a browser: say why the sign-in happens on another device instead.
    person.notice(&match interaction.browser.why_not() {
        Some(why) => format!("Signing in on another device: {why}."),
        None => "Signing in on another device, as asked (--device).".to_owned(),
    });
    person.device_code(started.prompt());
    let waiting = person.wait(&interaction.waiting_message);
    let polling = started.poll(
        http,
        profile,
        metadata,
        &params.scopes,
        sender,
        tokio::time::sleep,
    );
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(interaction.timeout, polling) => outcome,
        _ = &mut interrupted => {
            drop(waiting);
            return Err(OAuthError::Interrupted);
        }
    };
    drop(waiting);
    outcome.map_err(|_| OAuthError::Timeout(interaction.timeout))?
}

/// Runs an interactive authorization the way `flow` says.
pub async fn sign_in(
    flow: Flow,
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    params: &AuthParams,
    interaction: Interaction<'_>,
    sender: Option<&DpopKey>,
) -> Result<TokenSet, OAuthError> {
    match flow {
        Flow::Browser => {
            super::authorize(http, profile, metadata, params, interaction, sender).await
        }
        Flow::Device => authorize(http, profile, metadata, params, interaction, sender).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(device: bool) -> Metadata {
        Metadata {
            issuer: "https://id.example".into(),
            authorization_endpoint: "https://id.example/authorize".into(),
            token_endpoint: "https://id.example/oauth/token".into(),
            revocation_endpoint: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: true,
            authorization_details_types_supported: Vec::new(),
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: false,
            dpop_signing_alg_values_supported: Vec::new(),
            device_authorization_endpoint: device.then(|| "https://id.example/device/code".into()),
        }
    }

    #[test]
    fn the_device_flow_when_asked_or_when_no_browser_opens_and_it_is_offered() {
        let command = Browser::Command("firefox".into());
        assert_eq!(
            choose(true, &command, &metadata(true)).ok(),
            Some(Flow::Device)
        );
        assert!(matches!(
            choose(true, &command, &metadata(false)),
            Err(OAuthError::NoDeviceFlow)
        ));
        assert_eq!(
            choose(false, &command, &metadata(true)).ok(),
            Some(Flow::Browser)
        );
        // `--no-browser`: the device flow where offered, else today's printed URL.
        assert_eq!(
            choose(false, &Browser::None, &metadata(true)).ok(),
            Some(Flow::Device)
        );
        assert_eq!(
            choose(false, &Browser::None, &metadata(false)).ok(),
            Some(Flow::Browser)
        );
    }

    #[test]
    fn the_prompt_says_where_to_go_and_what_to_type() {
        let prompt = DevicePrompt {
            user_code: "BCDF-GHJK".into(),
            verification_uri: "https://id.example/device".into(),
            verification_uri_complete: Some("https://id.example/device?user_code=BCDF-GHJK".into()),
            expires_in: 600,
        };
        let text = prompt.instructions();
        assert!(text.contains("\n  https://id.example/device\n"), "{text}");
        assert!(text.contains("enter the code  BCDF-GHJK"), "{text}");
        assert!(
            text.contains("https://id.example/device?user_code=BCDF-GHJK"),
            "{text}"
        );
        assert!(text.contains("expires in 10m"), "{text}");
        let short = prompt.beside_qr();
        assert_eq!(short.lines().count(), 3, "{short}");
        assert!(
            short.contains("open  https://id.example/device\n"),
            "{short}"
        );
        assert!(short.contains("enter the code  BCDF-GHJK\n"), "{short}");
        assert_eq!(
            prompt.qr_target(),
            "https://id.example/device?user_code=BCDF-GHJK"
        );
        let json = serde_json::to_value(&prompt).expect("json");
        assert_eq!(json["user_code"], "BCDF-GHJK");
        assert_eq!(json["expires_in"], 600);
    }
}
