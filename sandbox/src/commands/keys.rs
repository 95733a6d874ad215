//! `bank-sandbox keys`: token signing keys.

use bank_sandbox::authz;
use bank_sandbox::serve::CommonArgs;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; the old public key stays published until its tokens expire.
    Rotate,
}

pub fn cmd_keys(common: &CommonArgs, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let (_, store) = super::open_authz(common)?;
            let kid = authz::keys::add_new_key(&store, super::now())?;
            // A running server reads keys from the database, so it signs with the new key at once.
            println!("{kid}");
            eprintln!(
                "New signing key {kid}; the previous key stays in the JWKS until its tokens expire."
            );
            Ok(())
        }
    }
}
