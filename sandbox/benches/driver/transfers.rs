//! `transfers`: the step-up transfer load — one token minted per transfer through the real
//! flow, bound to the driver's DPoP key, then spent over keep-alive connections against one
//! or two API instances, and the ledger checked afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bank_sandbox::Sandbox;
use bank_sandbox::api;
use bank_sandbox::store::bank::BankStore;
use serde_json::json;

use crate::dpop::ProofKey;
use crate::payers::{Payers, payment};
use crate::{LedgerArgs, config, flow, percentile};

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
    proof: &str,
    key: &str,
    to: &str,
) -> anyhow::Result<Answer> {
    let response = http
        .post(&target.url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("{} {token}", bank_protocol::dpop::TOKEN_TYPE),
        )
        .header(bank_protocol::dpop::DPOP_HEADER, proof)
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
pub struct Load {
    pub count: usize,
    pub connections: usize,
    /// Idempotent retries and token replays checked after the timed run.
    pub replays: usize,
    pub payers: Payers,
}

pub async fn transfers(
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
    // Each transfer's proof is signed before the timed window (a proof lives a minute), so
    // the rate and the CPU per transfer are the server's verification, not the client's
    // signing (about 0.1 ms of a core per proof, as the `load` run reports).
    let htu = &urls[0].htu;
    let proofs: Arc<Vec<String>> = Arc::new(
        tokens
            .iter()
            .map(|token| key.proof("POST", htu, Some(token)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..connections {
        // Connections alternate between the instances, as behind a round-robin proxy.
        let (http, next, tokens, payees) =
            (http.clone(), next.clone(), tokens.clone(), payees.clone());
        let (urls, proofs) = (urls.clone(), proofs.clone());
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
                    &proofs[i],
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
    // (401) for another transfer (another key: under its own key and body it would get its
    // receipt, a lost answer), and a retry with a fresh token and the same key returns the
    // original transfer.
    let mut replay_refused = 0;
    let mut retries_replayed = 0;
    let dpop = key.clone();
    for (i, fresh) in retry_tokens.iter().enumerate() {
        let key = format!("bench-{i}");
        // With two instances, each check goes to the other one than the transfer did.
        let other = &urls[(i + 1) % urls.len()];
        let proof = dpop.proof("POST", &other.htu, Some(&tokens[i]));
        let another = format!("{key}-again");
        let spent = post_transfer(&http, other, &tokens[i], &proof, &another, &payees[i]).await?;
        if spent.status == 401 {
            replay_refused += 1;
        }
        let proof = dpop.proof("POST", &other.htu, Some(fresh));
        let retry = post_transfer(&http, other, fresh, &proof, &key, &payees[i]).await?;
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
