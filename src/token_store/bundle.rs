//! What is stored and under which name: the [`TokenBundle`] one login leaves behind, the
//! [`Key`] that names its entry (keyring account, file and lock names), and the [`Storage`]
//! that holds it. Kept apart from the stores themselves because every store (keyring, file)
//! and the refresh lock agree on these names and on the one JSON form of a bundle.

use std::fmt;
use std::path::PathBuf;

use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::dpop::DpopKey;

/// What one login leaves behind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenBundle {
    pub issuer: String,
    pub client_id: String,
    pub access_token: AccessToken,
    /// Unix seconds; `None` when the provider did not say.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The signed-in user's `sub`, from the login's checked ID token: a step-up must be
    /// signed by the same user. `None` for bundles stored before it was recorded, or when
    /// the provider sent no ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// What the provider knows the user by (`preferred_username` or `email` from the ID
    /// token, never a display name): the step-up's `login_hint`. `None` when the provider
    /// gave neither; the step-up is still bound by `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// The DPoP key the access and refresh tokens are bound to (RFC 9449); `None` for
    /// bearer tokens. The tokens are useless without it, so it is stored, and deleted, with
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<DpopKey>,
}

impl TokenBundle {
    /// Expired, or expiring within `skew` (so a request does not race the expiry).
    pub fn is_expired(&self, now: i64, skew: i64) -> bool {
        self.expires_at
            .is_some_and(|at| now >= at.saturating_sub(skew))
    }
}

/// Identifies one logical entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub issuer: String,
    pub client_id: String,
    pub profile: String,
}

impl Key {
    /// The keyring "user" of the entry.
    pub fn account(&self) -> String {
        format!("{}:{}@{}", self.profile, self.client_id, self.issuer)
    }

    /// A file-name-safe, stable name for the token file and the lock.
    pub(super) fn file_stem(&self) -> String {
        let digest = Sha256::digest(self.account().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let profile: String = self
            .profile
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{profile}-{hex}")
    }
}

/// Which storage holds (or received) a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Keyring,
    File(PathBuf),
}

impl Storage {
    /// Stable name for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::Keyring => "keyring",
            Storage::File(_) => "file",
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Keyring => write!(f, "system keyring ({})", super::Platform::CURRENT.name()),
            Storage::File(p) => write!(f, "plain-text file {} (insecure)", p.display()),
        }
    }
}

/// Parses a stored bundle, wherever it was stored, and checks that it belongs to `key`.
pub(super) fn decode(text: &str, key: &Key) -> Result<TokenBundle, StoreError> {
    // serde_json's error text can quote the input: map it away without looking at it.
    let bundle: TokenBundle = serde_json::from_str(text).map_err(|_| StoreError::Corrupt)?;
    // A bundle for another issuer or client is not ours to use (the key says whose it is;
    // this guards against a hand-edited or mixed-up file).
    if bundle.issuer != key.issuer || bundle.client_id != key.client_id {
        return Err(StoreError::NotFound);
    }
    Ok(bundle)
}

/// A bundle and a key for the unit tests of every part of the store.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    pub(in crate::token_store) fn bundle(issuer: &str) -> TokenBundle {
        TokenBundle {
            issuer: issuer.into(),
            client_id: "bank-cli".into(),
            access_token: AccessToken::new("at-".repeat(700)),
            expires_at: Some(1_900_000_000),
            scopes: vec!["openid".into(), "view:balance".into()],
            refresh_token: Some(RefreshToken::new("rt-secret".into())),
            username: Some("alice".into()),
            sub: Some("usr_alice".into()),
            login_hint: Some("alice".into()),
            dpop_key: None,
        }
    }

    pub(in crate::token_store) fn key(issuer: &str, profile: &str) -> Key {
        Key {
            issuer: issuer.into(),
            client_id: "bank-cli".into(),
            profile: profile.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TokenStore;
    use super::fixtures::{bundle, key};
    use super::*;

    #[test]
    fn expiry_uses_skew() {
        let b = bundle("http://i");
        assert!(!b.is_expired(1_900_000_000 - 100, 30));
        assert!(b.is_expired(1_900_000_000 - 10, 30));
    }

    #[test]
    fn bundle_debug_is_redacted() {
        let text = format!("{:?}", bundle("http://i"));
        assert!(
            !text.contains("at-at") && !text.contains("rt-secret"),
            "{text}"
        );
    }

    /// Bundles written before `sub` was recorded still load (the step-up then cannot
    /// compare users; see `stepup.rs`).
    #[test]
    fn bundles_without_sub_still_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        let path = store.file_path(&k);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(
            &path,
            r#"{"issuer":"http://127.0.0.1:1","client_id":"bank-cli","access_token":"at","expires_at":null,"scopes":["openid"],"username":"alice"}"#,
        )
        .expect("write");
        let (bundle, _) = store.load(&k).expect("an old bundle loads");
        assert_eq!(bundle.username.as_deref(), Some("alice"));
        assert_eq!(bundle.sub, None);
    }

    #[test]
    fn corrupt_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        let path = store.file_path(&k);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, "{\"access_token\": \"secret-value\"").expect("write");
        let err = store.load(&k).expect_err("corrupt");
        assert!(matches!(&err, StoreError::CorruptFile { path: at } if *at == path));
        assert!(!format!("{err:?} {err}").contains("secret-value"));
    }
}
