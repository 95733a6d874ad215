//! Transfers that arrive together commit together.
//!
//! With `synchronous_commit=on` a transfer is answered only after its commit record is
//! flushed, and the transfers of one account queue on its lock, each holding it through
//! its own flush: a hot account moves at one flush per transfer, however many instances
//! serve it. Here every transfer goes to a lane chosen by its sender, and a lane's worker
//! takes all the transfers waiting for it (up to [`MAX_BATCH`]) into one transaction:
//! one flush and one lock hand-over for all of them. An idle lane runs a transfer at once,
//! so nothing waits for company; the batches form only while a commit is in flight.
//!
//! A batch rolled back by the server (a conflict, a sender's account gone) is run again
//! one transfer at a time, each with its own bounded retries, so that one transfer's
//! trouble is never another's answer. A batch whose connection broke is answered
//! `Unavailable` for all: its commit may or may not have happened, and a client's retry
//! under the same `Idempotency-Key` finds out without moving money twice.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use deadpool_postgres::{Object, Pool};
use tokio::sync::{mpsc, oneshot};

use super::transfer::{Outcomes, backoff, batch_attempt, commit_in_doubt, no_account, retryable};
use super::{MAX_ATTEMPTS, PRUNE_EVERY_SECS, PRUNE_MARGIN_SECS, checkout};
use crate::store::StoreError;
use crate::store::bank::{OwnedTransferCommand, TransferError, TransferOutcome, prune_due};

/// Most transfers in one transaction: enough to share a flush among every connection a
/// load balancer keeps open to an instance, small enough to keep one transaction short.
pub(super) const MAX_BATCH: usize = 32;
/// Lanes per instance. Senders that share a lane wait for each other's batches, so there
/// are many more lanes than connections (a lane holds a connection only while it commits):
/// transfers between unrelated accounts then rarely queue behind each other.
const LANES: u64 = 256;
/// Transfers waiting per lane before a new one waits to be queued.
const LANE_CAPACITY: usize = 256;

type Reply = oneshot::Sender<Result<TransferOutcome, TransferError>>;

struct Job {
    cmd: OwnedTransferCommand,
    /// The caller's clock, for the prune of spent tokens.
    now_unix: i64,
    reply: Reply,
}

/// The lanes of one API instance.
pub(super) struct Lanes {
    senders: Vec<mpsc::Sender<Job>>,
    /// When this instance next forgets expired spent records (shared with batches).
    next_prune_at: Arc<AtomicI64>,
}

impl Lanes {
    /// Starts the lane workers on the current runtime, each using at most one of `pool`'s
    /// connections at a time. They end when the `Lanes` is dropped.
    pub(super) fn start(pool: &Pool) -> Lanes {
        let next_prune_at = Arc::new(AtomicI64::new(0));
        let senders = (0..LANES)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(LANE_CAPACITY);
                tokio::spawn(run_lane(pool.clone(), next_prune_at.clone(), receiver));
                sender
            })
            .collect();
        Lanes {
            senders,
            next_prune_at,
        }
    }

    /// The prune the lanes do, for work that does not go through them (batches), so an
    /// instance that only makes batches still forgets expired spent records.
    pub(super) async fn prune_if_due(&self, client: &Object, now_unix: i64) {
        prune_if_due(client, &self.next_prune_at, now_unix).await;
    }

    /// Queues `cmd` on its sender's lane (one account's transfers always share a lane, so
    /// they are the ones that batch) and waits for its outcome. The transfer goes ahead
    /// even if the caller stops waiting.
    pub(super) async fn transfer(
        &self,
        cmd: OwnedTransferCommand,
        now_unix: i64,
    ) -> Result<TransferOutcome, TransferError> {
        let lane = cmd.from_account.unsigned_abs() % LANES;
        let (reply, outcome) = oneshot::channel();
        if self.senders[lane as usize]
            .send(Job {
                cmd,
                now_unix,
                reply,
            })
            .await
            .is_err()
        {
            return Err(lane_gone());
        }
        outcome.await.unwrap_or_else(|_| Err(lane_gone()))
    }
}

fn lane_gone() -> TransferError {
    TransferError::Store(StoreError::Unavailable("the transfer lane stopped".into()))
}

async fn run_lane(pool: Pool, next_prune_at: Arc<AtomicI64>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // On a task of its own, so that a panic answers this batch (its replies dropped:
        // `Unavailable`) and the lane goes on.
        let run = tokio::spawn(run_batch(
            pool.clone(),
            next_prune_at.clone(),
            std::mem::take(&mut batch),
        ));
        if let Err(err) = run.await {
            tracing::error!(error = %err, "a transfer batch failed");
        }
    }
}

async fn run_batch(pool: Pool, next_prune_at: Arc<AtomicI64>, jobs: Vec<Job>) {
    let client = match checkout(&pool).await {
        Ok(client) => client,
        Err(err) => return unavailable(jobs, err),
    };
    if let Some(first) = jobs.first() {
        prune_if_due(&client, &next_prune_at, first.now_unix).await;
    }
    if jobs.len() > 1 {
        let cmds: Vec<&OwnedTransferCommand> = jobs.iter().map(|job| &job.cmd).collect();
        match batch_attempt(&client, &cmds, jobs[0].now_unix).await {
            Ok(outcomes) => return answer(jobs, outcomes),
            Err(err) if commit_in_doubt(&err) => return unavailable(jobs, err.into()),
            Err(err) => {
                tracing::debug!(code = ?err.code(), size = jobs.len(), "transfer batch rolled back, running it one by one");
            }
        }
    }
    for job in jobs {
        let outcome = transfer_alone(&client, &job.cmd, job.now_unix).await;
        let _ = job.reply.send(outcome);
    }
}

/// Answers every job of a batch that could not run or whose commit is in doubt.
fn unavailable(jobs: Vec<Job>, err: StoreError) {
    let err = Arc::new(err);
    for job in jobs {
        let _ = job
            .reply
            .send(Err(TransferError::Store(StoreError::Unavailable(
                Box::new(err.clone()),
            ))));
    }
}

fn answer(jobs: Vec<Job>, outcomes: Outcomes) {
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        // A caller that stopped waiting finds its transfer under its Idempotency-Key.
        let _ = job.reply.send(outcome);
    }
}

/// One transfer in a transaction of its own, retried on conflicts.
async fn transfer_alone(
    client: &Object,
    cmd: &OwnedTransferCommand,
    now_unix: i64,
) -> Result<TransferOutcome, TransferError> {
    for attempt in 1..=MAX_ATTEMPTS {
        match batch_attempt(client, &[cmd], now_unix).await {
            Ok(mut outcomes) => {
                return outcomes.pop().unwrap_or_else(|| {
                    Err(TransferError::Store(StoreError::Config(
                        "bank_transfer_batch answered nothing".into(),
                    )))
                });
            }
            Err(err) if no_account(&err) => return Err(TransferError::Store(StoreError::NotFound)),
            Err(err) if retryable(&err) => {
                tracing::debug!(attempt, code = ?err.code(), "transfer conflict, retrying");
                backoff(attempt).await;
            }
            Err(err) => return Err(TransferError::Store(err.into())),
        }
    }
    tracing::warn!(
        attempts = MAX_ATTEMPTS,
        "transfer gave up after repeated conflicts"
    );
    Err(TransferError::Store(StoreError::Busy {
        attempts: MAX_ATTEMPTS,
    }))
}

/// Forgets spent tokens and proofs long past their expiry, at most once per interval per instance
/// and outside any transfer (a prune inside every transfer would make all instances queue
/// behind each other's locks). Failures only delay the prune.
async fn prune_if_due(client: &Object, next_prune_at: &AtomicI64, now_unix: i64) {
    if !prune_due(next_prune_at, now_unix, PRUNE_EVERY_SECS) {
        return;
    }
    let cutoff = now_unix - PRUNE_MARGIN_SECS;
    for table in ["used_tokens", "dpop_proofs"] {
        if let Err(err) = client
            .execute(
                &format!("DELETE FROM {table} WHERE expires_at < $1"),
                &[&cutoff],
            )
            .await
        {
            tracing::warn!(error = %err, table, "could not prune spent records");
        }
    }
}
