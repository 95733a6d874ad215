//! `bank transfer`: move money, with step-up authentication when the bank asks for it.
//!
//! This file owns the person-facing side: local validation of what was typed (so a typo
//! never reaches the bank), the confirmation, the per-transfer `Idempotency-Key`, and the
//! words and exit codes of every outcome. The protocol work lives elsewhere — the request
//! and its answers in `api`, the challenge-and-retry in `stepup` — so that `bank demo` can
//! drive the same transfer without this command's prompts.

use std::time::Duration;

use serde_json::Value;

use crate::api::{ClientError, IdempotencyKey, TransferReceipt, TransferRequest, group_thousands};
use crate::commands::login::parse_duration;
use crate::error::{CliError, ErrorKind};
use crate::oauth::{Browser, OAuthError};
use crate::session::Ctx;
use crate::stepup::{self, Failure, NotPossible, StepUp};
use crate::ui::Ui;

/// The scope a transfer needs (DESIGN.md "Protocol contract").
const TRANSFER_SCOPE: &str = "transfer:funds";

const AFTER_HELP: &str = "\
Examples:
  bank transfer --to bob --amount 25.00
  bank transfer --to bob --amount 5 --memo \"lunch\" --yes
  bank transfer --to bob --amount 5 --yes --json | jq -r .id
  bank transfer --to bob --amount 5 --yes --idempotency-key 3f1c…   # retry safely

Step-up: the everyday token from `bank login` cannot move money. When the bank answers
that a stronger token is needed, bank opens the browser again asking for `transfer:funds`
(and any authentication strength or age the bank named); approve the request on your
authenticator, and the transfer is retried once with that single-use token, which is never
stored. `--no-input` forbids questions, not the browser: with --yes the step-up still runs
when a browser can be opened (BANK_BROWSER, BROWSER or a desktop session), and fails
naming the missing scope otherwise. With BANK_TOKEN set, bank never steps up: the token
must already allow the transfer.";

/// Transfer money to another account
///
/// Validates the amount locally (digits with at most two decimals, more than zero, at most
/// 10,000.00), asks for confirmation unless --yes, and sends the transfer with the everyday
/// token. If the bank requires step-up authentication, bank authorizes again in the browser
/// with multi-factor approval and retries once with the same idempotency key, so the
/// transfer can never happen twice. If the connection fails after the request was sent,
/// the key is printed: rerun with `--idempotency-key KEY` to finish safely.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct TransferArgs {
    /// Recipient's account handle (e.g. bob)
    #[arg(long, value_name = "HANDLE")]
    pub to: String,

    /// Amount, e.g. 25 or 25.00 (at most two decimals)
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub amount: String,

    /// Currency (ISO 4217); the bank refuses one that is not the account's
    #[arg(long, value_name = "CODE", default_value = "USD")]
    pub currency: String,

    /// A note for the recipient (at most 140 characters)
    #[arg(long, value_name = "TEXT")]
    pub memo: Option<String>,

    /// Do not ask for confirmation (required with --no-input or without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Reuse the key of an earlier attempt, so a retry cannot move money twice
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub idempotency_key: Option<IdempotencyKey>,

    /// For step-up: print the URL but do not open a browser
    #[arg(long)]
    pub no_browser: bool,

    /// For step-up: how long to wait for the approval (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
}

fn parse_key(text: &str) -> Result<IdempotencyKey, String> {
    IdempotencyKey::parse(text)
}

pub async fn cmd_transfer(ui: &Ui, ctx: &Ctx, args: TransferArgs) -> Result<(), CliError> {
    // Everything the person typed is checked before anything is sent (exit 2).
    let request =
        TransferRequest::new(&args.to, &args.amount, &args.currency, args.memo.as_deref())
            .map_err(|e| CliError::usage(e.to_string()))?;
    let what = format!(
        "{} {} to {}",
        group_thousands(&request.amount.to_string()),
        request.currency,
        request.to
    );
    if !args.yes {
        if !ui.can_prompt() {
            return Err(CliError::usage(format!(
                "refusing to transfer {what} without confirmation"
            ))
            .hint("pass --yes to confirm non-interactively"));
        }
        // Cheap local check first, so nobody confirms a transfer that cannot start.
        if ctx.env_token.is_none() && ctx.stored()?.is_none() {
            return Err(ctx.not_logged_in());
        }
        if !confirm(&format!("Transfer {what}?"))? {
            return Err(CliError::new(
                ErrorKind::General,
                "transfer cancelled; nothing was sent",
            ));
        }
    }

    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(IdempotencyKey::generate);
    ui.debug(&format!("Idempotency-Key: {key}"));
    let browser = Browser::from_env(args.no_browser);
    let step_up = StepUp {
        scope: TRANSFER_SCOPE,
        purpose: "transfer funds",
        browser: &browser,
        timeout: args.timeout,
    };
    let api = ctx.api();
    let outcome = stepup::call_with_step_up(ctx, &step_up, |token| {
        let api = api.clone();
        let request = request.clone();
        let key = key.clone();
        async move { api.create_transfer(&token, &request, &key).await }
    })
    .await
    .map_err(|f| failure(f, &request, &key))?;

    report_success(ui, &request, outcome.value, &key)
}

fn confirm(prompt: &str) -> Result<bool, CliError> {
    let term = dialoguer::console::Term::stderr();
    match dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact_on(&term)
    {
        Ok(answer) => Ok(answer),
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            Err(CliError::interrupted())
        }
        Err(e) => {
            Err(CliError::new(ErrorKind::General, "cannot ask for confirmation").with_source(e))
        }
    }
}

fn report_success(
    ui: &Ui,
    request: &TransferRequest,
    receipt: TransferReceipt,
    key: &IdempotencyKey,
) -> Result<(), CliError> {
    if receipt.replayed {
        ui.status(&format!(
            "This transfer was already made with idempotency key {key}; no money moved now."
        ));
    }
    if ui.json() {
        return ui.data_json(&receipt.body);
    }
    let field = |name: &str| receipt.body.get(name).and_then(Value::as_str);
    let amount = field("amount").map_or_else(|| request.amount.to_string(), str::to_owned);
    let currency = field("currency").unwrap_or(&request.currency);
    let to = field("to").unwrap_or(&request.to);
    let mut line = format!(
        "Transferred {} {currency} to {to}.",
        group_thousands(&amount)
    );
    if let Some(balance) = field("balance_after") {
        line.push_str(&format!(
            " New balance: {} {currency}.",
            group_thousands(balance)
        ));
    }
    ui.data(&line)?;
    if let Some(id) = field("id") {
        ui.data(&format!("Transfer id: {id}"))?;
    }
    Ok(())
}

/// Words and exit codes for every way a transfer can fail.
fn failure(f: Failure, request: &TransferRequest, key: &IdempotencyKey) -> CliError {
    let denied =
        |msg: String| CliError::new(ErrorKind::Denied, format!("Transfer not authorized: {msg}"));
    match f {
        Failure::Cli(e) => e,
        Failure::NotPossible { challenge, reason } => {
            let needs = stepup::describe_requirement(&challenge, TRANSFER_SCOPE);
            let err = denied(format!("the bank requires {needs}"));
            match reason {
                NotPossible::EnvToken => err.hint(format!(
                    "BANK_TOKEN is set, so bank does not step up; give it a token with `{TRANSFER_SCOPE}` and multi-factor authentication, or unset it to use `bank login`'s session"
                )),
                NotPossible::NoInputNoBrowser => err.hint(
                    "--no-input is set and no browser can be opened for the step-up; set BANK_BROWSER, or run without --no-input and open the printed URL",
                ),
            }
        }
        Failure::Authorization(e) => match e {
            OAuthError::Denied { .. } => denied("the request was denied".into())
                .with_source(e)
                .hint("if you meant to allow it, run the transfer again and approve the request on your authenticator before it expires"),
            OAuthError::Timeout(_) => denied("timed out waiting for the step-up approval".into())
                .with_source(e)
                .hint("run the transfer again and approve sooner, or pass a longer `--timeout`"),
            OAuthError::Authorization { .. } => denied("the authorization server refused the step-up".into()).with_source(e),
            OAuthError::Interrupted => CliError::interrupted(),
            other => CliError::from(other),
        },
        Failure::Api { error, stepped_up } => match error {
            ClientError::StepUpRequired(challenge) => {
                // Only reachable after a step-up: the retry is never repeated.
                let needs = stepup::describe_requirement(&challenge, TRANSFER_SCOPE);
                denied(format!("the bank still requires {needs} after step-up"))
                    .hint("the authorization server did not grant what the bank asks for; check the profile's provider settings")
            }
            ClientError::InvalidToken { .. } if stepped_up => {
                denied("the bank rejected the step-up token".into()).with_source(error)
            }
            ClientError::BadRequest { ref problem } => {
                CliError::usage(format!("transfer refused: {problem}"))
            }
            e if e.may_have_reached_server() => {
                let retry = format!(
                    "retry with the same idempotency key; the bank will not move the money twice:\n         {}",
                    retry_command(request, key)
                );
                match e {
                    ClientError::Network { source, .. } => CliError::new(
                        ErrorKind::Network,
                        "the connection to the bank API broke after the transfer was sent: the transfer may have been made",
                    )
                    .with_source(source),
                    other => CliError::new(
                        ErrorKind::Network,
                        format!("{other}: the transfer may have been made"),
                    ),
                }
                .hint(retry)
            }
            e => CliError::from(e),
        },
    }
}

/// The command line that retries `request` with `key`, quoted for a POSIX shell.
fn retry_command(request: &TransferRequest, key: &IdempotencyKey) -> String {
    let mut cmd = format!(
        "bank transfer --to {} --amount {} --idempotency-key {}",
        shell_quote(&request.to),
        request.amount,
        shell_quote(key.as_str())
    );
    if request.currency != "USD" {
        cmd.push_str(&format!(" --currency {}", request.currency));
    }
    if let Some(memo) = &request.memo {
        cmd.push_str(&format!(" --memo {}", shell_quote(memo)));
    }
    cmd
}

fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@+/=".contains(&b))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_commands_are_shell_safe() {
        let key = IdempotencyKey::parse("k-1").expect("key");
        let request =
            TransferRequest::new("bob", "25", "EUR", Some("it's lunch")).expect("valid request");
        assert_eq!(
            retry_command(&request, &key),
            r"bank transfer --to bob --amount 25.00 --idempotency-key k-1 --currency EUR --memo 'it'\''s lunch'"
        );
        let key = IdempotencyKey::parse("a;rm").expect("key");
        let request = TransferRequest::new("bob", "1", "USD", None).expect("valid request");
        assert_eq!(
            retry_command(&request, &key),
            "bank transfer --to bob --amount 1.00 --idempotency-key 'a;rm'"
        );
    }
}
