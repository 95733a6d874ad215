//! `bank token`: print the current access token for scripts (like `gh auth token`).

use serde_json::json;

use crate::client::Credential;
use crate::context::Ctx;
use crate::error::CliError;
use crate::time_text::rfc3339;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  curl -H \"Authorization: Bearer $(bank token)\" http://127.0.0.1:8401/v1/balance
  bank token --json | jq -r .expires_at";

/// Print the current access token on stdout
///
/// For scripts. The token is refreshed first if it has expired. This is the only command
/// that ever prints a secret; treat its output like a password.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct TokenArgs {}

pub async fn cmd_token(ui: &Ui, ctx: &Ctx, _args: TokenArgs) -> Result<(), CliError> {
    let credential = ctx.session.credential(&ctx.ui).await?;
    if ui.json() {
        let (expires_at, scopes, source) = match &credential {
            Credential::Env(_) => (None, None, "env"),
            // The session only ever hands out the environment's token or the stored one.
            Credential::StepUp(_) | Credential::Fixed(_) => (None, None, "given"),
            Credential::Stored { bundle, storage } => (
                bundle.expires_at.and_then(rfc3339),
                Some(bundle.scopes.clone()),
                storage.kind(),
            ),
        };
        return ui.data_json(&json!({
            "access_token": credential.access_token().secret(),
            "expires_at": expires_at,
            "scopes": scopes,
            "source": source,
        }));
    }
    ui.data(credential.access_token().secret())
}
