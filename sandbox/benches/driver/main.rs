//! `bench-driver`: the Rust half of `bench/run`. It starts the real sandbox in-process (both
//! listeners on 127.0.0.1:0) and either serves it for the external tools (`serve`: hyperfine,
//! curl, wrk and the `bank` binary talk to it), drives the transfer load itself
//! (`transfers`), or times password hashing (`hash`). Results are one JSON object on stdout;
//! `bench/run` turns them into the table. Nothing here asserts a time: the transfer run
//! fails only when the ledger is wrong (a lost or doubled transfer), never when it is slow.

mod flow;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bank_sandbox::api::ApiConfig;
use bank_sandbox::authz::PasswordHashing;
use bank_sandbox::{Sandbox, SandboxConfig};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(name = "bench-driver", about = "Load and latency driver for bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the sandbox, print `{"issuer","api_url","token"}` (a `view:balance` token for
    /// alice, minted through the real flow), and serve until stdin closes.
    Serve {
        /// Keep the databases here (WAL files); default: in memory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// argon2id with the production defaults (OWASP: 19 MiB, t=2) instead of the
        /// cheap test parameters, so login latency includes the real hashing cost.
        #[arg(long)]
        real_password_hashing: bool,
        /// The bank API's verified-token cache size (0 turns it off, for comparison).
        #[arg(long, default_value_t = ApiConfig::default().verified_token_cache_capacity)]
        token_cache_capacity: usize,
    },
    /// Mint `count` step-up tokens through the real flow, then spend them on `count`
    /// transfers over `connections` keep-alive connections; check the ledger.
    Transfers {
        #[arg(long, default_value_t = 5000)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Idempotent retries and token replays to check after the run.
        #[arg(long, default_value_t = 100)]
        replays: usize,
        /// Directory for the WAL-mode databases (a fresh temp dir by default).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Time one argon2id hash with the production parameters (median of `runs`).
    Hash {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = match cli.command {
        Command::Serve {
            data_dir,
            real_password_hashing,
            token_cache_capacity,
        } => runtime.block_on(serve(data_dir, real_password_hashing, token_cache_capacity))?,
        Command::Transfers {
            count,
            connections,
            replays,
            data_dir,
        } => runtime.block_on(transfers(count, connections, replays, data_dir))?,
        Command::Hash { runs } => hash(runs)?,
    };
    if let Some(output) = output {
        println!("{output}");
    }
    Ok(())
}

fn config(data_dir: Option<PathBuf>, real_hashing: bool) -> SandboxConfig {
    let mut config = SandboxConfig::ephemeral();
    config.data_dir = data_dir;
    // Step-up tokens are minted for the benchmark, not approved by a person, thousands
    // for one user: the push limit (against push fatigue) is lifted, and so is the login
    // throttle's bound on concurrent password checks (minting runs on several connections).
    config.authz.mfa_auto_approve = true;
    config.authz.mfa_push_limit.max_pushes = u32::MAX;
    config.authz.login_throttle.max_concurrent = 64;
    if real_hashing {
        config.authz.password_hashing = PasswordHashing::default();
    }
    config
}

async fn serve(
    data_dir: Option<PathBuf>,
    real_hashing: bool,
    token_cache_capacity: usize,
) -> anyhow::Result<Option<serde_json::Value>> {
    let mut config = config(data_dir, real_hashing);
    config.api.verified_token_cache_capacity = token_cache_capacity;
    let sandbox = Sandbox::start(config).await?;
    let mut alice = flow::Browser::new(sandbox.issuer(), "alice", "wonderland")?;
    let token = alice.access_token("openid view:balance").await?;
    let ready = json!({
        "issuer": sandbox.issuer(),
        "api_url": sandbox.api_url(),
        "token": token,
    });
    println!("{ready}");
    // Serve until whoever started us closes our stdin (or goes away).
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read as _;
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)
    })
    .await;
    sandbox.shutdown().await;
    Ok(None)
}

/// Percentile of sorted microsecond samples.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn mint(
    browser: &flow::Browser,
    count: usize,
    workers: usize,
) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let mut b = browser.clone_session();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                out.push(b.access_token("openid transfer:funds").await?);
            }
            anyhow::Ok(out)
        }));
    }
    let mut tokens = Vec::with_capacity(count);
    for task in tasks {
        tokens.extend(task.await??);
    }
    Ok(tokens)
}

struct Answer {
    status: u16,
    replayed: bool,
}

async fn post_transfer(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
) -> anyhow::Result<Answer> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({ "to": "bob", "amount": "0.01" }))
        .send()
        .await?;
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    // Read the body so the connection can be reused.
    response.bytes().await?;
    Ok(Answer { status, replayed })
}

async fn transfers(
    count: usize,
    connections: usize,
    replays: usize,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Option<serde_json::Value>> {
    ensure!(
        count > 0 && connections > 0,
        "count and connections must be positive"
    );
    ensure!(replays <= count, "replays must be at most count");
    let temp = tempfile::tempdir()?;
    let dir = data_dir.unwrap_or_else(|| temp.path().join("data"));
    let sandbox = Sandbox::start(config(Some(dir), false)).await?;
    let bank = sandbox.bank().clone();
    let alice_before = bank.balance_of("alice").context("alice's account")?;
    let bob_before = bank.balance_of("bob").context("bob's account")?;
    ensure!(
        alice_before >= count as i64,
        "alice cannot afford {count} transfers of 0.01"
    );

    let mint_started = Instant::now();
    let mut alice = flow::Browser::new(sandbox.issuer(), "alice", "wonderland")?;
    // The first authorization signs in (password form); later ones reuse the session.
    let first = alice.access_token("openid transfer:funds").await?;
    let mut tokens = mint(&alice, count + replays - 1, 4).await?;
    tokens.insert(0, first);
    let mint_secs = mint_started.elapsed().as_secs_f64();
    let (tokens, retry_tokens) = {
        let retry = tokens.split_off(count);
        (Arc::new(tokens), retry)
    };

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{}/v1/transfers", sandbox.api_url());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (http, url, next, tokens) = (http.clone(), url.clone(), next.clone(), tokens.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                let t0 = Instant::now();
                let answer = post_transfer(&http, &url, &tokens[i], &format!("bench-{i}")).await?;
                latencies.push(t0.elapsed().as_micros() as u64);
                if answer.status != 201 || answer.replayed {
                    failures += 1;
                }
            }
            anyhow::Ok((latencies, failures))
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await??;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();

    // Correctness under the same server state, after the timed run: a spent token is refused
    // (401), and a retry with a fresh token and the same key returns the original transfer.
    let mut replay_refused = 0;
    let mut retries_replayed = 0;
    for (i, fresh) in retry_tokens.iter().enumerate() {
        let key = format!("bench-{i}");
        let spent = post_transfer(&http, &url, &tokens[i], &key).await?;
        if spent.status == 401 {
            replay_refused += 1;
        }
        let retry = post_transfer(&http, &url, fresh, &key).await?;
        if retry.status == 201 && retry.replayed {
            retries_replayed += 1;
        }
    }

    let summary = bank.ledger_summary();
    let alice_after = bank.balance_of("alice").context("alice's account")?;
    let bob_after = bank.balance_of("bob").context("bob's account")?;
    let ledger_ok = summary.transfers == count as i64
        && alice_after == alice_before - count as i64
        && bob_after == bob_before + count as i64
        && summary.total_balance_minor == summary.total_opening_minor;
    let result = json!({
        "count": count,
        "connections": connections,
        "seconds": elapsed,
        "per_second": count as f64 / elapsed,
        "p50_ms": percentile(&latencies, 50.0) as f64 / 1000.0,
        "p99_ms": percentile(&latencies, 99.0) as f64 / 1000.0,
        "failed": failures,
        "mint_seconds": mint_secs,
        "ledger": {
            "transfers": summary.transfers,
            "moved_minor": alice_before - alice_after,
            "received_minor": bob_after - bob_before,
            "total_balance_minor": summary.total_balance_minor,
            "total_opening_minor": summary.total_opening_minor,
            "ok": ledger_ok,
        },
        "replays": replays,
        "replay_refused": replay_refused,
        "retries_replayed": retries_replayed,
    });
    sandbox.shutdown().await;
    if !ledger_ok || failures > 0 || replay_refused != replays || retries_replayed != replays {
        println!("{result}");
        bail!("the ledger or the single-use / idempotency checks are wrong");
    }
    Ok(Some(result))
}

fn hash(runs: usize) -> anyhow::Result<Option<serde_json::Value>> {
    ensure!(runs > 0, "runs must be positive");
    let params = PasswordHashing::default();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        bank_sandbox::authz::secrets::hash_password("wonderland", &params)?;
        samples.push(t0.elapsed().as_micros() as u64);
    }
    samples.sort_unstable();
    Ok(Some(json!({
        "runs": runs,
        "median_ms": percentile(&samples, 50.0) as f64 / 1000.0,
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
        "parallelism": params.parallelism,
    })))
}
