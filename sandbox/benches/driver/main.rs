//! `bench-driver`: the Rust half of `bench/run`. It starts the real sandbox in-process (both
//! listeners on 127.0.0.1:0) and either serves it for the external tools (`serve`: hyperfine,
//! curl, wrk and the `bank` binary talk to it), drives the transfer load itself
//! (`transfers`), or times password hashing (`hash`). Results are one JSON object on stdout;
//! `bench/run` turns them into the table. Nothing here asserts a time: the transfer run
//! fails only when the ledger is wrong (a lost or doubled transfer), never when it is slow.
//! `--database postgres://…` puts the bank API's ledger on PostgreSQL; `--instances 2`
//! then serves a second API instance (its own pool, key cache and token cache, in this
//! process) on the same database, and the load alternates between the two. `--payers N`
//! spreads the transfers over N seeded accounts instead of one hot account (`payers`).
//! `batches` sends payments in batches of up to a thousand (`POST /v1/transfer-batches`),
//! one step-up per batch, for the payments-per-second beside the single transfers'.
//! `load` is the GET load that wrk cannot make: every request with its own DPoP proof, and
//! the same load with a bearer token and on `/healthz` for the references of the same run.

mod batches;
mod dpop;
mod flow;
mod payers;
mod transfers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use bank_sandbox::api::{ApiConfig, Database, Durability};
use bank_sandbox::authz::PasswordHashing;
use bank_sandbox::{Sandbox, SandboxConfig};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::batches::{BatchLoad, batches};
use crate::dpop::ProofKey;
use crate::payers::Payers;
use crate::transfers::{Load, transfers};

#[derive(Parser)]
#[command(name = "bench-driver", about = "Load and latency driver for bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where and how durably the bank API keeps its ledger.
#[derive(clap::Args, Clone)]
struct LedgerArgs {
    /// `sqlite:PATH` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long)]
    database: Option<String>,
    /// `full` (fsync per commit, the default) or `relaxed`.
    #[arg(long, default_value = "full", value_parser = parse_durability)]
    durability: Durability,
    /// Connections per API instance to PostgreSQL (`[api] database_pool_size`).
    #[arg(long, default_value_t = ApiConfig::default().database_pool_size)]
    pool_size: usize,
}

fn parse_durability(value: &str) -> Result<Durability, String> {
    match value {
        "full" => Ok(Durability::Full),
        "relaxed" => Ok(Durability::Relaxed),
        _ => Err("full or relaxed".into()),
    }
}

impl LedgerArgs {
    fn apply(&self, config: &mut SandboxConfig) -> anyhow::Result<()> {
        if let Some(url) = &self.database {
            config.api.database = Some(Database::parse(url)?);
        }
        config.api.durability = self.durability;
        config.api.database_pool_size = self.pool_size;
        Ok(())
    }
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
        /// `[api] dpop_proofs.bench_skip_replay_check`: accept replayed proofs on reads, to
        /// measure what the replay check costs. Never in production.
        #[arg(long)]
        bench_skip_replay_check: bool,
        #[command(flatten)]
        ledger: LedgerArgs,
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
        #[command(flatten)]
        ledger: LedgerArgs,
        /// API instances sharing the ledger (2 needs --database postgres://…).
        #[arg(long, default_value_t = 1)]
        instances: usize,
        /// Sending accounts: 1 is one hot account (alice → bob); N ≥ 2 seeds N payers,
        /// each paying its own payee (see `payers`).
        #[arg(long, default_value_t = 1)]
        payers: usize,
    },
    /// Mint one step-up token per batch through the real flow, then send `count` batches
    /// of `size` payments from one hot account over `connections` connections; check the
    /// ledger.
    Batches {
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = bank_protocol::DEFAULT_MAX_BATCH_PAYMENTS)]
        size: usize,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Directory for the WAL-mode databases (a fresh temp dir by default).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// `GET url` over `connections` keep-alive connections for `seconds`: unauthenticated,
    /// with a bearer token, or with a DPoP-bound token and a fresh proof per request (signed
    /// before the timed window, so the rate is the server's; the signing time per proof is
    /// reported beside it).
    Load {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// `Authorization: Bearer TOKEN`.
        #[arg(long, conflicts_with = "dpop_token")]
        bearer: Option<String>,
        /// `Authorization: DPoP TOKEN`, with proofs by `--dpop-key`.
        #[arg(long, requires = "dpop_key")]
        dpop_token: Option<String>,
        /// The key the token is bound to (as `serve` prints it).
        #[arg(long)]
        dpop_key: Option<String>,
        /// Proofs signed before the run: at most this many DPoP requests.
        #[arg(long, default_value_t = 100_000)]
        max_proofs: usize,
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
            bench_skip_replay_check,
            ledger,
        } => runtime.block_on(serve(
            data_dir,
            real_password_hashing,
            token_cache_capacity,
            bench_skip_replay_check,
            ledger,
        ))?,
        Command::Transfers {
            count,
            connections,
            replays,
            data_dir,
            ledger,
            instances,
            payers,
        } => runtime.block_on(transfers(
            Load {
                count,
                connections,
                replays,
                payers: Payers::new(payers)?,
            },
            data_dir,
            ledger,
            instances,
        ))?,
        Command::Batches {
            count,
            size,
            connections,
            data_dir,
            ledger,
        } => runtime.block_on(batches(
            BatchLoad {
                count,
                size,
                connections,
            },
            data_dir,
            ledger,
        ))?,
        Command::Load {
            url,
            seconds,
            connections,
            bearer,
            dpop_token,
            dpop_key,
            max_proofs,
        } => {
            let auth = match (bearer, dpop_token, dpop_key) {
                (Some(token), _, _) => Auth::Bearer(token),
                (None, Some(token), Some(key)) => Auth::Dpop {
                    token,
                    key: ProofKey::import(&key)?,
                    max_proofs,
                },
                _ => Auth::None,
            };
            runtime.block_on(load(&url, seconds, connections, auth))?
        }
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
    skip_replay_check: bool,
    ledger: LedgerArgs,
) -> anyhow::Result<Option<serde_json::Value>> {
    let mut config = config(data_dir, real_hashing);
    config.api.verified_token_cache_capacity = token_cache_capacity;
    config.api.dpop_proofs.bench_skip_replay_check = skip_replay_check;
    ledger.apply(&mut config)?;
    let sandbox = Sandbox::start(config).await?;
    let mut alice = flow::Browser::new(sandbox.issuer(), "alice", "wonderland")?;
    let token = alice
        .access_token("openid view:balance", None, None)
        .await?;
    // A second everyday token, bound to a throwaway key that the load process signs with.
    let key = ProofKey::generate();
    let dpop_token = alice
        .access_token("openid view:balance", None, Some(&key))
        .await?;
    let ready = json!({
        "issuer": sandbox.issuer(),
        "api_url": sandbox.api_url(),
        "token": token,
        "dpop_token": dpop_token,
        "dpop_key": key.export(),
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

/// How the `load` requests authenticate.
enum Auth {
    None,
    Bearer(String),
    Dpop {
        token: String,
        key: ProofKey,
        max_proofs: usize,
    },
}

async fn load(
    url: &str,
    seconds: u64,
    connections: usize,
    auth: Auth,
) -> anyhow::Result<Option<serde_json::Value>> {
    ensure!(
        seconds > 0 && connections > 0,
        "seconds and connections must be positive"
    );
    let htu = url::Url::parse(url)?;
    let htu = bank_protocol::dpop::htu(&htu);
    // One fresh proof per request, each with its own jti, all signed before the clock
    // starts: the rate below is the server's, and the signing is timed on its own.
    let (authorization, proofs, sign_us, verify_us) = match &auth {
        Auth::None => (None, Vec::new(), None, None),
        Auth::Bearer(token) => (Some(format!("Bearer {token}")), Vec::new(), None, None),
        Auth::Dpop {
            token,
            key,
            max_proofs,
        } => {
            let started = Instant::now();
            let proofs: Vec<String> = (0..*max_proofs)
                .map(|_| key.proof("GET", &htu, Some(token)))
                .collect();
            let per_proof = started.elapsed().as_secs_f64() * 1e6 / (*max_proofs).max(1) as f64;
            let verify = dpop::verify_us(&proofs, &htu, token, &key.jkt)?;
            (
                Some(format!("DPoP {token}")),
                proofs,
                Some(per_proof),
                Some(verify),
            )
        }
    };
    let dpop = matches!(auth, Auth::Dpop { .. });
    let proofs = Arc::new(proofs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (http, next, proofs) = (http.clone(), next.clone(), proofs.clone());
        let (url, authorization) = (url.to_owned(), authorization.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if dpop && i >= proofs.len() {
                    break;
                }
                let mut request = http.get(&url);
                if let Some(value) = &authorization {
                    request = request.header(reqwest::header::AUTHORIZATION, value);
                }
                if dpop {
                    request = request.header(bank_protocol::dpop::DPOP_HEADER, &proofs[i]);
                }
                let t0 = Instant::now();
                let response = request.send().await?;
                let ok = response.status() == reqwest::StatusCode::OK;
                response.bytes().await?;
                latencies.push(t0.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let result = json!({
        "requests": latencies.len(),
        "seconds": elapsed,
        "per_second": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 50.0) as f64 / 1000.0,
        "p99_ms": percentile(&latencies, 99.0) as f64 / 1000.0,
        "errors": errors,
        "proofs_ran_out": dpop && latencies.len() >= proofs.len(),
        "sign_us": sign_us,
        "verify_us": verify_us,
    });
    if errors > 0 {
        println!("{result}");
        bail!("{errors} requests were not answered 200");
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
