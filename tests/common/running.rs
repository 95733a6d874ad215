//! A `bank` run in the background whose output is read while it runs: for flows where the
//! test acts on what `bank` printed (the device flow's code) before it exits.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Run, TestEnv};

/// A `bank` run in progress, its output read as it comes.
pub struct Running {
    child: Child,
    stdout: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub fn start(env: &TestEnv, args: &[&str]) -> Running {
        let mut child = env
            .std_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bank starts");
        let (tx, stdout) = channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            stdout,
            stdout_seen: Vec::new(),
            stderr,
        }
    }

    /// The next line on stdout (a minute at most).
    pub fn stdout_line(&mut self) -> String {
        let line = self
            .stdout
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line on stdout; stderr:\n{}", self.stderr()));
        self.stdout_seen.push(line.clone());
        line
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Waits (a minute at most) until stderr contains `needle`; returns stderr so far.
    pub fn stderr_until(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "never printed {needle:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn interrupt(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    pub fn finish(mut self, env: &TestEnv) -> Run {
        let status = self.child.wait().expect("bank exits");
        let mut stdout = self.stdout_seen.join("\n");
        loop {
            match self.stdout.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    if !stdout.is_empty() {
                        stdout.push('\n');
                    }
                    stdout.push_str(&line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout never closed"),
            }
        }
        // Let the stderr reader drain.
        std::thread::sleep(Duration::from_millis(50));
        Run {
            code: status.code().unwrap_or(-1),
            stdout: env.normalize(&stdout),
            stderr: env.normalize(&self.stderr()),
        }
    }
}
