//! The command line itself: help, usage errors, completions, config — no provider needed.

use crate::common::TestEnv;

fn offline() -> TestEnv {
    // Nothing listens on the discard and echo ports on loopback in the test environment.
    TestEnv::without_sandbox("http://127.0.0.1:9", "http://127.0.0.1:7")
}

#[test]
fn help_lists_commands_and_examples() {
    let env = offline();
    let run = env.run(&["--help"]).success();
    for word in [
        "login",
        "logout",
        "status",
        "balance",
        "history",
        "token",
        "config",
        "completions",
        "man",
        "Exit codes:",
        "BANK_TOKEN",
    ] {
        assert!(
            run.stdout.contains(word),
            "--help lacks {word}:\n{}",
            run.stdout
        );
    }
    for cmd in [
        "login",
        "logout",
        "status",
        "balance",
        "history",
        "token",
        "completions",
        "man",
    ] {
        let run = env.run(&[cmd, "--help"]).success();
        assert!(
            run.stdout.contains("Examples:"),
            "`bank {cmd} --help` has no examples:\n{}",
            run.stdout
        );
    }
    for cmd in ["get", "set", "unset", "list", "path"] {
        let run = env.run(&["config", cmd, "--help"]).success();
        assert!(
            run.stdout.contains("Examples:"),
            "`bank config {cmd} --help` has no examples"
        );
    }
    let run = env.run(&["--version"]).success();
    assert!(run.stdout.starts_with("bank "), "{}", run.stdout);
}

#[test]
fn usage_errors_exit_2() {
    let env = offline();
    let run = env.run(&["frobnicate"]).code(2);
    assert!(run.stderr.contains("error:"), "{}", run.stderr);
    env.run(&["history", "--limit", "0"]).code(2);
    env.run(&["login", "--timeout", "soon"]).code(2);
    env.run(&["login", "--callback-port", "0"]).code(2);
    // An unknown key is refused by the parser, which lists the keys (also for completions).
    for cmd in ["get", "set", "unset"] {
        let mut args = vec!["config", cmd, "colour"];
        if cmd == "set" {
            args.push("blue");
        }
        let run = env.run(&args).code(2);
        assert!(
            run.stderr
                .starts_with("error: invalid value 'colour' for '<KEY>'\n  [possible values: issuer, client_id, audience, audience_param, api_url, scopes, callback_port, dpop, par, max_inline_payments]"),
            "{}",
            run.stderr
        );
    }
    let run = env
        .run(&["config", "set", "issuer", "file:///etc/passwd"])
        .code(2);
    assert!(
        run.stderr
            .contains("must be an https URL (http only for a loopback address)"),
        "{}",
        run.stderr
    );
}

/// Every environment variable the CLI reads is in `bank --help`: the names are taken from the
/// source (`"BANK_…"` literals, and the names passed to `var`, `var_os` or `set`), so a new
/// one cannot be left out.
#[test]
fn help_names_every_environment_variable_read() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("sandbox/src/serve.rs")];
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                files.push(path);
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines() {
            let reads = line.contains("for var in")
                || line.contains("var(")
                || line.contains("var_os(")
                || line.contains("set(\"")
                || line.contains("env = \"")
                || line.contains("_ENV: &str");
            for (i, quoted) in line.split('"').enumerate() {
                let name_like = quoted.len() > 1
                    && quoted.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && quoted
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_uppercase());
                if i % 2 == 1 && name_like && (reads || quoted.starts_with("BANK_")) {
                    names.insert(quoted.to_owned());
                }
            }
        }
    }
    for expected in [
        "BANK_DPOP",
        "BANK_PAR",
        "NO_COLOR",
        "DISPLAY",
        "BANK_SANDBOX_DATA_DIR",
    ] {
        assert!(
            names.contains(expected),
            "{expected} not found in {names:?}"
        );
    }
    let help = offline().run(&["--help"]).success().stdout;
    let environment = help
        .split("Environment:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("an Environment section");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !environment.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "`bank --help` does not name {missing:?}"
    );
    assert!(environment.contains("TZ "), "{environment}");
}

#[test]
fn man_pages_are_current() {
    let env = offline();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let out = tempfile::tempdir().expect("temp dir");
    let target = out.path().join("man");
    env.std_command(&["man", target.to_str().expect("utf-8 path")])
        .output()
        .expect("bank runs");
    let names = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let generated = names(&target);
    for page in [
        "bank.1",
        "bank-config-unset.1",
        "bank-transfer.1",
        "bank-man.1",
    ] {
        assert!(generated.iter().any(|n| n == page), "{page}: {generated:?}");
    }
    let stale = generated != names(&dir)
        || generated.iter().any(|name| {
            std::fs::read(target.join(name)).ok() != std::fs::read(dir.join(name)).ok()
        });
    assert!(
        !stale,
        "man/ is stale; regenerate with:\n  rm -rf man && cargo run -q -- man man"
    );
    let page = std::fs::read_to_string(target.join("bank-config-set.1")).expect("a page");
    assert!(page.contains("callback_port"), "{page}");
}

#[test]
fn completions_are_current() {
    let env = offline();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in [
        ("bash", "bank.bash"),
        ("zsh", "_bank"),
        ("fish", "bank.fish"),
        ("powershell", "_bank.ps1"),
        ("elvish", "bank.elv"),
    ] {
        // Raw output: the scripts hold the sandbox's default addresses, which the test
        // harness's port normalization would rewrite.
        let output = env
            .std_command(&["completions", shell])
            .output()
            .expect("bank runs");
        assert!(output.status.success());
        let generated = String::from_utf8(output.stdout).expect("a script is text");
        let on_disk = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if on_disk.trim_end() != generated.trim_end() {
            stale.push(format!(
                "cargo run -q -- completions {shell} > completions/{file}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "completions/ is stale; regenerate with:\n  {}",
        stale.join("\n  ")
    );
}

#[test]
fn completions_offer_the_keys_and_no_file_names_for_profiles() {
    let env = offline();
    let script = |shell: &str| {
        let output = env
            .std_command(&["completions", shell])
            .output()
            .expect("bank runs");
        String::from_utf8(output.stdout).expect("a script is text")
    };
    let bash = script("bash");
    assert!(
        bash.contains(
            " issuer client_id audience audience_param api_url scopes callback_port dpop par max_inline_payments\""
        ),
        "bash offers no keys"
    );
    // `--profile <TAB>`: no file names (profiles are not files; static scripts cannot list them).
    let profile = bash
        .split("--profile)\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("a --profile case");
    assert!(profile.contains("COMPREPLY=(\"${cur}\")"), "{profile}");
    let zsh = script("zsh");
    assert!(
        zsh.contains("callback_port\\:\"fixed loopback port"),
        "zsh has no key help"
    );
    assert!(
        zsh.contains("--profile=[") && !zsh.contains(":NAME:_files"),
        "zsh"
    );
}

#[test]
fn config_set_get_list_path() {
    let env = offline();
    let run = env.run(&["config", "path"]).success();
    assert_eq!(run.stdout, "[TMP]/config/config.toml\n");
    env.run(&["config", "set", "issuer", "https://tenant.auth0.com/"])
        .success();
    env.run(&["config", "set", "audience_param", "audience"])
        .success();
    env.run(&[
        "--profile",
        "work",
        "config",
        "set",
        "callback_port",
        "8765",
    ])
    .success();
    let text =
        std::fs::read_to_string(env.config_dir().join("config.toml")).expect("config written");
    assert!(
        text.contains("[profiles.default]") && text.contains("[profiles.work]"),
        "{text}"
    );

    let mut cmd = env.command(&["config", "get", "issuer"]);
    cmd.env_remove("BANK_ISSUER");
    let out = cmd.output().expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "https://tenant.auth0.com/\n"
    );

    // The environment beats the file.
    let run = env.run(&["config", "get", "issuer"]).success();
    assert_eq!(run.stdout, "[ISSUER]\n");

    let run = env
        .run(&["--profile", "work", "--json", "config", "list"])
        .success();
    let json = run.json();
    assert_eq!(json["profile"], "work");
    assert_eq!(json["callback_port"]["value"], "8765");
    assert_eq!(json["callback_port"]["source"], "file");
    assert_eq!(json["api_url"]["source"], "env");
    assert_eq!(json["client_id"]["value"], "bank-cli");
    assert_eq!(json["client_id"]["source"], "default");

    // `unset` removes the line and keeps the rest; a key that is not set is no error.
    std::fs::write(
        env.config_dir().join("config.toml"),
        "# mine\n[profiles.work]\n# fixed for the provider\ncallback_port = 8765\nclient_id = \"w\"\n",
    )
    .expect("write");
    let run = env
        .run(&["--profile", "work", "config", "unset", "callback_port"])
        .success();
    assert_eq!(run.stderr, "✓ Removed callback_port from profile `work`\n");
    let text = std::fs::read_to_string(env.config_dir().join("config.toml")).expect("read");
    assert_eq!(
        text,
        "# mine\n[profiles.work]\n# fixed for the provider\nclient_id = \"w\"\n"
    );
    let run = env
        .run(&["--profile", "work", "config", "unset", "callback_port"])
        .success();
    assert_eq!(
        run.stderr,
        "Nothing to remove: `callback_port` is not set for profile `work`\n"
    );

    let run = env.run(&["--profile", "nope", "status"]).code(2);
    assert!(
        run.stderr.contains("profile `nope` does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_config_is_a_clear_error() {
    let env = offline();
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(env.config_dir().join("config.toml"), "[profiles.default\n").expect("write");
    let run = env.run(&["status"]).code(2);
    assert!(
        run.stderr.starts_with(
            "error: [TMP]/config/config.toml is not valid configuration\n  caused by: "
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // `config path` still works, to find the file to fix.
    env.run(&["config", "path"]).success();
}

#[test]
fn not_logged_in_exits_3() {
    let env = offline();
    let run = env.run(&["status"]).code(3);
    assert_eq!(
        run.stderr,
        "error: not logged in to [ISSUER] (profile `default`)\n  hint: run `bank login`\n"
    );
    assert_eq!(run.stdout, "");
    let run = env.run(&["--json", "status"]).code(3);
    assert_eq!(run.json()["logged_in"], false);
    env.run(&["balance"]).code(3);
    env.run(&["token"]).code(3);
}

#[test]
fn bank_token_with_the_api_down_exits_5() {
    let mut env = offline();
    env.set_env("BANK_TOKEN", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    let run = env.run(&["balance"]).code(5);
    assert!(
        run.stderr
            .starts_with("error: cannot reach the bank API at [API]\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: is the bank API running"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("c2ln"),
        "the token leaked:\n{}",
        run.stderr
    );
    // `bank token` prints BANK_TOKEN as is, and status names it as the source.
    let run = env.run(&["token"]).success();
    assert_eq!(run.stdout, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln\n");
    let run = env.run(&["--json", "status"]).success();
    assert_eq!(run.json()["storage"], "env");
}

/// A token or a code in clear text to a remote host is readable by whoever is on the way:
/// plain http is refused for every URL setting unless it names this machine, before any
/// request is made — with `BANK_TOKEN` too, which would otherwise go out as `Bearer`.
#[test]
fn plain_http_to_a_remote_host_is_refused_before_anything_is_sent() {
    let mut env = offline();
    env.set_env("BANK_TOKEN", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    env.set_env("BANK_API_URL", "http://bank.example.com");
    let run = env.run(&["balance"]).code(2);
    assert!(
        run.stderr.starts_with(
            "error: invalid value for `api_url (from BANK_API_URL)`: must use https: plain http is allowed only to a loopback address"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("c2ln"), "{}", run.stderr);
    env.set_env("BANK_API_URL", "http://[::1]:7");
    env.set_env("BANK_ISSUER", "http://idp.example.test");
    let run = env.run(&["login", "--no-browser"]).code(2);
    assert!(
        run.stderr
            .starts_with("error: invalid value for `issuer (from BANK_ISSUER)`: must use https"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&["config", "set", "api_url", "http://10.1.2.3:8401"])
        .code(2);
    assert!(run.stderr.contains("must use https"), "{}", run.stderr);
    assert_eq!(env.browser_log(), "");
}

#[test]
fn login_against_an_unreachable_issuer_exits_5() {
    let env = offline();
    let run = env.run(&["login", "--no-browser"]).code(5);
    assert!(
        run.stderr.starts_with(
            "error: cannot discover the authorization server at [ISSUER]: cannot reach the issuer\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "");
}

#[test]
fn a_reader_that_left_is_not_an_error() {
    // `bank completions zsh | head -0`: stdout is a pipe whose reader is already gone, so
    // the first write fails with EPIPE. That ends the command quietly, with success.
    let env = offline();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = env
        .std_command(&["completions", "zsh"])
        .stdout(writer)
        .output()
        .expect("bank runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
