//! `bank balance`: the account balance.

use bank_protocol::group_thousands;

use crate::context::Ctx;
use crate::error::CliError;
use crate::ui::Ui;

const AFTER_HELP: &str = "\
Examples:
  bank balance                          # Balance: 1,000.00 USD
  bank balance --json | jq -r .balance  # 1000.00";

/// Show the account balance
///
/// Uses the everyday token (`view:balance`), refreshing it silently when it has expired.
/// `--json` prints the API's object unchanged.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct BalanceArgs {}

pub async fn cmd_balance(ui: &Ui, ctx: &Ctx, _args: BalanceArgs) -> Result<(), CliError> {
    let balance = ctx.client().balance().await?;
    if ui.json() {
        return ui.data_json(&balance.raw);
    }
    let balance = balance.value;
    ui.data(&format!(
        "Balance: {} {}",
        group_thousands(&balance.balance),
        balance.currency
    ))
}
