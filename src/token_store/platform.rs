//! Which OS keyring store this build uses, and what it takes of that store.
//!
//! One store per platform, chosen here explicitly so `keyring-core` never falls back to its
//! in-memory mock: the Secret Service on Linux (our plain-session store, `secret_service`),
//! the login keychain on macOS (`apple-native-keyring-store`'s legacy-keychain store) and
//! the Credential Manager on Windows (`windows-native-keyring-store`, generic credentials).
//! Everything `bank` decides about a store — how much one item may hold (and so where
//! `chunks` splits a bundle), which entry modifiers it gets, what the person is told it
//! is — lives in [`Platform`], plain data that is unit-tested on every platform; the
//! connection itself is the few lines per platform at the end, behind `cfg`. Timeouts,
//! chunking, error mapping and the choice of the file are the shared code in `keyring`,
//! `chunks` and `mod.rs`.

use std::sync::Arc;

use keyring_core::CredentialStore;

/// The OS keyring stores `bank` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    SecretService,
    MacKeychain,
    WindowsCredentialManager,
    /// No keyring store is built in: only `--insecure-storage` can store a login.
    Unsupported,
}

/// The Secret Service has no practical item limit (gnome-keyring round-trips a 16 MiB
/// secret), and every extra item costs a D-Bus round trip on each `bank` run, so the bundle
/// stays in one item there.
const SECRET_SERVICE_ITEM_LIMIT: usize = 1 << 20;
/// A keychain generic password holds far more than a bundle (a few KB); one item, one
/// Security framework call per read.
const KEYCHAIN_ITEM_LIMIT: usize = 1 << 20;
/// `CRED_MAX_CREDENTIAL_BLOB_SIZE`: a generic credential's blob holds 2,560 bytes (5 × 512).
pub const WINDOWS_BLOB_BYTES: usize = 2560;

impl Platform {
    /// The store of the platform this build is for.
    pub const CURRENT: Platform = if cfg!(target_os = "linux") {
        Platform::SecretService
    } else if cfg!(target_os = "macos") {
        Platform::MacKeychain
    } else if cfg!(windows) {
        Platform::WindowsCredentialManager
    } else {
        Platform::Unsupported
    };

    /// The largest value, in UTF-8 bytes, that `chunks` keeps in one item. The Windows store
    /// writes a password as UTF-16, and no character takes more UTF-16 bytes than twice its
    /// UTF-8 bytes (ASCII: 1 → 2, U+0800…U+FFFF: 3 → 2, beyond: 4 → 4), so half the blob
    /// always fits.
    pub fn chunk_limit(self) -> usize {
        match self {
            Platform::SecretService => SECRET_SERVICE_ITEM_LIMIT,
            Platform::MacKeychain => KEYCHAIN_ITEM_LIMIT,
            Platform::WindowsCredentialManager => WINDOWS_BLOB_BYTES / 2,
            Platform::Unsupported => 0,
        }
    }

    /// Modifiers for every entry. On Windows, `Local` persistence: the credential stays on
    /// this computer, where the store's default (`Enterprise`) would roam a refresh token
    /// to every machine the Windows account signs in to.
    pub fn entry_modifiers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Platform::WindowsCredentialManager => &[("persistence", "Local")],
            _ => &[],
        }
    }

    /// What `bank status` calls it.
    pub fn name(self) -> &'static str {
        match self {
            Platform::SecretService => "Secret Service",
            Platform::MacKeychain => "macOS Keychain",
            Platform::WindowsCredentialManager => "Windows Credential Manager",
            Platform::Unsupported => "none",
        }
    }

    /// Connects to this build's store (on the caller's thread: `keyring` puts it under the
    /// deadline).
    pub fn connect(self) -> keyring_core::Result<Arc<CredentialStore>> {
        if self != Platform::CURRENT || self == Platform::Unsupported {
            return Err(keyring_core::Error::NotSupportedByStore(format!(
                "no keyring store is built in for this platform ({})",
                std::env::consts::OS
            )));
        }
        connect_current()
    }
}

#[cfg(target_os = "linux")]
fn connect_current() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = super::secret_service::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn connect_current() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

#[cfg(windows)]
fn connect_current() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn connect_current() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "no keyring store is built in for this platform".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_store::split_chunks;

    #[test]
    fn this_build_uses_the_secret_service_on_linux() {
        if cfg!(target_os = "linux") {
            assert_eq!(Platform::CURRENT, Platform::SecretService);
            // Another platform's store is never connected to, so never half-used.
            for other in [Platform::MacKeychain, Platform::WindowsCredentialManager] {
                assert!(matches!(
                    other.connect().map(drop),
                    Err(keyring_core::Error::NotSupportedByStore(_))
                ));
            }
            assert_eq!(
                crate::token_store::Storage::Keyring.to_string(),
                "system keyring (Secret Service)"
            );
        }
        assert!(matches!(
            Platform::Unsupported.connect().map(drop),
            Err(keyring_core::Error::NotSupportedByStore(_))
        ));
    }

    /// Every chunk of any value fits one Windows credential blob once written as UTF-16,
    /// whatever the characters (ASCII JSON, accented names, CJK, emoji).
    #[test]
    fn windows_chunks_fit_the_credential_blob_as_utf16() {
        let limit = Platform::WindowsCredentialManager.chunk_limit();
        let samples = [
            "a".repeat(10_000),
            "é".repeat(3_001),
            "名".repeat(2_345),
            "🦀".repeat(1_111),
            (0..5_000)
                .map(|i| ['x', 'é', '名', '🦀'][i % 4])
                .collect::<String>(),
        ];
        for value in &samples {
            let chunks = split_chunks(value, limit);
            assert!(chunks.len() > 1);
            assert_eq!(chunks.concat(), *value);
            for chunk in chunks {
                assert!(
                    chunk.encode_utf16().count() * 2 <= WINDOWS_BLOB_BYTES,
                    "{} UTF-16 bytes",
                    chunk.encode_utf16().count() * 2
                );
            }
        }
        // A typical bundle (an RS256 JWT, a refresh token) takes two or three items there.
        let bundle = format!("{{\"access_token\":\"{}\"}}", "x".repeat(2_300));
        assert_eq!(split_chunks(&bundle, limit).len(), 2);
    }

    #[test]
    fn stores_without_a_small_limit_keep_a_bundle_in_one_item() {
        let bundle = "x".repeat(16 * 1024);
        for platform in [Platform::SecretService, Platform::MacKeychain] {
            assert_eq!(split_chunks(&bundle, platform.chunk_limit()).len(), 1);
            assert!(platform.entry_modifiers().is_empty());
        }
        assert_eq!(
            Platform::WindowsCredentialManager.entry_modifiers(),
            [("persistence", "Local")]
        );
    }
}
