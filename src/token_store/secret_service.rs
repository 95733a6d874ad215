//! A `keyring-core` credential store on the freedesktop Secret Service (gnome-keyring,
//! KWallet, KeePassXC) whose session uses the `plain` algorithm, as `gh`'s keyring library
//! (zalando/go-keyring) does. It replaces `dbus-secret-service-keyring-store`, which always
//! negotiates `dh-ietf1024-sha256-aes128-cbc-pkcs7`: that Diffie-Hellman exchange was about
//! 5 ms of every `bank` run that reads a token (client and daemon both doing 1024-bit modular
//! exponentiation), more than the whole API request.
//!
//! Why `plain` gives nothing away: the session bus is per user, and the Secret Service hands
//! any item of an unlocked collection to any client on that bus that asks. A process able to
//! read our D-Bus traffic runs as us, so it can just as well call `GetSecret` itself; DH
//! protects nothing against that threat. The Secret Service spec says the same of its own
//! transfer encryption (§7 "Transfer of Secrets"): it is "not envisioned to withstand man in
//! the middle attacks, or other active attacks", only to keep plain text out of swap and
//! caches along the way — and `bank` holds the token in plain memory anyway to send it.
//!
//! Items are laid out exactly as the upstream store lays them out, so entries it wrote are found
//! and overwritten in place (one item per entry): attributes `service` and `username`, label
//! `keyring:{user}@{service}`, in the default collection, content type
//! `application/octet-stream`. Errors are mapped the same way (locked, no result or a dismissed
//! prompt → `NoStorageAccess`; anything else → `PlatformFailure`). The upstream `target` and
//! `label` modifiers (items in other collections) are not supported: `bank` never uses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use dbus_secret_service::{EncryptionType, Item, Path, SecretService};
use keyring_core::api::{Credential, CredentialApi, CredentialStoreApi};
use keyring_core::{Entry, Error, Result};

/// How the upstream store labels the secrets it stores; kept so both write identical items.
const CONTENT_TYPE: &str = "application/octet-stream";

/// The one connection and session of a store, shared by its entries. `SecretService` holds a
/// blocking D-Bus connection, which is not `Sync`: calls take turns.
struct Service(Mutex<SecretService>);

impl Service {
    fn lock(&self) -> Result<MutexGuard<'_, SecretService>> {
        self.0.lock().map_err(|_| {
            Error::PlatformFailure("the Secret Service connection was poisoned by a panic".into())
        })
    }
}

/// Searches every collection (as the upstream store does) and unlocks what matched but is
/// locked, which may show the Secret Service's unlock prompt; the caller's deadline bounds it.
fn find_items(ss: &SecretService, attributes: HashMap<&str, &str>) -> Result<Vec<Path<'static>>> {
    let found = ss.search_items(attributes).map_err(decode_error)?;
    if !found.locked.is_empty() {
        let locked: Vec<&Item<'_>> = found.locked.iter().collect();
        ss.unlock_all(&locked).map_err(decode_error)?;
    }
    Ok(found
        .unlocked
        .iter()
        .chain(found.locked.iter())
        .map(|item| item.path.clone())
        .collect())
}

/// The Secret Service, connected with a plain session.
pub struct Store {
    service: Arc<Service>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("vendor", &self.vendor())
            .finish()
    }
}

impl Store {
    /// Connects to the session bus and opens a `plain` session (see the module docs for why
    /// `plain`). Fails when there is no bus or nothing provides `org.freedesktop.secrets`.
    pub fn new() -> Result<Arc<Store>> {
        let ss = SecretService::connect(EncryptionType::Plain).map_err(platform_failure)?;
        Ok(Arc::new(Store {
            service: Arc::new(Service(Mutex::new(ss))),
        }))
    }
}

impl CredentialStoreApi for Store {
    fn vendor(&self) -> String {
        "bank's Secret Service store (plain session)".to_owned()
    }

    fn id(&self) -> String {
        self.vendor()
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        modifiers: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        if let Some((key, _)) = modifiers.and_then(|m| m.iter().next()) {
            return Err(Error::NotSupportedByStore(format!(
                "the `{key}` modifier is not supported"
            )));
        }
        Ok(Entry::new_with_credential(Arc::new(Specifier {
            ss: self.service.clone(),
            label: format!("keyring:{user}@{service}"),
            service: service.to_owned(),
            user: user.to_owned(),
        })))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The entry for one (service, user) pair: whichever single item carries those attributes.
struct Specifier {
    ss: Arc<Service>,
    label: String,
    service: String,
    user: String,
}

impl std::fmt::Debug for Specifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Specifier")
            .field("service", &self.service)
            .field("user", &self.user)
            .finish()
    }
}

impl Specifier {
    fn attributes(&self) -> HashMap<&str, &str> {
        HashMap::from([
            ("service", self.service.as_str()),
            ("username", self.user.as_str()),
        ])
    }

    /// The matching item's path: `NoEntry` for none, `Ambiguous` for several (keyring-core's
    /// contract; someone else made the extra items, and which one is ours is not for us to
    /// guess).
    fn unique_item(&self, ss: &SecretService) -> Result<Path<'static>> {
        let mut paths = find_items(ss, self.attributes())?;
        match paths.len() {
            0 => Err(Error::NoEntry),
            1 => Ok(paths.remove(0)),
            _ => Err(Error::Ambiguous(
                paths
                    .into_iter()
                    .map(|path| {
                        Entry::new_with_credential(Arc::new(ItemCredential {
                            ss: self.ss.clone(),
                            path,
                        }))
                    })
                    .collect(),
            )),
        }
    }
}

impl CredentialApi for Specifier {
    /// Overwrites the one matching item, or creates it in the default collection. `replace`
    /// makes the Secret Service itself overwrite an item with the same attributes that
    /// appeared since the search, instead of adding a second one.
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        let ss = self.ss.lock()?;
        match self.unique_item(&ss) {
            Ok(path) => {
                return Item::new(&ss, path)
                    .set_secret(secret, CONTENT_TYPE)
                    .map_err(decode_error);
            }
            Err(Error::NoEntry) => {}
            Err(e) => return Err(e),
        }
        let collection = ss.get_default_collection().map_err(decode_error)?;
        if collection.is_locked().map_err(decode_error)? {
            collection.unlock().map_err(decode_error)?;
        }
        collection
            .create_item(&self.label, self.attributes(), secret, true, CONTENT_TYPE)
            .map_err(platform_failure)?;
        Ok(())
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        let ss = self.ss.lock()?;
        let path = self.unique_item(&ss)?;
        Item::new(&ss, path).get_secret().map_err(decode_error)
    }

    fn delete_credential(&self) -> Result<()> {
        let ss = self.ss.lock()?;
        let path = self.unique_item(&ss)?;
        Item::new(&ss, path).delete().map_err(decode_error)
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        let ss = self.ss.lock()?;
        let path = self.unique_item(&ss)?;
        Ok(Some(Arc::new(ItemCredential {
            ss: self.ss.clone(),
            path,
        })))
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// One existing item, by path: what `Ambiguous` and `get_credential` hand out.
struct ItemCredential {
    ss: Arc<Service>,
    path: Path<'static>,
}

impl std::fmt::Debug for ItemCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemCredential")
            .field("path", &self.path)
            .finish()
    }
}

impl ItemCredential {
    /// Runs `f` on the unlocked item (unlocking may prompt, as in [`find_items`]).
    fn with_item<T>(
        &self,
        f: impl FnOnce(&Item<'_>) -> std::result::Result<T, dbus_secret_service::Error>,
    ) -> Result<T> {
        let ss = self.ss.lock()?;
        let item = Item::new(&ss, self.path.clone());
        item.ensure_unlocked().map_err(decode_error)?;
        f(&item).map_err(decode_error)
    }
}

impl CredentialApi for ItemCredential {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.with_item(|item| item.set_secret(secret, CONTENT_TYPE))
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        self.with_item(|item| item.get_secret())
    }

    fn delete_credential(&self) -> Result<()> {
        self.with_item(|item| item.delete())
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        self.with_item(|_| Ok(()))?;
        Ok(None)
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        let attributes = self.with_item(|item| item.get_attributes()).ok()?;
        Some((
            attributes.get("service")?.clone(),
            attributes.get("username")?.clone(),
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The upstream store's mapping: states a person can fix (locked, nothing to unlock with, a
/// dismissed prompt) are "no storage access", anything else is a platform failure.
fn decode_error(err: dbus_secret_service::Error) -> Error {
    use dbus_secret_service::Error as E;
    match err {
        E::Locked | E::NoResult | E::Prompt => Error::NoStorageAccess(Box::new(err)),
        other => platform_failure(other),
    }
}

fn platform_failure(err: dbus_secret_service::Error) -> Error {
    Error::PlatformFailure(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items written by `dbus-secret-service-keyring-store` (a DH session, its label and
    /// attributes) are read, overwritten in place and deleted by this store, and what this
    /// store writes reads back the same through a DH session. Needs the real Secret Service:
    /// run under `scripts/with-keyring`.
    #[test]
    fn shares_items_with_the_upstream_store() {
        let service = "bank-cli-test";
        let user = format!("upstream-{}-{}", std::process::id(), rand::random::<u32>());
        let attributes = HashMap::from([("service", service), ("username", user.as_str())]);
        let upstream = SecretService::connect(EncryptionType::Dh)
            .expect("a Secret Service is required: run the tests under scripts/with-keyring");
        upstream
            .get_default_collection()
            .expect("default collection")
            .create_item(
                &format!("keyring:{user}@{service}"),
                attributes.clone(),
                b"written-by-upstream",
                true,
                CONTENT_TYPE,
            )
            .expect("upstream-style item");

        let store: Arc<keyring_core::CredentialStore> = Store::new().expect("plain session");
        let entry = Entry::new_in_store(&store, service, &user).expect("entry");
        assert_eq!(entry.get_password().expect("read"), "written-by-upstream");
        entry.set_password("written-by-bank").expect("overwrite");

        let found = upstream.search_items(attributes.clone()).expect("search");
        assert_eq!(
            found.unlocked.len() + found.locked.len(),
            1,
            "one item per entry"
        );
        let item = &found.unlocked[0];
        assert_eq!(item.get_secret().expect("DH read"), b"written-by-bank");
        assert_eq!(
            item.get_label().expect("label"),
            format!("keyring:{user}@{service}")
        );

        entry.delete_credential().expect("delete");
        assert!(matches!(entry.get_password(), Err(Error::NoEntry)));
        assert!(matches!(entry.delete_credential(), Err(Error::NoEntry)));
        let found = upstream.search_items(attributes).expect("search");
        assert!(found.unlocked.is_empty() && found.locked.is_empty());
    }

    /// A new entry is created in the default collection, labelled and attributed as upstream
    /// does, and a second writer with the same (service, user) updates it instead of adding one.
    #[test]
    fn creates_one_item_per_entry() {
        let service = "bank-cli-test";
        let user = format!("create-{}-{}", std::process::id(), rand::random::<u32>());
        let store: Arc<keyring_core::CredentialStore> = Store::new()
            .expect("a Secret Service is required: run the tests under scripts/with-keyring");
        let entry = Entry::new_in_store(&store, service, &user).expect("entry");
        assert!(matches!(entry.get_password(), Err(Error::NoEntry)));
        entry.set_password("first").expect("create");
        let other: Arc<keyring_core::CredentialStore> = Store::new().expect("second store");
        Entry::new_in_store(&other, service, &user)
            .expect("entry")
            .set_password("second")
            .expect("update");
        assert_eq!(entry.get_password().expect("read"), "second");

        let ss = SecretService::connect(EncryptionType::Plain).expect("connect");
        let found = ss
            .search_items(HashMap::from([
                ("service", service),
                ("username", user.as_str()),
            ]))
            .expect("search");
        assert_eq!(found.unlocked.len(), 1);
        let item = &found.unlocked[0];
        // gnome-keyring may add `xdg:schema` on its own; ours are exactly upstream's two.
        let mut attributes = item.get_attributes().expect("attributes");
        attributes.remove("xdg:schema");
        assert_eq!(
            attributes,
            HashMap::from([
                ("service".to_owned(), service.to_owned()),
                ("username".to_owned(), user.clone()),
            ])
        );
        assert_eq!(
            item.get_label().expect("label"),
            format!("keyring:{user}@{service}")
        );
        let default = ss.get_default_collection().expect("default collection");
        assert!(
            default
                .get_all_items()
                .expect("items")
                .iter()
                .any(|i| i.path == item.path),
            "the item lives in the default collection"
        );
        entry.delete_credential().expect("delete");
    }
}
