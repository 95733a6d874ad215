//! `bank transfer --batch FILE`: every line of a file paid as one batch, approved once.
//!
//! The file is read and checked whole before anything is sent (`crate::batch_file`); the
//! person confirms the count, the totals, the payees and the batch's reference — the same
//! reference the approval page shows — and the batch goes to `POST /v1/transfer-batches`
//! under one `Idempotency-Key`. The bank checks the whole batch (payees, funds for the
//! total) before it asks for a step-up, and the step-up binds exactly this batch
//! (`client::step_up::approval_for`). What the bank refuses by payment is shown by the
//! file's lines.

use bank_protocol::{
    BatchOrder, DEFAULT_MAX_BATCH_PAYMENTS, DEFAULT_TRANSFER_LIMIT_MINOR, IdempotencyKey,
    NoBatchApproval, Problem, group_thousands,
};

use super::{TransferArgs, can_confirm, confirm, failure, shell_quote, step_up_client};
use crate::batch_file::{self, BatchFile, BatchFileError, Format, PROBLEMS_SHOWN, Rules};
use crate::client::{ApiError, BatchDone};
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind, bank};
use crate::ui::Ui;

/// Payments listed in the terminal before the confirmation; the rest are counted.
const LISTED: usize = 10;

pub async fn cmd_batch(
    ui: &Ui,
    ctx: &Ctx,
    args: &TransferArgs,
    path: &str,
) -> Result<(), CliError> {
    let rules = Rules {
        default_currency: &args.currency,
        limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR,
        max_payments: DEFAULT_MAX_BATCH_PAYMENTS,
    };
    if path == "-" && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        ui.status("Reading the batch from the terminal: type or paste it, then Ctrl-D.");
    }
    // The whole file is checked before anything is sent (exit 2).
    let bytes = batch_file::read(path, rules.max_payments).map_err(file_error)?;
    let file = batch_file::parse(&bytes, args.format, &rules).map_err(file_error)?;
    let batch = &file.batch;
    if !args.yes {
        let summary = batch.summary();
        let what = summary.strip_prefix("Pay ").unwrap_or(&summary);
        can_confirm(ui, ctx, &format!("pay {what}"))?;
        ui.status(&describe(batch, LISTED));
        if !confirm("Pay this batch?")? {
            return Err(CliError::new(
                ErrorKind::Denied,
                "batch cancelled; nothing was sent",
            ));
        }
    }
    let (key, key_is_new) = super::run_key(args);
    let client = step_up_client(ui, ctx, args).await;
    let retry = Retry {
        profile: &ctx.session.profile.name,
        path,
        currency: &args.currency,
        format: args.format,
        key: &key,
    };
    let done = client
        .transfer_batch(batch, &key)
        .await
        .map_err(|e| failure(e, "Batch", |e| api_failure(e, &file, &retry)))?;
    report(ui, done, &key, key_is_new)
}

/// A batch file that cannot be sent is bad input (exit 2).
fn file_error(e: BatchFileError) -> CliError {
    let hint = match &e {
        BatchFileError::Invalid(invalid) if invalid.header => Some(
            "a CSV batch starts with a header line such as `to,amount,memo`; a JSON Lines batch has one object per line",
        ),
        BatchFileError::Invalid(invalid) if invalid.count > invalid.max => {
            Some("split the file into several batches")
        }
        BatchFileError::Empty => Some(
            "a CSV batch has a header line and one line per payment: `to,amount` then `bob,25.00`",
        ),
        _ => None,
    };
    let message = e.to_string();
    let out = match e {
        BatchFileError::Read { source, .. } => CliError::usage(message).with_source(source),
        _ => CliError::usage(message),
    };
    match hint {
        Some(hint) => out.hint(hint),
        None => out,
    }
}

/// What the person confirms: the summary and reference, then the payments (the first
/// `listed` of them).
pub fn describe(batch: &BatchOrder, listed: usize) -> String {
    let mut text = format!("{} (reference {}):", batch.summary(), batch.reference());
    let orders = batch.orders();
    let width = orders
        .iter()
        .take(listed)
        .map(|o| o.to.chars().count())
        .max()
        .unwrap_or(0);
    let amounts: Vec<String> = orders
        .iter()
        .take(listed)
        .map(|o| format!("{} {}", group_thousands(&o.amount.to_string()), o.currency))
        .collect();
    let amount_width = amounts.iter().map(String::len).max().unwrap_or(0);
    for (order, amount) in orders.iter().zip(&amounts) {
        let line = format!(
            "\n  {:<width$}  {amount:>amount_width$}  {}",
            order.to,
            order.memo.as_deref().unwrap_or_default()
        );
        text.push_str(line.trim_end());
    }
    if orders.len() > listed {
        text.push_str(&format!("\n  … and {} more", orders.len() - listed));
    }
    text
}

/// The command that retries this batch under its key.
struct Retry<'a> {
    profile: &'a str,
    path: &'a str,
    currency: &'a str,
    format: Option<Format>,
    key: &'a IdempotencyKey,
}

impl Retry<'_> {
    fn command(&self) -> String {
        let mut cmd = format!(
            "bank --profile {} transfer --yes --batch {} --idempotency-key {}",
            shell_quote(self.profile),
            shell_quote(self.path),
            shell_quote(self.key.as_str())
        );
        if self.currency != "USD" {
            cmd.push_str(&format!(" --currency {}", shell_quote(self.currency)));
        }
        match self.format {
            Some(Format::Csv) => cmd.push_str(" --format csv"),
            Some(Format::Jsonl) => cmd.push_str(" --format jsonl"),
            None => {}
        }
        if self.path == "-" {
            cmd.push_str("   # with the same file on stdin");
        }
        cmd
    }
}

/// The API's own refusal or failure of the batch; payments it names are shown by the
/// file's lines.
fn api_failure(e: ApiError, file: &BatchFile, retry: &Retry<'_>) -> CliError {
    match e {
        ApiError::BadRequest { problem } => {
            // Payments named: the file's lines say it all, the bank's "payment 3" would not.
            let mut message = match problem.payments.is_empty() {
                true => format!("the bank refused the batch: {problem}"),
                false => {
                    let head = Problem {
                        detail: None,
                        payments: Vec::new(),
                        ..problem.clone()
                    };
                    format!("the bank refused the batch: {head}; no money moved:")
                }
            };
            for payment in problem.payments.iter().take(PROBLEMS_SHOWN) {
                let detail = bank_protocol::text::escape_hidden(&payment.detail, &[]);
                match file.line_of(payment.index) {
                    Some(line) => message.push_str(&format!("\n  line {line}: {detail}")),
                    None => message.push_str(&format!("\n  payment {}: {detail}", payment.index)),
                }
            }
            if problem.payments.len() > PROBLEMS_SHOWN {
                let more = problem.payments.len() - PROBLEMS_SHOWN;
                message.push_str(&format!("\n  … and {more} more"));
            }
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
            let hint = format!(
                "retry with the same idempotency key; the bank will not pay the batch twice:\n         {}",
                retry.command()
            );
            match e {
                ApiError::Network { source, .. } => CliError::new(
                    ErrorKind::Network,
                    "the connection to the bank API broke after the batch was sent: the batch may have been paid",
                )
                .with_source(source),
                other => CliError::new(
                    ErrorKind::Network,
                    format!("{other}: the batch may have been paid"),
                ),
            }
            .hint(hint)
        }
        e => CliError::from(e),
    }
}

/// How to get past a provider that cannot approve this batch.
pub fn no_approval_hint(e: &NoBatchApproval) -> String {
    match e {
        NoBatchApproval::TooManyForProvider { max_inline, .. } => format!(
            "split the file into batches of at most {max_inline} payments; if the provider approves more payments listed one by one, raise the limit: `{}`",
            bank("config set max_inline_payments N")
        ),
        NoBatchApproval::NoPaymentDetails => {
            "send the payments one by one (`bank transfer --to … --amount …`), or use a provider that binds approvals to payments (RFC 9396 authorization_details)".into()
        }
    }
}

fn report(
    ui: &Ui,
    done: BatchDone,
    key: &IdempotencyKey,
    key_is_new: bool,
) -> Result<(), CliError> {
    let moved_now = super::tell_outcome(
        ui,
        (done.replayed, done.recovered),
        key,
        key_is_new,
        &super::Told {
            resent: "the batch was paid once, and these are its receipts",
            made: "This batch was paid",
            already: "This batch was already paid",
        },
    );
    let earlier_or_now = done.replayed && !moved_now && done.recovered;
    if ui.json() {
        return ui.data_json(&super::flagged(done.raw, moved_now, done.recovered));
    }
    let receipt = done.receipt;
    let payees = receipt
        .transfers
        .iter()
        .map(|t| t.to.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let summary = bank_protocol::batch::summary(receipt.count, &receipt.totals, Some(payees));
    let paid = summary.strip_prefix("Pay ").unwrap_or(&summary);
    let currency = receipt
        .transfers
        .first()
        .map(|t| t.currency.as_str())
        .unwrap_or_default();
    let first = if earlier_or_now {
        format!("Done once, by this run or an earlier one: {paid}.")
    } else if !moved_now {
        format!("Already done earlier: no money moved now ({paid}).")
    } else {
        format!("Paid {paid}.")
    };
    ui.data(&first)?;
    ui.data(&format!(
        "Reference: {} (batch {})",
        receipt.reference, receipt.id
    ))?;
    // A replay's balance is the one right after that batch, not today's.
    let balance = if moved_now {
        "New balance"
    } else {
        "Balance after it"
    };
    ui.data(&format!(
        "{balance}: {} {currency}.",
        group_thousands(&receipt.balance_after)
    ))
}

#[cfg(test)]
mod tests;
