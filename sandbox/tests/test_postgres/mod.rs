//! The bank API on PostgreSQL: the same guarantees as on SQLite, in-process
//! (`test_store`), and across two `bank-sandbox api` processes sharing one database
//! (`test_instances`). Every test gets a fresh database on one throwaway cluster
//! (`cluster`); the API instances trust the tests' own loopback issuer. The link's TLS
//! is tested against a cluster of its own (`test_tls`).

mod cluster;
mod test_batches;
mod test_group_commit;
mod test_instances;
mod test_store;
mod test_tls;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bank_sandbox::api::{Database, Durability};
use bank_sandbox::store::bank::BankStore;

pub use self::cluster::fresh_database;
use crate::test_api::ApiClient;

/// A fresh database (or `None`, with a message, where PostgreSQL is not installed
/// outside CI) and a store opened on it with the default durability.
pub async fn fresh_store() -> Option<(String, BankStore)> {
    let url = fresh_database()?;
    let store = open_store(&url, Durability::Full).await;
    Some((url, store))
}

pub async fn open_store(url: &str, durability: Durability) -> BankStore {
    let database = Database::parse(url).expect("a PostgreSQL URL");
    BankStore::open(&database, durability, 4)
        .await
        .expect("open the PostgreSQL store")
}

/// Opens the accounts the instance tests use, as `bank-sandbox accounts open` would.
pub async fn open_accounts(store: &BankStore, accounts: &[(&str, &str, i64)]) {
    for (sub, handle, balance) in accounts {
        store
            .open_account(sub, handle, "USD", *balance)
            .await
            .expect("open account");
    }
}

/// One `bank-sandbox api` process on an ephemeral loopback port.
pub struct ApiProcess {
    child: Child,
    pub client: ApiClient,
    stderr: Arc<Mutex<String>>,
    /// What the API printed when it started, up to where it says it listens.
    pub banner: String,
}

impl ApiProcess {
    /// Starts the real binary against `database`, trusting `issuer`, and waits until it
    /// says where it listens.
    pub fn spawn(issuer: &str, database: &str) -> ApiProcess {
        ApiProcess::spawn_with(issuer, &["--database", database])
    }

    pub fn spawn_with(issuer: &str, args: &[&str]) -> ApiProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bank-sandbox"))
            .env_clear()
            .env("RUST_LOG", "bank_sandbox=warn")
            .args(["api", "--issuer", issuer, "--api-addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bank-sandbox api");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&text);
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut banner = String::new();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("bank API is running on ") {
                        break rest.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.wait();
                    let err = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    panic!("bank-sandbox api did not start:\n{err}");
                }
            }
        };
        // The banner's lines up to "Press Ctrl-C", then keep draining stdout so the process
        // never blocks on a full pipe.
        for line in lines.by_ref().map_while(Result::ok) {
            if line.starts_with("Press Ctrl-C") {
                break;
            }
            banner.push_str(&line);
            banner.push('\n');
        }
        std::thread::spawn(move || for _ in lines {});
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        ApiProcess {
            child,
            client: ApiClient { url, http },
            stderr,
            banner,
        }
    }

    /// `kill -9`: no shutdown, no flush, connections dropped mid-transaction.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
