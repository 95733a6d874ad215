//! The end-to-end test environment: the real sandbox in-process, the built `bank` binary.
//!
//! [`TestEnv`] starts the sandbox (authorization server + bank API) on ephemeral loopback
//! ports in its own tokio runtime, gives every test a private HOME and config dir, and runs
//! `bank` with a cleared environment plus only what it needs: the sandbox's addresses, the
//! scripted browser (`bank-test-browser`) as `BANK_BROWSER`, and the D-Bus session address
//! of the real Secret Service that `scripts/with-keyring` provides. Each sandbox has its own
//! port, so keyring entries (keyed by issuer) never collide between parallel tests. If a
//! test expected the browser to run and it never did, the environment fails on drop.

#![allow(dead_code)]

pub mod mfa;
pub mod proxy;
pub mod running;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use bank_sandbox::{Sandbox, SandboxConfig};

use proxy::Proxy;

pub const BROWSER: &str = env!("CARGO_BIN_EXE_bank-test-browser");
pub const BANK: &str = env!("CARGO_BIN_EXE_bank");
/// How a pushed authorization request's URL starts (RFC 9126), as `bank` prints it
/// (normalized).
pub const PUSHED_URL: &str = "[ISSUER]/authorize?client_id=bank-cli&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A";

pub struct TestEnv {
    pub rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub issuer: String,
    pub api_url: String,
    dir: tempfile::TempDir,
    /// Pass the Secret Service's bus address (false = "no keyring on this machine").
    pub keyring: bool,
    extra: Vec<(String, String)>,
    browser_expected: AtomicBool,
}

/// One pushed authorization request, as the authorization server recorded it.
#[derive(Debug)]
pub struct Pushed {
    pub scope: String,
    pub login_hint: Option<String>,
    pub authorization_details: Option<String>,
    /// The names of the pushed parameters, in order.
    pub parameters: Vec<String>,
}

fn sandbox_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime for the sandbox")
}

/// The outcome of one `bank` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, printing the output when it is not what was expected.
    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.code, expected,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(self) -> Run {
        self.code(0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

pub fn keyring_bus() -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .expect("the end-to-end tests need a real Secret Service: run them as `scripts/with-keyring cargo test -p bank --all-features`")
}

impl TestEnv {
    /// The sandbox with its test defaults.
    pub fn start() -> TestEnv {
        TestEnv::start_with(|_| {})
    }

    /// The sandbox with a tweaked configuration.
    pub fn start_with(tweak: impl FnOnce(&mut SandboxConfig)) -> TestEnv {
        let mut config = SandboxConfig::ephemeral();
        tweak(&mut config);
        TestEnv::start_on(sandbox_runtime(), config)
    }

    /// The sandbox with its bank API behind a [`Proxy`], as the API's public URL (what DPoP
    /// proofs name): `bank` talks to the proxy.
    pub fn behind_proxy() -> (TestEnv, Proxy) {
        let rt = sandbox_runtime();
        let proxy = Proxy::bind(&rt);
        let mut config = SandboxConfig::ephemeral();
        config.api.public_url = Some(proxy.url.clone());
        let mut env = TestEnv::start_on(rt, config);
        proxy.forward_to(&env.api_url);
        env.set_env("BANK_API_URL", &proxy.url);
        (env, proxy)
    }

    fn start_on(rt: tokio::runtime::Runtime, config: SandboxConfig) -> TestEnv {
        let sandbox = rt.block_on(Sandbox::start(config)).expect("sandbox starts");
        let issuer = sandbox.issuer().to_owned();
        let api_url = sandbox.api_url().to_owned();
        let mut env = TestEnv::bare(rt, &issuer, &api_url);
        env.sandbox = Some(sandbox);
        env
    }

    /// No sandbox: `bank` pointed at the given addresses.
    pub fn without_sandbox(issuer: &str, api_url: &str) -> TestEnv {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        TestEnv::bare(rt, issuer, api_url)
    }

    fn bare(rt: tokio::runtime::Runtime, issuer: &str, api_url: &str) -> TestEnv {
        keyring_bus();
        TestEnv {
            rt,
            sandbox: None,
            issuer: issuer.to_owned(),
            api_url: api_url.to_owned(),
            dir: tempfile::tempdir().expect("temp dir"),
            keyring: true,
            extra: Vec::new(),
            browser_expected: AtomicBool::new(false),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("this TestEnv runs a sandbox")
    }

    /// Stops the sandbox (for "server down" tests); addresses stay configured.
    pub fn stop_sandbox(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn browser_log_path(&self) -> PathBuf {
        self.dir.path().join("browser.log")
    }

    /// What the scripted browser did (empty if it never ran).
    pub fn browser_log(&self) -> String {
        std::fs::read_to_string(self.browser_log_path()).unwrap_or_default()
    }

    /// The names of the query parameters of each URL the scripted browser was handed, in
    /// order: `["client_id", "request_uri"]` when the request was pushed (RFC 9126).
    pub fn browser_url_parameters(&self) -> Vec<Vec<String>> {
        self.browser_log()
            .lines()
            .filter_map(|line| line.strip_prefix("authorize parameters: "))
            .map(|names| names.split(' ').map(str::to_owned).collect())
            .collect()
    }

    /// What the authorization server saw pushed (RFC 9126), oldest first.
    pub fn pushed_requests(&self) -> Vec<Pushed> {
        self.sandbox()
            .authz()
            .events()
            .into_iter()
            .filter_map(|e| match e {
                bank_sandbox::authz::AuthzEvent::AuthorizationPushed {
                    scope,
                    login_hint,
                    authorization_details,
                    parameters,
                    ..
                } => Some(Pushed {
                    scope,
                    login_hint,
                    authorization_details,
                    parameters,
                }),
                _ => None,
            })
            .collect()
    }

    /// Sets an extra environment variable for every later `bank` run.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_owned(), value.to_owned()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.extra.retain(|(k, _)| k != key);
    }

    /// `bank` with a cleared environment plus exactly what it needs.
    pub fn std_command(&self, args: &[&str]) -> std::process::Command {
        let home = self.home();
        std::fs::create_dir_all(&home).expect("home dir");
        let mut cmd = std::process::Command::new(BANK);
        cmd.env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BANK_CONFIG_DIR", self.config_dir())
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("BANK_ISSUER", &self.issuer)
            .env("BANK_API_URL", &self.api_url)
            .env("BANK_BROWSER", BROWSER)
            .env("BANK_TEST_BROWSER_LOG", self.browser_log_path())
            .env("BANK_TEST_USERNAME", "alice")
            .env("BANK_TEST_PASSWORD", "wonderland")
            .args(args);
        if self.keyring {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", keyring_bus());
        }
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// [`TestEnv::std_command`] with a generous timeout, so a hang fails instead of blocking.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(self.std_command(args));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// `program` with the environment `bank` gets here, the built `bank` first on `PATH`, in
    /// the home directory: the docs' examples run in it as in a person's shell.
    pub fn shell_command(&self, program: &str) -> std::process::Command {
        let bank = self.std_command(&[]);
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear();
        for (key, value) in bank.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        let bank_dir = Path::new(BANK).parent().expect("bank's directory");
        cmd.env(
            "PATH",
            format!(
                "{}:{}",
                bank_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .current_dir(self.home());
        cmd
    }

    #[must_use = "check the exit code and output"]
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("bank runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: self.normalize(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.normalize(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// Runs `bank` with the scripted browser idling (it opens the URL, then never answers),
    /// waits until the browser ran — `bank` is then waiting for the callback — and sends
    /// SIGINT, as Ctrl-C would. Returns what `bank` printed and its exit status.
    pub fn interrupt_while_the_browser_waits(&mut self, args: &[&str]) -> std::process::Output {
        self.set_env("BANK_TEST_BROWSER_MODE", "idle");
        let child = self
            .std_command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bank starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.browser_log().contains("idle") {
            assert!(
                std::time::Instant::now() < deadline,
                "the browser never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        self.remove_env("BANK_TEST_BROWSER_MODE");
        child.wait_with_output().expect("bank exits")
    }

    /// A run that is expected to start the browser.
    #[must_use = "check the exit code and output"]
    pub fn run_with_browser(&self, args: &[&str]) -> Run {
        self.browser_expected.store(true, Ordering::SeqCst);
        self.run(args)
    }

    /// [`TestEnv::run_with_browser`] with `stdin` on its standard input.
    #[must_use = "check the exit code and output"]
    pub fn run_with_browser_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.browser_expected.store(true, Ordering::SeqCst);
        self.run_stdin(args, stdin)
    }

    /// [`TestEnv::run`] with `stdin` on its standard input.
    #[must_use = "check the exit code and output"]
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let output = self
            .command(args)
            .write_stdin(stdin.to_owned())
            .output()
            .expect("bank runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: self.normalize(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.normalize(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// Logs in as alice and checks it worked.
    pub fn login(&self) {
        let run = self.run_with_browser(&["login"]).success();
        assert!(
            run.stderr.contains("Logged in to [ISSUER] as alice"),
            "{}",
            run.stderr
        );
    }

    /// Mints an access token through the sandbox's real authorization code flow — PKCE, the
    /// login form (the same walker `bank-test-browser` uses), MFA when `mfa` says the rule
    /// will ask (approved here) — outside `bank`, for tests that need a token `bank login`
    /// would never request or store (`transfer:funds`).
    /// `details`: RFC 9396 `authorization_details` (JSON) binding the token to one transfer.
    pub fn mint_token(
        &self,
        username: &str,
        password: &str,
        scope: &str,
        mfa: bool,
        details: Option<&str>,
    ) -> String {
        use bank_sandbox::walker::{Password, Walker};
        const RESOURCE: &str = "https://bank.example/api";
        // Loopback redirect URIs match on any port (RFC 8252 §7.3); nothing listens on it:
        // the walker stops before fetching the callback.
        const REDIRECT: &str = "http://127.0.0.1:9/callback";
        let authz = self.sandbox().authz().clone();
        self.rt.block_on(async {
            let http = reqwest::Client::new();
            let meta: serde_json::Value = http
                .get(format!("{}/.well-known/openid-configuration", self.issuer))
                .send()
                .await
                .expect("discovery")
                .json()
                .await
                .expect("discovery JSON");
            let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
            let mut url = reqwest::Url::parse(
                meta["authorization_endpoint"]
                    .as_str()
                    .expect("authorization_endpoint"),
            )
            .expect("authorization URL");
            url.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", "bank-cli")
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("scope", scope)
                .append_pair("state", "minted-by-the-test")
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256")
                .append_pair("resource", RESOURCE);
            if let Some(details) = details {
                url.query_pairs_mut()
                    .append_pair("authorization_details", details);
            }
            let walker = Walker::new(username, Password::new(password))
                .expect("walker")
                .mfa_deadline(Duration::from_secs(60));
            let approve = async {
                if mfa {
                    let pending = authz
                        .wait_for_pending_mfa(username, Duration::from_secs(60))
                        .await
                        .expect("the rule asks for MFA");
                    authz.approve_mfa(&pending.id).expect("approve");
                }
            };
            let mut observe = |_: &bank_sandbox::walker::Step| {};
            let (callback, ()) =
                tokio::join!(walker.walk_to_callback(url.as_str(), &mut observe), approve);
            let callback = callback.expect("the sign-in reaches the callback");
            let code = callback
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .expect("an authorization code");
            let response: serde_json::Value = http
                .post(meta["token_endpoint"].as_str().expect("token_endpoint"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("client_id", "bank-cli"),
                    ("code_verifier", verifier.secret().as_str()),
                    ("resource", RESOURCE),
                ])
                .send()
                .await
                .expect("token request")
                .json()
                .await
                .expect("token JSON");
            response["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no access token: {}", response["error"]))
                .to_owned()
        })
    }

    /// The token bundle stored for the default profile in the real keyring, read with
    /// `secret-tool` (what any other program on the machine would see), or `None`.
    pub fn keyring_bundle(&self) -> Option<serde_json::Value> {
        let account = format!("default:bank-cli@{}", self.issuer);
        let out = std::process::Command::new("secret-tool")
            .args(["lookup", "service", "bank-cli", "username", &account])
            .output()
            .expect("secret-tool runs");
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The token bundle file of a login made with `--insecure-storage`.
    pub fn token_file(&self) -> PathBuf {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.config_dir().join("tokens"))
            .expect("a tokens dir (log in with --insecure-storage)")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.remove(0)
    }

    /// Edits the `--insecure-storage` bundle in place, as another program (or an older
    /// `bank`) might have written it.
    pub fn edit_token_file(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.token_file();
        let mut bundle: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read the bundle"))
                .expect("bundle JSON");
        edit(&mut bundle);
        std::fs::write(&path, bundle.to_string()).expect("write the bundle");
    }

    /// Every file under the test's HOME and config dir that contains `needle`.
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.home(), self.config_dir()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default())
                    .contains(needle)
                {
                    found.push(path);
                }
            }
        }
        found
    }

    /// Replaces run-specific values so output can be compared literally.
    pub fn normalize(&self, text: &str) -> String {
        let text = text
            .replace(&self.issuer, "[ISSUER]")
            .replace(&self.api_url, "[API]")
            .replace(&self.dir.path().display().to_string(), "[TMP]");
        replace_ports(&text)
    }
}

/// `127.0.0.1:12345` → `127.0.0.1:[PORT]`.
fn replace_ports(text: &str) -> String {
    let needle = "127.0.0.1:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(needle) {
        out.push_str(&rest[..i + needle.len()]);
        rest = &rest[i + needle.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[PORT]");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.browser_expected.load(Ordering::SeqCst) && !std::thread::panicking() {
            let log = self.browser_log();
            assert!(
                log.contains("started"),
                "the scripted browser was expected to run but never did"
            );
            assert!(
                !log.contains("error:"),
                "the scripted browser failed:\n{log}"
            );
        }
    }
}

/// The file mode of `path` (unix permissions bits).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}
