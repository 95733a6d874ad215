//! Minting tokens through the sandbox's real front door: the authorization code flow with
//! PKCE S256, the login form (once; the session cookie carries later authorizations) and
//! auto-approved push MFA, then the token endpoint. No library back door: every token the
//! benchmarks spend was issued exactly as `bank` would obtain it. The pages are walked by
//! the sandbox's one scripted browser, `bank_sandbox::walker`.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use bank_sandbox::walker::{Password, Walker};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use url::Url;

use crate::dpop::ProofKey;

const CLIENT_ID: &str = "bank-cli";
const AUDIENCE: &str = "https://bank.example/api";
/// Loopback redirects match any port (RFC 8252 §7.3); nothing listens here: the walker
/// stops at the callback URL without fetching it, and the code is read from it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A scripted browser for one user, plus the client's half of the flow (PKCE, `state`,
/// the code exchange).
pub struct Browser {
    http: reqwest::Client,
    issuer: Url,
    walker: Walker,
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
            walker: Walker::new(username, Password::new(password))?,
        })
    }

    /// A second browser of the same signed-in person (shares the cookie jar), for minting
    /// on several connections at once.
    pub fn clone_session(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            issuer: self.issuer.clone(),
            walker: self.walker.clone(),
        }
    }

    /// Runs one authorization for `scope` (and RFC 9396 `authorization_details`, when
    /// given) and returns the access token; with a DPoP key, the code is bound to it
    /// (`dpop_jkt`) and redeemed with a proof, so the token is bound to it too.
    pub async fn access_token(
        &mut self,
        scope: &str,
        authorization_details: Option<&str>,
        dpop: Option<&ProofKey>,
    ) -> anyhow::Result<String> {
        self.authorize(scope, authorization_details, dpop, false)
            .await
    }

    /// The same, the request pushed first (RFC 9126 PAR) and the browser sent only its
    /// reference: for details too large for a URL, such as a batch's list of payments.
    pub async fn access_token_pushed(
        &mut self,
        scope: &str,
        authorization_details: &str,
        dpop: Option<&ProofKey>,
    ) -> anyhow::Result<String> {
        self.authorize(scope, Some(authorization_details), dpop, true)
            .await
    }

    async fn authorize(
        &mut self,
        scope: &str,
        authorization_details: Option<&str>,
        dpop: Option<&ProofKey>,
        pushed: bool,
    ) -> anyhow::Result<String> {
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_b64(16);
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("scope", scope.to_owned()),
            ("state", state.clone()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
            ("audience", AUDIENCE.to_owned()),
        ];
        if let Some(details) = authorization_details {
            params.push(("authorization_details", details.to_owned()));
        }
        if let Some(key) = dpop {
            params.push(("dpop_jkt", key.jkt.clone()));
        }
        let mut url = self.issuer.join("/authorize")?;
        if pushed {
            let response = self
                .http
                .post(self.issuer.join("/oauth/par")?)
                .form(&params)
                .send()
                .await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let Some(request_uri) = body.get("request_uri").and_then(|u| u.as_str()) else {
                bail!("the pushed authorization request was refused ({status}): {body}");
            };
            url.query_pairs_mut()
                .append_pair("client_id", CLIENT_ID)
                .append_pair("request_uri", request_uri);
        } else {
            url.query_pairs_mut().extend_pairs(&params);
        }

        let callback = self
            .walker
            .walk_to_callback(url.as_str(), &mut |_| {})
            .await?;
        let q: BTreeMap<_, _> = callback.query_pairs().into_owned().collect();
        if q.get("state") != Some(&state) {
            bail!("callback state does not match");
        }
        let Some(code) = q.get("code") else {
            bail!("authorization failed: {:?}", q.get("error"));
        };

        let token_url = self.issuer.join("/oauth/token")?;
        let mut request = self.http.post(token_url.clone());
        if let Some(key) = dpop {
            request = request.header(
                bank_protocol::dpop::DPOP_HEADER,
                key.proof("POST", token_url.as_str(), None),
            );
        }
        let response = request
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
