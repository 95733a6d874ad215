//! The one test binary of the `bank` package (one link step, not one per file): every test
//! module is listed here, and `every_test_file_is_listed` fails when one is not.

#[cfg(not(feature = "test-fakes"))]
compile_error!(
    "the end-to-end tests need the scripted browser: run `scripts/with-keyring cargo test -p bank --all-features`"
);

mod common;
mod test_balance;
mod test_batch;
mod test_browser;
mod test_cli;
mod test_demo;
mod test_device;
mod test_dpop;
mod test_exit_codes;
mod test_login;
mod test_lost_answer;
mod test_par;
mod test_profiles;
mod test_providers;
mod test_quick_path;
mod test_readme;
mod test_states;
mod test_tokens;
mod test_transfer;
mod test_transfer_challenges;
mod test_transfer_input;

#[test]
fn every_test_file_is_listed() {
    let runner = include_str!("runner.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(&dir).expect("tests dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name");
            if stem != "runner" {
                assert!(
                    runner.contains(&format!("mod {stem};")),
                    "tests/{stem}.rs is not listed in tests/runner.rs"
                );
            }
        }
    }
}
