//! The quick path of the README and docs/SANDBOX.md exactly as written: `bank sandbox` on
//! its own fixed ports (127.0.0.1:8400 and 8401: this test fails, saying so, when something
//! else holds them), then the lines a person types in a second terminal — the default
//! profile, no address given anywhere — each in a pseudo-terminal, `y` answering the
//! confirmation and the push approved the way the waiting page prints it:
//! `bank-sandbox mfa approve --code NN`.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::TestEnv;
use crate::common::mfa::wait_until;
use crate::common::{BANK, BROWSER, keyring_bus};
use crate::test_device::{Steps, alice, person_approves};
use crate::test_readme::{DEVICE_MARKER, DOCS, SERVER_MARKER, TERMINAL_MARKER, marked_blocks};

const ISSUER_PORT: u16 = 8400;
const API_PORT: u16 = 8401;

/// The sandbox started as written; stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A person's environment: a fresh home, `bank` and `bank-sandbox` on `PATH`, the scripted
/// browser signing in as alice, the suite's private Secret Service.
struct Person {
    home: PathBuf,
    path: String,
    browser_log: PathBuf,
}

impl Person {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("SHELL", "/bin/bash")
            .env("NO_COLOR", "1")
            .env("BANK_BROWSER", BROWSER)
            .env("BANK_TEST_BROWSER_LOG", &self.browser_log)
            .env("BANK_TEST_USERNAME", "alice")
            .env("BANK_TEST_PASSWORD", "wonderland")
            .env("DBUS_SESSION_BUS_ADDRESS", keyring_bus())
            .current_dir(&self.home);
        cmd
    }

    fn browser_log(&self) -> String {
        std::fs::read_to_string(&self.browser_log).unwrap_or_default()
    }

    /// `line` typed at a terminal; `y` is typed too, for a confirmation.
    fn type_line(&self, line: &str) -> Child {
        let mut child = self
            .command("script")
            .args(["-qec", line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"y")
            .expect("typed");
        child
    }

    /// Approves the push the waiting page shows, as the page says to.
    fn approve_as_the_page_says(&self, seen_before: usize) {
        wait_until(|| self.browser_log()[seen_before..].contains("mfa: waiting"));
        let log = self.browser_log();
        let code = log[seen_before..]
            .lines()
            .find_map(|l| l.split("; number ").nth(1))
            .map(str::trim)
            .expect("the waiting page shows a number")
            .to_owned();
        let out = self
            .command("bank-sandbox")
            .args(["mfa", "approve", "--code", &code])
            .output()
            .expect("bank-sandbox runs");
        assert!(
            out.status.success(),
            "bank-sandbox mfa approve --code {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_quick_path_runs_as_written() {
    let bin = Path::new(BANK).parent().expect("bank's directory");
    assert!(
        bin.join("bank-sandbox").exists(),
        "bank-sandbox is built with the workspace's tests: run scripts/test"
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (doc, text) in DOCS {
        let Some((_, server_line)) = marked_blocks(text, SERVER_MARKER).into_iter().next() else {
            continue;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let person = Person {
            home: dir.path().join("home"),
            path: path.clone(),
            browser_log: dir.path().join("browser.log"),
        };
        std::fs::create_dir_all(&person.home).expect("home");
        for port in [ISSUER_PORT, API_PORT] {
            assert!(
                !listening(port),
                "127.0.0.1:{port} is in use: stop what holds it (a `bank sandbox` of yours?) to run this test"
            );
        }
        let server = Server(
            person
                .command("bash")
                .args(["-c", &format!("exec {}", server_line.trim())])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the sandbox starts"),
        );
        wait_until(|| listening(ISSUER_PORT) && listening(API_PORT));

        for (block_no, block) in marked_blocks(text, TERMINAL_MARKER) {
            for line in block.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let seen = person.browser_log().len();
                let child = person.type_line(line);
                if line.starts_with("bank transfer") {
                    person.approve_as_the_page_says(seen);
                }
                let out = child.wait_with_output().expect("the line ends");
                let screen = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{doc}:{block_no}: `{line}` failed ({})\n--- screen\n{screen}",
                    out.status
                );
                // What the comment promises is on the screen.
                if let Some(promise) = line.split("# ").nth(1)
                    && promise.starts_with("Balance:")
                {
                    assert!(screen.contains(promise.trim()), "{line}\n{screen}");
                }
                if line.starts_with("bank transfer") {
                    assert!(
                        screen.contains("Transferred 25.00 USD to bob"),
                        "{line}\n{screen}"
                    );
                }
                ran += 1;
            }
        }
        drop(server);
        wait_until(|| !listening(ISSUER_PORT) && !listening(API_PORT));
    }
    assert!(
        ran >= 8,
        "README and docs/SANDBOX.md each ran their quick path: {ran} lines"
    );
}

/// The device-flow script of the README as written: it hands the person the link on stderr
/// while `bank` waits; the person opens it on another device and approves; the script ends
/// with the signed-in user on stdout.
#[test]
fn the_device_flow_script_runs_as_written() {
    let env = TestEnv::start();
    let mut ran = 0;
    for (doc, text) in DOCS {
        for (line_no, block) in marked_blocks(text, DEVICE_MARKER) {
            let mut child = env
                .shell_command("bash")
                .args(["-euo", "pipefail", "-c", &block])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("bash runs");
            // What the script tells the person: "Open <link> (code …)".
            let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
            let mut said = String::new();
            let link = loop {
                let mut line = String::new();
                let read = std::io::BufRead::read_line(&mut stderr, &mut line).expect("stderr");
                assert!(
                    read > 0,
                    "{doc}:{line_no}: the script never handed out a link:\n{said}"
                );
                said.push_str(&line);
                if let Some(rest) = line.strip_prefix("Open ") {
                    break rest.split(' ').next().expect("a link").to_owned();
                }
            };
            assert_eq!(
                person_approves(&env, alice(), &link, false, &Steps::default()),
                "approved"
            );
            let out = child.wait_with_output().expect("the script ends");
            assert!(out.status.success(), "{doc}:{line_no}: {}", out.status);
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice");
            ran += 1;
        }
    }
    assert!(ran >= 1, "the README's device-flow script ran");
}
