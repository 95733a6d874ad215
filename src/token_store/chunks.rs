//! One logical value over several keyring items, for stores with a small item limit.
//!
//! Windows caps a credential near 2.5 KB, and a JWT plus a refresh token easily passes that,
//! so a value larger than the store's chunk limit is written as numbered chunk items
//! (`account#1`, `account#2`, …) plus a manifest in the entry itself that says how many there
//! are; an entry without a manifest is the whole value. A store with a large limit (the
//! Secret Service) gets a chunk limit no bundle reaches, so it keeps one item per entry.
//! Writes put the chunks first and the manifest last, and remove the leftovers of a larger
//! previous value.

use super::StoreError;
use super::keyring::{Keyring, Run};

/// Largest value stored in one keyring item where the platform has a small limit: the
/// Windows store's (its 2560-byte credential blob holds any 1280 UTF-8 bytes as UTF-16;
/// see `platform`).
pub const CHUNK_LIMIT: usize = super::platform::WINDOWS_BLOB_BYTES / 2;
const CHUNK_MANIFEST: &str = "bank-chunked:v1:";

impl Keyring {
    fn chunk_count(&self, account: &str) -> Result<usize, StoreError> {
        match self.get_raw(account.to_owned(), Run::UnderDeadline) {
            Ok(v) => Ok(parse_manifest(&v).unwrap_or(0)),
            // Nothing readable to count: a new login simply overwrites a damaged item.
            Err(StoreError::NotFound | StoreError::Corrupt) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Reads a value, reassembling chunks.
    pub fn get(&self, account: &str) -> Result<String, StoreError> {
        self.get_via(account, Run::UnderDeadline)
    }

    pub(super) fn get_via(&self, account: &str, run: Run) -> Result<String, StoreError> {
        let head = self.get_raw(account.to_owned(), run)?;
        let Some(n) = parse_manifest(&head) else {
            return Ok(head);
        };
        let mut out = String::new();
        for i in 1..=n {
            match self.get_raw(chunk_account(account, i), run) {
                Ok(part) => out.push_str(&part),
                Err(StoreError::NotFound) => return Err(StoreError::Corrupt),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes a value: small ones in one item, large ones as chunks plus a manifest. Chunks
    /// go first and the manifest last, and leftovers of a larger previous value are removed.
    pub fn set(&self, account: &str, value: &str) -> Result<(), StoreError> {
        let previous = self.chunk_count(account)?;
        let parts = split_chunks(value, self.chunk_limit);
        let used = if parts.len() <= 1 {
            self.set_raw(account.to_owned(), value.to_owned())?;
            0
        } else {
            for (i, part) in parts.iter().enumerate() {
                self.set_raw(chunk_account(account, i + 1), (*part).to_owned())?;
            }
            self.set_raw(
                account.to_owned(),
                format!("{CHUNK_MANIFEST}{}", parts.len()),
            )?;
            parts.len()
        };
        for i in used + 1..=previous {
            self.delete_raw(chunk_account(account, i))?;
        }
        Ok(())
    }

    /// Deletes a value and its chunks; deleting nothing is fine.
    pub fn delete(&self, account: &str) -> Result<bool, StoreError> {
        let existed = match self.get_raw(account.to_owned(), Run::UnderDeadline) {
            Ok(head) => {
                for i in 1..=parse_manifest(&head).unwrap_or(0) {
                    self.delete_raw(chunk_account(account, i))?;
                }
                true
            }
            Err(StoreError::NotFound) => false,
            // Unreadable bytes are still an item to delete (logout must always work).
            Err(StoreError::Corrupt) => true,
            Err(e) => return Err(e),
        };
        self.delete_raw(account.to_owned())?;
        Ok(existed)
    }
}

fn chunk_account(account: &str, i: usize) -> String {
    format!("{account}#{i}")
}

fn parse_manifest(value: &str) -> Option<usize> {
    value.strip_prefix(CHUNK_MANIFEST)?.parse().ok()
}

/// Splits on character boundaries into pieces of at most `limit` bytes (a piece holds at
/// least one character even if that is longer).
pub fn split_chunks(value: &str, limit: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = limit.min(rest.len());
        while end > 0 && !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_char_boundaries() {
        assert_eq!(split_chunks("", 4), Vec::<&str>::new());
        assert_eq!(split_chunks("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(split_chunks("aé€b", 2), ["a", "é", "€", "b"]);
        assert_eq!(split_chunks("€", 1), ["€"]);
        let long = "x".repeat(2500);
        assert!(
            split_chunks(&long, CHUNK_LIMIT)
                .iter()
                .all(|c| c.len() <= CHUNK_LIMIT)
        );
        assert_eq!(split_chunks(&long, CHUNK_LIMIT).concat(), long);
    }

    /// The real Secret Service (run under `scripts/with-keyring`): chunked values round-trip,
    /// shrink without leftovers and delete completely.
    #[test]
    fn keyring_chunking_round_trip() {
        let keyring = Keyring::connect()
            .expect("a Secret Service is required: run the tests under scripts/with-keyring")
            .with_chunk_limit(100);
        let account = format!("unit-test-{}-{}", std::process::id(), rand::random::<u32>());
        let big: String = (0..450)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        keyring.set(&account, &big).expect("set big");
        assert_eq!(keyring.get(&account).expect("get big"), big);
        assert_eq!(keyring.chunk_count(&account).expect("manifest"), 5);
        keyring.set(&account, "small").expect("set small");
        assert_eq!(keyring.get(&account).expect("get small"), "small");
        for i in 1..=5 {
            assert!(matches!(
                keyring.get_raw(chunk_account(&account, i), Run::UnderDeadline),
                Err(StoreError::NotFound)
            ));
        }
        keyring.set(&account, &big).expect("set big again");
        assert!(keyring.delete(&account).expect("delete"));
        assert!(matches!(keyring.get(&account), Err(StoreError::NotFound)));
        for i in 1..=5 {
            assert!(matches!(
                keyring.get_raw(chunk_account(&account, i), Run::UnderDeadline),
                Err(StoreError::NotFound)
            ));
        }
        assert!(!keyring.delete(&account).expect("delete again"));
    }

    /// The Windows chunk size on the real Secret Service: a bundle as large as a real one
    /// (an RS256 access token, a refresh token, non-ASCII names) goes through the same code
    /// that the Credential Manager runs, and every item it wrote fits that store's blob.
    #[test]
    fn keyring_round_trip_at_the_windows_chunk_size() {
        let keyring = Keyring::connect()
            .expect("a Secret Service is required: run the tests under scripts/with-keyring")
            .with_chunk_limit(CHUNK_LIMIT);
        let account = format!(
            "unit-test-win-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let bundle = format!(
            "{{\"access_token\":\"{}\",\"refresh_token\":\"{}\",\"username\":\"Zoë 名前 🦀\"}}",
            "eyJ".repeat(600),
            "r".repeat(700)
        );
        keyring.set(&account, &bundle).expect("set");
        assert_eq!(keyring.get(&account).expect("get"), bundle);
        let n = keyring.chunk_count(&account).expect("manifest");
        assert_eq!(n, split_chunks(&bundle, CHUNK_LIMIT).len());
        assert!(n >= 3, "{n} chunks");
        for i in 1..=n {
            let item = keyring
                .get_raw(chunk_account(&account, i), Run::UnderDeadline)
                .expect("chunk");
            assert!(item.encode_utf16().count() * 2 <= super::super::platform::WINDOWS_BLOB_BYTES);
        }
        assert!(keyring.delete(&account).expect("delete"));
    }
}
