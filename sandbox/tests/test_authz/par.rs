//! RFC 9126 pushed authorization requests: the push, the `request_uri` at `/authorize`
//! (single use, short-lived, bound to its client, the only source of parameters), errors at
//! the push identical to `/authorize`'s, a client held to PAR, and a server without PAR.

use std::time::Duration;

use bank_sandbox::authz::{AuthzEvent, ClientConfig};
use bank_sandbox::{Sandbox, SandboxConfig};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::common::dpop::DpopKey;
use crate::common::*;

const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// POSTs `form` to the PAR endpoint the metadata names.
async fn push(sandbox: &Sandbox, form: &[(String, String)]) -> (StatusCode, HeaderMap, Value) {
    push_with(sandbox, form, |r| r).await
}

async fn push_with(
    sandbox: &Sandbox,
    form: &[(String, String)],
    tweak: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, HeaderMap, Value) {
    let meta = get_json(&format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer()
    ))
    .await;
    let endpoint = meta["pushed_authorization_request_endpoint"]
        .as_str()
        .expect("a PAR endpoint in the metadata");
    let response = tweak(http().post(endpoint).form(form))
        .send()
        .await
        .expect("push");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Pushes a valid request and returns its `request_uri`.
async fn pushed(sandbox: &Sandbox, pkce: &Pkce, scope: &str, extra: &[(&str, &str)]) -> String {
    let (status, _, body) = push(sandbox, &authorize_params(pkce, scope, extra)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned()
}

/// The browser's URL for a pushed request: only `client_id` and `request_uri`, plus `extra`.
fn by_reference(
    issuer: &str,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .extend_pairs(extra)
        .finish();
    format!("{issuer}/authorize?{query}")
}

fn assert_page(page: &Page, heading: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.headers.get("location").is_none(), "never redirects");
    assert!(page.body.contains(heading), "{heading}:\n{}", page.body);
}

#[tokio::test]
async fn a_pushed_request_signs_in_and_its_code_buys_tokens() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let meta = get_json(&format!("{iss}/.well-known/oauth-authorization-server")).await;
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        format!("{iss}/oauth/par")
    );
    assert_eq!(meta["require_pushed_authorization_requests"], false);

    let pkce = Pkce::new();
    let form = authorize_params(
        &pkce,
        "openid profile offline_access view:balance",
        &[("nonce", "n-1"), ("login_hint", "alice")],
    );
    let (status, headers, body) = push(&sandbox, &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().expect("request_uri");
    let reference = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .expect("an RFC 9126 URN");
    assert_eq!(
        reference.len(),
        43,
        "256 random bits, base64url: {reference}"
    );
    assert_eq!(body.as_object().expect("object").len(), 2, "{body}");

    let mut browser = Browser::new(&sandbox);
    let url = by_reference(&iss, CLIENT_ID, request_uri, &[]);
    let done = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let location = done.location().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:43210/callback?"),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&location, "iss").as_deref(), Some(iss.as_str()));
    let code = query_param(&location, "code").expect("code");
    let (status, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        tokens["scope"],
        "openid profile offline_access view:balance"
    );
    let jwks = get_json(&format!("{iss}/.well-known/jwks.json")).await;
    let (_, id) = verify_jwt(&jwks, tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["nonce"], "n-1", "the pushed nonce");

    let events = sandbox.authz().events();
    let pushes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AuthzEvent::AuthorizationPushed {
                client_id,
                scope,
                login_hint,
                parameters,
                ..
            } => Some((client_id, scope, login_hint, parameters)),
            _ => None,
        })
        .collect();
    assert_eq!(pushes.len(), 1, "{events:?}");
    let (client_id, scope, login_hint, parameters) = pushes[0];
    assert_eq!(client_id, CLIENT_ID);
    assert_eq!(scope, "openid profile offline_access view:balance");
    assert_eq!(login_hint.as_deref(), Some("alice"));
    assert!(parameters.iter().any(|p| p == "code_challenge"));
    let trail = format!("{events:?}");
    assert!(
        !trail.contains(&pkce.challenge) && !trail.contains(reference),
        "the audit trail names parameters, not their values"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_request_uri_works_once_for_its_client_and_expires() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients.push(ClientConfig {
        client_id: "web-app".into(),
        name: "Web app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        mfa_scopes: vec![],
        ..ClientConfig::default()
    });
    let sandbox = start_with(config).await;
    let iss = sandbox.issuer().to_owned();
    let mut browser = Browser::new(&sandbox);

    // Another client's request_uri is refused, and stays usable by its own client.
    let request_uri = pushed(&sandbox, &Pkce::new(), "view:balance", &[]).await;
    let other = browser
        .get(&by_reference(&iss, "web-app", &request_uri, &[]))
        .await;
    assert_page(&other, "Wrong application");
    let nobody = browser
        .get(&by_reference(&iss, "", &request_uri, &[]))
        .await;
    assert_page(&nobody, "Unknown application");
    let first = browser
        .get(&by_reference(&iss, CLIENT_ID, &request_uri, &[]))
        .await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    assert!(
        first.location().starts_with("/login?txn="),
        "{}",
        first.location()
    );

    // Single use: the same link again (a reload, or someone who saw it) is refused.
    let again = browser
        .get(&by_reference(&iss, CLIENT_ID, &request_uri, &[]))
        .await;
    assert_page(&again, "Sign-in request already used");

    // Made up, or not this server's.
    let made_up = format!("{REQUEST_URI_PREFIX}{}", "A".repeat(43));
    let unknown = browser
        .get(&by_reference(&iss, CLIENT_ID, &made_up, &[]))
        .await;
    assert_page(&unknown, "Unknown sign-in request");
    let elsewhere = browser
        .get(&by_reference(
            &iss,
            CLIENT_ID,
            "https://evil.example/request.jwt",
            &[],
        ))
        .await;
    assert_page(&elsewhere, "Unknown sign-in request");

    // Expiry, on the sandbox's clock: usable until its lifetime is over, then refused.
    let lifetime = sandbox.authz().config().request_uri_lifetime_secs;
    let late = pushed(&sandbox, &Pkce::new(), "view:balance", &[]).await;
    let in_time = pushed(&sandbox, &Pkce::new(), "view:balance", &[]).await;
    sandbox
        .authz()
        .clock()
        .advance(Duration::from_secs(lifetime - 1));
    let page = browser
        .get(&by_reference(&iss, CLIENT_ID, &in_time, &[]))
        .await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    sandbox.authz().clock().advance(Duration::from_secs(1));
    let page = browser
        .get(&by_reference(&iss, CLIENT_ID, &late, &[]))
        .await;
    assert_page(&page, "Sign-in request expired");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn only_the_pushed_parameters_count_at_authorize() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let pkce = Pkce::new();
    let request_uri = pushed(&sandbox, &pkce, "view:balance", &[]).await;
    // Parameters beside the reference are ignored (RFC 9101 §6.3), whatever they say.
    let url = by_reference(
        &iss,
        CLIENT_ID,
        &request_uri,
        &[
            ("scope", "transfer:funds"),
            ("state", "attacker"),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_challenge", &Pkce::new().challenge),
            ("prompt", "none"),
        ],
    );
    let mut browser = Browser::new(&sandbox);
    let done = authorize_and_login(&mut browser, &url, "alice", "wonderland").await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let location = done.location();
    assert!(
        location.starts_with("http://127.0.0.1:43210/callback?"),
        "{location}"
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st-123"));
    let code = query_param(location, "code").expect("code");
    let (status, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "view:balance");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_bad_request_fails_at_the_push_exactly_as_at_authorize() {
    let sandbox = start().await;
    let iss = sandbox.issuer().to_owned();
    let long_hint = "a".repeat(300);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("response_type", "token")],
        vec![("response_type", "")],
        vec![("code_challenge", "")],
        vec![("code_challenge_method", "plain")],
        vec![("code_challenge_method", "")],
        vec![("code_challenge", "too-short")],
        vec![("scope", "view:balance launch:missiles")],
        vec![("audience", "https://other.example/api")],
        vec![
            ("audience", AUDIENCE),
            ("resource", "https://other.example/api"),
        ],
        vec![("prompt", "none login")],
        vec![("max_age", "-1")],
        vec![("login_hint", &long_hint)],
        vec![(
            "authorization_details",
            "[{\"type\":\"account_information\"}]",
        )],
        vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
    ];
    for extra in cases {
        let pkce = Pkce::new();
        let (status, headers, body) =
            push(&sandbox, &authorize_params(&pkce, "view:balance", &extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra:?}: {body}");
        assert_eq!(headers["cache-control"], "no-store", "{extra:?}");
        let page = Browser::new(&sandbox)
            .get(&authorize_url(&iss, &pkce, "view:balance", &extra))
            .await;
        assert_eq!(page.status, StatusCode::FOUND, "{extra:?}: {}", page.body);
        let redirected = (
            query_param(page.location(), "error"),
            query_param(page.location(), "error_description"),
        );
        assert_eq!(
            (
                body["error"].as_str().map(str::to_owned),
                body["error_description"].as_str().map(str::to_owned)
            ),
            redirected,
            "{extra:?}"
        );
    }
    // Nothing of it was kept.
    assert!(
        !sandbox
            .authz()
            .events()
            .iter()
            .any(|e| matches!(e, AuthzEvent::AuthorizationPushed { .. }))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn what_the_push_endpoint_refuses_before_validating() {
    let sandbox = start().await;
    let endpoint = format!("{}/oauth/par", sandbox.issuer());
    let pkce = Pkce::new();
    let refused = |extra: &[(&str, &str)]| authorize_params(&pkce, "view:balance", extra);

    // §2.1: a push never carries a request_uri.
    let (status, _, body) = push(
        &sandbox,
        &refused(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "request_uri must not be pushed (RFC 9126 §2.1)"
    );

    // The client is identified as at the token endpoint.
    for client_id in ["", "evil-cli"] {
        let (status, headers, body) = push(&sandbox, &refused(&[("client_id", client_id)])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_client");
        assert!(headers.contains_key("www-authenticate"));
    }
    let (status, _, body) = push_with(&sandbox, &refused(&[]), |r| {
        r.basic_auth(CLIENT_ID, Some("secret"))
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // RFC 9126 §2.3: a redirect URI that is not registered is invalid_request, in JSON.
    for redirect in [
        "",
        "https://evil.example/callback",
        "http://127.0.0.1:4/other",
    ] {
        let (status, _, body) = push(&sandbox, &refused(&[("redirect_uri", redirect)])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{redirect}: {body}");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(
            body["error_description"],
            "redirect_uri is missing or not registered for this client"
        );
    }

    // Form-encoded only, each parameter once, a bounded body, POST only.
    let json = http()
        .post(&endpoint)
        .json(&serde_json::json!({"client_id": CLIENT_ID}))
        .send()
        .await
        .expect("push");
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    let mut repeated = refused(&[]);
    repeated.push(("scope".into(), "transfer:funds".into()));
    let (status, _, body) = push(&sandbox, &repeated).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "parameter scope is repeated");
    // Past room for the largest valid batch (16 KiB + 1,000 × 2,560 bytes by default).
    let huge = refused(&[("nonce", &"n".repeat(3 * 1024 * 1024))]);
    let response = http()
        .post(&endpoint)
        .form(&huge)
        .send()
        .await
        .expect("push");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let get = http().get(&endpoint).send().await.expect("GET");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_push_binds_the_key_of_its_dpop_jkt_or_of_its_verified_proof() {
    let sandbox = start().await;
    let pushed_parameters = |sandbox: &Sandbox| -> Vec<Vec<String>> {
        sandbox
            .authz()
            .events()
            .into_iter()
            .filter_map(|e| match e {
                AuthzEvent::AuthorizationPushed { parameters, .. } => Some(parameters),
                _ => None,
            })
            .collect()
    };
    let key = DpopKey::new();
    let request_uri = pushed(
        &sandbox,
        &Pkce::new(),
        "view:balance",
        &[("dpop_jkt", key.jkt.as_str())],
    )
    .await;
    assert!(request_uri.starts_with(REQUEST_URI_PREFIX));
    assert!(
        pushed_parameters(&sandbox)[0]
            .iter()
            .any(|p| p == "dpop_jkt")
    );

    // RFC 9449 §10.1: a proof at the push binds its key as dpop_jkt would.
    let par = format!("{}/oauth/par", sandbox.issuer());
    let (status, _, body) = push_with(
        &sandbox,
        &authorize_params(&Pkce::new(), "view:balance", &[]),
        |r| r.header("DPoP", key.proof("POST", &par, None)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        pushed_parameters(&sandbox)[1]
            .iter()
            .any(|p| p == "dpop_jkt")
    );

    // A proof by another key than the one dpop_jkt names, and a proof that does not verify.
    let other = DpopKey::new();
    let (status, _, body) = push_with(
        &sandbox,
        &authorize_params(&Pkce::new(), "view:balance", &[("dpop_jkt", &key.jkt)]),
        |r| r.header("DPoP", other.proof("POST", &par, None)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    let (status, _, body) = push_with(
        &sandbox,
        &authorize_params(&Pkce::new(), "view:balance", &[]),
        |r| r.header("DPoP", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.sig"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(pushed_parameters(&sandbox).len(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_client_held_to_par_is_refused_a_plain_authorization_request() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients[0].require_pushed_authorization_requests = true;
    let sandbox = start_with(config).await;
    let iss = sandbox.issuer().to_owned();
    let meta = get_json(&format!("{iss}/.well-known/openid-configuration")).await;
    assert_eq!(meta["require_pushed_authorization_requests"], true);

    // A trusted redirect URI: RFC 9126 §4's invalid_request goes back to the client.
    let mut browser = Browser::new(&sandbox);
    let plain = browser
        .get(&authorize_url(&iss, &Pkce::new(), "view:balance", &[]))
        .await;
    assert_eq!(plain.status, StatusCode::FOUND, "{}", plain.body);
    let location = plain.location();
    assert!(location.starts_with("http://127.0.0.1:43210/callback?"));
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(location, "iss").as_deref(), Some(iss.as_str()));
    let description = query_param(location, "error_description").expect("a description");
    assert!(
        description.starts_with("this client must push its authorization requests"),
        "{description}"
    );
    // An untrusted one: a page for the person, as for any other client.
    let page = browser
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("redirect_uri", "https://evil.example/cb")],
        ))
        .await;
    assert_page(&page, "Invalid redirect address");

    // Pushed, the same request goes through.
    let pkce = Pkce::new();
    let request_uri = pushed(&sandbox, &pkce, "view:balance", &[]).await;
    let done = authorize_and_login(
        &mut browser,
        &by_reference(&iss, CLIENT_ID, &request_uri, &[]),
        "alice",
        "wonderland",
    )
    .await;
    let code = query_param(done.location(), "code").expect("code");
    let (status, _, tokens) = exchange(&sandbox, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn par_is_required_server_wide_only_when_every_client_is_held_to_it() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.clients[0].require_pushed_authorization_requests = true;
    config.authz.clients.push(ClientConfig {
        client_id: "web-app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        ..ClientConfig::default()
    });
    let sandbox = start_with(config).await;
    let meta = get_json(&format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer()
    ))
    .await;
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_server_without_par_neither_advertises_nor_accepts_it() {
    let mut config = SandboxConfig::ephemeral();
    config.authz.pushed_authorization_requests = false;
    let sandbox = start_with(config).await;
    let iss = sandbox.issuer().to_owned();
    let meta = get_json(&format!("{iss}/.well-known/openid-configuration")).await;
    assert!(meta.get("pushed_authorization_request_endpoint").is_none());
    assert!(meta.get("require_pushed_authorization_requests").is_none());
    let form = authorize_params(&Pkce::new(), "view:balance", &[]);
    let response = http()
        .post(format!("{iss}/oauth/par"))
        .form(&form)
        .send()
        .await
        .expect("push");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = Browser::new(&sandbox)
        .get(&authorize_url(
            &iss,
            &Pkce::new(),
            "view:balance",
            &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
        ))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        query_param(page.location(), "error_description").as_deref(),
        Some("request_uri is not supported")
    );

    // A client may not be held to what the server does not offer.
    let mut config = SandboxConfig::ephemeral();
    config.authz.pushed_authorization_requests = false;
    config.authz.clients[0].require_pushed_authorization_requests = true;
    assert!(bank_sandbox::Sandbox::start(config).await.is_err());
    sandbox.shutdown().await;
}
