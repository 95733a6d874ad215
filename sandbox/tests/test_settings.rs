//! Every `[api]` and `[authz]` key means what the API's docs say when it is omitted: the
//! tables in `sandbox/API.md` are read here, row by row, and each documented default is
//! compared with what an empty section gives (or, for a default that depends on whose
//! issuer the API trusts, with what that mode fills in). A key the code has and the docs
//! lack fails too.

use bank_sandbox::SandboxConfig;
use bank_sandbox::api::{ApiConfig, DpopMode, IssuerKind, OpenAccounts};

const DOCS: &str = include_str!("../API.md");

/// The rows of the table under `heading`: (key, default cell).
fn rows(heading: &str) -> Vec<(String, String)> {
    let start = DOCS
        .find(heading)
        .unwrap_or_else(|| panic!("API.md has no {heading}"));
    DOCS[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

/// Every leaf key of a TOML table, dotted (`dpop_proofs.max_age_secs`); arrays of tables
/// are one key.
fn leaves(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = format!("{prefix}{k}");
        match v {
            toml::Value::Table(t) => leaves(t, &format!("{key}."), out),
            other => out.push((key, other.clone())),
        }
    }
}

fn literal(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks one table: each literal default (`` `300` ``) equals the empty section's value,
/// each other default is in `explained`, and every key of the code is documented.
fn check(heading: &str, defaults: &toml::Table, explained: &[&str]) {
    let documented = rows(heading);
    assert!(!documented.is_empty(), "{heading}: no rows");
    let mut actual = Vec::new();
    leaves(defaults, "", &mut actual);
    for (key, value) in &actual {
        assert!(
            documented.iter().any(|(k, _)| k == key),
            "{heading}: `{key}` (default {value}) is not documented"
        );
    }
    for (key, cell) in &documented {
        let single = cell.matches('`').count() == 2 && cell.starts_with('`') && cell.ends_with('`');
        if single && !explained.contains(&key.as_str()) {
            let want = cell.trim_matches('`');
            let got = actual
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| literal(v))
                .unwrap_or_else(|| panic!("{heading}: `{key}` is documented but not a setting"));
            assert_eq!(got, want, "{heading}: the default of `{key}`");
        } else {
            assert!(
                explained.contains(&key.as_str()),
                "{heading}: `{key}`'s default ({cell}) needs a check in this test"
            );
        }
    }
}

fn table<T: serde::Serialize>(value: &T) -> toml::Table {
    toml::Table::try_from(value).expect("settings serialize")
}

#[test]
fn every_api_key_omitted_means_what_the_docs_say() {
    let empty: ApiConfig = toml::from_str("").expect("an empty [api]");
    check(
        "## Configuration (`[api]`",
        &table(&empty),
        &[
            "issuer",
            "require_mfa_for_transfers",
            "require_authorization_details",
            "open_accounts",
            "dpop",
            "accounts",
            "database",
            "public_url",
            "mfa_acr_values",
        ],
    );
    // The defaults that depend on whose tokens the API takes.
    let mut own = empty.clone();
    own.apply_defaults(IssuerKind::Sandbox);
    assert_eq!(own.require_mfa_for_transfers, Some(true));
    assert_eq!(own.require_authorization_details, Some(true));
    assert_eq!(own.open_accounts, Some(OpenAccounts::OnFirstUse));
    assert_eq!(own.dpop, Some(DpopMode::Transfers));
    let mut external = empty.clone();
    external.apply_defaults(IssuerKind::External);
    assert_eq!(external.require_mfa_for_transfers, Some(false));
    assert_eq!(external.require_authorization_details, Some(false));
    assert_eq!(external.open_accounts, Some(OpenAccounts::Provisioned));
    assert_eq!(external.dpop, Some(DpopMode::Optional));
    // Set explicitly, a setting is never overridden by a mode's default.
    let mut strict: ApiConfig =
        toml::from_str("require_mfa_for_transfers = true\ndpop = \"required\"").expect("toml");
    strict.apply_defaults(IssuerKind::External);
    assert_eq!(strict.require_mfa_for_transfers, Some(true));
    assert_eq!(strict.dpop, Some(DpopMode::Required));
    // The rest of the explained rows.
    assert!(empty.issuer.is_empty() && empty.database.is_none() && empty.public_url.is_none());
    assert_eq!(
        empty.mfa_acr_values,
        ["http://schemas.openid.net/pape/policies/2007/06/multi-factor"]
    );
    let handles: Vec<&str> = empty.accounts.iter().map(|a| a.handle.as_str()).collect();
    assert_eq!(handles, ["alice", "bob"]);
    // `max_auth_age_secs = 0` is no limit; omitted it is 300 in both modes.
    assert_eq!(empty.step_up_policy().max_auth_age_secs, Some(300));
    let ageless: ApiConfig = toml::from_str("max_auth_age_secs = 0").expect("toml");
    assert_eq!(ageless.step_up_policy().max_auth_age_secs, None);
}

#[test]
fn every_authz_key_omitted_means_what_the_docs_say() {
    let empty = SandboxConfig::from_toml("[authz]").expect("an empty [authz]");
    check(
        "## Configuration (`[authz]`",
        &table(&empty.authz),
        &[
            "scopes",
            "step_up_scopes",
            "clients",
            "users",
            "password_hashing.memory_kib",
            "password_hashing.iterations",
            "password_hashing.parallelism",
        ],
    );
    let names: Vec<&str> = empty.authz.scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "openid",
            "profile",
            "offline_access",
            "view:balance",
            "transfer:funds"
        ]
    );
    assert_eq!(empty.authz.step_up_scopes, ["transfer:funds"]);
    assert_eq!(empty.authz.clients.len(), 1);
    let client = &empty.authz.clients[0];
    assert_eq!(client.client_id, "bank-cli");
    assert_eq!(
        client.redirect_uris,
        ["http://127.0.0.1/callback", "http://[::1]/callback"]
    );
    assert_eq!(client.mfa_scopes, ["transfer:funds"]);
    assert!(!client.require_pushed_authorization_requests);
    let users: Vec<&str> = empty
        .authz
        .users
        .iter()
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(users, ["alice", "bob"]);
    // OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let hashing = &empty.authz.password_hashing;
    assert_eq!(
        (hashing.memory_kib, hashing.iterations, hashing.parallelism),
        (19 * 1024, 2, 1)
    );
}
