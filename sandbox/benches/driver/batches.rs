//! `batches`: payments made in batches (`POST /v1/transfer-batches`) — one step-up token
//! per batch, minted through the real flow and bound to the driver's DPoP key, then the
//! batches sent over keep-alive connections from one hot account (alice → bob, the single
//! transfer run's pattern), and the ledger checked afterwards. The rate is payments per
//! second, to set beside the single transfers' of the same run.
//!
//! The token approves its batch with a `payment_batch` detail (count, totals, digest),
//! pushed to the authorization server (RFC 9126: a list of a thousand payments does not fit
//! in a URL), where the server offers that type; otherwise with the `transfer:funds` scope
//! alone (the API then requires no details), and the output says which.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bank_protocol::{Approval, BatchOrder, PAYMENT_BATCH, TransferBatchRequest, TransferRequest};
use bank_sandbox::Sandbox;
use serde_json::json;

use crate::dpop::ProofKey;
use crate::{LedgerArgs, config, flow, percentile};

const TRANSFER_SCOPE: &str = "openid transfer:funds";
const PAYEE: &str = "bob";
const AMOUNT_MINOR: i64 = 1;

/// What the batch run sends.
pub struct BatchLoad {
    /// Batches in the timed run.
    pub count: usize,
    /// Payments per batch.
    pub size: usize,
    pub connections: usize,
}

/// Batch `n`: `size` payments of 0.01 to bob, each memo naming its batch and line (so
/// every batch has its own digest, as a real payroll file would).
fn batch(n: usize, size: usize) -> anyhow::Result<(TransferBatchRequest, BatchOrder)> {
    let request = TransferBatchRequest {
        payments: (0..size)
            .map(|i| TransferRequest {
                to: PAYEE.into(),
                amount: "0.01".into(),
                currency: Some("USD".into()),
                memo: Some(format!("bench batch {n} line {}", i + 1)),
            })
            .collect(),
    };
    let order = BatchOrder::from_request(&request, "USD", i64::MAX / 100, size)?;
    Ok((request, order))
}

/// Whether the authorization server offers `payment_batch` details.
async fn offers_payment_batch(issuer: &str) -> anyhow::Result<bool> {
    let meta: serde_json::Value =
        reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await?
            .json()
            .await?;
    Ok(meta["authorization_details_types_supported"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == PAYMENT_BATCH)))
}

struct Sent {
    status: u16,
    replayed: bool,
    id: String,
    count: usize,
}

async fn post_batch(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    proof: &str,
    key: &str,
    body: &TransferBatchRequest,
) -> anyhow::Result<Sent> {
    let response = http
        .post(url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("{} {token}", bank_protocol::dpop::TOKEN_TYPE),
        )
        .header(bank_protocol::dpop::DPOP_HEADER, proof)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Ok(Sent {
        status,
        replayed,
        id: body["id"].as_str().unwrap_or_default().to_owned(),
        count: body["transfers"].as_array().map_or(0, Vec::len),
    })
}

pub async fn batches(
    load: BatchLoad,
    data_dir: Option<PathBuf>,
    ledger: LedgerArgs,
) -> anyhow::Result<Option<serde_json::Value>> {
    let BatchLoad {
        count,
        size,
        connections,
    } = load;
    ensure!(
        count > 0 && size > 0 && connections > 0,
        "count, size and connections must be positive"
    );
    let temp = tempfile::tempdir()?;
    let dir = data_dir.unwrap_or_else(|| temp.path().join("data"));
    let mut sandbox_config = config(Some(dir), false);
    ledger.apply(&mut sandbox_config)?;
    sandbox_config.api.max_batch_payments = sandbox_config.api.max_batch_payments.max(size);
    // Tokens carry a payment_batch detail where the server offers the type (and the API
    // then holds every batch to it); where it does not, the scope alone must do.
    sandbox_config.api.require_authorization_details = Some(false);
    let sandbox = Sandbox::start(sandbox_config).await?;
    let bank = sandbox.bank().store().clone();
    let url = format!("{}/v1/transfer-batches", sandbox.api_url());
    let bound = offers_payment_batch(sandbox.issuer()).await?;

    // One batch per token in the timed run, then one more token for the idempotency check.
    let orders: Vec<(TransferBatchRequest, BatchOrder)> = (0..count)
        .map(|n| batch(n, size))
        .collect::<anyhow::Result<_>>()?;
    let mint_started = Instant::now();
    let key = Arc::new(ProofKey::generate());
    let mut alice = flow::Browser::new(sandbox.issuer(), "alice", "wonderland")?;
    let mut tokens = Vec::with_capacity(count + 1);
    for (_, order) in orders.iter().chain(orders.first()) {
        let token = if bound {
            let types = [PAYMENT_BATCH.to_owned()];
            let approval =
                Approval::for_batch(order, Some(&sandbox.bank().config().audience), &types, 0)?;
            alice
                .access_token_pushed(TRANSFER_SCOPE, &approval.to_json(), Some(&key))
                .await
                .context("minting a payment_batch token")?
        } else {
            alice.access_token(TRANSFER_SCOPE, None, Some(&key)).await?
        };
        tokens.push(token);
    }
    let mint_secs = mint_started.elapsed().as_secs_f64();
    let retry_token = tokens.pop().context("a retry token")?;
    let before_alice = bank.balance_of("alice").await?.context("alice")?;
    let before_bob = bank.balance_of(PAYEE).await?.context("bob")?;
    let moved = (count * size) as i64 * AMOUNT_MINOR;
    ensure!(before_alice >= moved, "alice cannot afford {count} batches");

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(120))
        .build()?;
    let proofs: Vec<String> = tokens
        .iter()
        .map(|token| key.proof("POST", &url, Some(token)))
        .collect();
    let (tokens, proofs, orders) = (Arc::new(tokens), Arc::new(proofs), Arc::new(orders));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (http, next, url) = (http.clone(), next.clone(), url.clone());
        let (tokens, proofs, orders) = (tokens.clone(), proofs.clone(), orders.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                let t0 = Instant::now();
                let sent = post_batch(
                    &http,
                    &url,
                    &tokens[i],
                    &proofs[i],
                    &format!("bench-batch-{i}"),
                    &orders[i].0,
                )
                .await?;
                latencies.push(t0.elapsed().as_micros() as u64);
                if sent.status != 201 || sent.replayed || sent.count != size {
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

    // After the timed run: the spent token buys no other batch (another key), and a fresh
    // token under the first batch's key gets the original batch back.
    let spent = post_batch(
        &http,
        &url,
        &tokens[0],
        &key.proof("POST", &url, Some(&tokens[0])),
        "bench-batch-0-again",
        &orders[0].0,
    )
    .await?;
    let first_id = post_batch(
        &http,
        &url,
        &retry_token,
        &key.proof("POST", &url, Some(&retry_token)),
        "bench-batch-0",
        &orders[0].0,
    )
    .await?;
    let replay_refused = spent.status == 401;
    let retry_replayed = first_id.status == 201 && first_id.replayed && first_id.count == size;

    let summary = bank.ledger_summary().await?;
    let after_alice = bank.balance_of("alice").await?.unwrap_or(i64::MIN);
    let after_bob = bank.balance_of(PAYEE).await?.unwrap_or(i64::MIN);
    let balances_ok = after_alice == before_alice - moved && after_bob == before_bob + moved;
    let ledger_ok = summary.transfers == (count * size) as i64
        && balances_ok
        && summary.total_balance_minor == summary.total_opening_minor;
    let result = json!({
        "batches": count,
        "size": size,
        "connections": connections,
        "engine": bank.engine(),
        "approval": if bound { "payment_batch" } else { "scope only" },
        "seconds": elapsed,
        "per_second": (count * size) as f64 / elapsed,
        "batches_per_second": count as f64 / elapsed,
        "p50_ms": percentile(&latencies, 50.0) as f64 / 1000.0,
        "p99_ms": percentile(&latencies, 99.0) as f64 / 1000.0,
        "failed": failures,
        "mint_seconds": mint_secs,
        "ledger": {
            "transfers": summary.transfers,
            "moved_minor": moved,
            "balances_ok": balances_ok,
            "total_balance_minor": summary.total_balance_minor,
            "total_opening_minor": summary.total_opening_minor,
            "ok": ledger_ok,
        },
        "replay_refused": replay_refused,
        "retry_replayed": retry_replayed,
        "retry_batch": first_id.id,
    });
    sandbox.shutdown().await;
    if !ledger_ok || failures > 0 || !replay_refused || !retry_replayed {
        println!("{result}");
        bail!("the ledger or the single-use / idempotency checks of the batches are wrong");
    }
    Ok(Some(result))
}
