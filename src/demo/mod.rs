//! `bank demo`'s story: the whole step-up flow against a throwaway sandbox, narrated.
//!
//! [`run`] starts the sandbox in-process on ephemeral loopback ports with a temporary data
//! dir, builds a session for a temporary `demo` profile whose tokens go to a file-only store
//! in the same temp dir (it cannot reach the person's keyring at all), and then walks the
//! seed's story with the CLI's real machinery — `oauth::authorize`, the token store, and the
//! same layered bank client `bank transfer` uses — narrating each step from the client's
//! events ([`narration::StoryObserver`]): the status lines and `WWW-Authenticate` headers as
//! the bank API sent them, tokens only as a short prefix. The person's part is real where it
//! can be ([`person`]): a browser opens when there is a display (else the scripted walker
//! signs in over HTTP, as the tests' scripted user does), and the MFA push becomes a
//! terminal prompt answered through the sandbox's library API. Each step checks what it
//! shows, so the demo fails (non-zero) when the story does not hold.

mod narration;
mod person;
pub use bank_sandbox::walker;

use std::time::Duration;

use bank_protocol::{DEFAULT_TRANSFER_LIMIT_MINOR, IdempotencyKey, TransferOrder, format_minor};
use bank_sandbox::{Sandbox, SandboxConfig};

use crate::challenge::StepUpReason;
use crate::client::dpop::Dpop;
use crate::client::step_up::StepUpOptions;
use crate::client::{
    ApiError, ApiRequest, ApiResponse, BankClient, ClientError, Credential, Operation, Session,
    StepUpError,
};
use crate::config::{ConfigFile, Env, Overrides, ProfileFile};
use crate::context::Ctx;
use crate::error::{CliError, ErrorKind};
use crate::oauth::{self, AuthParams, Browser, Interaction, OAuthError};
use crate::token_store::{Storage, TokenStore};
use crate::ui::Ui;
use narration::{Narrator, StoryObserver, describe_claims, money, redact};
use person::{BrowserLines, Person, answer_mfa, browser_for, choose_person};

/// The demo's person and what they send.
const USER: &str = "alice";
const PASSWORD: &str = "wonderland";
const RECIPIENT: &str = "bob";
const AMOUNT: &str = "25.00";
const PROFILE: &str = "demo";

/// How the demo runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--yes`: approve everything, never open a browser, never prompt.
    pub yes: bool,
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
        browser: browser_for(&ui, &person, &browser_lines),
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
    /// The thief's answer: a `401 invalid_token`, said in the API's words.
    fn refused(&self, replay: Result<ApiResponse, ClientError>) -> Result<(), CliError> {
        let expected = "a 401 invalid_token answer";
        match replay {
            Err(ClientError::Api(ApiError::InvalidToken { description })) => {
                let why = description.as_deref().unwrap_or("invalid_token");
                self.n.ok(&format!(
                    "Refused ({why}): {}",
                    if why.contains("already used") {
                        "a step-up token authorizes one transfer, once."
                    } else {
                        "the token is bound to the key of the CLI it was issued to."
                    }
                ));
                Ok(())
            }
            Ok(_) => Err(broken(expected)),
            Err(e) => Err(broken(expected).with_source(e)),
        }
    }

    async fn tell(&self) -> Result<(), CliError> {
        let n = self.n;
        let session = &self.ctx.session;
        let observer = StoryObserver::new(n, &session.profile.api_url);

        // 1. The everyday login.
        n.step(1, "Sign in for an everyday token (scope view:balance)");
        self.explain_person();
        let metadata = session.metadata().await?;
        let key = oauth::dpop_key_for(&session.profile, &metadata)?;
        let tokens = oauth::authorize(
            &session.http,
            &session.profile,
            &metadata,
            &AuthParams {
                scopes: session.profile.scopes.clone(),
                ..AuthParams::default()
            },
            self.interaction("Waiting for the sign-in…"),
            key.as_ref(),
        )
        .await?;
        let bundle = session.bundle_from(tokens, None, key);
        let saved = session.store.save(&session.key(), &bundle, true)?;
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

        n.say(&match &bundle.dpop_key {
            Some(key) => format!(
                "both bound to this CLI's DPoP key {} (RFC 9449): without it, a copy of either is worthless",
                key.thumbprint()
            ),
            None => "bearer tokens: the provider does not bind tokens to a key".into(),
        });

        // 2. Balance with the everyday token, through the client every command uses.
        n.step(2, "Read the balance with the everyday token");
        let balance = self
            .ctx
            .client_observed(&observer, None)
            .balance()
            .await?
            .value;
        n.ok(&format!(
            "Balance: {}",
            money(&balance.balance, &balance.currency)
        ));

        // 3–5. One transfer through the step-up client: the API's 403, the step-up with
        // MFA and the one retry all happen inside it; the observer narrates them.
        n.step(3, "Try to move money with the same token");
        let order =
            TransferOrder::new(RECIPIENT, AMOUNT, "USD", None, DEFAULT_TRANSFER_LIMIT_MINOR)
                .map_err(|e| CliError::new(ErrorKind::General, e.to_string()))?;
        let key = IdempotencyKey::generate();
        let client = self.ctx.client_observed(
            &observer,
            Some(StepUpOptions {
                person: &self.ctx.ui,
                browser: self.browser.clone(),
                timeout: self.timeout(),
                no_input: false,
            }),
        );
        let mfa = answer_mfa(
            self.sandbox,
            &self.ctx.ui,
            &user,
            self.options.yes,
            self.scripted_reason.is_some(),
            &self.browser_lines,
        );
        let outcome = client.transfer(&order, &key).await;
        mfa.abort();
        let done = match outcome {
            Ok(done) => done,
            Err(ClientError::StepUp(StepUpError::Authorization(e @ OAuthError::Denied { .. }))) => {
                n.say("The MFA request was denied, so no step-up token was issued and no money moves.");
                return Err(CliError::from(e).hint("run `bank demo` again and approve the request"));
            }
            Err(e) => return Err(e.into()),
        };
        if observer.challenge.get() != Some(StepUpReason::InsufficientScope) {
            return Err(broken(
                "a 403 insufficient_scope challenge before the step-up",
            ));
        }
        n.ok(&format!(
            "Transferred {} to {RECIPIENT}. New balance: {}. (transfer {})",
            money(&done.receipt.amount, &done.receipt.currency),
            money(&done.receipt.balance_after, &done.receipt.currency),
            done.receipt.id,
        ));

        // 6. Replay: the spent step-up token must not move money again. A bare client (no
        // layers: no refresh, no step-up) sends it as it is, as a thief would.
        n.step(6, "Replay the used step-up token (as a thief would)");
        let stolen = observer
            .step_up_token
            .borrow_mut()
            .take()
            .ok_or_else(|| broken("a step-up token"))?;
        let thief = BankClient::builder(session.http.clone(), &session.profile.api_url)
            .observer(&observer)
            .build();
        let transfer = || {
            ApiRequest::new(Operation::Transfer {
                body: order.to_request(),
                key: IdempotencyKey::generate(),
            })
        };
        let replay = thief
            .send(transfer().with_credential(Credential::Fixed(stolen.clone())))
            .await;
        self.refused(replay)?;
        // A thief who took the keyring too, and signs a fresh proof with the CLI's own key:
        // the token was spent with the transfer it was for.
        if let Some(key) = &bundle.dpop_key {
            n.say("Again, now with this CLI's own DPoP key and a fresh proof (a thief who also took the keyring):");
            let with_key = BankClient::builder(session.http.clone(), &session.profile.api_url)
                .observer(&observer)
                .layer(Dpop::new())
                .build();
            let replay = with_key
                .send(transfer().with_credential(Credential::StepUp {
                    token: stolen,
                    sender: Some(key.clone()),
                }))
                .await;
            self.refused(replay)?;
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
            n.say(&format!(
                "{handle:<6} {}",
                money(&format_minor(minor), "USD")
            ));
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
            person: &self.ctx.ui,
            browser: &self.browser,
            timeout: self.timeout(),
            callback_port: None,
            waiting_message: waiting.to_owned(),
        }
    }
}

/// The story did not go as told: the demo fails.
fn broken(wanted: &str) -> CliError {
    CliError::new(
        ErrorKind::General,
        format!("the story broke: expected {wanted}"),
    )
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
            ..Overrides::default()
        },
    )?;
    let http = crate::context::http_client(concat!("bank/", env!("CARGO_PKG_VERSION"), " (demo)"))?;
    Ok(Ctx {
        ui: ui.clone(),
        session: Session {
            profile,
            config_dir: config_dir.to_owned(),
            http,
            store: TokenStore::file_only(config_dir),
            env_token: None,
        },
    })
}
