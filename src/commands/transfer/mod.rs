//! `bank transfer`: move money, with step-up authentication when the bank asks for it.
//!
//! This file owns the person-facing side: local validation of what was typed with the wire
//! contract's own rules (so a typo never reaches the bank), the confirmation, the
//! per-transfer `Idempotency-Key`, and the words and exit codes of every outcome. The
//! protocol work — the request, the step-up challenge and the one retry — is the bank
//! client's (`client::step_up`), which `bank demo` drives the same way. A batch
//! (`--batch FILE`) is `batch.rs`: the same flow, for a whole file approved once.

pub mod batch;

use std::time::Duration;

use bank_protocol::scopes::TRANSFER_FUNDS;
use bank_protocol::{DEFAULT_TRANSFER_LIMIT_MINOR, IdempotencyKey, TransferOrder, group_thousands};

use crate::batch_file::Format;
use crate::challenge::describe_requirement;
use crate::client::step_up::StepUpOptions;
use crate::client::{ApiError, BankClient, ClientError, StepUpError, TransferDone};
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind, not_possible_hint, not_possible_kind};
use crate::oauth::{Browser, OAuthError};
use crate::time_text::parse_duration;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank transfer --to bob --amount 25.00
  bank transfer --to bob --amount 5 --memo \"lunch\" --yes
  bank transfer --to bob --amount 5 --yes --json | jq -r .id
  bank transfer --to bob --amount 5 --yes --idempotency-key 3f1c…   # retry safely
  bank transfer --batch payroll.csv                   # many payments, one approval
  printf 'to,amount\nbob,5\ncarol,7.50\n' | bank transfer --batch - --yes

Batch files: CSV with a header line naming the columns (to, amount, and optionally memo
and currency, in any order; quote a field with commas or quotes in it, RFC 4180), or JSON
Lines, one object per line ({\"to\":\"bob\",\"amount\":\"25.00\",\"memo\":\"lunch\"}). Every line
is checked first and every bad one named (line and column); nothing is sent unless all are
good. At most 1,000 payments; one idempotency key for the whole batch, all or nothing.

Step-up: the everyday token from `bank login` cannot move money. When the bank answers
that a stronger token is needed, bank opens the browser again asking for `transfer:funds`
(and any authentication strength or age the bank named); approve the request on your
authenticator, and the transfer is retried once with that single-use token, which is never
stored. `--no-input` forbids questions, not the browser: with --yes the step-up still runs
when a browser can be opened (BANK_BROWSER, BROWSER or a desktop session), and fails
naming the missing scope otherwise. With BANK_TOKEN set, bank never steps up: the token
must already allow the transfer.";

/// Transfer money to another account, or pay a whole file of transfers at once
///
/// Validates the amount locally (digits with at most two decimals, more than zero, at most
/// 10,000.00), asks for confirmation unless --yes, and sends the transfer with the everyday
/// token. If the bank requires step-up authentication, bank authorizes again in the browser
/// with multi-factor approval and retries once with the same idempotency key, so the
/// transfer can never happen twice. If the connection fails after the request was sent,
/// the key is printed: rerun with `--idempotency-key KEY` to finish safely.
///
/// With `--batch FILE`, every line of the file is checked first, the batch is confirmed by
/// its count, totals, payees and reference, and it is paid all or nothing with one approval
/// and one idempotency key.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct TransferArgs {
    /// Recipient's account handle (e.g. bob)
    #[arg(long, value_name = "HANDLE", required_unless_present = "batch")]
    pub to: Option<String>,

    /// Amount, e.g. 25 or 25.00 (at most two decimals)
    #[arg(
        long,
        value_name = "AMOUNT",
        allow_hyphen_values = true,
        required_unless_present = "batch"
    )]
    pub amount: Option<String>,

    /// Currency (ISO 4217), for a batch of the lines that name none; the bank refuses one that is not the account's
    #[arg(long, value_name = "CODE", default_value = "USD")]
    pub currency: String,

    /// A note for the recipient (at most 140 characters)
    #[arg(long, value_name = "TEXT")]
    pub memo: Option<String>,

    /// Pay every line of a CSV or JSON Lines file (`-`: stdin) as one batch, approved once
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["to", "amount", "memo"],
        value_hint = clap::ValueHint::FilePath
    )]
    pub batch: Option<String>,

    /// The batch file's format (default: JSON Lines when a line starts with `{`, else CSV)
    #[arg(long, value_enum, value_name = "FORMAT", requires = "batch")]
    pub format: Option<Format>,

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
    IdempotencyKey::parse(text).map_err(|e| e.to_string())
}

pub async fn cmd_transfer(ui: &Ui, ctx: &Ctx, args: TransferArgs) -> Result<(), CliError> {
    if let Some(path) = &args.batch {
        return batch::cmd_batch(ui, ctx, &args, path).await;
    }
    // Everything the person typed is checked before anything is sent (exit 2).
    let order = TransferOrder::new(
        args.to.as_deref().unwrap_or_default(),
        args.amount.as_deref().unwrap_or_default().trim(),
        &args.currency,
        args.memo.as_deref(),
        DEFAULT_TRANSFER_LIMIT_MINOR,
    )
    .map_err(|e| CliError::usage(e.to_string()))?;
    let what = format!(
        "{} {} to {}",
        group_thousands(&order.amount.to_string()),
        order.currency,
        order.to
    );
    if !args.yes {
        can_confirm(ui, ctx, &format!("transfer {what}"))?;
        if !confirm(&format!("Transfer {what}?"))? {
            return Err(CliError::new(
                ErrorKind::Denied,
                "transfer cancelled; nothing was sent",
            ));
        }
    }

    let (key, key_is_new) = run_key(&args);
    let client = step_up_client(ui, ctx, &args).await;
    let profile = &ctx.session.profile.name;
    let done = client
        .transfer(&order, &key)
        .await
        .map_err(|e| failure(e, "Transfer", |e| api_failure(e, profile, &order, &key)))?;
    report_success(ui, done, &key, key_is_new)
}

/// Whether a confirmation can be asked for `what`: a cheap local check first, so nobody
/// confirms a payment that cannot start, and a script without a login learns that (exit 3)
/// rather than how to confirm.
fn can_confirm(ui: &Ui, ctx: &Ctx, what: &str) -> Result<(), CliError> {
    let session = &ctx.session;
    if session.env_token.is_none() && session.stored()?.is_none() {
        return Err(session.not_logged_in().into());
    }
    if !ui.can_prompt() {
        return Err(
            CliError::usage(format!("refusing to {what} without confirmation"))
                .hint("pass --yes to confirm non-interactively"),
        );
    }
    Ok(())
}

/// The client that steps up when the bank asks, reaching the person as `args` say.
async fn step_up_client<'a>(ui: &'a Ui, ctx: &'a Ctx, args: &TransferArgs) -> BankClient<'a> {
    let browser = Browser::from_env(args.no_browser);
    let nobody_to_open = !args.no_browser
        && !ui.person_present()
        && !browser.can_open()
        && !offers_device_flow(ctx).await;
    ctx.client_with_step_up(StepUpOptions {
        person: ui,
        browser,
        timeout: args.timeout,
        // Nobody at a terminal and no browser to open is like --no-input: no one would open
        // the URL. `--no-browser` asked to print it and wait, so it does; a device flow's
        // codes can be entered anywhere.
        no_input: ui.no_input() || nobody_to_open,
    })
}

/// Whether a step-up could go to another device (RFC 8628). Asked only when no browser and
/// no terminal are there; a provider that cannot be asked is taken as offering it, so the
/// step-up itself reports what is wrong.
async fn offers_device_flow(ctx: &Ctx) -> bool {
    ctx.session
        .metadata()
        .await
        .map_or(true, |m| m.device_authorization_endpoint.is_some())
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

/// This run's `Idempotency-Key`: the one given (a retry, which an earlier run may have
/// used), or a new one that nothing else can have used.
pub(super) fn run_key(args: &TransferArgs) -> (IdempotencyKey, bool) {
    match &args.idempotency_key {
        Some(key) => (key.clone(), false),
        None => (IdempotencyKey::generate(), true),
    }
}

/// How a successful answer is told, for one transfer or a batch.
pub(super) struct Told {
    pub resent: &'static str,
    pub made: &'static str,
    pub already: &'static str,
}

/// Says what an answer (`replayed`, `recovered`) means for this run and returns whether the
/// money moved now. A replay after a lost answer is this very run's when the key is this
/// run's own: nothing else can have used it. With a key given, an earlier run may have.
pub(super) fn tell_outcome(
    ui: &Ui,
    (replayed, recovered): (bool, bool),
    key: &IdempotencyKey,
    key_is_new: bool,
    told: &Told,
) -> bool {
    let moved_now = !replayed || (recovered && key_is_new);
    if recovered {
        ui.status(&format!(
            "The bank's answer to the resend arrived: {}.",
            told.resent
        ));
    }
    if replayed && !moved_now && recovered {
        ui.status(&format!(
            "{} with idempotency key {key}, by this run or an earlier one; the money moved once.",
            told.made
        ));
    } else if !moved_now {
        ui.status(&format!(
            "{} with idempotency key {key}; no money moved now.",
            told.already
        ));
    }
    moved_now
}

/// The API's object as it is; a replay says so, since the receipt alone cannot.
pub(super) fn flagged(
    mut raw: serde_json::Value,
    moved_now: bool,
    recovered: bool,
) -> serde_json::Value {
    if let Some(object) = raw.as_object_mut() {
        if !moved_now {
            object.insert("replayed".into(), true.into());
        }
        if recovered {
            object.insert("recovered".into(), true.into());
        }
    }
    raw
}

fn report_success(
    ui: &Ui,
    done: TransferDone,
    key: &IdempotencyKey,
    key_is_new: bool,
) -> Result<(), CliError> {
    let moved_now = tell_outcome(
        ui,
        (done.replayed, done.recovered),
        key,
        key_is_new,
        &Told {
            resent: "the transfer was made once, and this is its receipt",
            made: "This transfer was made",
            already: "This transfer was already made",
        },
    );
    let earlier_or_now = done.replayed && !moved_now && done.recovered;
    if ui.json() {
        return ui.data_json(&flagged(done.raw, moved_now, done.recovered));
    }
    let receipt = done.receipt;
    let amount = format!(
        "{} {} to {}",
        group_thousands(&receipt.amount),
        receipt.currency,
        receipt.to
    );
    // Stdout is what a script keeps: a replay must not read as money moved now.
    if earlier_or_now {
        ui.data(&format!(
            "Done once, by this run or an earlier one: {amount}, transfer {}.",
            receipt.id
        ))?;
        return ui.data(&format!("Transfer id: {}", receipt.id));
    }
    if !moved_now {
        ui.data(&format!(
            "Already done earlier: no money moved now ({amount}, transfer {}).",
            receipt.id
        ))?;
        return ui.data(&format!("Transfer id: {}", receipt.id));
    }
    ui.data(&format!(
        "Transferred {amount}. New balance: {} {}.",
        group_thousands(&receipt.balance_after),
        receipt.currency
    ))?;
    ui.data(&format!("Transfer id: {}", receipt.id))
}

/// Words and exit codes for every way a transfer (`what`: "Transfer") or a batch can fail;
/// `api` words the API's own refusal or failure.
fn failure(e: ClientError, what: &str, api: impl FnOnce(ApiError) -> CliError) -> CliError {
    let not_authorized =
        |kind, msg: String| CliError::new(kind, format!("{what} not authorized: {msg}"));
    let denied = |msg: String| not_authorized(ErrorKind::Denied, msg);
    let needs = |challenge| describe_requirement(challenge, Some(TRANSFER_FUNDS));
    match e {
        ClientError::Session(e) => e.into(),
        ClientError::StepUp(StepUpError::NotPossible { challenge, reason }) => not_authorized(
            not_possible_kind(reason),
            format!("the bank requires {}", needs(&challenge)),
        )
        .hint(not_possible_hint(reason)),
        ClientError::StepUp(StepUpError::Authorization(e)) => match e {
            OAuthError::Denied { .. } => denied("the request was denied".into())
                .with_source(e)
                .hint("if you meant to allow it, run the transfer again and approve the request on your authenticator before it expires"),
            OAuthError::Timeout(_) => denied("timed out waiting for the step-up approval".into())
                .with_source(e)
                .hint("run the transfer again and approve sooner, or pass a longer `--timeout`"),
            OAuthError::Authorization { ref error, .. } if error == "temporarily_unavailable" => {
                CliError::from(e)
            }
            OAuthError::Authorization { .. } => {
                denied("the authorization server refused the step-up".into()).with_source(e)
            }
            OAuthError::Interrupted => CliError::interrupted(),
            other => CliError::from(other),
        },
        ClientError::StepUp(e) => e.into(),
        // The provider issued a token and the bank API's own policy refused it: its words say
        // why, and the fix is the bank's or the provider's, not the person's.
        ClientError::AfterStepUp(ApiError::StepUpRequired(challenge)) => denied(format!(
            "the provider issued a new token, but the bank API's policy refused it: it requires {}{}",
            needs(&challenge),
            challenge
                .description
                .as_deref()
                .map(|d| format!(" ({})", bank_protocol::text::escape_hidden(d, &[])))
                .unwrap_or_default()
        ))
        .hint("nothing was moved; this is a setting of the bank API or of your provider, not something to approve again: the provider's tokens must show what the bank asks for, or the bank must trust the provider's MFA rule (see docs/PROVIDERS.md)"),
        ClientError::AfterStepUp(e @ ApiError::InvalidToken { .. }) => denied(
            "the provider issued a new token, but the bank API rejected it; nothing was moved"
                .into(),
        )
        .with_source(e),
        ClientError::Api(e) | ClientError::AfterStepUp(e) => api(e),
    }
}

/// The API's own refusal or failure of the transfer.
fn api_failure(
    e: ApiError,
    profile: &str,
    order: &TransferOrder,
    key: &IdempotencyKey,
) -> CliError {
    match e {
        ApiError::BadRequest { problem } => {
            let message = format!("transfer refused: {problem}");
            // The kind (bad input, or the bank's refusal) is the one place's decision.
            let mut out = CliError::from(ApiError::BadRequest { problem });
            out.message = message;
            out
        }
        ApiError::Server {
            retry_after: Some(_),
            ..
        } => CliError::from(e),
        e if e.may_have_reached_server() => {
            let retry = format!(
                "retry with the same idempotency key; the bank will not move the money twice:\n         {}",
                retry_command(profile, order, key)
            );
            match e {
                ApiError::Network { source, .. } => CliError::new(
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
    }
}

/// The command line that retries `request` with `key`, quoted for a POSIX shell. It names
/// the profile (an idempotency key means nothing at another bank or account) and confirms
/// with `--yes`: the person already confirmed this transfer once.
fn retry_command(profile: &str, order: &TransferOrder, key: &IdempotencyKey) -> String {
    let mut cmd = format!(
        "bank --profile {} transfer --yes --to {} --amount {} --idempotency-key {}",
        shell_quote(profile),
        shell_quote(&order.to),
        order.amount,
        shell_quote(key.as_str())
    );
    if order.currency != "USD" {
        cmd.push_str(&format!(" --currency {}", order.currency));
    }
    if let Some(memo) = &order.memo {
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

    const LIMIT: i64 = DEFAULT_TRANSFER_LIMIT_MINOR;

    #[test]
    fn retry_commands_are_shell_safe() {
        let key = IdempotencyKey::parse("k-1").expect("key");
        let order = TransferOrder::new("bob", "25", "EUR", Some("it's lunch"), LIMIT)
            .expect("valid request");
        assert_eq!(
            retry_command("default", &order, &key),
            r"bank --profile default transfer --yes --to bob --amount 25.00 --idempotency-key k-1 --currency EUR --memo 'it'\''s lunch'"
        );
        let key = IdempotencyKey::parse("a;rm").expect("key");
        let order = TransferOrder::new("bob", "1", "USD", None, LIMIT).expect("valid request");
        assert_eq!(
            retry_command("my work", &order, &key),
            "bank --profile 'my work' transfer --yes --to bob --amount 1.00 --idempotency-key 'a;rm'"
        );
    }
}
