//! `bank history`: recent transfers, newest first.

use bank_protocol::{TransferView, group_thousands};

use crate::context::Ctx;
use crate::error::CliError;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank history
  bank history --limit 5
  bank history --json | jq -r '.[].id'";

/// Show recent transfers, newest first
///
/// A table of date (in the local time zone, named in the header), counterparty, amount (negative = money sent), memo and id, and
/// the batch a transfer was paid in, if any. `--json` prints the API's array of transfers
/// unchanged (a transfer of a batch has its `batch` id).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct HistoryArgs {
    /// How many transfers to show (1-100)
    #[arg(long, short = 'n', default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
}

pub async fn cmd_history(ui: &Ui, ctx: &Ctx, args: HistoryArgs) -> Result<(), CliError> {
    let history = ctx.client().history(Some(args.limit)).await?;
    if ui.json() {
        return ui.data_json(&history.raw["transfers"]);
    }
    let list = history.value;
    if list.transfers.is_empty() {
        ui.status("No transfers yet.");
        return Ok(());
    }
    for line in table(&list.account, &list.transfers) {
        ui.data(&line)?;
    }
    Ok(())
}

/// Renders aligned columns; amounts are right-aligned and signed from `account`'s view. A
/// BATCH column (the `bt_…` id a transfer was paid in) appears when any transfer has one.
fn table(account: &str, transfers: &[TransferView]) -> Vec<String> {
    let batches = transfers.iter().any(|t| t.batch.is_some());
    // The zone is named once, in the header, so that a row fits 80 columns.
    let mut header = vec![
        format!("DATE ({})", crate::time_text::zone_name()),
        "COUNTERPARTY".to_owned(),
        "AMOUNT".to_owned(),
        "MEMO".to_owned(),
        "ID".to_owned(),
    ];
    if batches {
        header.push("BATCH".to_owned());
    }
    let mut rows = vec![header];
    for t in transfers {
        let (party, sign) = if t.from == account {
            (format!("to {}", t.to), "-")
        } else {
            (format!("from {}", t.from), "+")
        };
        let date = crate::time_text::local_minute_unnamed(&t.created_at);
        let mut row = vec![
            date,
            party,
            format!("{sign}{} {}", group_thousands(&t.amount), t.currency),
            t.memo.clone().unwrap_or_default(),
            t.id.clone(),
        ];
        if batches {
            row.push(t.batch.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    let mut widths = vec![0usize; rows[0].len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, (cell, w)) in r.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                // The amount is right-aligned; the last column needs no padding.
                match i {
                    2 => line.push_str(&format!("{cell:>w$}")),
                    _ if i + 1 == r.len() => line.push_str(cell),
                    _ => line.push_str(&format!("{cell:<w$}")),
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(value: serde_json::Value) -> TransferView {
        serde_json::from_value(value).expect("a transfer")
    }

    #[test]
    fn table_signs_amounts_from_the_accounts_view() {
        let rows = table(
            "alice",
            &[
                view(
                    json!({"id":"tr_2","from":"bob","to":"alice","amount":"1250.00","currency":"USD","created_at":"2026-11-28T10:05:00Z"}),
                ),
                view(
                    json!({"id":"tr_1","from":"alice","to":"bob","amount":"25.00","currency":"USD","memo":"lunch","created_at":"2026-11-28T10:00:00Z"}),
                ),
            ],
        );
        assert_eq!(
            rows,
            [
                "DATE (UTC)        COUNTERPARTY         AMOUNT  MEMO   ID",
                "2026-11-28 10:05  from bob      +1,250.00 USD         tr_2",
                "2026-11-28 10:00  to bob           -25.00 USD  lunch  tr_1",
            ]
        );
    }

    #[test]
    fn transfers_of_a_batch_name_it() {
        let rows = table(
            "alice",
            &[
                view(
                    json!({"id":"tr_2","from":"alice","to":"carol","amount":"7.50","currency":"USD","created_at":"2026-11-28T10:05:00Z","batch":"bt_1"}),
                ),
                view(
                    json!({"id":"tr_1","from":"alice","to":"bob","amount":"25.00","currency":"USD","memo":"lunch","created_at":"2026-11-28T10:00:00Z"}),
                ),
            ],
        );
        assert_eq!(
            rows,
            [
                "DATE (UTC)        COUNTERPARTY      AMOUNT  MEMO   ID    BATCH",
                "2026-11-28 10:05  to carol       -7.50 USD         tr_2  bt_1",
                "2026-11-28 10:00  to bob        -25.00 USD  lunch  tr_1",
            ]
        );
    }
}
