//! Everything the CLI says, and where it goes.
//!
//! The rule is that data goes to stdout and everything meant for a person (messages,
//! warnings, progress, prompts) goes to stderr, so `bank balance --json | jq` always sees
//! clean data. Colour is used only when the stream is a terminal and `NO_COLOR` is unset
//! (<https://no-color.org>); spinners only when stderr is a terminal. Commands receive a `Ui`
//! instead of printing directly so that these decisions live in one place.
//!
//! Text reaches the terminal only through here, and every character that could act on a
//! terminal — controls and escape sequences, bidi overrides, line separators — is shown as
//! a visible `\u{…}` escape first: balances, handles, memos, problem details and error
//! descriptions come from servers and other people. `--json` output is written exactly.
//!
//! The layers below the commands never print: a `Ui` is the terminal's [`Person`] for an
//! interactive authorization (the URL, the spinner) and the [`Observer`] of the bank client
//! (`-v` shows each request, response, challenge and authorization step).

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::client::observer::{RefreshReason, RefreshStep};
use crate::client::{Event, Observer};
use crate::error::CliError;
use crate::oauth::device::DevicePrompt;
use crate::oauth::{Person, Waiting};
use crate::qr;

/// Output settings resolved from the global flags and the environment.
#[derive(Debug, Clone)]
pub struct Ui {
    json: bool,
    no_input: bool,
    verbose: u8,
    stderr_color: bool,
    stderr_tty: bool,
    stdin_tty: bool,
    spinners: bool,
}

impl Ui {
    pub fn new(json: bool, no_input: bool, verbose: u8) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stderr_tty = io::stderr().is_terminal();
        Ui {
            json,
            no_input,
            verbose,
            stderr_color: stderr_tty && !no_color,
            stderr_tty,
            stdin_tty: io::stdin().is_terminal(),
            spinners: true,
        }
    }

    /// The same settings without spinners: `bank demo` narrates and prompts on stderr while
    /// a flow waits, and a spinner redrawing its line would garble both.
    pub fn without_spinners(mut self) -> Ui {
        self.spinners = false;
        self
    }

    /// `--json`: commands print machine-readable data instead of prose on stdout.
    pub fn json(&self) -> bool {
        self.json
    }

    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// `--no-input`: never ask anything (the step-up layer also checks it before it would
    /// wait for a browser that cannot be opened).
    pub fn no_input(&self) -> bool {
        self.no_input
    }

    /// Whether we may ask the person something: a terminal on both ends and no `--no-input`.
    pub fn can_prompt(&self) -> bool {
        !self.no_input && self.stdin_tty && self.stderr_tty
    }

    /// Whether someone may be at a terminal to act on what is printed (stdin is one, and
    /// `--no-input` does not say otherwise).
    pub fn person_present(&self) -> bool {
        !self.no_input && self.stdin_tty
    }

    /// A hint for a person at a terminal; scripts reading stderr are spared it.
    pub fn note(&self, message: &str) {
        if self.stderr_tty {
            self.status(&format!("note: {message}"));
        }
    }

    /// One line of data on stdout.
    pub fn data(&self, line: &str) -> Result<(), CliError> {
        write_stdout(&terminal_safe(line))
    }

    /// A value as pretty JSON on stdout (`--json`).
    pub fn data_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| {
            CliError::new(crate::error::ErrorKind::General, "cannot encode JSON").with_source(e)
        })?;
        // Exact: JSON escapes control characters itself, and scripts need the bytes sent.
        write_stdout(&text)
    }

    /// A value as one line of JSON on stdout, flushed at once: for a script that reads it
    /// while the command still runs (`bank login --device --json`).
    pub fn data_json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string(value).map_err(|e| {
            CliError::new(crate::error::ErrorKind::General, "cannot encode JSON").with_source(e)
        })?;
        write_stdout(&text)
    }

    /// A message for the person on stderr.
    pub fn status(&self, message: &str) {
        write_stderr(&terminal_safe(message));
    }

    /// A message in a colour (on a colour terminal): the demo's headings.
    pub fn status_painted(&self, message: &str, code: &str) {
        write_stderr(&self.paint(&terminal_safe(message), code));
    }

    /// A success message (green tick on a colour terminal).
    pub fn success(&self, message: &str) {
        let mark = self.paint("✓", "32");
        write_stderr(&format!("{mark} {}", terminal_safe(message)));
    }

    /// A loud warning on stderr (yellow on a colour terminal).
    pub fn warn(&self, message: &str) {
        let label = self.paint("warning:", "1;33");
        write_stderr(&format!("{label} {}", terminal_safe(message)));
    }

    /// Extra detail with `-v`.
    pub fn debug(&self, message: &str) {
        if self.verbose > 0 {
            self.status(&format!("debug: {message}"));
        }
    }

    /// Prints an error the way every command reports one: `error: …`, `caused by: …`, hints.
    pub fn error(&self, err: &CliError) {
        let label = self.paint("error:", "1;31");
        let mut text = format!("{label} {}\n", terminal_safe(&err.message));
        for cause in err.causes() {
            text.push_str(&format!("  caused by: {}\n", terminal_safe(&cause)));
        }
        for hint in &err.hints {
            let label = self.paint("hint:", "1;36");
            text.push_str(&format!("  {label} {}\n", terminal_safe(hint)));
        }
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }

    /// A spinner on stderr; invisible when stderr is not a terminal.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        let bar = if self.stderr_tty && self.spinners {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// Wraps `text` in an ANSI colour when colour is allowed on stderr.
    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.stderr_color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// `text` with anything that could act on a terminal shown escaped; the newlines and tabs
/// of a message stay.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    bank_protocol::text::escape_hidden(text, &['\n', '\t'])
}

fn write_stdout(line: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").map_err(stdout_error)?;
    out.flush().map_err(stdout_error)
}

fn write_stderr(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

fn stdout_error(err: io::Error) -> CliError {
    if err.kind() == io::ErrorKind::BrokenPipe {
        // `bank history | head -1`: the reader left; that is not a failure worth a message.
        CliError::new(crate::error::ErrorKind::StdoutClosed, "stdout closed").with_source(err)
    } else {
        CliError::new(crate::error::ErrorKind::General, "cannot write to stdout").with_source(err)
    }
}

impl Person for Ui {
    fn notice(&self, message: &str) {
        self.status(message);
    }

    fn warn(&self, message: &str) {
        Ui::warn(self, message);
    }

    fn wait(&self, message: &str) -> Box<dyn Waiting> {
        Box::new(Spinner(self.spinner(message)))
    }

    /// The codes, and on a terminal a QR code of the complete URI for a phone's camera —
    /// first, so that the page and the code, printed under it, stay on a small screen.
    fn device_code(&self, prompt: &DevicePrompt) {
        match self.device_qr(prompt) {
            Some(qr) => {
                // Ours, not text from elsewhere: its colour codes go out as they are.
                write_stderr(qr.trim_end_matches('\n'));
                self.status(&prompt.beside_qr());
            }
            None => self.status(&prompt.instructions()),
        }
    }
}

impl Ui {
    /// The QR code to show for `prompt`: only when stderr is a terminal (a log or a pipe
    /// gets the words alone), coloured unless `NO_COLOR`.
    pub fn device_qr(&self, prompt: &DevicePrompt) -> Option<String> {
        if !self.stderr_tty {
            return None;
        }
        let style = if self.stderr_color {
            qr::Style::Colored
        } else {
            qr::Style::Plain
        };
        qr::render(prompt.qr_target(), style)
    }
}

/// Clears its spinner when the wait ends.
struct Spinner(ProgressBar);

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Observer for Ui {
    fn event(&self, event: &Event<'_>) {
        match event {
            // Not a detail of the exchange: the person hears why the command goes on.
            Event::AnswerLost { key, batch } => self.status(&format!(
                "The connection broke after the {} was sent; sending it once more with the same idempotency key {key} (the bank will not move the money twice).",
                if *batch { "batch" } else { "transfer" }
            )),
            _ if self.verbose == 0 => {}
            Event::Request {
                method,
                url,
                operation,
                dpop_jkt,
                ..
            } => {
                let key = match operation.key() {
                    Some(key) => format!("  Idempotency-Key: {key}"),
                    None => String::new(),
                };
                self.debug(&format!("→ {method} {url}{key}"));
                if let Some(jkt) = dpop_jkt {
                    self.debug(&format!("  DPoP proof by key {jkt}"));
                }
            }
            Event::Response {
                method,
                url,
                status,
                www_authenticate,
            } => {
                self.debug(&format!("← {method} {url}: {}", status_line(*status)));
                if let Some(challenge) = www_authenticate {
                    self.debug(&format!("  WWW-Authenticate: {challenge}"));
                }
            }
            Event::Challenge(challenge) => self.debug(&format!(
                "the bank API asked for step-up ({:?})",
                challenge.reason
            )),
            Event::StepUpAuthorizing { params, .. } => {
                let mut line = format!("step-up: requesting scope `{}`", params.scopes.join(" "));
                if !params.acr_values.is_empty() {
                    line.push_str(&format!(", acr_values `{}`", params.acr_values.join(" ")));
                }
                if let Some(max_age) = params.max_age {
                    line.push_str(&format!(", max_age {max_age}"));
                }
                if let Some(approval) = &params.authorization_details {
                    let kind = match approval {
                        bank_protocol::Approval::Payments(_) => bank_protocol::PAYMENT_INITIATION,
                        bank_protocol::Approval::Batch(_) => bank_protocol::PAYMENT_BATCH,
                    };
                    line.push_str(&format!(
                        ", authorization_details {kind} ({})",
                        approval.action()
                    ));
                }
                self.debug(&line);
            }
            Event::StepUpAuthorized { .. } => {
                self.debug("step-up token received: used for one retry, never stored")
            }
            Event::Refresh(step) => self.debug(match step {
                RefreshStep::Refreshing(RefreshReason::Expired) => {
                    "access token expired; refreshing"
                }
                RefreshStep::Refreshing(RefreshReason::Rejected) => {
                    "the API rejected the token; refreshing once"
                }
                RefreshStep::WaitingForOtherProcess => {
                    "another bank process is refreshing the token; waiting for it"
                }
                RefreshStep::OtherProcessRefreshed => {
                    "another bank process refreshed the token; using its result"
                }
            }),
        }
    }
}

/// `403 Forbidden`.
/// Rows as left-aligned columns two spaces apart (widths in characters; the last column is
/// not padded).
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(have) if *have >= w => {}
                Some(have) => *have = w,
                None => widths.push(w),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        })
        .collect()
}

pub fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_for_the_terminal_keeps_newlines_and_escapes_the_rest() {
        assert_eq!(
            terminal_safe("Balance: 1,000.00 USD"),
            "Balance: 1,000.00 USD"
        );
        assert_eq!(
            terminal_safe("to bob\u{202e}\u{1b}]0;pwned\u{7}\nnext\tcol"),
            "to bob\\u{202e}\\u{1b}]0;pwned\\u{7}\nnext\tcol"
        );
    }
}
