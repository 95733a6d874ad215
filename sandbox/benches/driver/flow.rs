//! Minting tokens through the sandbox's real front door: the authorization code flow with
//! PKCE S256, the login form (once; the session cookie carries later authorizations) and
//! auto-approved push MFA, then the token endpoint. No library back door: every token the
//! benchmarks spend was issued exactly as `bank` would obtain it.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "bank-cli";
const AUDIENCE: &str = "https://bank.example/api";
/// Loopback redirects match any port (RFC 8252 §7.3); nothing listens here, the code is
/// read from the `Location` header instead.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A scripted browser for one user: its own cookie jar, no redirects followed by reqwest.
pub struct Browser {
    http: reqwest::Client,
    issuer: Url,
    username: String,
    password: String,
    cookies: BTreeMap<String, String>,
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Browser {
    pub fn new(issuer: &str, username: &str, password: &str) -> anyhow::Result<Browser> {
        Ok(Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            issuer: Url::parse(issuer)?,
            username: username.to_owned(),
            password: password.to_owned(),
            cookies: BTreeMap::new(),
        })
    }

    /// A second browser of the same signed-in person (shares the session cookie), for
    /// minting on several connections at once.
    pub fn clone_session(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            issuer: self.issuer.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            cookies: self.cookies.clone(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies.insert(name.trim().to_owned(), v.to_owned());
                }
            }
        }
    }

    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, self.cookie_header())
        };
        let response = request.send().await?;
        self.keep_cookies(&response);
        Ok(response)
    }

    /// Runs one authorization for `scope` and returns the access token.
    pub async fn access_token(&mut self, scope: &str) -> anyhow::Result<String> {
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_b64(16);
        let mut url = self.issuer.join("/authorize")?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("audience", AUDIENCE);

        let mut form: Option<Vec<(String, String)>> = None;
        let code = 'walk: {
            for _ in 0..12 {
                let response = match form.take() {
                    Some(fields) => self.send(self.http.post(url.clone()).form(&fields)).await?,
                    None => self.send(self.http.get(url.clone())).await?,
                };
                let status = response.status();
                if status.is_redirection() {
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .context("redirect without Location")?;
                    url = url.join(location)?;
                    if url.path() == "/callback" {
                        let q: BTreeMap<_, _> = url.query_pairs().into_owned().collect();
                        if q.get("state") != Some(&state) {
                            bail!("callback state does not match");
                        }
                        match q.get("code") {
                            Some(code) => break 'walk code.clone(),
                            None => bail!("authorization failed: {:?}", q.get("error")),
                        }
                    }
                    continue;
                }
                let page = response.text().await?;
                if let Some(next) = attribute(&page, "data-mfa-continue-url") {
                    // Auto-approved: the decision is already made when the page renders.
                    url = url.join(&next)?;
                    continue;
                }
                if page.contains(r#"name="password""#) {
                    let mut fields = hidden_inputs(&page);
                    fields.push(("username".into(), self.username.clone()));
                    fields.push(("password".into(), self.password.clone()));
                    url = url.join("/login")?;
                    form = Some(fields);
                    continue;
                }
                bail!("stuck at {} ({status})", url.path());
            }
            bail!("too many steps");
        };

        let token_url = self.issuer.join("/oauth/token")?;
        let response = self
            .http
            .post(token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", CLIENT_ID),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("token endpoint answered {}", response.status());
        }
        let body: serde_json::Value = response.json().await?;
        body.get("access_token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .context("no access_token in the token response")
    }
}

/// The value of the first `NAME="…"` attribute in `html`.
fn attribute(html: &str, name: &str) -> Option<String> {
    let needle = format!(r#"{name}=""#);
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// `(name, value)` of every `<input type="hidden" …>`.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            if !tag.contains(r#"type="hidden""#) {
                return None;
            }
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
