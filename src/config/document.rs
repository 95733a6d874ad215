//! The configuration file as the person wrote it, for edits that keep it theirs.
//!
//! `bank config set` and a profile created by `bank login` change one table of a file the
//! person may also edit by hand, so the edit goes through `toml_edit`: their comments, the
//! order of their tables and their other profiles come back as they were, and only the
//! keys written change. The typed [`ConfigFile`] is kept beside the document and every edit
//! is validated on it first; before saving, the edited text is parsed again and must mean
//! exactly the typed configuration, so what is written is what was checked. The file is
//! replaced atomically (a temporary file in the same directory, synced, then renamed), so a
//! crash leaves the old file or the new one, never half of either.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

use super::{ConfigError, ConfigFile, KEYS, ProfileFile, set_value};

pub struct ConfigDocument {
    path: PathBuf,
    doc: DocumentMut,
    file: ConfigFile,
}

impl ConfigDocument {
    /// Reads the file (a missing file is an empty document), typed and as written.
    pub fn load(path: &Path) -> Result<ConfigDocument, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|e| uneditable(path, &e.to_string()))?;
        Ok(ConfigDocument {
            path: path.to_owned(),
            doc,
            file,
        })
    }

    pub fn file(&self) -> &ConfigFile {
        &self.file
    }

    /// Sets `key` of profile `name` (created if missing), validated as `bank config set`.
    pub fn set(&mut self, name: &str, key: &str, value: &str) -> Result<(), ConfigError> {
        set_value(&mut self.file, name, key, value)?;
        self.write_key(name, key)
    }

    /// Removes `key` from profile `name`; `false` when it was not set there (nothing changes).
    /// Comment lines above the removed line stay in the file: they are the person's words.
    pub fn unset(&mut self, name: &str, key: &str) -> Result<bool, ConfigError> {
        if !KEYS.contains(&key) {
            return Err(ConfigError::UnknownKey(key.to_owned()));
        }
        let Some(profile) = self.file.profiles.get_mut(name) else {
            return Ok(false);
        };
        if !clear(profile, key) {
            return Ok(false);
        }
        self.remove_key(name, key)?;
        Ok(true)
    }

    fn remove_key(&mut self, name: &str, key: &str) -> Result<(), ConfigError> {
        let path = self.path.clone();
        let profiles = self
            .doc
            .get_mut("profiles")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| uneditable(&path, "`profiles` is not a table"))?;
        let item = profiles
            .get_mut(name)
            .ok_or_else(|| uneditable(&path, &format!("`profiles.{name}` is missing")))?;
        let position = item.as_table().and_then(Table::position);
        let table = item
            .as_table_like_mut()
            .ok_or_else(|| uneditable(&path, &format!("`profiles.{name}` is not a table")))?;
        let comments = table
            .key(key)
            .and_then(|k| k.leaf_decor().prefix())
            .and_then(|p| p.as_str())
            .filter(|p| p.contains('#'))
            .map(str::to_owned);
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
        let next = keys
            .iter()
            .skip_while(|k| k.as_str() != key)
            .nth(1)
            .cloned();
        table.remove(key);
        let Some(comments) = comments else {
            return Ok(());
        };
        if let Some(mut next) = next.as_deref().and_then(|k| table.key_mut(k)) {
            let decor = next.leaf_decor_mut();
            let old = decor.prefix().and_then(|p| p.as_str()).unwrap_or_default();
            decor.set_prefix(format!("{comments}{old}"));
            return Ok(());
        }
        // The last line of its table: the comments go above the table that follows, as
        // written in the file, or to the end of the file.
        let following = position.and_then(|here| {
            self.doc
                .get_mut("profiles")
                .and_then(Item::as_table_mut)?
                .iter_mut()
                .filter_map(|(_, item)| item.as_table_mut())
                .filter(|t| t.position().is_some_and(|p| p > here))
                .min_by_key(|t| t.position())
                .map(|t| {
                    let old = t
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .unwrap_or_default();
                    let new = format!("{comments}{old}");
                    t.decor_mut().set_prefix(new);
                })
        });
        if following.is_none() {
            let old = self.doc.trailing().as_str().unwrap_or_default().to_owned();
            self.doc.set_trailing(format!("{comments}{old}"));
        }
        Ok(())
    }

    /// Adds profile `name` with the values of `table` (already validated by the caller).
    pub fn add_profile(&mut self, name: &str, table: &ProfileFile) -> Result<(), ConfigError> {
        self.file.profiles.insert(name.to_owned(), table.clone());
        for key in KEYS {
            self.write_key(name, key)?;
        }
        Ok(())
    }

    /// Copies the typed value of one key into the document, keeping the comments around it.
    fn write_key(&mut self, name: &str, key: &str) -> Result<(), ConfigError> {
        let Some(value) = self.file.profiles.get(name).and_then(|p| value_of(p, key)) else {
            return Ok(());
        };
        let path = self.path.clone();
        let exists = self
            .doc
            .get("profiles")
            .and_then(Item::as_table_like)
            .is_some_and(|t| t.contains_key(name));
        // Comments at the end of the file stay above a table appended after them.
        let trailing = if exists {
            String::new()
        } else {
            let text = self.doc.trailing().as_str().unwrap_or_default().to_owned();
            self.doc.set_trailing("");
            text
        };
        let profiles = self.doc.entry("profiles").or_insert_with(|| {
            // `[profiles.NAME]` headers, without an empty `[profiles]` above them.
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let inline = profiles.is_inline_table();
        let profiles = profiles
            .as_table_like_mut()
            .ok_or_else(|| uneditable(&path, "`profiles` is not a table"))?;
        let table = profiles.entry(name).or_insert_with(|| {
            if inline {
                Item::Value(Value::InlineTable(InlineTable::new()))
            } else {
                let mut t = Table::new();
                if !trailing.is_empty() {
                    t.decor_mut().set_prefix(format!("{trailing}\n"));
                }
                Item::Table(t)
            }
        });
        let table = table
            .as_table_like_mut()
            .ok_or_else(|| uneditable(&path, &format!("`profiles.{name}` is not a table")))?;
        match table.get_mut(key).and_then(Item::as_value_mut) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            None => {
                table.insert(key, Item::Value(value));
            }
        }
        Ok(())
    }

    /// Writes the document back atomically, after checking that it means what was validated.
    pub fn save(&self) -> Result<(), ConfigError> {
        let text = self.doc.to_string();
        let written: ConfigFile = toml::from_str(&text)
            .map_err(|e| uneditable(&self.path, &format!("the edit would not parse: {e}")))?;
        if written != self.file {
            return Err(uneditable(
                &self.path,
                "the edited file would not mean what was set",
            ));
        }
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
        // A file the person made keeps its permissions; a new one is private to them.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            tmp.as_file()
                .set_permissions(meta.permissions())
                .map_err(write_err)?;
        }
        tmp.write_all(text.as_bytes()).map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&self.path).map_err(|e| write_err(e.error))?;
        Ok(())
    }
}

/// The TOML value of one key of a profile, `None` when unset.
fn value_of(profile: &ProfileFile, key: &str) -> Option<Value> {
    Some(match key {
        "issuer" => Value::from(profile.issuer.as_deref()?),
        "client_id" => Value::from(profile.client_id.as_deref()?),
        "audience" => Value::from(profile.audience.as_deref()?),
        "audience_param" => Value::from(profile.audience_param?.to_string()),
        "api_url" => Value::from(profile.api_url.as_deref()?),
        "scopes" => Value::Array(profile.scopes.as_ref()?.iter().collect::<Array>()),
        "callback_port" => Value::from(i64::from(profile.callback_port?)),
        "dpop" => Value::from(profile.dpop?.to_string()),
        "par" => Value::from(profile.par?.to_string()),
        "max_inline_payments" => {
            Value::from(i64::try_from(profile.max_inline_payments?).unwrap_or(i64::MAX))
        }
        _ => return None,
    })
}

/// Clears one key of a profile as written; whether it was set.
fn clear(profile: &mut ProfileFile, key: &str) -> bool {
    match key {
        "issuer" => profile.issuer.take().is_some(),
        "client_id" => profile.client_id.take().is_some(),
        "audience" => profile.audience.take().is_some(),
        "audience_param" => profile.audience_param.take().is_some(),
        "api_url" => profile.api_url.take().is_some(),
        "scopes" => profile.scopes.take().is_some(),
        "callback_port" => profile.callback_port.take().is_some(),
        "dpop" => profile.dpop.take().is_some(),
        "par" => profile.par.take().is_some(),
        "max_inline_payments" => profile.max_inline_payments.take().is_some(),
        _ => false,
    }
}

fn uneditable(path: &Path, reason: &str) -> ConfigError {
    ConfigError::Uneditable {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, f: impl FnOnce(&mut ConfigDocument)) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        let mut doc = ConfigDocument::load(&path).expect("loads");
        f(&mut doc);
        doc.save().expect("saves");
        std::fs::read_to_string(&path).expect("read back")
    }

    #[test]
    fn set_keeps_comments_order_and_other_profiles() {
        let before = "# my banks\n\n[profiles.work] # the office\n# which tenant\nissuer = \"https://old.example/\" # keep me\nclient_id = \"abc\"\n\n# home comes second\n[profiles.home]\nissuer = \"https://home.example/\"\n";
        let after = edit(before, |doc| {
            doc.set("work", "issuer", "https://new.example/")
                .expect("valid");
            doc.set("work", "scopes", "openid view:balance")
                .expect("valid");
        });
        assert_eq!(
            after,
            "# my banks\n\n[profiles.work] # the office\n# which tenant\nissuer = \"https://new.example/\" # keep me\nclient_id = \"abc\"\nscopes = [\"openid\", \"view:balance\"]\n\n# home comes second\n[profiles.home]\nissuer = \"https://home.example/\"\n"
        );
    }

    #[test]
    fn new_profiles_get_their_own_table_and_inline_tables_stay_inline() {
        let after = edit("# mine\n", |doc| {
            let table = ProfileFile {
                issuer: Some("https://idp.example/".into()),
                client_id: Some("cli".into()),
                callback_port: Some(8765),
                ..ProfileFile::default()
            };
            doc.add_profile("work", &table).expect("adds");
        });
        assert_eq!(
            after,
            "# mine\n\n[profiles.work]\nissuer = \"https://idp.example/\"\nclient_id = \"cli\"\ncallback_port = 8765\n"
        );
        let after = edit("profiles = { home = { client_id = \"h\" } }\n", |doc| {
            doc.set("work", "client_id", "w").expect("valid");
        });
        let file: ConfigFile = toml::from_str(&after).expect("parses");
        assert_eq!(file.profiles["home"].client_id.as_deref(), Some("h"));
        assert_eq!(file.profiles["work"].client_id.as_deref(), Some("w"));
        assert!(after.starts_with("profiles = {"), "{after}");
    }

    #[test]
    fn every_key_can_be_set() {
        let valid = |key: &str| match key {
            "issuer" | "api_url" => "https://idp.example/",
            "audience_param" => "audience",
            "scopes" => "openid view:balance",
            "callback_port" => "8765",
            "dpop" | "par" => "never",
            "max_inline_payments" => "3",
            _ => "value",
        };
        for key in crate::config::KEYS {
            let after = edit("", |doc| doc.set("work", key, valid(key)).expect("valid"));
            assert!(after.contains(&format!("{key} = ")), "{key}: {after}");
        }
    }

    #[test]
    fn unset_removes_the_line_and_keeps_the_comments() {
        let before = "# my banks\n[profiles.work] # the office\n# which tenant\nissuer = \"https://old.example/\" # old\nclient_id = \"abc\"\n# the port\ncallback_port = 8765\n\n# home comes second\n[profiles.home]\nclient_id = \"h\"\n";
        let after = edit(before, |doc| {
            assert!(doc.unset("work", "issuer").expect("a key"));
            assert!(doc.unset("work", "callback_port").expect("a key"));
            assert!(!doc.unset("work", "scopes").expect("a key"));
            assert!(!doc.unset("nobody", "issuer").expect("a key"));
            assert!(matches!(
                doc.unset("work", "colour"),
                Err(ConfigError::UnknownKey(_))
            ));
        });
        assert_eq!(
            after,
            "# my banks\n[profiles.work] # the office\n# which tenant\nclient_id = \"abc\"\n# the port\n\n# home comes second\n[profiles.home]\nclient_id = \"h\"\n"
        );
        let after = edit("[profiles.home]\n# last\npar = \"never\"\n", |doc| {
            assert!(doc.unset("home", "par").expect("a key"));
        });
        assert_eq!(after, "[profiles.home]\n# last\n");
        for key in crate::config::KEYS {
            let mut file = ProfileFile::default();
            set_value_in(&mut file, key);
            assert!(clear(&mut file, key), "{key}");
            assert_eq!(file, ProfileFile::default(), "{key}");
        }
    }

    fn set_value_in(profile: &mut ProfileFile, key: &str) {
        let mut file = ConfigFile::default();
        let value = match key {
            "issuer" | "api_url" => "https://idp.example/",
            "audience_param" => "audience",
            "callback_port" => "8765",
            "dpop" | "par" => "never",
            "max_inline_payments" => "3",
            _ => "value",
        };
        set_value(&mut file, "p", key, value).expect("valid");
        *profile = file.profiles.remove("p").expect("made");
    }

    #[test]
    fn invalid_values_leave_the_file_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# keep\n").expect("write");
        let mut doc = ConfigDocument::load(&path).expect("loads");
        assert!(matches!(
            doc.set("default", "issuer", "http://remote.example"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "# keep\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["config.toml"]);
    }
}
