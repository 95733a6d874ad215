use super::*;

fn store() -> SqliteBank {
    let store = SqliteBank::open(None, Durability::Full).expect("in-memory bank db");
    store
        .open_account("s-a", "alice", "USD", 1_000)
        .expect("seed alice");
    store
        .open_account("s-b", "bob", "USD", 0)
        .expect("seed bob");
    store
}

fn cmd<'a>(token_id: &'a str, key: &'a str, amount: i64, expires_at: i64) -> TransferCommand<'a> {
    TransferCommand {
        issuer: "http://127.0.0.1:1",
        token_id,
        token_expires_at: expires_at,
        from_account: 1,
        to_handle: "bob",
        amount_minor: amount,
        currency: "USD",
        memo: None,
        idempotency_key: key,
        request_hash: [amount as u8; 32],
        dpop_proof: None,
    }
}

#[test]
fn spent_tokens_are_refused_until_pruned_after_expiry() {
    let store = store();
    let now = 1_000_000;
    let first = store.consume_jti_and_transfer(&cmd("t1", "k1", 10, now + 60), now);
    assert!(matches!(first, Ok(TransferOutcome::Created(_))));
    let replay = store.consume_jti_and_transfer(&cmd("t1", "k2", 10, now + 60), now);
    assert!(matches!(replay, Err(TransferError::TokenAlreadyUsed)));
    // Once the token could no longer validate anyway, its record is pruned.
    let later = now + 61;
    let after = store.consume_jti_and_transfer(&cmd("t1", "k3", 10, later + 60), later);
    assert!(matches!(after, Ok(TransferOutcome::Created(_))));
    assert_eq!(store.balance_of("alice").expect("query"), Some(980));
}

#[test]
fn a_token_that_expires_on_the_way_to_the_store_is_not_spent_twice() {
    let store = store();
    let now = 1_000_000;
    let first = store.consume_jti_and_transfer(&cmd("t1", "k1", 10, now + 60), now);
    assert!(matches!(first, Ok(TransferOutcome::Created(_))));
    // A replay verified just before expiry that reaches the store just after it: its
    // record is due for pruning, but the replay must not get through.
    let late = now + 61;
    let replay = store.consume_jti_and_transfer(&cmd("t1", "k2", 10, now + 60), late);
    assert!(matches!(replay, Err(TransferError::TokenExpired)));
    let summary = store.ledger_summary().expect("summary");
    assert_eq!(summary.transfers, 1);
}

#[test]
fn a_refusal_spends_the_token_but_moves_nothing() {
    let store = store();
    let now = 1_000_000;
    let broke = store.consume_jti_and_transfer(&cmd("t1", "k1", 5_000, now + 60), now);
    assert!(matches!(broke, Err(TransferError::InsufficientFunds)));
    let again = store.consume_jti_and_transfer(&cmd("t1", "k1", 10, now + 60), now);
    assert!(matches!(again, Err(TransferError::TokenAlreadyUsed)));
    let summary = store.ledger_summary().expect("summary");
    assert_eq!((summary.transfers, summary.total_balance_minor), (0, 1_000));
}

#[test]
fn seeding_is_idempotent_and_handles_are_unique() {
    let store = store();
    assert_eq!(
        store
            .open_account("s-a", "alice", "USD", 5)
            .expect("re-seed is a no-op"),
        Opened::Existing {
            handle: "alice".into()
        }
    );
    assert_eq!(store.balance_of("alice").expect("query"), Some(1_000));
    assert!(matches!(
        store.open_account("s-other", "alice", "USD", 5),
        Err(SeedError::HandleTaken { .. })
    ));
}
