//! Opening the authorization URL for the person.
//!
//! `BANK_BROWSER` (else `BROWSER`) names a command run with the URL as its last argument —
//! that is how the tests' scripted user and unusual setups drive the flow; otherwise the
//! platform opener (`open` crate); `--no-browser` opens nothing; `bank demo` hands the URL to
//! an in-process scripted person ([`UrlHandler`]) where no browser can be opened. The URL is printed on stderr
//! by the caller in every case. Only `http`/`https` URLs are ever handed to an opener: the
//! authorization endpoint comes from a discovery document, and a `file:` or custom-scheme URL
//! there must not become a local program launch.

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("refusing to open a non-http(s) URL in the browser")]
    UnsafeUrl,
    #[error("cannot run the browser command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the system browser")]
    System(#[source] std::io::Error),
}

/// How to show the authorization URL to the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Browser {
    /// A command line from `BANK_BROWSER`/`BROWSER`, split on whitespace.
    Command(String),
    /// The platform's default opener.
    System,
    /// Only print the URL.
    None,
    /// Hand the URL to code in this process (`bank demo`'s scripted person).
    InProcess(UrlHandler),
}

/// A function that receives the authorization URL; it must not block (spawn the work).
#[derive(Clone)]
pub struct UrlHandler(Arc<dyn Fn(&str) + Send + Sync>);

impl UrlHandler {
    pub fn new(handler: impl Fn(&str) + Send + Sync + 'static) -> UrlHandler {
        UrlHandler(Arc::new(handler))
    }
}

impl fmt::Debug for UrlHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UrlHandler")
    }
}

impl PartialEq for UrlHandler {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for UrlHandler {}

/// A started browser command; kept so it can be reaped after the login.
pub struct Launched(Option<Child>);

impl Launched {
    /// Reaps a finished browser command without blocking on a long-lived one.
    pub fn reap(mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.try_wait();
        }
    }
}

impl Browser {
    /// `--no-browser` wins, then `BANK_BROWSER`, then `BROWSER`, then the system opener.
    pub fn from_env(no_browser: bool) -> Browser {
        if no_browser {
            return Browser::None;
        }
        for var in ["BANK_BROWSER", "BROWSER"] {
            if let Ok(v) = std::env::var(var)
                && !v.trim().is_empty()
            {
                return Browser::Command(v);
            }
        }
        Browser::System
    }

    /// Whether opening a URL puts a page in front of the person: a browser command or the
    /// in-process person always do; the system opener needs a desktop — on Linux a
    /// `DISPLAY` or `WAYLAND_DISPLAY`, and nowhere an SSH session without one (the page
    /// would open on the remote machine's screen, if at all).
    pub fn can_open(&self) -> bool {
        self.why_not().is_none()
    }

    /// Why no page can be put in front of the person here, in words; `None` when one can.
    pub fn why_not(&self) -> Option<&'static str> {
        self.why_not_in(
            &|name| std::env::var_os(name),
            cfg!(any(target_os = "macos", target_os = "windows")),
        )
    }

    #[cfg(test)]
    fn can_open_in(
        &self,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
        desktop_os: bool,
    ) -> bool {
        self.why_not_in(env, desktop_os).is_none()
    }

    fn why_not_in(
        &self,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
        desktop_os: bool,
    ) -> Option<&'static str> {
        match self {
            Browser::Command(_) | Browser::InProcess(_) => None,
            Browser::None => Some("--no-browser was given"),
            Browser::System => {
                let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
                let display = set("DISPLAY") || set("WAYLAND_DISPLAY");
                if set("SSH_CONNECTION") && !display {
                    return Some("this is an SSH session without a display");
                }
                (!desktop_os && !display).then_some("no display here (DISPLAY is unset)")
            }
        }
    }

    pub fn open(&self, url: &str) -> Result<Launched, BrowserError> {
        check_url(url)?;
        match self {
            Browser::None => Ok(Launched(None)),
            Browser::InProcess(handler) => {
                (handler.0)(url);
                Ok(Launched(None))
            }
            Browser::System => open::that_detached(url)
                .map(|()| Launched(None))
                .map_err(BrowserError::System),
            Browser::Command(command) => {
                // Split like a POSIX shell (quotes, escapes), as gh does with GH_BROWSER, so
                // `BANK_BROWSER='"/opt/My Browser/browser" --new-window'` works; nothing is
                // run through a shell.
                let invalid = |why: &str| BrowserError::Spawn {
                    command: command.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()),
                };
                let words = shlex::split(command).ok_or_else(|| invalid("unbalanced quotes"))?;
                let mut words = words.into_iter();
                let program = words.next().ok_or_else(|| invalid("empty command"))?;
                // The browser's own output must not mix with our stdout (data only).
                let child = Command::new(program)
                    .args(words)
                    .arg(url)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .map_err(|source| BrowserError::Spawn {
                        command: command.clone(),
                        source,
                    })?;
                Ok(Launched(Some(child)))
            }
        }
    }
}

fn check_url(url: &str) -> Result<(), BrowserError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(BrowserError::UnsafeUrl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_http_urls() {
        for url in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "x-bank://login",
            "not a url",
        ] {
            assert!(
                matches!(Browser::None.open(url), Err(BrowserError::UnsafeUrl)),
                "{url}"
            );
        }
        assert!(
            Browser::None
                .open("https://example.com/authorize?x=1")
                .is_ok()
        );
    }

    #[test]
    fn a_browser_opens_only_where_a_desktop_can_show_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let system = Browser::System;
        // Linux: a display decides; an empty one is none.
        assert!(!system.can_open_in(&env(&[]), false));
        assert!(!system.can_open_in(&env(&[("DISPLAY", "")]), false));
        assert!(system.can_open_in(&env(&[("DISPLAY", ":0")]), false));
        assert!(system.can_open_in(&env(&[("WAYLAND_DISPLAY", "wayland-0")]), false));
        // Over SSH only with a (forwarded) display, on every platform.
        let ssh = &[("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")];
        assert!(!system.can_open_in(&env(ssh), false));
        assert!(!system.can_open_in(&env(ssh), true));
        let forwarded = &[
            ("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22"),
            ("DISPLAY", "localhost:10.0"),
        ];
        assert!(system.can_open_in(&env(forwarded), false));
        // macOS and Windows have a desktop without DISPLAY.
        assert!(system.can_open_in(&env(&[]), true));
        // `--no-browser` never opens; a browser command always does.
        assert!(!Browser::None.can_open_in(&env(&[("DISPLAY", ":0")]), true));
        assert!(Browser::Command("firefox".into()).can_open_in(&env(ssh), false));
    }

    #[test]
    fn missing_command_is_an_error_not_a_panic() {
        let b = Browser::Command("/nonexistent/browser --flag".into());
        assert!(matches!(
            b.open("https://example.com"),
            Err(BrowserError::Spawn { .. })
        ));
    }

    #[test]
    fn browser_commands_are_split_like_a_shell_not_run_by_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("args");
        let script = dir.path().join("my browser");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", out.display()),
        )
        .expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let command = format!("'{}' --new-window \"two words\" $HOME", script.display());
        let mut launched = Browser::Command(command)
            .open("https://example.com/a?b=c")
            .expect("launched");
        let status = launched.0.as_mut().expect("a child").wait().expect("waits");
        assert!(status.success());
        let args = std::fs::read_to_string(&out).expect("the browser ran");
        assert_eq!(
            args,
            "--new-window\ntwo words\n$HOME\nhttps://example.com/a?b=c\n"
        );
        assert!(matches!(
            Browser::Command("'unbalanced".into()).open("https://example.com"),
            Err(BrowserError::Spawn { .. })
        ));
    }
}
