//! OAuth 2.0 / OpenID Connect client side: discovery, the authorization code flow with PKCE
//! through a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252), refresh (RFC 6749 §6)
//! and revocation (RFC 7009).
//!
//! The protocol mechanics are the `oauth2` crate's; this module adds what a native app must
//! do around it: discovery and endpoint checks (`discovery`), the one-shot loopback listener
//! (`loopback`), the browser hand-off (`browser`), pushed authorization requests (`par`,
//! RFC 9126), a timeout and Ctrl-C while waiting, and
//! error variants that say what happened. [`authorize`] is the one function that runs an
//! interactive authorization; `bank login` and (next) the step-up retry of `bank transfer`
//! both call it with different [`AuthParams`]. Only standard parameters are sent, so the same
//! code works against the sandbox, Auth0, Okta or Keycloak.

pub mod browser;
pub mod device;
pub mod discovery;
mod error;
mod id_token;
pub mod loopback;
pub mod par;
mod revoke;
mod token_http;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthUrl, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError,
    RevocationUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::config::{AudienceParam, Profile, Use};
use crate::dpop::DpopKey;
pub use browser::{Browser, BrowserError};
pub use discovery::Metadata;
pub use error::OAuthError;
use id_token::{Nonce, check_id_token, login_name, name_claim};
pub use id_token::{claims, display_name};
pub use loopback::LoopbackError;
use loopback::{Callback, Listener};
pub use revoke::revoke;
pub use token_http::TokenHttp;

/// RFC 9207 §2.4: an authorization response that names another issuer is a mix-up
/// attack (a second, malicious authorization server answering for ours), and one without
/// `iss` is refused when the server promised to always send it.
fn check_response_issuer(metadata: &Metadata, iss: Option<&str>) -> Result<(), OAuthError> {
    match iss {
        Some(found) if found == metadata.issuer => Ok(()),
        None if !metadata.authorization_response_iss_parameter_supported => Ok(()),
        found => Err(OAuthError::IssuerMixUp {
            expected: metadata.issuer.clone(),
            found: found.map(str::to_owned),
        }),
    }
}

/// An ID token: only ever decoded for display, never printed or logged.
#[derive(Clone, Deserialize, Serialize, Default)]
pub struct IdTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for IdTokenFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdTokenFields([redacted])")
    }
}

impl ExtraTokenFields for IdTokenFields {}

type TokenEndpointResponse = StandardTokenResponse<IdTokenFields, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenEndpointResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointSet,
>;

/// What a token endpoint gave us.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    /// Display name from the ID token (or, failing that, the access token's claims).
    pub username: Option<String>,
    /// Who signed in, from the checked ID token (`None` when the provider sent none).
    pub subject: Option<String>,
    /// What the provider knows the user by (`preferred_username`, else `email`, from the ID
    /// token): the step-up's `login_hint`.
    pub login_name: Option<String>,
    /// `token_type: DPoP`: the tokens are bound to the key whose proof the request carried
    /// (RFC 9449 §5) and are sent with a proof; `false` for bearer tokens.
    pub bound: bool,
}

/// What to ask the authorization server for.
#[derive(Clone, Debug, Default)]
pub struct AuthParams {
    pub scopes: Vec<String>,
    /// OIDC Core §3.1.2.1 / RFC 9470 §4.
    pub acr_values: Vec<String>,
    pub max_age: Option<u64>,
    /// `prompt=login`: force a fresh authentication.
    pub prompt_login: bool,
    /// OIDC Core §3.1.2.1 `login_hint`: who is expected to sign in (the step-up names the
    /// everyday login's user, so the provider pre-fills or picks that account).
    pub login_hint: Option<String>,
    /// RFC 9396 `authorization_details`: the transfer or the batch a step-up is for, sent
    /// only to a provider that lists its type in `authorization_details_types_supported`.
    pub authorization_details: Option<bank_protocol::Approval>,
}

/// The person's part of an interactive authorization, as the caller presents it: this
/// module decides *what* to tell the person, the caller decides *how* (a terminal with a
/// spinner for the commands, a narration for `bank demo`).
pub trait Person {
    /// A message to read (the URL to open, what is about to be approved).
    fn notice(&self, message: &str);
    /// Something went wrong but the flow goes on (the browser did not open).
    fn warn(&self, message: &str);
    /// The flow waits for the person; the wait ends when the returned guard is dropped.
    fn wait(&self, message: &str) -> Box<dyn Waiting>;
    /// The device flow's codes (RFC 8628 §3.3): the person opens the page elsewhere.
    fn device_code(&self, prompt: &device::DevicePrompt) {
        self.notice(&prompt.instructions());
    }
}

/// What [`Person::wait`] returns: dropping it ends the wait (a spinner stops).
pub trait Waiting {}

impl<T> Waiting for T {}

/// How the interactive part runs.
pub struct Interaction<'a> {
    pub person: &'a dyn Person,
    pub browser: &'a Browser,
    pub timeout: Duration,
    pub callback_port: Option<u16>,
    /// Shown next to the spinner while waiting.
    pub waiting_message: String,
}

/// The parameters of an authorization request beyond `client_id` and `scope`, the same for
/// the browser (`/authorize`) and the device flow (RFC 8628 §3.1): the API, and what
/// [`AuthParams`] asks for.
fn request_params(profile: &Profile, params: &AuthParams) -> Vec<(&'static str, String)> {
    let mut out = vec![match profile.audience_param {
        // RFC 8707 §2: names the API the token is for.
        AudienceParam::Resource => ("resource", profile.audience.clone()),
        AudienceParam::Audience => ("audience", profile.audience.clone()),
    }];
    if !params.acr_values.is_empty() {
        out.push(("acr_values", params.acr_values.join(" ")));
    }
    if let Some(max_age) = params.max_age {
        out.push(("max_age", max_age.to_string()));
    }
    if params.prompt_login {
        out.push(("prompt", "login".into()));
    }
    if let Some(hint) = &params.login_hint {
        out.push(("login_hint", hint.clone()));
    }
    if let Some(approval) = &params.authorization_details {
        // Strings only: serializing cannot fail, and "[]" would be refused, never widened.
        out.push(("authorization_details", approval.to_json()));
    }
    out
}

fn client(profile: &Profile, metadata: &Metadata) -> Result<Client, OAuthError> {
    let revocation = metadata
        .revocation_endpoint
        .as_ref()
        .map(|u| RevocationUrl::new(u.clone()))
        .transpose()
        .map_err(OAuthError::BadUrl)?;
    Ok(
        oauth2::Client::new(ClientId::new(profile.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(metadata.authorization_endpoint.clone())
                    .map_err(OAuthError::BadUrl)?,
            )
            .set_token_uri(
                TokenUrl::new(metadata.token_endpoint.clone()).map_err(OAuthError::BadUrl)?,
            )
            .set_revocation_url_option(revocation),
    )
}

/// The key a new login binds its tokens to (RFC 9449), as the profile's `dpop` setting and
/// the provider's metadata decide: a fresh one when DPoP is used, `None` for bearer tokens.
pub fn dpop_key_for(profile: &Profile, metadata: &Metadata) -> Result<Option<DpopKey>, OAuthError> {
    match profile.dpop {
        Use::Never => Ok(None),
        Use::Auto if !metadata.offers_dpop() => Ok(None),
        Use::Always if !metadata.offers_dpop() => Err(OAuthError::DpopUnsupported),
        Use::Auto | Use::Always => Ok(Some(DpopKey::generate())),
    }
}

/// Runs one interactive authorization: loopback listener, browser, wait, code exchange.
pub async fn authorize(
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    params: &AuthParams,
    interaction: Interaction<'_>,
    sender: Option<&DpopKey>,
) -> Result<TokenSet, OAuthError> {
    let push_to = par::endpoint(profile.par, metadata)?;
    let listener = Listener::bind(interaction.callback_port).map_err(|e| match e {
        LoopbackError::PortBusy { port, .. } => OAuthError::CallbackPortBusy { port, source: e },
        other => OAuthError::Loopback(other),
    })?;
    let redirect = RedirectUrl::new(listener.redirect_uri()).map_err(OAuthError::BadUrl)?;
    let client = client(profile, metadata)?.set_redirect_uri(redirect);

    // RFC 7636 §4.1-4.2: a fresh high-entropy verifier per request, sent as S256 only.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scopes(params.scopes.iter().cloned().map(Scope::new));
    for (name, value) in request_params(profile, params) {
        request = request.add_extra_param(name, value);
    }
    if let Some(key) = sender {
        // RFC 9449 §10: the code can only be redeemed with a proof by this key.
        request = request.add_extra_param("dpop_jkt", key.thumbprint().to_owned());
    }
    // OIDC Core §3.1.2.1: a fresh nonce binds the ID token to this very request (§3.1.3.7
    // (11) checks it); some providers refuse `openid` without one.
    let nonce = params
        .scopes
        .iter()
        .any(|s| s == bank_protocol::scopes::OPENID)
        .then(|| CsrfToken::new_random_len(32).into_secret());
    if let Some(nonce) = &nonce {
        request = request.add_extra_param("nonce", nonce.clone());
    }
    let (url, state) = request.url();
    // RFC 9126: the request goes to the provider directly; the browser gets a reference.
    let (url, reference_lifetime) = match push_to {
        Some(endpoint) => {
            let (url, lifetime) =
                par::by_reference(http, endpoint, metadata, &url, &profile.client_id).await?;
            (url, Some(lifetime))
        }
        None => (url, None),
    };

    let person = interaction.person;
    let reference_note = reference_lifetime.map_or_else(String::new, |lifetime| {
        format!(
            "  (it names the sign-in request bank sent the provider: open it within {})\n",
            crate::time_text::humanize(lifetime)
        )
    });
    // No promise where no page can be shown; the sign-in comes back to this machine.
    // Nor an instruction to open a page that code in this process opens (`bank demo`).
    let open = match interaction.browser {
        Browser::InProcess(_) => "The sign-in page, opened for you as a browser would:",
        _ if interaction.browser.can_open() => {
            "Open this URL in your browser to continue (it is opened for you when possible):"
        }
        _ => "Open this URL in a browser on this machine to continue:",
    };
    person.notice(&format!("{open}\n\n  {url}\n{reference_note}"));
    let launched = match interaction.browser.open(url.as_str()) {
        Ok(l) => Some(l),
        Err(e @ BrowserError::UnsafeUrl) => return Err(OAuthError::Browser(e)),
        Err(e) => {
            person.warn(&format!("{e}; open the URL above yourself"));
            None
        }
    };

    let waiting = person.wait(&interaction.waiting_message);
    let purpose = loopback::Purpose::of(params);
    let cancel = Arc::new(AtomicBool::new(false));
    let timeout = interaction.timeout;
    let (refused_tx, mut refused) = tokio::sync::mpsc::unbounded_channel();
    let waiter = {
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || {
            listener.wait(&state, &purpose, timeout, &cancel, &|| {
                let _ = refused_tx.send(());
            })
        })
    };
    tokio::pin!(waiter);
    // A pushed request's link that the person opens themselves dies unopened after its
    // lifetime. The wait goes on (a link opened in time may still be signing in, and bank
    // cannot tell), but the person learns that a new attempt is needed if it was not.
    let opened_by_bank = launched.is_some() && !matches!(interaction.browser, Browser::None);
    let link_expires = reference_lifetime.filter(|_| !opened_by_bank);
    let link_expired = async {
        match link_expires {
            Some(lifetime) => tokio::time::sleep(lifetime).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(link_expired);
    let mut told_expired = false;
    let outcome = loop {
        tokio::select! {
            joined = &mut waiter => break joined.unwrap_or(Callback::Cancelled),
            () = &mut link_expired, if !told_expired => {
                told_expired = true;
                person.warn(&format!(
                    "the link above expired {} after bank sent the request: if it was not opened by then, nothing can finish this sign-in; press Ctrl-C and run the command again",
                    crate::time_text::humanize(link_expires.unwrap_or_default())
                ));
            }
            Some(()) = refused.recv() => person.warn(
                "a request reached the login callback without this login's state (another program, or an old browser tab); it was refused, and bank keeps waiting for your sign-in",
            ),
            _ = tokio::signal::ctrl_c() => {
                cancel.store(true, Ordering::SeqCst);
                let _ = (&mut waiter).await;
                break Callback::Cancelled;
            }
        }
    };
    drop(waiting);
    if let Some(l) = launched {
        l.reap();
    }

    if let Callback::Code { iss, .. } | Callback::Error { iss, .. } = &outcome {
        check_response_issuer(metadata, iss.as_deref())?;
    }
    let code = match outcome {
        Callback::Code { code, .. } => code,
        Callback::TimedOut => return Err(OAuthError::Timeout(timeout)),
        Callback::Cancelled => return Err(OAuthError::Interrupted),
        Callback::Error {
            error, description, ..
        } if error == "access_denied" => {
            return Err(OAuthError::Denied { description });
        }
        Callback::Error {
            error, description, ..
        } => {
            return Err(OAuthError::Authorization { error, description });
        }
    };

    let mut exchange = client.exchange_code(code).set_pkce_verifier(verifier);
    if profile.audience_param == AudienceParam::Resource {
        // RFC 8707 §2.2: repeat the resource on the token request.
        exchange = exchange.add_extra_param("resource", profile.audience.clone());
    }
    let response = exchange
        .request_async(&TokenHttp::new(http, sender))
        .await
        .map_err(|e| without_proof(token_error(e, false), sender))?;
    let nonce = nonce.as_deref().map_or(Nonce::NotSent, Nonce::Sent);
    token_set(
        response,
        profile,
        metadata,
        &params.scopes,
        nonce,
        None,
        sender,
    )
}

/// RFC 6749 §6: a new access token from a refresh token. Providers that rotate refresh tokens
/// return a new one; when they do not, the old one stays valid and is kept.
pub async fn refresh(
    http: &reqwest::Client,
    profile: &Profile,
    metadata: &Metadata,
    refresh_token: &RefreshToken,
    scopes: &[String],
    sender: Option<&DpopKey>,
) -> Result<TokenSet, OAuthError> {
    let client = client(profile, metadata)?;
    let mut request = client.exchange_refresh_token(refresh_token);
    if profile.audience_param == AudienceParam::Resource {
        request = request.add_extra_param("resource", profile.audience.clone());
    }
    let response = request
        .request_async(&TokenHttp::new(http, sender))
        .await
        .map_err(|e| without_proof(token_error(e, true), sender))?;
    token_set(
        response,
        profile,
        metadata,
        scopes,
        Nonce::Unchecked,
        Some(refresh_token),
        sender,
    )
}

fn token_error<RE>(err: RequestTokenError<RE, BasicErrorResponse>, refreshing: bool) -> OAuthError
where
    RE: std::error::Error + Send + Sync + 'static,
{
    let r = match server_answer(err) {
        Ok(r) => r,
        Err(other) => return other,
    };
    let error = r.error().to_string();
    // RFC 6749 §5.2: invalid_grant = the refresh token is expired, revoked or unknown.
    if refreshing
        && matches!(
            error.as_str(),
            "invalid_grant" | "unauthorized_client" | "invalid_client"
        )
    {
        OAuthError::RefreshRejected { error }
    } else {
        OAuthError::TokenEndpoint {
            error,
            description: server_words(r.error_description()),
        }
    }
}

/// The token endpoint's error answer, or what else went wrong with the request.
fn server_answer<RE, T>(err: RequestTokenError<RE, T>) -> Result<T, OAuthError>
where
    RE: std::error::Error + Send + Sync + 'static,
    T: oauth2::ErrorResponse + 'static,
{
    match err {
        RequestTokenError::ServerResponse(r) => Ok(r),
        RequestTokenError::Request(source) => Err(OAuthError::Http {
            what: "token request failed".into(),
            source: Some(Box::new(source)),
        }),
        // The parse error's body may contain tokens: never carry it along.
        RequestTokenError::Parse(..) => Err(OAuthError::Http {
            what: "the token endpoint's answer could not be parsed".into(),
            source: None,
        }),
        RequestTokenError::Other(what) => Err(OAuthError::Http { what, source: None }),
    }
}

/// A server's `error_description`, with anything that could act on a terminal escaped.
fn server_words(description: Option<&String>) -> Option<String> {
    description.map(|d| bank_protocol::text::escape_hidden(d, &[]).into_owned())
}

/// A token request sent without a proof and refused for the want of one (RFC 9449 §5:
/// `invalid_dpop_proof`): the provider demands DPoP, which this profile turned off.
fn without_proof(err: OAuthError, sender: Option<&DpopKey>) -> OAuthError {
    match err {
        OAuthError::TokenEndpoint { error, .. }
            if sender.is_none() && error == "invalid_dpop_proof" =>
        {
            OAuthError::DpopRequired
        }
        other => other,
    }
}

/// What a token response means, its ID token checked. An authorization that asked for
/// `openid` must be answered with an ID token (OIDC Core §3.1.3.3); a refresh may omit it
/// (§12.2), which `Nonce::Unchecked` says.
fn token_set(
    response: TokenEndpointResponse,
    profile: &Profile,
    metadata: &Metadata,
    requested: &[String],
    nonce: Nonce<'_>,
    old_refresh: Option<&RefreshToken>,
    sender: Option<&DpopKey>,
) -> Result<TokenSet, OAuthError> {
    // RFC 9449 §5: a DPoP token only ever answers a request that carried a proof; one we
    // could not have asked for is refused rather than stored.
    let bound = response
        .token_type()
        .as_ref()
        .eq_ignore_ascii_case(bank_protocol::dpop::TOKEN_TYPE);
    if bound && sender.is_none() {
        return Err(OAuthError::UnexpectedTokenType {
            token_type: bank_protocol::dpop::TOKEN_TYPE.into(),
        });
    }
    if !bound && profile.dpop == Use::Always {
        return Err(OAuthError::NotBound);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = response
        .expires_in()
        .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
    // RFC 6749 §5.1: an omitted `scope` means exactly the requested scope was granted.
    let scopes = match response.scopes() {
        Some(s) => s.iter().map(|s| s.to_string()).collect(),
        None => requested.to_vec(),
    };
    let id_token = response.extra_fields().id_token.as_deref();
    let asked_openid = requested.iter().any(|s| s == bank_protocol::scopes::OPENID);
    if id_token.is_none() && asked_openid && nonce != Nonce::Unchecked {
        return Err(OAuthError::InvalidIdToken {
            reason: "the provider sent none, though bank asked for openid",
        });
    }
    let id_claims = id_token
        .map(|jwt| check_id_token(jwt, &metadata.issuer, &profile.client_id, nonce, now))
        .transpose()?;
    let subject = id_claims
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    // The ID token's names first (`profile` scope), then the access token's (display only),
    // and the bare `sub` only when nothing nicer is known.
    let username = id_claims
        .as_ref()
        .and_then(name_claim)
        .or_else(|| claims(response.access_token().secret()).and_then(|c| name_claim(&c)))
        .or_else(|| subject.clone());
    Ok(TokenSet {
        login_name: id_claims.as_ref().and_then(login_name),
        access_token: response.access_token().clone(),
        refresh_token: response
            .refresh_token()
            .cloned()
            .or_else(|| old_refresh.cloned()),
        expires_at,
        scopes,
        username,
        subject,
        bound,
    })
}

#[cfg(test)]
mod tests;
