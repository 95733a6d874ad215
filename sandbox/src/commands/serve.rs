//! `bank-sandbox serve` (also the default with no command): the library's one
//! implementation of serving, which `bank sandbox` uses too.

use bank_sandbox::serve::{self, CommonArgs, ServeArgs};

pub async fn cmd_serve(common: &CommonArgs, args: ServeArgs) -> anyhow::Result<()> {
    Ok(serve::run(common, args, false).await?)
}
