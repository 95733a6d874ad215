//! The resolver's layers, key by key, and the validation of `bank config set`.

use super::*;

fn file(text: &str) -> ConfigFile {
    toml::from_str(text).expect("test config parses")
}

#[test]
fn defaults_point_at_the_sandbox() {
    let p = resolve(
        &ConfigFile::default(),
        &Env::default(),
        &Overrides::default(),
    )
    .expect("resolves");
    assert_eq!(p.name, "default");
    assert_eq!(p.issuer, "http://127.0.0.1:8400");
    assert_eq!(p.api_url, "http://127.0.0.1:8401");
    assert_eq!(p.client_id, "bank-cli");
    assert_eq!(
        p.scopes,
        ["openid", "profile", "offline_access", "view:balance"]
    );
    assert_eq!(p.source("issuer"), Source::Default);
}

#[test]
fn precedence_is_default_file_env_flag() {
    let f = file(
        "[profiles.default]\nissuer = \"https://file.example\"\napi_url = \"https://api.file.example\"\ncallback_port = 7000\n",
    );
    let env = Env {
        issuer: Some("https://env.example".into()),
        ..Env::default()
    };
    let flags = Overrides {
        callback_port: Some(7001),
        ..Overrides::default()
    };
    let p = resolve(&f, &env, &flags).expect("resolves");
    assert_eq!(p.issuer, "https://env.example");
    assert_eq!(p.source("issuer"), Source::Env);
    assert_eq!(p.api_url, "https://api.file.example");
    assert_eq!(p.source("api_url"), Source::File);
    assert_eq!(p.callback_port, Some(7001));
    assert_eq!(p.source("callback_port"), Source::Flag);
    assert_eq!(p.client_id, "bank-cli");
}

#[test]
fn profile_flag_beats_env_and_unknown_profiles_are_errors() {
    let f = file("[profiles.work]\nissuer = \"https://work.example\"\n");
    let env = Env {
        profile: Some("nope".into()),
        ..Env::default()
    };
    let flags = Overrides {
        profile: Some("work".into()),
        ..Overrides::default()
    };
    assert_eq!(
        resolve(&f, &env, &flags).expect("resolves").issuer,
        "https://work.example"
    );
    let err = resolve(&f, &env, &Overrides::default()).expect_err("unknown profile");
    assert!(matches!(err, ConfigError::UnknownProfile(name) if name == "nope"));
}

#[test]
fn plain_http_is_refused_except_on_loopback_naming_the_setting() {
    let mut f = ConfigFile::default();
    let err = set_value(&mut f, "default", "api_url", "http://bank.example.com")
        .expect_err("plain http to a remote host");
    assert_eq!(
        err.to_string(),
        "invalid value for `api_url`: must use https: plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost)"
    );
    set_value(&mut f, "default", "api_url", "http://localhost:8401").expect("loopback");
    let env = Env {
        issuer: Some("http://bank.example.com".into()),
        ..Env::default()
    };
    let err = resolve(&ConfigFile::default(), &env, &Overrides::default())
        .expect_err("plain http from the environment");
    assert!(
        err.to_string()
            .starts_with("invalid value for `issuer (from BANK_ISSUER)`: must use https"),
        "{err}"
    );
    let file = file("[profiles.default]\napi_url = \"http://api.example.com\"\n");
    let err = resolve(&file, &Env::default(), &Overrides::default()).expect_err("from the file");
    assert!(
        err.to_string()
            .starts_with("invalid value for `api_url (from the configuration file)`"),
        "{err}"
    );
}

#[test]
fn set_validates_values() {
    let mut f = ConfigFile::default();
    set_value(&mut f, "default", "issuer", "https://tenant.auth0.com/").expect("valid");
    assert_eq!(
        f.profiles["default"].issuer.as_deref(),
        Some("https://tenant.auth0.com/")
    );
    assert!(matches!(
        set_value(&mut f, "default", "issuer", "file:///etc/passwd"),
        Err(ConfigError::InvalidValue { .. })
    ));
    assert!(matches!(
        set_value(&mut f, "default", "callback_port", "0"),
        Err(ConfigError::InvalidValue { .. })
    ));
    assert!(matches!(
        set_value(&mut f, "default", "colour", "blue"),
        Err(ConfigError::UnknownKey(_))
    ));
    set_value(&mut f, "default", "audience_param", "audience").expect("valid");
    assert!(matches!(
        set_value(&mut f, "default", "scopes", "openid transfer:funds"),
        Err(ConfigError::InvalidValue { .. })
    ));
    set_value(&mut f, "default", "scopes", "openid view:balance").expect("valid");
    let text = toml::to_string_pretty(&f).expect("encodes");
    let back: ConfigFile = toml::from_str(&text).expect("round-trips");
    assert_eq!(back.profiles["default"], f.profiles["default"]);
}

#[test]
fn par_is_auto_unless_the_file_or_bank_par_says_otherwise() {
    let p = resolve(
        &ConfigFile::default(),
        &Env::default(),
        &Overrides::default(),
    )
    .expect("resolves");
    assert_eq!((p.par, p.source("par")), (Use::Auto, Source::Default));
    let mut f = ConfigFile::default();
    set_value(&mut f, "default", "par", "never").expect("valid");
    let p = resolve(&f, &Env::default(), &Overrides::default()).expect("resolves");
    assert_eq!((p.par, p.source("par")), (Use::Never, Source::File));
    assert_eq!(p.get("par").expect("known key").as_deref(), Some("never"));
    let env = Env {
        par: Some("always".into()),
        ..Env::default()
    };
    let p = resolve(&f, &env, &Overrides::default()).expect("resolves");
    assert_eq!((p.par, p.source("par")), (Use::Always, Source::Env));
    let err = set_value(&mut f, "default", "par", "sometimes").expect_err("not a mode");
    assert_eq!(
        err.to_string(),
        "invalid value for `par`: expected `auto` (where the provider offers it, the default), `always` or `never`"
    );
    let env = Env {
        par: Some("on".into()),
        ..Env::default()
    };
    let err = resolve(&f, &env, &Overrides::default()).expect_err("not a mode");
    assert_eq!(
        err.to_string(),
        "invalid value for `par (from BANK_PAR)`: expected `auto` (where the provider offers it, the default), `always` or `never`"
    );
}

#[test]
fn malformed_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[profiles.default]\nissuer = 3\n").expect("write");
    assert!(matches!(
        ConfigFile::load(&path),
        Err(ConfigError::Parse { .. })
    ));
    assert!(ConfigFile::load(&dir.path().join("missing.toml")).is_ok());
}
