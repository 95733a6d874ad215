//! Profiles made by the person: `bank --profile NAME login --issuer … --client-id …` (or the
//! same from BANK_ISSUER and BANK_CLIENT_ID) against the real sandbox and the real keyring,
//! `bank config list --profiles` and `bank status --all`.

use crate::common::{Run, TestEnv};

const CLIENT_ID: &str = "bank-cli";

/// `bank` without the test environment's BANK_ISSUER / BANK_API_URL, so the profile in the
/// file (or the flags) is all it knows; `extra` adds variables for this run.
fn run_plain(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut cmd = env.std_command(args);
    cmd.env_remove("BANK_ISSUER").env_remove("BANK_API_URL");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("bank runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: env.normalize(&String::from_utf8_lossy(&output.stdout)),
        stderr: env.normalize(&String::from_utf8_lossy(&output.stderr)),
    }
}

fn config_path(env: &TestEnv) -> std::path::PathBuf {
    env.config_dir().join("config.toml")
}

fn read_config(env: &TestEnv) -> String {
    std::fs::read_to_string(config_path(env)).unwrap_or_default()
}

/// A config file the person wrote by hand, with comments, that every edit must keep.
const HAND_WRITTEN: &str = "# my banks, by hand\n\n[profiles.home] # the family account\n# the tenant we use at home\nissuer = \"https://home.example/\"\nclient_id = \"home-cli\"\n";

#[test]
fn login_with_flags_creates_the_profile_after_signing_in() {
    let env = TestEnv::start();
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(config_path(&env), HAND_WRITTEN).expect("write config");

    let run = run_plain(
        &env,
        &[
            "--profile",
            "work",
            "login",
            "--issuer",
            &env.issuer,
            "--client-id",
            CLIENT_ID,
            "--api-url",
            &env.api_url,
        ],
        &[],
    )
    .success();
    assert!(
        run.stderr
            .contains("Created profile `work` in [TMP]/config/config.toml"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Logged in to [ISSUER] as alice"),
        "{}",
        run.stderr
    );
    assert!(
        env.browser_log().contains("POST /login -> 302"),
        "{}",
        env.browser_log()
    );
    let text = read_config(&env);
    assert_eq!(
        text,
        format!(
            "{HAND_WRITTEN}\n[profiles.work]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\napi_url = \"{}\"\n",
            env.issuer, env.api_url
        )
    );

    // The profile is usable on its own: no flags, no environment.
    let run = run_plain(&env, &["--profile", "work", "--json", "status"], &[]).success();
    let status = run.json();
    assert_eq!(status["user"], "alice");
    assert_eq!(status["storage"], "keyring");
    assert_eq!(status["issuer"], "[ISSUER]");
    let run = run_plain(&env, &["--profile", "work", "balance"], &[]).success();
    assert_eq!(run.stdout, "Balance: 1,000.00 USD\n");

    // The same command again signs in again and leaves the file as it is.
    let run = run_plain(
        &env,
        &[
            "--profile",
            "work",
            "login",
            "--issuer",
            &env.issuer,
            "--client-id",
            CLIENT_ID,
        ],
        &[],
    )
    .success();
    assert!(!run.stderr.contains("Created profile"), "{}", run.stderr);
    assert_eq!(read_config(&env), text);

    // `bank config set` changes one line and keeps the person's comments.
    run_plain(
        &env,
        &["--profile", "home", "config", "set", "client_id", "home-2"],
        &[],
    )
    .success();
    assert_eq!(
        read_config(&env),
        text.replace("client_id = \"home-cli\"", "client_id = \"home-2\"")
    );
}

#[test]
fn login_creates_a_named_profile_from_the_environment() {
    let env = TestEnv::start();
    let run = run_plain(
        &env,
        &["login"],
        &[
            ("BANK_PROFILE", "ci"),
            ("BANK_ISSUER", &env.issuer),
            ("BANK_CLIENT_ID", CLIENT_ID),
            ("BANK_API_URL", &env.api_url),
        ],
    )
    .success();
    assert!(
        run.stderr.contains("Created profile `ci`"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read_config(&env),
        format!(
            "[profiles.ci]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\napi_url = \"{}\"\n",
            env.issuer, env.api_url
        )
    );
    let run = run_plain(&env, &["--profile", "ci", "--json", "status"], &[]).success();
    assert_eq!(run.json()["user"], "alice");
}

/// The environment overrides the default profile, as it always has: it never writes it.
#[test]
fn the_environment_does_not_write_the_default_profile() {
    let env = TestEnv::start();
    let mut cmd = env.std_command(&["login"]);
    cmd.env("BANK_CLIENT_ID", CLIENT_ID);
    let output = cmd.output().expect("bank runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(env.browser_log().contains("POST /login -> 302"));
    assert!(!config_path(&env).exists(), "{}", read_config(&env));
}

#[test]
fn refusals_leave_the_file_and_the_browser_alone() {
    let mut env = TestEnv::start();
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(config_path(&env), HAND_WRITTEN).expect("write config");

    // An existing profile is not changed by a login with other values.
    let run = run_plain(
        &env,
        &[
            "--profile",
            "home",
            "login",
            "--issuer",
            "https://elsewhere.example/",
        ],
        &[],
    )
    .code(2);
    assert_eq!(
        run.stderr,
        "error: profile `home` already has issuer = https://home.example/; `bank login` does not change it to https://elsewhere.example/\n  hint: to change it: bank --profile home config set issuer https://elsewhere.example/ (then log in again); or sign in to a new profile: bank --profile NEW login …\n"
    );

    // Plain http to a remote host, named with the flag it came from.
    let run = run_plain(
        &env,
        &[
            "--profile",
            "work",
            "login",
            "--issuer",
            "http://idp.example.com",
            "--client-id",
            CLIENT_ID,
        ],
        &[],
    )
    .code(2);
    assert!(
        run.stderr
            .starts_with("error: invalid value for `issuer (from --issuer)`: must use https"),
        "{}",
        run.stderr
    );

    // Nothing to create the profile from.
    let run = run_plain(&env, &["--profile", "work", "login"], &[]).code(2);
    assert_eq!(
        run.stderr,
        "error: cannot create profile `work`: --issuer (or BANK_ISSUER) and --client-id (or BANK_CLIENT_ID) are needed\n"
    );
    let run = run_plain(
        &env,
        &["--profile", "work", "login", "--issuer", &env.issuer],
        &[],
    )
    .code(2);
    assert!(
        run.stderr
            .contains("--client-id (or BANK_CLIENT_ID) is needed"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "");
    assert_eq!(read_config(&env), HAND_WRITTEN);

    // Discovery fails: nothing written.
    let issuer = env.issuer.clone();
    env.stop_sandbox();
    let run = run_plain(
        &env,
        &[
            "--profile",
            "work",
            "login",
            "--issuer",
            &issuer,
            "--client-id",
            CLIENT_ID,
        ],
        &[],
    )
    .code(5);
    assert!(
        run.stderr
            .starts_with("error: cannot discover the authorization server at [ISSUER]"),
        "{}",
        run.stderr
    );
    assert_eq!(env.browser_log(), "");
    assert_eq!(read_config(&env), HAND_WRITTEN);
}

/// A sign-in that never completes — here a client id the provider does not know, whose error
/// page never redirects back — leaves no profile behind, so the corrected command just works.
#[test]
fn a_failed_sign_in_creates_nothing() {
    let env = TestEnv::start();
    let typo_log = env.config_dir().with_file_name("typo-browser.log");
    let login = |client_id: &str, timeout: &str| {
        [
            "--profile",
            "work",
            "login",
            "--issuer",
            &env.issuer,
            "--client-id",
            client_id,
            "--timeout",
            timeout,
        ]
        .map(str::to_owned)
    };
    let args = login("bank-cli-typo", "3s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Where the provider takes pushed requests, the push itself names the unknown client.
    let run = run_plain(&env, &args, &[]).code(2);
    assert!(
        run.stderr.contains(
            "does not accept this client id (pushed authorization request: invalid_client)"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Created profile"), "{}", run.stderr);
    assert!(!config_path(&env).exists(), "{}", read_config(&env));
    // Without PAR, the browser's error page never redirects back: the login times out.
    let run = run_plain(
        &env,
        &args,
        &[
            ("BANK_TEST_BROWSER_LOG", &typo_log.display().to_string()),
            ("BANK_PAR", "never"),
        ],
    )
    .code(4);
    assert!(!run.stderr.contains("Created profile"), "{}", run.stderr);
    let seen = std::fs::read_to_string(&typo_log).expect("the browser ran");
    assert!(seen.contains("400 Bad Request"), "{seen}");
    assert!(!config_path(&env).exists(), "{}", read_config(&env));

    let args = login(CLIENT_ID, "2m");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = env.run_with_browser(&args).success();
    assert!(
        run.stderr.contains("Created profile `work`"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_list_profiles_and_status_all() {
    let env = TestEnv::start();
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(config_path(&env), HAND_WRITTEN).expect("write config");
    run_plain(
        &env,
        &[
            "--profile",
            "work",
            "login",
            "--issuer",
            &env.issuer,
            "--client-id",
            CLIENT_ID,
            "--api-url",
            &env.api_url,
        ],
        &[],
    )
    .success();

    let run = run_plain(
        &env,
        &["--profile", "work", "config", "list", "--profiles"],
        &[],
    )
    .success();
    let words: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words,
        [
            vec!["PROFILE", "ISSUER", "CLIENT", "ID", "API", "URL"],
            vec![
                "default",
                "http://127.0.0.1:[PORT]",
                "bank-cli",
                "http://127.0.0.1:[PORT]",
                "(built-in",
                "defaults)"
            ],
            vec![
                "home",
                "https://home.example/",
                "home-cli",
                "http://127.0.0.1:[PORT]"
            ],
            vec!["*", "work", "[ISSUER]", "bank-cli", "[API]"],
        ],
        "{}",
        run.stdout
    );
    // Columns line up: every issuer starts where the header says.
    let at = run.stdout.lines().next().and_then(|l| l.find("ISSUER"));
    assert!(
        run.stdout.lines().all(|l| l
            .find("http")
            .or(l.find("[ISSUER]"))
            .is_none_or(|i| Some(i) == at)),
        "{}",
        run.stdout
    );
    let run = run_plain(&env, &["--json", "config", "list", "--profiles"], &[]).success();
    let list = run.json();
    let names: Vec<_> = list
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["default", "home", "work"]);
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["in_file"], false);
    assert_eq!(list[1]["client_id"], "home-cli");
    assert_eq!(list[2]["issuer"], "[ISSUER]");

    let run = run_plain(&env, &["--profile", "home", "status", "--all"], &[]).success();
    let words: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(words.len(), 4, "{}", run.stdout);
    assert_eq!(
        words[0],
        ["PROFILE", "ISSUER", "USER", "EXPIRES", "STORAGE"]
    );
    assert_eq!(
        words[1],
        [
            "default",
            "http://127.0.0.1:[PORT]",
            "-",
            "not",
            "logged",
            "in",
            "-"
        ]
    );
    assert_eq!(
        words[2],
        [
            "*",
            "home",
            "https://home.example/",
            "-",
            "not",
            "logged",
            "in",
            "-"
        ]
    );
    assert_eq!(
        words[3][..3],
        ["work", "[ISSUER]", "alice"],
        "{}",
        run.stdout
    );
    // The expiry: date, time and zone (the local one, named), then how long from now.
    assert_eq!(words[3][6], "(in", "{}", run.stdout);
    assert_eq!(words[3][8], "keyring", "{}", run.stdout);
    let run = run_plain(&env, &["--json", "status", "--all"], &[]).success();
    let all = run.json();
    let all = all.as_array().expect("an array");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["profile"], "default");
    assert_eq!(all[0]["logged_in"], false);
    assert_eq!(all[2]["profile"], "work");
    assert_eq!(all[2]["logged_in"], true);
    assert_eq!(all[2]["user"], "alice");
    assert_eq!(all[2]["storage"], "keyring");
    assert!(all[2]["expires_at"].as_str().is_some(), "{all:?}");
    assert!(
        !run.stdout.contains("access_token") && !run.stdout.contains("eyJ"),
        "nothing secret: {}",
        run.stdout
    );
}
