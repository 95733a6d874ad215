//! `bank demo`'s story: the whole step-up flow against a throwaway sandbox, narrated.
//!
//! [`run`] starts the sandbox in-process on ephemeral loopback ports with a temporary data
//! dir, builds a `Ctx` for a temporary `demo` profile whose tokens go to a file-only store in
//! the same temp dir (it cannot reach the person's keyring at all), and then walks the seed's
//! story with the CLI's real machinery — `oauth::authorize`, the token store, the API client —
//! narrating each step on stderr with the HTTP exchanges that matter (status lines and
//! `WWW-Authenticate` headers as the bank API sent them, read from the sandbox's audit trail;
//! tokens only as a short prefix). The person's part is real where it can be: a browser opens
//! when there is a display (else [`walker`] signs in over HTTP, as the tests' scripted user
//! does), and the MFA push becomes a terminal prompt answered through the sandbox's library.
//! Each step checks what it shows, so the demo fails (non-zero) when the story does not hold.

pub use bank_sandbox::walker;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bank_sandbox::api::ApiRequestRecord;
use bank_sandbox::authz::MfaRequestInfo;
use bank_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::api::{ClientError, IdempotencyKey, TransferRequest, group_thousands};
use crate::challenge::StepUpReason;
use crate::config::{ConfigFile, Env, Overrides, ProfileFile};
use crate::error::{CliError, ErrorKind};
use crate::oauth::browser::UrlHandler;
use crate::oauth::{self, AuthParams, Browser, Interaction, OAuthError};
use crate::session::Ctx;
use crate::stepup::{self, StepUp, StepUpError};
use crate::token_store::{Storage, TokenStore};
use crate::ui::Ui;
use walker::{Password, Step, Walker};

/// The demo's person and what they send.
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";
const RECIPIENT: &str = "bob";
const AMOUNT: &str = "25.00";
const TRANSFER_SCOPE: &str = "transfer:funds";
const PROFILE: &str = "demo";
const STEPS: usize = 7;

/// How the demo runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--yes`: approve everything, never open a browser, never prompt.
    pub yes: bool,
}

/// Who plays the person's part in the browser.
enum Person {
    /// A real browser (the system's, or `BANK_BROWSER`/`BROWSER`).
    Browser(Browser),
    /// The scripted walker, with the reason a browser is not used.
    Scripted { reason: String },
}

/// Runs the whole story. `Ok` only when every step showed what it should.
pub async fn run(ui: &Ui, options: Options) -> Result<(), CliError> {
    // The narration and the MFA prompt share stderr with the waits: no spinners.
    let ui = ui.clone().without_spinners();
    if !options.yes && !ui.can_prompt() {
        return Err(CliError::usage(
            "the demo asks you to approve a transfer, but there is no terminal to ask on",
        )
        .hint("run `bank demo --yes` to approve everything and run unattended"));
    }
    let person = choose_person(&options);

    let n = Narrator { ui: &ui };
    n.title("bank demo — OAuth step-up authentication, start to finish");

    let temp = tempfile::Builder::new()
        .prefix("bank-demo-")
        .tempdir()
        .map_err(|e| {
            CliError::new(ErrorKind::General, "cannot create a temporary directory").with_source(e)
        })?;
    let mut config = SandboxConfig::ephemeral();
    config.data_dir = Some(temp.path().join("sandbox"));
    let sandbox = Sandbox::start(config).await.map_err(|e| {
        CliError::new(ErrorKind::General, "cannot start the sandbox").with_source(e)
    })?;
    let config_dir = temp.path().join("config");
    let ctx = demo_ctx(&ui, &sandbox, &config_dir)?;

    n.line("Setting up a throwaway bank (nothing here touches your profiles or your keyring):");
    n.item(&format!(
        "authorization server (issuer)  {}",
        sandbox.issuer()
    ));
    n.item(&format!(
        "bank API                       {}",
        sandbox.api_url()
    ));
    n.item(&format!(
        "sandbox data                   {}",
        temp.path().join("sandbox").display()
    ));
    n.item(&format!(
        "token store                    a throwaway 0600 file under {} — not your system keyring",
        config_dir.display()
    ));
    n.item("everything is deleted when the demo ends");

    let browser_lines = BrowserLines::default();
    let story = Story {
        n,
        ctx: &ctx,
        sandbox: &sandbox,
        options: &options,
        browser: browser_for(&n, &person, &browser_lines),
        browser_lines,
        scripted_reason: match &person {
            Person::Scripted { reason } => Some(reason.clone()),
            Person::Browser(_) => None,
        },
    };
    let result = story.tell().await;
    sandbox.shutdown().await;
    drop(temp);
    match &result {
        Ok(()) => n.line(
            "\nDone. The sandbox is stopped and its temporary files, tokens included, are deleted.",
        ),
        Err(_) => n.line("\nThe demo stopped early; its temporary files are deleted."),
    }
    result
}

fn choose_person(options: &Options) -> Person {
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
fn browser_for(n: &Narrator<'_>, person: &Person, lines: &BrowserLines) -> Browser {
    match person {
        Person::Browser(b) => b.clone(),
        Person::Scripted { .. } => {
            let ui = n.ui.clone();
            // One walker for the whole demo: one browser profile, one cookie jar.
            let walker = match Walker::new(USER, Password::new(PASSWORD)) {
                Ok(w) => Arc::new(w),
                Err(e) => {
                    n.item(&format!("cannot set up the scripted browser: {e}"));
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
struct BrowserLines(Arc<Mutex<Option<Vec<String>>>>);

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

fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

/// A `Ctx` for the temporary `demo` profile: the sandbox's addresses, defaults for the rest,
/// the person's environment (`BANK_*`) and config file ignored, tokens in a file-only store.
fn demo_ctx(ui: &Ui, sandbox: &Sandbox, config_dir: &std::path::Path) -> Result<Ctx, CliError> {
    let mut file = ConfigFile::default();
    file.profiles.insert(
        PROFILE.to_owned(),
        ProfileFile {
            issuer: Some(sandbox.issuer().to_owned()),
            api_url: Some(sandbox.api_url().to_owned()),
            ..ProfileFile::default()
        },
    );
    let profile = crate::config::resolve(
        &file,
        &Env::default(),
        &Overrides {
            profile: Some(PROFILE.to_owned()),
            callback_port: None,
        },
    )?;
    let http = crate::session::http_client(concat!("bank/", env!("CARGO_PKG_VERSION"), " (demo)"))?;
    Ok(Ctx {
        ui: ui.clone(),
        profile,
        config_dir: config_dir.to_owned(),
        http,
        store: TokenStore::file_only(config_dir),
        env_token: None,
    })
}

/// Narration on stderr.
#[derive(Clone, Copy)]
struct Narrator<'a> {
    ui: &'a Ui,
}

impl Narrator<'_> {
    fn title(&self, text: &str) {
        self.ui.status(&format!("\n{}\n", self.ui.paint(text, "1")));
    }
    fn step(&self, number: usize, text: &str) {
        let head = format!("Step {number}/{STEPS}  {text}");
        self.ui
            .status(&format!("\n{}", self.ui.paint(&head, "1;36")));
    }
    fn line(&self, text: &str) {
        self.ui.status(text);
    }
    fn item(&self, text: &str) {
        self.ui.status(&format!("  • {text}"));
    }
    fn say(&self, text: &str) {
        self.ui.status(&format!("  {text}"));
    }
    fn ok(&self, text: &str) {
        self.ui.success(text);
    }
    /// The API exchanges the bank recorded since `since`, as status lines and challenges.
    fn exchanges(&self, records: &[ApiRequestRecord]) {
        for r in records {
            self.ui.status(&format!(
                "  ← {} {}: {}",
                r.method,
                r.path,
                status_line(r.status)
            ));
            if let Some(challenge) = &r.www_authenticate {
                self.ui
                    .status(&format!("    WWW-Authenticate: {challenge}"));
            }
        }
    }
}

struct Story<'a> {
    n: Narrator<'a>,
    ctx: &'a Ctx,
    sandbox: &'a Sandbox,
    options: &'a Options,
    browser: Browser,
    browser_lines: BrowserLines,
    /// Why the walker plays the browser, when it does.
    scripted_reason: Option<String>,
}

impl Story<'_> {
    async fn tell(&self) -> Result<(), CliError> {
        let n = self.n;
        let ctx = self.ctx;
        let api = ctx.api();

        // 1. The everyday login.
        n.step(1, "Sign in for an everyday token (scope view:balance)");
        self.explain_person();
        let tokens = oauth::authorize(
            &ctx.http,
            &ctx.profile,
            &ctx.metadata().await?,
            &AuthParams {
                scopes: ctx.profile.scopes.clone(),
                ..AuthParams::default()
            },
            self.interaction("Waiting for the sign-in…"),
        )
        .await?;
        let bundle = ctx.bundle_from(tokens, None);
        let saved = ctx.store.save(&ctx.key(), &bundle, true)?;
        let user = bundle.username.clone().unwrap_or_else(|| USER.to_owned());
        n.ok(&format!("Logged in to the sandbox as {user}."));
        n.say(&format!(
            "access token {} — {}",
            redact(bundle.access_token.secret()),
            describe_claims(bundle.access_token.secret())
        ));
        n.say(&format!(
            "refresh token {}; both stored in the demo's {}",
            if bundle.refresh_token.is_some() {
                "received"
            } else {
                "not received"
            },
            match &saved.storage {
                Storage::File(_) => "throwaway token file",
                Storage::Keyring => "keyring",
            }
        ));

        // 2. Balance with the everyday token.
        n.step(2, "Read the balance with the everyday token");
        let credential = ctx.credential().await?;
        n.say(&format!(
            "→ GET /v1/balance  Authorization: Bearer {}",
            redact(credential.access_token().secret())
        ));
        let seen = self.audit_len();
        let balance = ctx
            .call_api(|t| {
                let api = api.clone();
                async move { api.balance(&t).await }
            })
            .await?;
        n.exchanges(&self.audit_since(seen));
        n.ok(&format!("Balance: {}", money_of(&balance, "balance")));

        // 3. The transfer attempt with the everyday token: 403 insufficient_scope.
        n.step(3, "Try to move money with the same token");
        let request = TransferRequest::new(RECIPIENT, AMOUNT, "USD", None)
            .map_err(|e| CliError::new(ErrorKind::General, e.to_string()))?;
        let key = IdempotencyKey::generate();
        // What `create_transfer` sends, for the narration.
        let body = format!(
            "{{\"to\":\"{}\",\"amount\":\"{}\",\"currency\":\"{}\"}}",
            request.to, request.amount, request.currency
        );
        n.say(&format!(
            "→ POST /v1/transfers  {body}  Idempotency-Key: {}  Authorization: Bearer {}",
            key.as_str(),
            redact(credential.access_token().secret())
        ));
        let seen = self.audit_len();
        let attempt = api
            .create_transfer(credential.access_token(), &request, &key)
            .await;
        n.exchanges(&self.audit_since(seen));
        let challenge = match attempt {
            Err(ClientError::StepUpRequired(challenge))
                if challenge.reason == StepUpReason::InsufficientScope =>
            {
                n.say(&format!(
                    "The API refuses (insufficient_scope): this token may read, not move money. \
                     The challenge names what is missing: {}.",
                    challenge.scope.join(" ")
                ));
                challenge
            }
            other => return Err(unexpected("a 403 insufficient_scope challenge", other)),
        };

        // 4. Step-up: authorize again for the scope the API named; the rule demands MFA.
        n.step(4, "Step up: authorize again for transfer:funds, with MFA");
        let params = stepup::step_up_params(&challenge, TRANSFER_SCOPE);
        n.say(&format!(
            "bank asks the authorization server for scope \"{}\" — a second authorization \
             through the same browser. Its rule for transfer:funds: MFA, every time.",
            params.scopes.join(" ")
        ));
        let mfa = self.answer_mfa(&user);
        let step_up = stepup::authorize_step_up(
            ctx,
            &challenge,
            &StepUp {
                scope: TRANSFER_SCOPE,
                purpose: "transfer funds",
                browser: &self.browser,
                timeout: self.timeout(),
            },
            &bundle,
        )
        .await;
        mfa.abort();
        let token = match step_up {
            Ok(token) => token,
            Err(StepUpError::Authorization(e @ OAuthError::Denied { .. })) => {
                n.say("The MFA request was denied, so no step-up token was issued and no money moves.");
                return Err(CliError::from(e).hint("run `bank demo` again and approve the request"));
            }
            Err(e) => return Err(e.into()),
        };
        let token = token.access_token();
        n.ok("Step-up token received.");
        n.say(&format!(
            "access token {} — {}",
            redact(token.secret()),
            describe_claims(token.secret())
        ));
        n.say("No refresh token comes with it. It is kept in memory for this one request and never stored.");

        // 5. The retry, once, with the same Idempotency-Key.
        n.step(
            5,
            "Retry the transfer once: same Idempotency-Key, new token",
        );
        n.say(&format!(
            "→ POST /v1/transfers  {body}  Idempotency-Key: {}  Authorization: Bearer {}",
            key.as_str(),
            redact(token.secret())
        ));
        let seen = self.audit_len();
        let receipt = api.create_transfer(token, &request, &key).await;
        n.exchanges(&self.audit_since(seen));
        let transfer = receipt?.body;
        n.ok(&format!(
            "Transferred {} to {RECIPIENT}. New balance: {}. (transfer {})",
            money_of(&transfer, "amount"),
            money_of(&transfer, "balance_after"),
            transfer.get("id").and_then(Value::as_str).unwrap_or("?"),
        ));

        // 6. Replay: the spent step-up token must not move money again.
        n.step(6, "Replay the used step-up token (as a thief would)");
        let replay_key = IdempotencyKey::generate();
        n.say(&format!(
            "→ POST /v1/transfers  {body}  Idempotency-Key: {}  Authorization: Bearer {}",
            replay_key.as_str(),
            redact(token.secret())
        ));
        let seen = self.audit_len();
        let replay = api.create_transfer(token, &request, &replay_key).await;
        n.exchanges(&self.audit_since(seen));
        match replay {
            Err(ClientError::InvalidToken { description }) => {
                n.ok(&format!(
                    "Refused ({}): a step-up token authorizes one transfer, once.",
                    description.as_deref().unwrap_or("invalid_token")
                ));
            }
            other => {
                return Err(unexpected(
                    "a 401 invalid_token answer (token already used)",
                    other,
                ));
            }
        }

        // 7. What the bank's ledger says.
        n.step(7, "Final balances, from the bank's ledger");
        for handle in [USER, RECIPIENT] {
            let minor = self.sandbox.bank().balance_of(handle).ok_or_else(|| {
                CliError::new(
                    ErrorKind::General,
                    format!("the bank has no account {handle}"),
                )
            })?;
            n.say(&format!("{handle:<6} {}", format_minor(minor)));
        }
        Ok(())
    }

    fn explain_person(&self) {
        let n = self.n;
        match &self.scripted_reason {
            Some(reason) => {
                n.say(&format!("No browser is opened ({reason}):"));
                n.say("the demo plays your part over HTTP, fetching and submitting the same pages");
                n.say("a browser would.");
            }
            None => {
                n.say("Your browser opens on the sandbox's login page. Sign in as");
                n.say(&format!(
                    "    {USER} / {PASSWORD}    (the sandbox's demo user; bob / builder also works)"
                ));
            }
        }
    }

    /// How long a sign-in may take: a person gets five minutes; with `--yes` nobody is
    /// waited for, so a broken scripted sign-in fails within a minute instead.
    fn timeout(&self) -> Duration {
        if self.options.yes {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(300)
        }
    }

    fn interaction(&self, waiting: &str) -> Interaction<'_> {
        Interaction {
            ui: &self.ctx.ui,
            browser: &self.browser,
            timeout: self.timeout(),
            callback_port: None,
            waiting_message: waiting.to_owned(),
        }
    }

    /// Plays the authenticator app: waits for the push, asks (or `--yes`), approves/denies.
    fn answer_mfa(&self, user: &str) -> tokio::task::JoinHandle<()> {
        let authz = self.sandbox.authz().clone();
        let ui = self.ctx.ui.clone();
        let yes = self.options.yes;
        let user = user.to_owned();
        let lines = self.browser_lines.clone();
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

    fn audit_len(&self) -> usize {
        self.sandbox.bank().requests().len()
    }

    fn audit_since(&self, seen: usize) -> Vec<ApiRequestRecord> {
        self.sandbox
            .bank()
            .requests()
            .into_iter()
            .skip(seen)
            .collect()
    }
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

fn unexpected<T: std::fmt::Debug>(wanted: &str, got: Result<T, ClientError>) -> CliError {
    match got {
        Ok(_) => CliError::new(
            ErrorKind::General,
            format!("the story broke: expected {wanted}, but the request succeeded"),
        ),
        Err(e) => CliError::new(
            ErrorKind::General,
            format!("the story broke: expected {wanted}"),
        )
        .with_source(e),
    }
}

/// A token shown as its first characters only: a JWT's first bytes are its (public) header.
pub fn redact(token: &str) -> String {
    let prefix: String = token.chars().take(10).collect();
    format!("{prefix}…")
}

/// A JWT's display-relevant claims, decoded WITHOUT verification: display only (the bank API
/// verifies every token it accepts).
fn describe_claims(jwt: &str) -> String {
    let Some(claims) = oauth::claims(jwt) else {
        return "an opaque token".into();
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("?");
    let amr = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("+")
        })
        .unwrap_or_else(|| "?".into());
    let lifetime = match (
        claims.get("exp").and_then(Value::as_i64),
        claims.get("iat").and_then(Value::as_i64),
    ) {
        (Some(exp), Some(iat)) => oauth::humanize(Duration::from_secs(
            u64::try_from(exp.saturating_sub(iat)).unwrap_or(0),
        )),
        _ => "?".into(),
    };
    format!(
        "scope \"{}\", amr {amr}, acr {}, lives {lifetime}",
        text("scope"),
        text("acr")
    )
}

/// `{"balance": "975.00", "currency": "USD"}` → `975.00 USD` (grouped, never a float).
fn money_of(value: &Value, field: &str) -> String {
    let amount = value.get(field).and_then(Value::as_str).unwrap_or("?");
    let currency = value.get("currency").and_then(Value::as_str).unwrap_or("");
    format!("{} {currency}", group_thousands(amount))
        .trim_end()
        .to_owned()
}

/// Minor units → `1,000.00 USD` (the sandbox's one currency).
fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    group_thousands(&format!("{sign}{}.{:02} USD", abs / 100, abs % 100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn money_formats_without_floats() {
        assert_eq!(format_minor(97_500), "975.00 USD");
        assert_eq!(format_minor(100_000), "1,000.00 USD");
        assert_eq!(format_minor(5), "0.05 USD");
        assert_eq!(
            money_of(&json!({"balance": "1000.00", "currency": "USD"}), "balance"),
            "1,000.00 USD"
        );
    }

    #[test]
    fn tokens_show_a_prefix_only() {
        assert_eq!(redact("eyJhbGciOiJFUzI1NiJ9.payload.sig"), "eyJhbGciOi…");
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"scope": "openid transfer:funds", "amr": ["pwd", "mfa"], "acr": "x", "iat": 100, "exp": 400})
                .to_string(),
        );
        assert_eq!(
            describe_claims(&format!("h.{payload}.s")),
            "scope \"openid transfer:funds\", amr pwd+mfa, acr x, lives 5m"
        );
        assert_eq!(describe_claims("opaque"), "an opaque token");
    }
}
