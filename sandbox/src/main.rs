//! `bank-sandbox`: runs the local bank (authorization server + bank API) in the
//! foreground, and administers it. The commands live in `commands/`, one file each.

mod commands;

fn main() -> std::process::ExitCode {
    commands::main()
}
