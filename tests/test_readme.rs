//! Every shell example that the README and the docs mark as runnable works exactly as written,
//! and every other one says why it is not run here.
//!
//! The line before each ```` ```sh ```` fence is a marker:
//! - `<!-- runnable -->`: the block runs under `bash -euo pipefail` (so any failing command,
//!   even inside a pipeline, fails the test);
//! - `<!-- runnable: terminal -->`: what a person types, one line at a time, each in a
//!   pseudo-terminal (util-linux `script`) where `y` answers the confirmation;
//! - `<!-- runnable: server -->`: the sandbox started as written, on its own fixed ports,
//!   which the terminal examples after it then use as written, approving the push as the
//!   page says (`test_quick_path`);
//! - `<!-- runnable: approved on another device -->`: a device-flow script as written, the
//!   person approving the code it hands out on the device pages (`test_quick_path`);
//! - `<!-- not run here: REASON -->`: commands that install, start long-running servers or
//!   need a real provider; the reason names what runs them instead, if anything.
//!
//! Both kinds of runnable block run against the in-process sandbox, logged in as alice, with
//! MFA approved automatically and the built `bank` first on `PATH`. The only rewriting is of
//! the sandbox's default addresses, which become the test sandbox's ephemeral ones.

use crate::common::TestEnv;

const README: &str = include_str!("../README.md");
/// The README and the docs it leads to, each with its path: their runnable blocks run, and
/// their links must lead somewhere.
pub(crate) const DOCS: [(&str, &str); 7] = [
    ("README.md", README),
    ("docs/SANDBOX.md", include_str!("../docs/SANDBOX.md")),
    ("docs/PROVIDERS.md", include_str!("../docs/PROVIDERS.md")),
    ("docs/PROFILES.md", include_str!("../docs/PROFILES.md")),
    ("docs/SECURITY.md", include_str!("../docs/SECURITY.md")),
    (
        "docs/PERFORMANCE.md",
        include_str!("../docs/PERFORMANCE.md"),
    ),
    (
        "docs/ARCHITECTURE.md",
        include_str!("../docs/ARCHITECTURE.md"),
    ),
];
const MARKER: &str = "<!-- runnable -->";
pub(crate) const TERMINAL_MARKER: &str = "<!-- runnable: terminal -->";
pub(crate) const SERVER_MARKER: &str = "<!-- runnable: server -->";
pub(crate) const DEVICE_MARKER: &str = "<!-- runnable: approved on another device -->";
const NOT_RUN_MARKER: &str = "<!-- not run here: ";

/// The blocks marked with `marker`, each with the line its fence is on (for failure
/// messages).
pub(crate) fn marked_blocks(readme: &str, marker: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != marker {
            continue;
        }
        let fence = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
        assert_eq!(
            fence,
            "```sh",
            "line {}: {marker} must be followed by a ```sh fence",
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        blocks.push((i + 2, body.join("\n")));
    }
    blocks
}

fn runnable_blocks(readme: &str) -> Vec<(usize, String)> {
    marked_blocks(readme, MARKER)
}

/// No shell example goes unmarked: each one runs here or says why not.
#[test]
fn every_shell_example_is_run_or_says_why_not() {
    let mut unmarked = Vec::new();
    for (path, text) in DOCS {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() != "```sh" {
                continue;
            }
            let before = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .unwrap_or_default();
            let marked = before == MARKER
                || before == TERMINAL_MARKER
                || before == SERVER_MARKER
                || before == DEVICE_MARKER
                || (before.starts_with(NOT_RUN_MARKER)
                    && before.ends_with("-->")
                    && before.len() > NOT_RUN_MARKER.len() + 10);
            if !marked {
                unmarked.push(format!("{path}:{}", i + 1));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "shell blocks with no marker (runnable, runnable: terminal, or not run here: why):\n{}",
        unmarked.join("\n")
    );
}

/// The examples a person types at the terminal, as written: each line in a pseudo-terminal,
/// with `y` for the transfer's confirmation, the browser step done by the scripted browser.
#[test]
fn terminal_examples_work_as_a_person_types_them() {
    let env = TestEnv::start_with(|config| config.authz.mfa_auto_approve = true);
    let mut ran = 0;
    for (doc, text) in DOCS {
        for (line_no, block) in marked_blocks(text, TERMINAL_MARKER) {
            for command in block.lines().filter(|l| {
                let l = l.trim();
                !l.is_empty() && !l.starts_with('#')
            }) {
                let command = command
                    .replace("http://127.0.0.1:8400", &env.issuer)
                    .replace("http://127.0.0.1:8401", &env.api_url);
                let mut script = env.shell_command("script");
                script.env("SHELL", "/bin/bash").env("NO_COLOR", "1");
                let out = assert_cmd::Command::from_std(script)
                    .args(["-qec", &command, "/dev/null"])
                    .write_stdin("y")
                    .timeout(std::time::Duration::from_secs(120))
                    .output()
                    .expect("script runs");
                assert!(
                    out.status.success(),
                    "{doc}:{line_no}: `{command}` failed ({})\n--- screen\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                );
                ran += 1;
            }
        }
    }
    assert!(ran >= 4, "the terminal examples ran: {ran}");
    // The story moved money exactly once per `bank transfer` typed.
    let transfers = DOCS
        .iter()
        .flat_map(|(_, text)| marked_blocks(text, TERMINAL_MARKER))
        .flat_map(|(_, b)| {
            b.lines()
                .filter(|l| l.trim_start().starts_with("bank transfer"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .inspect(|l| assert!(l.contains("--amount 25.00"), "{l}"))
        .count() as i64;
    assert_eq!(
        env.sandbox().bank().balance_of("bob"),
        Some(50_000 + 2_500 * transfers)
    );
}

#[test]
fn readme_marks_its_scripting_examples_as_runnable() {
    let all: String = DOCS
        .iter()
        .flat_map(|(_, text)| runnable_blocks(text))
        .map(|(_, b)| b)
        .collect();
    for example in [
        "bank balance --json | jq -r .balance",
        "bank transfer --to bob --amount 5 --yes --json | jq -r .id",
        "bank --profile auth0 config set audience_param audience",
    ] {
        assert!(
            all.contains(example),
            "README example not marked runnable: {example}"
        );
    }
}

#[test]
fn readme_runnable_examples_work_as_written() {
    let mut env = TestEnv::start_with(|config| config.authz.mfa_auto_approve = true);
    env.run_with_browser(&["login"]).success();
    // A CI secret is a bearer token minted for the pipeline; `bank token`'s own is bound to
    // this login's DPoP key and useless elsewhere.
    let token = env.mint_token("alice", "wonderland", "openid view:balance", false, None);
    env.set_env("CI_BANK_TOKEN", &token);

    let blocks = DOCS.iter().flat_map(|(path, text)| {
        runnable_blocks(text)
            .into_iter()
            .map(move |(line, block)| (format!("{path}:{line}"), block))
    });
    for (line, block) in blocks {
        let script = block
            .replace("http://127.0.0.1:8400", &env.issuer)
            .replace("http://127.0.0.1:8401", &env.api_url);
        let mut sh = env.shell_command("bash");
        sh.args(["-euo", "pipefail", "-c", &script]);
        let out = sh.output().expect("bash runs");
        assert!(
            out.status.success(),
            "the block at {line} failed ({})\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }
}

/// `bank --help`'s curl examples, as printed, against the sandbox: the DPoP one with the
/// default (DPoP-bound) login, the bearer one with a login that has bearer tokens.
#[test]
fn the_helps_curl_examples_work_as_written() {
    let env = TestEnv::start();
    env.login();
    // As printed: `run` would normalize the addresses away.
    let help = env.command(&["--help"]).output().expect("bank runs").stdout;
    let help = String::from_utf8(help).expect("UTF-8 help");
    let block: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.contains("# the API with curl"))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect();
    let split = block
        .iter()
        .position(|l| l.starts_with("# a bearer token"))
        .expect("a bearer example");
    let url_line = block
        .iter()
        .find(|l| l.starts_with("u="))
        .expect("the URL line");
    let dpop = block[..split].join("\n");
    let bearer = format!("{url_line}\n{}", block[split..].join("\n"));
    assert!(dpop.contains("--dpop-proof"), "{dpop}");
    assert!(bearer.contains("Authorization: Bearer"), "{bearer}");

    let out = run_script(&env, &dpop);
    assert!(out.contains("\"balance\""), "{dpop}\n--- answer\n{out}");

    let mut bearer_env = TestEnv::start();
    bearer_env.set_env("BANK_DPOP", "never");
    bearer_env.login();
    let out = run_script(&bearer_env, &bearer);
    assert!(out.contains("\"balance\""), "{bearer}\n--- answer\n{out}");
}

/// Runs `script` under bash with `bank` first on `PATH` and the sandbox's addresses; its
/// stdout.
fn run_script(env: &TestEnv, script: &str) -> String {
    let script = script.replace("http://127.0.0.1:8401", &env.api_url);
    let mut sh = env.shell_command("bash");
    sh.args(["-euo", "pipefail", "-c", &script]);
    let out = sh.output().expect("bash runs");
    assert!(
        out.status.success(),
        "{script}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every relative link in the README and the docs leads to a file of the repository (the
/// link check CI runs; links to the web are not followed from here).
#[test]
fn every_link_in_the_docs_leads_somewhere() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for (path, text) in DOCS {
        let dir = root.join(path).parent().expect("a directory").to_owned();
        let mut rest = text;
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with('#')
            {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            if !dir.join(file).exists() {
                broken.push(format!("{path}: {target}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}
