//! What every command that talks to a provider or the bank receives: the [`Ui`] and the
//! [`Session`] (profile, HTTP client, token store, `BANK_TOKEN`), and the one place the
//! bank client's layers are put together for a command.

use oauth2::AccessToken;

use crate::client::credentials::Credentials;
use crate::client::dpop::Dpop;
use crate::client::refresh::Refresh;
use crate::client::resend::Resend;
use crate::client::step_up::{StepUp, StepUpOptions};
use crate::client::{BankClient, Observer, Session, session};
use crate::config::{self, ConfigFile, Env, LoginProfile, NewProfile, Overrides};
use crate::error::{CliError, ErrorKind};
use crate::token_store::TokenStore;
use crate::ui::Ui;

pub struct Ctx {
    pub ui: Ui,
    pub session: Session,
}

impl Ctx {
    pub fn load(ui: &Ui, overrides: &Overrides) -> Result<Ctx, CliError> {
        let env = Env::from_process();
        let config_dir = config::config_dir(&env)?;
        let file = ConfigFile::load(&config::config_file_path(&config_dir))?;
        Ctx::resolved(ui, overrides, env, config_dir, &file)
    }

    /// For `bank login`, which may create the profile it signs in to: the context resolved
    /// as if that profile existed, and the profile to write once the sign-in succeeded.
    pub fn load_for_login(
        ui: &Ui,
        overrides: &Overrides,
    ) -> Result<(Ctx, Option<NewProfile>), CliError> {
        let env = Env::from_process();
        let config_dir = config::config_dir(&env)?;
        let mut file = ConfigFile::load(&config::config_file_path(&config_dir))?;
        let new_profile = match config::plan_login_profile(&file, &env, overrides)? {
            LoginProfile::Existing => None,
            LoginProfile::New(new) => {
                new.insert_into(&mut file);
                Some(new)
            }
        };
        let ctx = Ctx::resolved(ui, overrides, env, config_dir, &file)?;
        Ok((ctx, new_profile))
    }

    fn resolved(
        ui: &Ui,
        overrides: &Overrides,
        env: Env,
        config_dir: std::path::PathBuf,
        file: &ConfigFile,
    ) -> Result<Ctx, CliError> {
        let profile = config::resolve(file, &env, overrides)?;
        let env_token = std::env::var("BANK_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| AccessToken::new(t.trim().to_owned()));
        let store = TokenStore::new(&config_dir, false);
        // The keyring's D-Bus round trips (about a millisecond) start now, on a helper thread,
        // while this one builds the HTTP client; the first load of the token collects the
        // answer. `BANK_TOKEN` never needs the keyring, so it never connects to it.
        if env_token.is_none() {
            store.prefetch(&session::key_of(&profile));
        }
        let http = http_client(concat!("bank/", env!("CARGO_PKG_VERSION")))?;
        Ok(Ctx {
            ui: ui.clone(),
            session: Session {
                profile,
                config_dir,
                http,
                store,
                env_token,
            },
        })
    }

    /// The client for reads: credentials, then one refresh on `401 invalid_token`. The `Ui`
    /// observes (`-v` shows the exchange).
    pub fn client(&self) -> BankClient<'_> {
        self.client_observed(&self.ui, None)
    }

    /// The client for operations that may need step-up.
    pub fn client_with_step_up<'a>(&'a self, step_up: StepUpOptions<'a>) -> BankClient<'a> {
        self.client_observed(&self.ui, Some(step_up))
    }

    /// The one composition of the client's layers, top to bottom: credentials, step-up
    /// (when the operation may need it), refresh, DPoP proofs; `observer` sees every step.
    pub fn client_observed<'a>(
        &'a self,
        observer: &'a dyn Observer,
        step_up: Option<StepUpOptions<'a>>,
    ) -> BankClient<'a> {
        let session = &self.session;
        let mut builder = BankClient::builder(session.http.clone(), &session.profile.api_url)
            .observer(observer)
            .layer(Credentials::new(session));
        if let Some(options) = step_up {
            builder = builder.layer(StepUp::new(session, options));
        }
        builder
            .layer(Refresh::new(session))
            .layer(Resend::new())
            .layer(Dpop::new())
            .build()
    }
}

/// The HTTP client every command uses (see [`session::http_client`]).
pub fn http_client(user_agent: &str) -> Result<reqwest::Client, CliError> {
    session::http_client(user_agent)
        .map_err(|e| CliError::new(ErrorKind::General, "cannot set up HTTP").with_source(e))
}
