//! The `bank` binary; everything lives in the library so tests and `bank demo` share it.

use std::process::ExitCode;

fn main() -> ExitCode {
    bank::run()
}
