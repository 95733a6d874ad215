//! `bank balance`: the account balance.

use crate::api::group_thousands;
use crate::error::CliError;
use crate::session::Ctx;
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
    let api = ctx.api();
    let balance = ctx
        .call_api(|token| {
            let api = api.clone();
            async move { api.balance(&token).await }
        })
        .await?;
    if ui.json() {
        return ui.data_json(&balance);
    }
    let amount = balance
        .get("balance")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let currency = balance
        .get("currency")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    ui.data(format!("Balance: {} {currency}", group_thousands(amount)).trim_end())
}
