//! Who plays the person in `bank demo`: a real browser when one can open, else the scripted
//! walker in this process; and the authenticator app, a terminal prompt (or `--yes`) that
//! answers the MFA push through the sandbox's library API.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bank_sandbox::Sandbox;
use bank_sandbox::authz::MfaRequestInfo;

use super::walker::{Password, Step, Walker};
use super::{Options, PASSWORD, USER};
use crate::oauth::Browser;
use crate::oauth::browser::UrlHandler;
use crate::ui::{Ui, status_line};

/// Who plays the person's part in the browser.
pub enum Person {
    /// A real browser (the system's, or `BANK_BROWSER`/`BROWSER`).
    Browser(Browser),
    /// The scripted walker, with the reason a browser is not used.
    Scripted { reason: String },
}

pub fn choose_person(options: &Options) -> Person {
    if options.yes {
        return Person::Scripted {
            reason: "--yes: the demo signs in for you".into(),
        };
    }
    match Browser::from_env(false) {
        b @ Browser::Command(_) => Person::Browser(b),
        b => match display_unavailable() {
            None => Person::Browser(b),
            Some(reason) => Person::Scripted { reason },
        },
    }
}

/// Why no browser can be opened here, if it cannot.
fn display_unavailable() -> Option<String> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        if set("SSH_CONNECTION") || set("SSH_TTY") {
            return Some(
                "this is an SSH session: a browser would open on the other machine".into(),
            );
        }
        return None;
    }
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("no display to open a browser on (DISPLAY and WAYLAND_DISPLAY are unset)".into())
    }
}

/// The browser for `oauth::authorize`: the real one, or the walker in this process.
pub fn browser_for(ui: &Ui, person: &Person, lines: &BrowserLines) -> Browser {
    match person {
        Person::Browser(b) => b.clone(),
        Person::Scripted { .. } => {
            let ui = ui.clone();
            // One walker for the whole demo: one browser profile, one cookie jar.
            let walker = match Walker::new(USER, Password::new(PASSWORD)) {
                Ok(w) => Arc::new(w),
                Err(e) => {
                    ui.status(&format!("  • cannot set up the scripted browser: {e}"));
                    return Browser::None;
                }
            };
            let lines = lines.clone();
            Browser::InProcess(UrlHandler::new(move |url: &str| {
                let walker = walker.clone();
                let ui = ui.clone();
                let lines = lines.clone();
                let url = url.to_owned();
                tokio::spawn(async move {
                    let mut observe = |step: &Step| lines.say(&ui, narrate_step(step));
                    let outcome = match walker.walk_to_callback(&url, &mut observe).await {
                        Ok(callback) => walker.deliver(&callback, &mut observe).await.map(drop),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = outcome {
                        // The CLI's wait then times out; say why now.
                        ui.warn(&format!("the scripted browser failed: {e}"));
                    }
                });
            }))
        }
    }
}

/// The scripted browser's narration runs concurrently with the MFA prompt. While the prompt
/// waits for the person, the browser's lines are held back and printed after the answer,
/// so they never land in the middle of the question.
#[derive(Clone, Default)]
pub struct BrowserLines(Arc<Mutex<Option<Vec<String>>>>);

impl BrowserLines {
    fn say(&self, ui: &Ui, line: String) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_mut() {
            Some(lines) => lines.push(line),
            None => ui.status(&line),
        }
    }

    fn hold(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }

    fn release(&self, ui: &Ui) {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        for line in held.unwrap_or_default() {
            ui.status(&line);
        }
    }
}

fn narrate_step(step: &Step) -> String {
    let text = match step {
        Step::Open { path } => format!("browser   opens {path}"),
        Step::Get { path, status } => format!("browser   GET {path} → {}", status_line(*status)),
        Step::Post { path, status } => {
            format!("browser   POST {path} → {}", status_line(*status))
        }
        Step::SubmittingLogin => {
            format!("browser   fills in the login form as {USER} (password: {PASSWORD})")
        }
        Step::MfaWaiting => "browser   shows “Approve the request on your phone…”".into(),
        Step::MfaDone { status } => format!("browser   the waiting page sees: {status}"),
        Step::Callback { status } => format!(
            "browser   delivers the redirect to bank's loopback /callback → {}",
            status_line(*status)
        ),
    };
    format!("    {text}")
}

/// Plays the authenticator app: waits for the push, asks (or `--yes`), approves or denies,
/// through the sandbox's library API (as `bank-sandbox mfa` does through its admin API).
pub fn answer_mfa(
    sandbox: &Sandbox,
    ui: &Ui,
    user: &str,
    yes: bool,
    lines: &BrowserLines,
) -> tokio::task::JoinHandle<()> {
    let authz = sandbox.authz().clone();
    let ui = ui.clone();
    let user = user.to_owned();
    let lines = lines.clone();
    tokio::spawn(async move {
        let Some(request) = authz
            .wait_for_pending_mfa(&user, Duration::from_secs(300))
            .await
        else {
            return;
        };
        ui.status(&format!(
            "    authz     MFA required: push {} sent to {}'s authenticator ({} wants {})",
            request.id,
            request.username,
            request.client_name,
            request.scopes.join(" ")
        ));
        let approve = if yes {
            ui.status("    phone     --yes: approving");
            true
        } else {
            lines.hold();
            let answer = ask(&request).await;
            lines.release(&ui);
            answer
        };
        let outcome = if approve {
            authz.approve_mfa(&request.id)
        } else {
            authz.deny_mfa(&request.id)
        };
        match outcome {
            Ok(()) if approve => ui.status("    phone     approved"),
            Ok(()) => ui.status("    phone     denied"),
            Err(e) => ui.status(&format!("    phone     {e}")),
        }
    })
}

/// The terminal prompt of the sandbox's authenticator. On its own thread, not the runtime's
/// blocking pool: an unanswered prompt must not keep the process alive after the demo ends.
async fn ask(request: &MfaRequestInfo) -> bool {
    let prompt = format!(
        "Approve request from {} to transfer funds?",
        request.client_name
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let answer = dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact_on(&dialoguer::console::Term::stderr())
            .unwrap_or(false);
        let _ = tx.send(answer);
    });
    rx.await.unwrap_or(false)
}
