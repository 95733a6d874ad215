//! `bank logout`: revoke the refresh token and forget the cached tokens.

use serde_json::json;

use crate::client::SessionError;
use crate::context::Ctx;
use crate::error::CliError;
use crate::oauth;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank logout
  bank --profile work logout";

/// Sign out: revoke the refresh token and delete the stored tokens
///
/// The refresh token is revoked at the provider's revocation endpoint (RFC 7009) when it
/// advertises one; the stored entries are deleted from the keyring and the token file either
/// way, readable or not (damaged credentials included). Logging out when not logged in is not
/// an error.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct LogoutArgs {}

pub async fn cmd_logout(ui: &Ui, ctx: &Ctx, _args: LogoutArgs) -> Result<(), CliError> {
    let session = &ctx.session;
    let profile = &session.profile;
    // Whatever is stored goes, readable or not: a damaged entry is exactly what logout is
    // for, and refusing it would leave nothing that removes it.
    let (stored, damaged) = match session.stored() {
        Ok(stored) => (stored, None),
        Err(SessionError::Store(e)) if e.is_damaged() => (None, Some(e)),
        Err(e) => return Err(e.into()),
    };
    let mut revoked = false;
    if let Some((bundle, _)) = &stored
        && let Some(refresh_token) = &bundle.refresh_token
    {
        // Revocation is best effort: an unreachable provider must not keep the tokens on
        // this machine, which is what the person asked to end.
        match session.metadata().await {
            Ok(metadata) => {
                match oauth::revoke(&session.http, profile, &metadata, refresh_token).await {
                    Ok(true) => revoked = true,
                    Ok(false) => ui.debug("the provider has no revocation endpoint"),
                    Err(e) => ui.warn(&format!("could not revoke the refresh token: {e}")),
                }
            }
            Err(e) => ui.warn(&format!("could not revoke the refresh token: {e}")),
        }
    }
    let deleted = session.store.delete(&session.key())?;
    if ui.json() {
        ui.data_json(&json!({
            "profile": profile.name,
            "issuer": profile.issuer,
            "logged_out": stored.is_some() || damaged.is_some(),
            "damaged": damaged.is_some(),
            "revoked": revoked,
            "deleted_from": deleted.iter().map(|s| s.kind()).collect::<Vec<_>>(),
        }))?;
    }
    match (stored, damaged) {
        (Some((bundle, _)), _) => {
            let user = bundle.username.unwrap_or_else(|| "an unknown user".into());
            let note = if revoked {
                " (refresh token revoked)"
            } else {
                ""
            };
            ui.success(&format!("Logged out of {} as {user}{note}", profile.issuer));
        }
        (None, Some(damaged)) => ui.success(&format!(
            "Deleted the damaged credentials for {} ({damaged}); nothing could be revoked",
            profile.issuer
        )),
        (None, None) => ui.status(&format!(
            "Not logged in to {}; nothing to do",
            profile.issuer
        )),
    }
    Ok(())
}
