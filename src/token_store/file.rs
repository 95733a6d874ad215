//! The plain-text store: one JSON bundle per entry under `<config dir>/tokens/`, readable
//! by the owner only.
//!
//! Used only when chosen with `--insecure-storage` (never as a silent fallback: it would put
//! the refresh token and the private DPoP key in a file nobody asked for). The file is mode 0600 in a 0700 directory, and is written to a
//! temporary file first and renamed into place, so a crash mid-write never leaves a
//! half-written bundle and no other user can read the tokens at any point.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Key, StoreError, TokenStore};

impl TokenStore {
    /// Where `key`'s bundle lives when it is in a file.
    pub fn file_path(&self, key: &Key) -> PathBuf {
        self.dir
            .join("tokens")
            .join(format!("{}.json", key.file_stem()))
    }
}

/// Reads a bundle file; a missing file is [`StoreError::NotFound`].
pub(super) fn read(path: &Path) -> Result<String, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
        Err(source) => Err(StoreError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Removes `path`; returns whether there was something to remove.
pub(super) fn remove_file_if_present(path: &Path) -> Result<bool, StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `text` to `path` readable by the owner only (0600, directory 0700), atomically.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), StoreError> {
    let io = |source| StoreError::File {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let mut file = options.open(&tmp).map_err(io)?;
    #[cfg(unix)]
    {
        // `mode` only applies on creation; an existing temp file keeps its old mode.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(all(test, unix))]
mod tests {
    use super::super::Storage;
    use super::super::bundle::fixtures::{bundle, key};
    use super::*;

    #[test]
    fn file_store_round_trip_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path(), true);
        let k = key("http://127.0.0.1:1", "default");
        assert!(matches!(store.load(&k), Err(StoreError::NotFound)));
        let saved = store.save(&k, &bundle(&k.issuer), false).expect("save");
        let Storage::File(path) = &saved.storage else {
            panic!("insecure storage must use the file");
        };
        let mode = std::fs::metadata(path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let (back, storage) = store.load(&k).expect("load");
        assert_eq!(storage, saved.storage);
        assert_eq!(back.refresh_token.expect("rt").secret(), "rt-secret");
        // Another profile or issuer does not see it.
        assert!(matches!(
            store.load(&key("http://127.0.0.1:1", "work")),
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.delete(&k).expect("delete"), vec![saved.storage]);
        assert!(matches!(store.load(&k), Err(StoreError::NotFound)));
    }
}
