//! A throwaway PostgreSQL cluster for the tests: `initdb` into a private temp dir, the
//! server listening only on a unix socket in that dir (no TCP port, so nothing to collide
//! with), one fresh database per test.
//!
//! The server runs under a small `sh` wrapper whose standard input is a pipe from this
//! process: when the test binary exits, however it exits (even `kill -9`), the pipe closes,
//! the wrapper stops the server and removes the directory. `initdb` refuses to run as root,
//! so as root (CI) everything runs as the `postgres` user that Debian's package creates,
//! owning the temp dir.
//!
//! Where the binaries are missing the tests are skipped with a message, except under
//! `CI=true`, where that is a failure: CI installs them (`scripts/install-test-deps`).

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The running cluster of this test binary.
pub struct Cluster {
    socket_dir: PathBuf,
    /// The port it listens on besides the socket; `None`: the default.
    port: Option<u16>,
    /// The wrapper; its stdin is the pipe whose closing stops the server.
    _wrapper: std::sync::Mutex<Child>,
    next_db: AtomicUsize,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// The shared cluster, started on first use; `None` (with a message) when PostgreSQL is
/// not installed outside CI.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

/// A fresh, empty database on the cluster, as a URL the bank API accepts.
pub fn fresh_database() -> Option<String> {
    let cluster = cluster()?;
    let name = cluster.fresh_database_name();
    Some(cluster.url(&name))
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `initdb` and `postgres`: `BANK_TEST_PG_BINDIR`, else Debian's newest
/// `/usr/lib/postgresql/<version>/bin`, else `PATH`.
fn bindir() -> Option<PathBuf> {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("BANK_TEST_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|d| has(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| has(d))
}

fn running_as_root() -> bool {
    // The owner of /proc/self is this process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run id");
    assert!(
        out.status.success(),
        "running as root, the PostgreSQL tests need the `postgres` user (Debian's \
         postgresql package creates it)"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

/// `program args…`, as the `postgres` user when we are root.
fn command(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Option<Cluster> {
    start_with(|_| Vec::new())
}

/// A cluster of its own: `prepare` gets its private dir once `initdb` has run and before
/// the server starts (to write files there, as [`hand_over`] them), and returns further
/// `-c name=value` settings for the server.
pub fn start_with(prepare: impl FnOnce(&Path) -> Vec<String>) -> Option<Cluster> {
    start_on(None, prepare)
}

/// As [`start_with`], listening on `port` too (its socket is named after the port).
pub fn start_on(port: Option<u16>, prepare: impl FnOnce(&Path) -> Vec<String>) -> Option<Cluster> {
    let Some(bin) = bindir() else {
        assert!(
            !in_ci(),
            "PostgreSQL is not installed (no initdb/postgres under /usr/lib/postgresql/*/bin \
             or PATH): CI must run the PostgreSQL tests; run scripts/install-test-deps"
        );
        eprintln!(
            "skipping the PostgreSQL tests: initdb/postgres not found \
             (install Debian's postgresql package, or set BANK_TEST_PG_BINDIR)"
        );
        return None;
    };
    let root = running_as_root();
    let dir = tempfile::Builder::new()
        .prefix("bank-pg-")
        .tempdir()
        .expect("temp dir for the cluster")
        .keep();
    if root {
        std::os::unix::fs::chown(&dir, Some(id_of("-u")), Some(id_of("-g")))
            .expect("hand the cluster dir to postgres");
    }
    let data = dir.join("data");
    let out = command(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut settings = prepare(&dir);
    if let Some(port) = port {
        settings.push(format!("port={port}"));
    }
    // Only a unix socket in the private dir (unless `prepare` says otherwise); fsync off
    // because the cluster is thrown away (durability is about the API's settings, which
    // the tests read back).
    let script = r#"
        bin=$0 dir=$1
        shift
        "$bin" -D "$dir/data" -k "$dir" -c listen_addresses= -c fsync=off -c max_connections=200 \
            "$@" </dev/null >"$dir/server.log" 2>&1 &
        pid=$!
        read -r _ || true
        kill -INT "$pid" 2>/dev/null
        wait "$pid"
        rm -rf "$dir"
    "#;
    let wrapper = command(Path::new("/bin/sh"), root)
        .arg("-c")
        .arg(script)
        .arg(bin.join("postgres"))
        .arg(&dir)
        .args(settings.iter().flat_map(|setting| ["-c", setting.as_str()]))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    wait_until_ready(&dir);
    Some(Cluster {
        socket_dir: dir,
        port,
        _wrapper: std::sync::Mutex::new(wrapper),
        next_db: AtomicUsize::new(0),
    })
}

/// The server writes `ready` into postmaster.pid once it accepts connections.
fn wait_until_ready(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid_file = dir.join("data/postmaster.pid");
    loop {
        let ready = std::fs::read_to_string(&pid_file)
            .is_ok_and(|text| text.lines().any(|l| l.trim() == "ready"));
        if ready {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("PostgreSQL did not start within 60 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Gives a file written into a cluster's dir to the user the server runs as (when we are
/// root), readable by it alone, as the server wants of its key.
pub fn hand_over(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(id_of("-u")), Some(id_of("-g")))
            .expect("hand the file to postgres");
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("file mode");
}

impl Cluster {
    /// The cluster's private dir (its socket, its data, what `prepare` wrote).
    pub fn dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A fresh, empty database on this cluster: its name.
    pub fn fresh_database_name(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("bank_test_{}_{n}", std::process::id());
        self.psql(&format!("CREATE DATABASE {name}"));
        name
    }

    /// `postgres://postgres@<socket dir>/NAME`, the host percent-encoded as libpq does.
    pub fn url(&self, database: &str) -> String {
        let host: String = self
            .socket_dir
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('/', "%2F");
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("postgres://postgres@{host}{port}/{database}")
    }

    /// Runs one SQL command as the superuser, through the same socket.
    fn psql(&self, sql: &str) {
        let url = self.url("postgres");
        let sql = sql.to_owned();
        // On a thread of its own: callers are async tests, and a runtime cannot block on
        // another inside itself.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test cluster");
                let task = tokio::spawn(connection);
                client.batch_execute(&sql).await.expect("admin SQL");
                drop(client);
                let _ = task.await;
            });
        })
        .join()
        .expect("admin SQL thread");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Statics are not dropped at exit; the closed pipe does the cleanup. This only
        // runs if a cluster is ever dropped explicitly.
        if let Ok(mut wrapper) = self._wrapper.lock()
            && let Some(stdin) = wrapper.stdin.as_mut()
        {
            let _ = stdin.write_all(b"\n");
        }
    }
}
