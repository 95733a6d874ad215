//! Who plays the person in `bank demo`: a real browser when one can open, else the scripted
//! walker in this process; and the authenticator app, a terminal prompt (or `--yes`) that
//! answers the MFA push through the sandbox's library API, with the number the waiting page
//! shows (number matching): the scripted phone reads it from the scripted browser's page, as
//! a person would; a person with a real browser types it.

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
                    let mut observe = |step: &Step| {
                        if let Step::MfaWaiting {
                            code: Some(code), ..
                        } = step
                        {
                            lines.show_number(code);
                        }
                        lines.say(&ui, narrate_step(step));
                    };
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
/// It also carries the number the scripted browser's waiting page shows, to the phone.
#[derive(Clone)]
pub struct BrowserLines(
    Arc<Mutex<Option<Vec<String>>>>,
    Arc<tokio::sync::watch::Sender<Option<String>>>,
);

impl Default for BrowserLines {
    fn default() -> Self {
        BrowserLines(
            Arc::default(),
            Arc::new(tokio::sync::watch::channel(None).0),
        )
    }
}

impl BrowserLines {
    fn show_number(&self, code: &str) {
        self.1.send_replace(Some(code.to_owned()));
    }

    /// The number on the scripted browser's page, once it shows one.
    async fn number(&self) -> Option<String> {
        let mut shown = self.1.subscribe();
        let wait = shown.wait_for(Option::is_some);
        let found = tokio::time::timeout(Duration::from_secs(60), wait).await;
        found.ok()?.ok()?.clone()
    }

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
        Step::MfaWaiting { payment, code } => format!(
            "browser   shows “{}” and the number {} to type on the phone",
            payment
                .as_deref()
                .unwrap_or("Approve the request on your phone"),
            code.as_deref().unwrap_or("?")
        ),
        Step::MfaDone { status } => format!("browser   the waiting page sees: {status}"),
        Step::DeviceCode { code } => format!("browser   types the device code {code}"),
        Step::DeviceConsent { what, pressed } => format!(
            "browser   shows “{}” and presses “{pressed}”",
            what.as_deref().unwrap_or("what the device asked for")
        ),
        Step::DeviceDone { result } => format!("browser   the device page says: {result}"),
        Step::Callback { status } => format!(
            "browser   delivers the redirect to bank's loopback /callback → {}",
            status_line(*status)
        ),
    };
    format!("    {text}")
}

/// Plays the authenticator app: waits for the push, shows what it approves, asks (or
/// `--yes`), and approves with the number the browser shows — read from the scripted page
/// (`scripted`), or typed by the person looking at their real browser — or denies.
pub fn answer_mfa(
    sandbox: &Sandbox,
    ui: &Ui,
    user: &str,
    yes: bool,
    scripted: bool,
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
            "    authz     MFA required: push {} sent to {}'s authenticator: {}",
            request.id,
            request.username,
            request.summary()
        ));
        let number = if scripted { lines.number().await } else { None };
        let what = request
            .payment()
            .map_or_else(|| request.scopes.join(" "), |p| p.action());
        // The push names the payment, never the number: that is only on the page in front
        // of the person, which is what makes a stranger's push useless to approve.
        ui.status(&format!("    phone     the push says: {what}"));
        let answer = if yes {
            match &number {
                Some(n) => ui.status(&format!(
                    "    phone     --yes: types the browser's number {n} and approves"
                )),
                None => ui.status("    phone     --yes: approving"),
            }
            Some(number)
        } else {
            lines.hold();
            let answer = ask(&request, number).await;
            lines.release(&ui);
            answer
        };
        let outcome = match &answer {
            Some(Some(code)) => authz.approve_with_code(&request.id, code).map(drop),
            Some(None) => {
                ui.status("    phone     the browser showed no number to type");
                authz.deny_mfa(&request.id)
            }
            None => authz.deny_mfa(&request.id),
        };
        match outcome {
            Ok(()) if matches!(answer, Some(Some(_))) => ui.status("    phone     approved"),
            Ok(()) => ui.status("    phone     denied"),
            Err(e) => ui.status(&format!("    phone     {e}")),
        }
    })
}

/// The terminal prompt of the sandbox's authenticator, asking what the real one asks: the
/// number the browser shows (number matching), typed by the person; Enter alone denies. The
/// sandbox checks the number, so a wrong one is refused as on the real authenticator. On its
/// own thread, not the runtime's blocking pool: an unanswered prompt must not keep the
/// process alive after the demo ends. `None`: denied; `Some(typed)`: approved with it.
async fn ask(request: &MfaRequestInfo, _shown: Option<String>) -> Option<Option<String>> {
    let summary = request.summary();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let term = dialoguer::console::Term::stderr();
        let _ = term.write_line(&format!("    phone     Approve: {summary}?"));
        let typed = dialoguer::Input::<String>::new()
            .with_prompt(
                "    phone     Type the number your browser shows to approve (Enter denies)",
            )
            .allow_empty(true)
            .interact_text_on(&term)
            .ok()
            .map(|t| t.trim().to_owned());
        let answer = match typed {
            Some(number) if !number.is_empty() => Some(Some(number)),
            _ => None,
        };
        let _ = tx.send(answer);
    });
    rx.await.unwrap_or(None)
}
