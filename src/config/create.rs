//! When `bank login` makes a profile, and when it refuses to.
//!
//! `bank --profile work login --issuer URL --client-id ID [--audience A] [--api-url U]
//! [--callback-port P]` creates `[profiles.work]` when it does not exist yet, with every one
//! of those settings; so do `BANK_ISSUER`,
//! `BANK_CLIENT_ID`, `BANK_AUDIENCE` and `BANK_API_URL` for a named profile (flags win over
//! them, as everywhere). The rules, for a person who reuses one command line:
//!
//! - an existing profile is never changed by `bank login`: a flag that names a different
//!   value than the profile has is refused (exit 2) and the way to change it is
//!   `bank config set`; the same values again are fine, so the command can be re-run;
//! - the environment only ever overrides an existing profile, as it always has, and never
//!   writes it; the `default` profile exists without a table (the sandbox's values), so the
//!   environment never creates that table either — only flags do;
//! - a new profile needs an issuer and a client id; each value is checked as by
//!   `bank config set` (https except loopback) before anything is sent;
//! - the table is written only after the sign-in succeeded, so a failed login (a typo in the
//!   client id, a closed browser) leaves the file as it was and can simply be re-run.

use std::path::Path;

use super::{
    ConfigDocument, ConfigError, ConfigFile, DEFAULT_API_URL, DEFAULT_AUDIENCE, DEFAULT_CLIENT_ID,
    DEFAULT_ISSUER, DEFAULT_PROFILE, Env, Overrides, ProfileFile, set_value,
};

/// What `bank login` does about the profile it signs in to.
#[derive(Debug, PartialEq)]
pub enum LoginProfile {
    /// The profile exists (or is the built-in `default`) and is used as it is.
    Existing,
    /// The profile is new and is written once the sign-in succeeded.
    New(NewProfile),
}

/// A profile to be created by `bank login`, validated.
#[derive(Debug, PartialEq)]
pub struct NewProfile {
    pub name: String,
    pub table: ProfileFile,
}

/// One key `bank login` can set: its name, its flag, its variable and its built-in default.
struct LoginKey {
    key: &'static str,
    flag: &'static str,
    default: &'static str,
    from_flags: fn(&Overrides) -> &Option<String>,
    from_env: fn(&Env) -> &Option<String>,
    in_file: fn(&ProfileFile) -> &Option<String>,
}

const LOGIN_KEYS: [LoginKey; 4] = [
    LoginKey {
        key: "issuer",
        flag: "--issuer",
        default: DEFAULT_ISSUER,
        from_flags: |f| &f.issuer,
        from_env: |e| &e.issuer,
        in_file: |p| &p.issuer,
    },
    LoginKey {
        key: "client_id",
        flag: "--client-id",
        default: DEFAULT_CLIENT_ID,
        from_flags: |f| &f.client_id,
        from_env: |e| &e.client_id,
        in_file: |p| &p.client_id,
    },
    LoginKey {
        key: "audience",
        flag: "--audience",
        default: DEFAULT_AUDIENCE,
        from_flags: |f| &f.audience,
        from_env: |e| &e.audience,
        in_file: |p| &p.audience,
    },
    LoginKey {
        key: "api_url",
        flag: "--api-url",
        default: DEFAULT_API_URL,
        from_flags: |f| &f.api_url,
        from_env: |e| &e.api_url,
        in_file: |p| &p.api_url,
    },
];

/// Decides, before anything is sent, whether `bank login` uses an existing profile or
/// creates one (the rules are in the module docs).
pub fn plan_login_profile(
    file: &ConfigFile,
    env: &Env,
    flags: &Overrides,
) -> Result<LoginProfile, ConfigError> {
    let name = flags.profile_name(env);
    if let Some(existing) = file.profiles.get(&name) {
        let wanted: Vec<_> = LOGIN_KEYS
            .iter()
            .filter_map(|k| (k.from_flags)(flags).as_deref().map(|v| (k, v)))
            .collect();
        refuse_changes(&name, existing, &wanted)?;
        return Ok(LoginProfile::Existing);
    }
    let is_default = name == DEFAULT_PROFILE;
    let any_flag = LOGIN_KEYS.iter().any(|k| (k.from_flags)(flags).is_some());
    if is_default && !any_flag {
        return Ok(LoginProfile::Existing);
    }
    let mut scratch = ConfigFile::default();
    let mut missing = Vec::new();
    for k in &LOGIN_KEYS {
        let flag = (k.from_flags)(flags).as_deref();
        let value = if is_default {
            flag
        } else {
            flag.or((k.from_env)(env).as_deref())
        };
        match value {
            Some(v) => set_value(&mut scratch, &name, k.key, v).map_err(|e| match e {
                ConfigError::InvalidValue { reason, .. } => ConfigError::InvalidValue {
                    key: format!(
                        "{} (from {})",
                        k.key,
                        if flag.is_some() {
                            k.flag.to_owned()
                        } else {
                            format!("BANK_{}", k.key.to_ascii_uppercase())
                        }
                    ),
                    reason,
                },
                other => other,
            })?,
            None if matches!(k.key, "issuer" | "client_id") => {
                missing.push(match (is_default, k.key) {
                    (true, "issuer") => "--issuer",
                    (true, _) => "--client-id",
                    (false, "issuer") => "--issuer (or BANK_ISSUER)",
                    (false, _) => "--client-id (or BANK_CLIENT_ID)",
                })
            }
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(ConfigError::IncompleteProfile { name, missing });
    }
    let mut table = scratch.profiles.remove(&name).unwrap_or_default();
    // `--callback-port` is a profile setting too: a provider that matches redirect URIs
    // exactly, port included, must see the same one at every later step-up.
    table.callback_port = flags.callback_port;
    Ok(LoginProfile::New(NewProfile { name, table }))
}

/// The first requested value that differs from what `existing` has (or defaults to).
fn refuse_changes(
    name: &str,
    existing: &ProfileFile,
    wanted: &[(&LoginKey, &str)],
) -> Result<(), ConfigError> {
    for (k, requested) in wanted {
        let current = (k.in_file)(existing).as_deref().unwrap_or(k.default);
        if current != *requested {
            return Err(ConfigError::ProfileConflict {
                name: name.to_owned(),
                key: k.key,
                current: current.to_owned(),
                requested: (*requested).to_owned(),
            });
        }
    }
    Ok(())
}

impl NewProfile {
    /// The configuration this run resolves against: the file with this profile in it.
    pub fn insert_into(&self, file: &mut ConfigFile) {
        file.profiles.insert(self.name.clone(), self.table.clone());
    }

    /// Writes the profile into the file at `path`, keeping everything else in it. Returns
    /// `false` when another `bank` wrote the same profile meanwhile (nothing to do); a
    /// profile written meanwhile with other values is refused like any existing one.
    pub fn write(&self, path: &Path) -> Result<bool, ConfigError> {
        let mut doc = ConfigDocument::load(path)?;
        if let Some(now) = doc.file().profiles.get(&self.name) {
            let wanted: Vec<_> = LOGIN_KEYS
                .iter()
                .filter_map(|k| (k.in_file)(&self.table).as_deref().map(|v| (k, v)))
                .collect();
            refuse_changes(&self.name, now, &wanted)?;
            return Ok(false);
        }
        doc.add_profile(&self.name, &self.table)?;
        doc.save()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(profile: &str, issuer: Option<&str>, client_id: Option<&str>) -> Overrides {
        Overrides {
            profile: Some(profile.into()),
            issuer: issuer.map(Into::into),
            client_id: client_id.map(Into::into),
            ..Overrides::default()
        }
    }

    fn file(text: &str) -> ConfigFile {
        toml::from_str(text).expect("test config parses")
    }

    #[test]
    fn a_new_named_profile_comes_from_flags_then_the_environment() {
        let env = Env {
            issuer: Some("https://env.example/".into()),
            client_id: Some("env-client".into()),
            api_url: Some("https://api.env.example".into()),
            ..Env::default()
        };
        let plan = plan_login_profile(
            &ConfigFile::default(),
            &env,
            &flags("work", Some("https://flag.example/"), None),
        )
        .expect("plans");
        let LoginProfile::New(new) = plan else {
            panic!("a new profile: {plan:?}")
        };
        assert_eq!(new.name, "work");
        assert_eq!(new.table.issuer.as_deref(), Some("https://flag.example/"));
        assert_eq!(new.table.client_id.as_deref(), Some("env-client"));
        assert_eq!(
            new.table.api_url.as_deref(),
            Some("https://api.env.example")
        );
        assert_eq!(new.table.audience, None);
        assert_eq!(new.table.callback_port, None);
    }

    #[test]
    fn the_callback_port_given_to_login_is_kept_in_the_new_profile() {
        let mut given = flags("work", Some("https://idp.example/"), Some("c"));
        given.callback_port = Some(8765);
        let LoginProfile::New(new) =
            plan_login_profile(&ConfigFile::default(), &Env::default(), &given).expect("plans")
        else {
            panic!("a new profile")
        };
        assert_eq!(new.table.callback_port, Some(8765));
    }

    #[test]
    fn the_environment_never_writes_the_default_profile() {
        let env = Env {
            issuer: Some("https://env.example/".into()),
            client_id: Some("env-client".into()),
            ..Env::default()
        };
        let plan =
            plan_login_profile(&ConfigFile::default(), &env, &Overrides::default()).expect("plans");
        assert_eq!(plan, LoginProfile::Existing);
        // Flags do, and take nothing from the environment.
        let err = plan_login_profile(
            &ConfigFile::default(),
            &env,
            &flags("default", Some("https://flag.example/"), None),
        )
        .expect_err("no client id among the flags");
        assert_eq!(
            err.to_string(),
            "cannot create profile `default`: --client-id is needed"
        );
    }

    #[test]
    fn a_new_profile_needs_an_issuer_and_a_client_id_and_valid_urls() {
        let err = plan_login_profile(
            &ConfigFile::default(),
            &Env::default(),
            &flags("work", None, None),
        )
        .expect_err("nothing given");
        assert_eq!(
            err.to_string(),
            "cannot create profile `work`: --issuer (or BANK_ISSUER) and --client-id (or BANK_CLIENT_ID) are needed"
        );
        let err = plan_login_profile(
            &ConfigFile::default(),
            &Env::default(),
            &flags("work", Some("http://idp.example.com"), Some("c")),
        )
        .expect_err("plain http to a remote host");
        assert!(
            err.to_string()
                .starts_with("invalid value for `issuer (from --issuer)`: must use https"),
            "{err}"
        );
        let env = Env {
            api_url: Some("http://api.example.com".into()),
            ..Env::default()
        };
        let err = plan_login_profile(
            &ConfigFile::default(),
            &env,
            &flags("work", Some("https://idp.example"), Some("c")),
        )
        .expect_err("plain http from the environment");
        assert!(
            err.to_string()
                .starts_with("invalid value for `api_url (from BANK_API_URL)`"),
            "{err}"
        );
        assert!(matches!(
            plan_login_profile(
                &ConfigFile::default(),
                &Env::default(),
                &flags("work", Some("https://idp.example"), Some(" ")),
            ),
            Err(ConfigError::InvalidValue { .. })
        ));
    }

    #[test]
    fn an_existing_profile_is_never_changed_by_login() {
        let f = file("[profiles.work]\nissuer = \"https://idp.example/\"\nclient_id = \"c\"\n");
        // The same values (and the built-in defaults it relies on) are fine.
        let mut same = flags("work", Some("https://idp.example/"), Some("c"));
        same.api_url = Some(DEFAULT_API_URL.into());
        assert_eq!(
            plan_login_profile(&f, &Env::default(), &same).expect("plans"),
            LoginProfile::Existing
        );
        let err = plan_login_profile(
            &f,
            &Env::default(),
            &flags("work", Some("https://other.example/"), None),
        )
        .expect_err("another issuer");
        assert_eq!(
            err.to_string(),
            "profile `work` already has issuer = https://idp.example/; `bank login` does not change it to https://other.example/"
        );
        // The environment overrides an existing profile, as it always has; nothing is refused.
        let env = Env {
            issuer: Some("https://env.example/".into()),
            ..Env::default()
        };
        assert_eq!(
            plan_login_profile(&f, &env, &flags("work", None, None)).expect("plans"),
            LoginProfile::Existing
        );
    }

    #[test]
    fn writing_keeps_the_file_and_refuses_a_profile_made_meanwhile() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# mine\n[profiles.home]\nclient_id = \"h\"\n").expect("write");
        let new = NewProfile {
            name: "work".into(),
            table: ProfileFile {
                issuer: Some("https://idp.example/".into()),
                client_id: Some("c".into()),
                ..ProfileFile::default()
            },
        };
        assert!(new.write(&path).expect("writes"));
        assert!(!new.write(&path).expect("the same again"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# mine\n[profiles.home]\n"), "{text}");
        let other = NewProfile {
            name: "work".into(),
            table: ProfileFile {
                client_id: Some("other".into()),
                ..new.table.clone()
            },
        };
        assert!(matches!(
            other.write(&path),
            Err(ConfigError::ProfileConflict {
                key: "client_id",
                ..
            })
        ));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }
}
