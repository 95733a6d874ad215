//! One table of exit codes, each a class a script can act on: the README's table and
//! `bank --help` list the same codes, and each row has a run here or next to its feature
//! (1: tests/test_login.rs, a busy callback port; 2: tests/test_cli.rs; 3:
//! tests/test_states.rs; 4: tests/test_transfer.rs, MFA denied; 5: tests/test_cli.rs;
//! 130: tests/test_transfer_input.rs). Hints are commands that work when pasted.

use crate::common::TestEnv;
use crate::common::mfa::{Mfa, with_mfa};

/// The codes of the README's "Exit codes" table, in order.
fn readme_codes() -> Vec<String> {
    let readme = include_str!("../README.md");
    let table = readme
        .split("## Exit codes")
        .nth(1)
        .expect("an Exit codes section");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.split('|')
                .nth(1)
                .expect("a code column")
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_readme_and_the_help_list_the_same_exit_codes() {
    let codes = readme_codes();
    assert_eq!(
        codes,
        ["0", "1", "2", "3", "4", "5", "6", "7", "130"],
        "the README's table"
    );
    let env = TestEnv::without_sandbox("http://127.0.0.1:9", "http://127.0.0.1:7");
    let help = env.run(&["--help"]).success().stdout;
    let listed: Vec<String> = help
        .split("Exit codes")
        .nth(1)
        .expect("the help lists exit codes")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let code = l.split_whitespace().next()?;
            code.parse::<u8>().ok().map(|_| code.to_owned())
        })
        .collect();
    assert_eq!(listed, codes, "{help}");
}

#[test]
fn a_transfer_without_a_login_is_login_needed_even_without_a_terminal() {
    let env = TestEnv::start();
    let run = env
        .run(&["transfer", "--to", "bob", "--amount", "5"])
        .code(3);
    assert!(
        run.stderr.starts_with("error: not logged in to [ISSUER]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run `bank login`"),
        "{}",
        run.stderr
    );
    env.run(&["transfer", "--to", "bob", "--amount", "5", "--yes"])
        .code(3);
}

/// The push limit is "not now", not a denial: exit 7, and the words say when, in the right
/// number ("1 minute").
#[test]
fn the_mfa_push_limit_is_temporarily_unavailable_and_says_when() {
    let env = TestEnv::start_with(|config| {
        config.authz.mfa_push_limit.max_pushes = 0;
        config.authz.mfa_push_limit.window_secs = 60;
    });
    env.login();
    let run = env
        .run_with_browser(&["transfer", "--to", "bob", "--amount", "5", "--yes"])
        .code(7);
    assert!(
        run.stderr.contains("try again in 1 minute\n"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(50_000));
}

#[test]
fn an_issuer_that_is_not_the_providers_is_a_usage_error_naming_the_right_one() {
    let mut env = TestEnv::start();
    let issuer = env.issuer.clone();
    // A trailing slash the provider's issuer identifier does not have.
    env.set_env("BANK_ISSUER", &format!("{issuer}/"));
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr.contains("hint: use the issuer exactly as the provider names it, `[ISSUER]`: set BANK_ISSUER=[ISSUER]"),
        "{}",
        run.stderr
    );
    // A path where no provider answers (discovery 404): the setting, not the network.
    env.set_env("BANK_ISSUER", &format!("{issuer}/tenant"));
    let run = env.run(&["login"]).code(2);
    assert!(
        run.stderr.contains("is this the right issuer?"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "", "nobody was asked to sign in");
}

#[test]
fn login_hints_name_the_profile_they_were_given() {
    let mut env = TestEnv::start();
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(
        env.config_dir().join("config.toml"),
        format!(
            "[profiles.work]\nissuer = \"{}\"\nclient_id = \"bank-cli\"\napi_url = \"{}\"\n",
            env.issuer, env.api_url
        ),
    )
    .expect("write config");
    let run = env.run(&["--profile", "work", "balance"]).code(3);
    assert!(
        run.stderr
            .contains("hint: run `bank --profile work login`\n"),
        "{}",
        run.stderr
    );
    env.set_env("BANK_PROFILE", "work");
    let run = env.run(&["status"]).code(3);
    assert!(
        run.stderr
            .contains("hint: run `bank --profile work login`\n"),
        "{}",
        run.stderr
    );
    // The default profile needs no flag.
    env.remove_env("BANK_PROFILE");
    let run = env.run(&["balance"]).code(3);
    assert!(
        run.stderr.contains("hint: run `bank login`\n"),
        "{}",
        run.stderr
    );
}

/// An idempotent replay moved no money now: stdout says so (a script keeps stdout), and the
/// JSON marks it.
#[test]
fn a_replayed_transfer_says_no_money_moved_now() {
    let env = TestEnv::start();
    env.login();
    let args = [
        "transfer",
        "--to",
        "bob",
        "--amount",
        "4",
        "--yes",
        "--idempotency-key",
        "replay-me-1",
    ];
    let run = with_mfa(&env, &args, Mfa::Approve).success();
    assert!(
        run.stdout.starts_with("Transferred 4.00 USD to bob."),
        "{}",
        run.stdout
    );
    let run = with_mfa(&env, &args, Mfa::Approve).success();
    assert!(
        run.stdout
            .starts_with("Already done earlier: no money moved now (4.00 USD to bob, transfer "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Transferred"), "{}", run.stdout);
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let first = with_mfa(&env, &json_args, Mfa::Approve).success().json();
    assert_eq!(first["replayed"], true);
    assert_eq!(env.sandbox().bank().balance_of("bob"), Some(50_400));
}
