//! TLS on the ledger's link (`sslmode`, `sslrootcert`), against a cluster of its own on a
//! loopback port with a certificate made here by `openssl`. Its `pg_hba.conf` refuses every
//! TCP connection without TLS, so a store that opens over TCP proves its link is encrypted.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use bank_sandbox::api::{Database, Durability};
use bank_sandbox::store::bank::BankStore;

use super::cluster::{Cluster, hand_over, in_ci, start_on};

struct TlsCluster {
    cluster: Cluster,
    port: u16,
}

static TLS_CLUSTER: OnceLock<Option<TlsCluster>> = OnceLock::new();

/// The TLS cluster, started on first use; `None` (with a message) where PostgreSQL or
/// `openssl` is missing outside CI.
fn tls_cluster() -> Option<&'static TlsCluster> {
    TLS_CLUSTER
        .get_or_init(|| {
            if Command::new("openssl").arg("version").output().is_err() {
                assert!(!in_ci(), "the TLS tests need the openssl command");
                eprintln!("skipping the PostgreSQL TLS tests: no openssl command");
                return None;
            }
            let port = free_port();
            let cluster = start_on(Some(port), |dir| {
                make_certificates(dir);
                let hba = dir.join("hba.conf");
                std::fs::write(
                    &hba,
                    "local all all trust\n\
                     hostssl all all 127.0.0.1/32 trust\n\
                     hostnossl all all all reject\n",
                )
                .expect("write hba.conf");
                hand_over(&hba);
                let file = |name: &str| dir.join(name).display().to_string();
                vec![
                    "listen_addresses=127.0.0.1".into(),
                    "ssl=on".into(),
                    format!("ssl_cert_file={}", file("server.crt")),
                    format!("ssl_key_file={}", file("server.key")),
                    format!("hba_file={}", file("hba.conf")),
                ]
            })?;
            Some(TlsCluster { cluster, port })
        })
        .as_ref()
}

/// A port nobody listens on now (the cluster takes it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`), a server certificate it signs for 127.0.0.1 and localhost
/// (`server.crt`, `server.key`), and a CA that signed nothing (`other-ca.pem`).
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, cn) in [("ca", "bank test CA"), ("other-ca", "another CA")] {
        let (key, pem, subject) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("/CN={cn}"),
        );
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subject];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem]);
        openssl(dir, &args);
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    let mut args = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    args.extend(ec);
    openssl(dir, &args);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    hand_over(&dir.join("server.crt"));
    hand_over(&dir.join("server.key"));
}

impl TlsCluster {
    /// A fresh database over TCP, with `query` (the TLS settings).
    fn url(&self, query: &str) -> String {
        let name = self.cluster.fresh_database_name();
        format!("postgres://postgres@127.0.0.1:{}/{name}?{query}", self.port)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.cluster.dir().join(name)
    }
}

/// The error and its causes, as one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Opens the store as the API does at start-up (setting parsed, pool connected,
/// schema migrated), and moves nothing.
async fn open(url: &str) -> Result<BankStore, String> {
    let database = Database::parse(url).map_err(|e| chain(&e))?;
    let store = BankStore::open(&database, Durability::Full, 2)
        .await
        .map_err(|e| chain(&e))?;
    store
        .open_account("usr_tls", "tls", "USD", 100)
        .await
        .map_err(|e| chain(&e))?;
    Ok(store)
}

fn param(path: &Path) -> String {
    url::form_urlencoded::byte_serialize(path.display().to_string().as_bytes()).collect()
}

#[tokio::test]
async fn verify_full_connects_with_the_ca_and_refuses_another() {
    let Some(tls) = tls_cluster() else { return };
    let ca = param(&tls.file("ca.pem"));
    open(&tls.url(&format!("sslmode=verify-full&sslrootcert={ca}")))
        .await
        .expect("verify-full with the server's CA");

    let other = param(&tls.file("other-ca.pem"));
    let err = open(&tls.url(&format!("sslmode=verify-full&sslrootcert={other}")))
        .await
        .expect_err("a certificate another CA signed is refused");
    assert!(err.contains("certificate"), "{err}");

    // Without a CA file, the public roots: they know nothing of this one.
    assert!(open(&tls.url("sslmode=verify-full")).await.is_err());
    // A CA file that is not there is a setting error, before any connection.
    let err = open(&tls.url("sslmode=verify-full&sslrootcert=%2Fnonexistent%2Fca.pem"))
        .await
        .expect_err("a missing CA file is refused");
    assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let Some(tls) = tls_cluster() else { return };
    // The server takes no TCP connection in clear: `disable` is refused by it...
    let err = open(&tls.url("sslmode=disable"))
        .await
        .expect_err("this server refuses a link in clear");
    assert!(
        err.contains("no encryption") || err.contains("pg_hba"),
        "{err}"
    );
    // ...so `require`, whose certificate no root vouches for, is encrypted.
    open(&tls.url("sslmode=require"))
        .await
        .expect("require takes the certificate unchecked");
    // `prefer` is taken as `require`.
    open(&tls.url("sslmode=prefer")).await.expect("prefer");
}

#[tokio::test]
async fn a_remote_host_without_sslmode_is_refused_at_start_up() {
    let url = "postgres://bank:s3cret@db.example:5432/bank";
    let refused = |err: String| {
        assert!(err.contains("sslmode=verify-full"), "{err}");
        assert!(!err.contains("s3cret"), "the password leaked: {err}");
    };
    refused(chain(
        &Database::parse(url).expect_err("refused when parsed"),
    ));
    // A setting made without parsing is refused when the store opens, before connecting.
    let err = BankStore::open(&Database::Postgres(url.into()), Durability::Full, 1)
        .await
        .expect_err("refused when opened");
    refused(chain(&err));
    // And by the API at start-up, from the flag and from the environment.
    for (flag, env) in [(Some(url), None), (None, Some(url))] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bank-sandbox"));
        command.env_clear().args([
            "api",
            "--issuer",
            "http://127.0.0.1:9",
            "--api-addr",
            "127.0.0.1:0",
        ]);
        if let Some(url) = flag {
            command.args(["--database", url]);
        }
        if let Some(url) = env {
            command.env("BANK_API_DATABASE_URL", url);
        }
        let out = command
            .stdin(Stdio::null())
            .output()
            .expect("run bank-sandbox api");
        assert!(!out.status.success());
        refused(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    // Loopback needs no choice, and a remote host may choose clear text explicitly.
    Database::parse("postgres://bank:s3cret@127.0.0.1/bank").expect("loopback");
    Database::parse("postgres://bank:s3cret@db.example/bank?sslmode=disable").expect("told");
}
