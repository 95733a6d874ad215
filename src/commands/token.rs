//! `bank token`: print the current access token for scripts (like `gh auth token`), and for
//! a DPoP-bound token the proof one request needs (RFC 9449 §4).

use serde_json::json;

use crate::client::Credential;
use crate::context::Ctx;
use crate::error::CliError;
use crate::time_text::rfc3339;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  curl -H \"Authorization: Bearer $(bank token)\" http://127.0.0.1:8401/v1/balance
  bank token --json | jq -r .expires_at

A DPoP-bound token (`token_type` DPoP in --json) is refused without a proof by this CLI's
key, made for one request:
  url=http://127.0.0.1:8401/v1/balance
  bank token --json --dpop-proof --method GET --url \"$url\" > t.json
  curl -H \"Authorization: DPoP $(jq -r .access_token t.json)\" \\
       -H \"DPoP: $(jq -r .dpop_proof t.json)\" \"$url\"";

/// Print the current access token on stdout
///
/// For scripts. The token is refreshed first if it has expired. This is the only command
/// that ever prints a secret; treat its output like a password. A DPoP-bound token is
/// useless on its own: each request also needs a proof by this CLI's key, which
/// `--dpop-proof` prints (one proof per request: the API refuses a proof used twice).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct TokenArgs {
    /// Print a DPoP proof for one request with the token instead of the token
    #[arg(long, requires = "url")]
    pub dpop_proof: bool,

    /// The request's method, for --dpop-proof
    #[arg(
        long,
        value_name = "METHOD",
        default_value = "GET",
        requires = "dpop_proof"
    )]
    pub method: String,

    /// The request's URL, for --dpop-proof (query and fragment are not part of the proof)
    #[arg(long, value_name = "URL", requires = "dpop_proof")]
    pub url: Option<String>,

    /// The server's DPoP-Nonce to put in the proof, for --dpop-proof
    #[arg(long, value_name = "NONCE", requires = "dpop_proof")]
    pub nonce: Option<String>,
}

pub async fn cmd_token(ui: &Ui, ctx: &Ctx, args: TokenArgs) -> Result<(), CliError> {
    let credential = ctx.session.credential(&ctx.ui).await?;
    let proof = match (&args.url, args.dpop_proof) {
        (Some(url), true) => Some(proof_for(
            &credential,
            &args.method,
            url,
            args.nonce.as_deref(),
        )?),
        _ => None,
    };
    let token_type = if credential.sender().is_some() {
        bank_protocol::dpop::TOKEN_TYPE
    } else {
        "Bearer"
    };
    if ui.json() {
        let (expires_at, scopes, source) = match &credential {
            Credential::Env(_) => (None, None, "env"),
            // The session only ever hands out the environment's token or the stored one.
            Credential::StepUp { .. } | Credential::Fixed(_) => (None, None, "given"),
            Credential::Stored { bundle, storage } => (
                bundle.expires_at.and_then(rfc3339),
                Some(bundle.scopes.clone()),
                storage.kind(),
            ),
        };
        let mut out = json!({
            "access_token": credential.access_token().secret(),
            "token_type": token_type,
            "expires_at": expires_at,
            "scopes": scopes,
            "source": source,
        });
        if let Some(key) = credential.sender() {
            out["dpop_jkt"] = key.thumbprint().into();
        }
        if let Some(proof) = &proof {
            out["dpop_proof"] = proof.as_str().into();
        }
        return ui.data_json(&out);
    }
    if let Some(proof) = proof {
        return ui.data(&proof);
    }
    if credential.sender().is_some() {
        ui.note("this token is DPoP-bound: send it as `Authorization: DPoP …` with a proof from `bank token --dpop-proof --method M --url URL` (see `bank token --help`)");
    }
    ui.data(credential.access_token().secret())
}

/// A proof by the token's key for one `method url` request, carrying the token's hash.
fn proof_for(
    credential: &Credential,
    method: &str,
    url: &str,
    nonce: Option<&str>,
) -> Result<String, CliError> {
    let Some(key) = credential.sender() else {
        return Err(
            CliError::usage("this token is a bearer token: requests need no DPoP proof")
                .hint("send it as `Authorization: Bearer $(bank token)`"),
        );
    };
    // RFC 9110 §9.1: a method is a token of visible characters; proofs name it as sent.
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CliError::usage(format!(
            "`{}` is not an HTTP method (GET, POST, …)",
            bank_protocol::text::escape_hidden(method, &[])
        )));
    }
    let target =
        bank_protocol::https::check_str(url).map_err(|e| CliError::usage(format!("--url: {e}")))?;
    Ok(key.proof(
        method,
        &target,
        Some(credential.access_token().secret()),
        nonce,
    ))
}
