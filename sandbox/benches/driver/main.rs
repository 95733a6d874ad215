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
//! `load` is the GET load that wrk cannot make: every request with its own DPoP proof, and
//! the same load with a bearer token and on `/healthz` for the references of the same run.

mod dpop;
mod flow;
mod payers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bank_sandbox::api::{self, ApiConfig, Database, Durability};
use bank_sandbox::authz::PasswordHashing;
use bank_sandbox::store::bank::BankStore;
use bank_sandbox::{Sandbox, SandboxConfig};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::dpop::ProofKey;
use crate::payers::{Payers, payment};

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
            ledger,
        } => runtime.block_on(serve(
            data_dir,
            real_password_hashing,
            token_cache_capacity,
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
    ledger: LedgerArgs,
) -> anyhow::Result<Option<serde_json::Value>> {
    let mut config = config(data_dir, real_hashing);
    config.api.verified_token_cache_capacity = token_cache_capacity;
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

const TRANSFER_SCOPE: &str = "openid transfer:funds";

/// Mints one step-up token per job (the payer's index, the payee), each bound to exactly
/// that payment, through the real flow: each payer signs in once (the password form, on
/// its first job), then `workers` connections share the signed-in sessions.
async fn mint(
    issuer: &str,
    payers: &Payers,
    jobs: Vec<(usize, String)>,
    workers: usize,
    key: &Arc<ProofKey>,
) -> anyhow::Result<Vec<String>> {
    let users = payers.users();
    let mut browsers = Vec::with_capacity(users.len());
    for (name, password) in &users {
        browsers.push(flow::Browser::new(issuer, name, password)?);
    }
    let mut tokens: Vec<Option<String>> = vec![None; jobs.len()];
    let mut signed_in = vec![false; users.len()];
    for (j, (p, payee)) in jobs.iter().enumerate() {
        if !signed_in[*p] {
            let token = browsers[*p]
                .access_token(TRANSFER_SCOPE, Some(&payment(payee)), Some(key))
                .await?;
            tokens[j] = Some(token);
            signed_in[*p] = true;
        }
    }
    let todo: Arc<Vec<usize>> =
        Arc::new((0..jobs.len()).filter(|j| tokens[*j].is_none()).collect());
    let (browsers, jobs) = (Arc::new(browsers), Arc::new(jobs));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (browsers, jobs, todo, next, key) = (
            browsers.clone(),
            jobs.clone(),
            todo.clone(),
            next.clone(),
            key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sessions = std::collections::HashMap::new();
            let mut out = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&j) = todo.get(k) else { break };
                let (p, payee) = &jobs[j];
                let browser = sessions
                    .entry(*p)
                    .or_insert_with(|| browsers[*p].clone_session());
                out.push((
                    j,
                    browser
                        .access_token(TRANSFER_SCOPE, Some(&payment(payee)), Some(&key))
                        .await?,
                ));
            }
            anyhow::Ok(out)
        }));
    }
    for task in tasks {
        for (j, token) in task.await?? {
            tokens[j] = Some(token);
        }
    }
    tokens
        .into_iter()
        .map(|t| t.context("a job without a token"))
        .collect()
}

struct Answer {
    status: u16,
    replayed: bool,
}

/// Where a transfer goes (`url`, an instance) and what its proof names (`htu`: the public
/// URL every instance shares, as behind a load balancer).
struct Target {
    url: String,
    htu: String,
}

async fn post_transfer(
    http: &reqwest::Client,
    target: &Target,
    token: &str,
    dpop: &ProofKey,
    key: &str,
    to: &str,
) -> anyhow::Result<Answer> {
    let response = http
        .post(&target.url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("{} {token}", bank_protocol::dpop::TOKEN_TYPE),
        )
        .header(
            bank_protocol::dpop::DPOP_HEADER,
            dpop.proof("POST", &target.htu, Some(token)),
        )
        .header("idempotency-key", key)
        .json(&json!({ "to": to, "amount": "0.01" }))
        .send()
        .await?;
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    // Read the body so the connection can be reused.
    response.bytes().await?;
    Ok(Answer { status, replayed })
}

/// What the transfer run sends: how many, over how many connections, from whom.
struct Load {
    count: usize,
    connections: usize,
    /// Idempotent retries and token replays checked after the timed run.
    replays: usize,
    payers: Payers,
}

async fn transfers(
    load: Load,
    data_dir: Option<PathBuf>,
    ledger: LedgerArgs,
    instances: usize,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Load {
        count,
        connections,
        replays,
        payers,
    } = load;
    ensure!(
        count > 0 && connections > 0,
        "count and connections must be positive"
    );
    ensure!(replays <= count, "replays must be at most count");
    ensure!(
        instances == 1 || (instances == 2 && ledger.database.is_some()),
        "two instances need a shared --database"
    );
    let temp = tempfile::tempdir()?;
    let dir = data_dir.unwrap_or_else(|| temp.path().join("data"));
    let mut sandbox_config = config(Some(dir), false);
    ledger.apply(&mut sandbox_config)?;
    payers.seed(&mut sandbox_config);
    let sandbox = Sandbox::start(sandbox_config).await?;
    let bank = sandbox.bank().store().clone();
    let htu = format!("{}/v1/transfers", sandbox.api_url());
    let mut urls = vec![Target {
        url: htu.clone(),
        htu: htu.clone(),
    }];
    if instances == 2 {
        urls.push(Target {
            url: second_instance(&sandbox, &ledger).await?,
            htu,
        });
    }
    let urls = Arc::new(urls);
    let deltas = payers.expected_deltas(count);
    let mut before = std::collections::BTreeMap::new();
    for handle in deltas.keys() {
        let balance = bank
            .balance_of(handle)
            .await?
            .with_context(|| format!("{handle}'s account"))?;
        before.insert(handle.clone(), balance);
    }
    ensure!(
        deltas
            .iter()
            .all(|(handle, delta)| before[handle] + delta >= 0),
        "the payers cannot afford {count} transfers of 0.01"
    );

    let mint_started = Instant::now();
    // Every token is bound to the driver's key, and every transfer carries its own proof.
    let key = Arc::new(ProofKey::generate());
    // One token per transfer, then one per retry of the first `replays` transfers: a retry
    // carries the same body, so its token is bound to the same payment.
    let jobs: Vec<(usize, String)> = (0..count)
        .chain(0..replays)
        .map(|i| (payers.payer_of(i), payers.payee_of(i)))
        .collect();
    let mut tokens = mint(sandbox.issuer(), &payers, jobs, 4, &key).await?;
    let mint_secs = mint_started.elapsed().as_secs_f64();
    let (tokens, retry_tokens) = {
        let retry = tokens.split_off(count);
        (Arc::new(tokens), retry)
    };
    let payees: Arc<Vec<String>> = Arc::new((0..count).map(|i| payers.payee_of(i)).collect());

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..connections {
        // Connections alternate between the instances, as behind a round-robin proxy.
        let (http, next, tokens, payees) =
            (http.clone(), next.clone(), tokens.clone(), payees.clone());
        let (urls, key) = (urls.clone(), key.clone());
        workers.push(tokio::spawn(async move {
            let target = &urls[worker % urls.len()];
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                let t0 = Instant::now();
                let answer = post_transfer(
                    &http,
                    target,
                    &tokens[i],
                    &key,
                    &format!("bench-{i}"),
                    &payees[i],
                )
                .await?;
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
    // This process's CPU over the timed run (the API instances and the load client), per
    // transfer: far steadier than the rate on a machine that other work shares.
    let cpu_us_per_transfer = cpu_before
        .zip(process_cpu_secs())
        .map(|(a, b)| ((b - a) * 1e6 / count as f64).round());
    latencies.sort_unstable();

    // Correctness under the same server state, after the timed run: a spent token is refused
    // (401), and a retry with a fresh token and the same key returns the original transfer.
    let mut replay_refused = 0;
    let mut retries_replayed = 0;
    let dpop = key.clone();
    for (i, fresh) in retry_tokens.iter().enumerate() {
        let key = format!("bench-{i}");
        // With two instances, each check goes to the other one than the transfer did.
        let other = &urls[(i + 1) % urls.len()];
        let spent = post_transfer(&http, other, &tokens[i], &dpop, &key, &payees[i]).await?;
        if spent.status == 401 {
            replay_refused += 1;
        }
        let retry = post_transfer(&http, other, fresh, &dpop, &key, &payees[i]).await?;
        if retry.status == 201 && retry.replayed {
            retries_replayed += 1;
        }
    }

    let summary = bank.ledger_summary().await?;
    let mut balances_ok = true;
    let mut moved_minor = 0;
    for (handle, delta) in &deltas {
        let after = bank.balance_of(handle).await?.unwrap_or(i64::MIN);
        balances_ok &= after == before[handle] + delta;
        moved_minor += (after - before[handle]).max(0);
    }
    let ledger_ok = summary.transfers == count as i64
        && balances_ok
        && summary.total_balance_minor == summary.total_opening_minor;
    let result = json!({
        "count": count,
        "connections": connections,
        "engine": bank.engine(),
        "instances": instances,
        "payers": payers.count(),
        "pattern": payers.describe(),
        "pool_size": ledger.pool_size,
        "seconds": elapsed,
        "per_second": count as f64 / elapsed,
        "p50_ms": percentile(&latencies, 50.0) as f64 / 1000.0,
        "p99_ms": percentile(&latencies, 99.0) as f64 / 1000.0,
        "cpu_us_per_transfer": cpu_us_per_transfer,
        "failed": failures,
        "mint_seconds": mint_secs,
        "ledger": {
            "transfers": summary.transfers,
            "moved_minor": moved_minor,
            "accounts_checked": deltas.len(),
            "balances_ok": balances_ok,
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

/// User + system CPU seconds of this process so far (Linux: `/proc/self/stat`).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux the benchmark runs on.
    Some(ticks / 100.0)
}

/// A second bank API over the same database: its own pool, key cache and verified-token
/// cache, on its own listener. Returns its transfers URL.
async fn second_instance(sandbox: &Sandbox, ledger: &LedgerArgs) -> anyhow::Result<String> {
    let config = sandbox.bank().config().clone();
    let database = config.database.clone().context("a shared database")?;
    let store = BankStore::open(&database, ledger.durability, config.database_pool_size).await?;
    let state = api::ApiState::new(config, store).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/transfers", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, api::router(state)).await;
    });
    Ok(url)
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
    let (authorization, proofs, sign_us) = match &auth {
        Auth::None => (None, Vec::new(), None),
        Auth::Bearer(token) => (Some(format!("Bearer {token}")), Vec::new(), None),
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
            (Some(format!("DPoP {token}")), proofs, Some(per_proof))
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
