//! Who pays whom in the transfer benchmark.
//!
//! Two loads, reported side by side by `bench/run`:
//!
//! - **one hot account** (`--payers 1`, the default): every transfer is alice → bob 0.01.
//!   Every commit touches the same two rows, so on PostgreSQL the commits queue behind one
//!   row lock (the WAL flush of each inside it); this is the worst case of a ledger, and
//!   the original benchmark;
//! - **many payers** (`--payers N`, N ≥ 2): N seeded accounts `payer000` … each pay their
//!   own seeded payee `payee000` …; transfer `i` goes from payer `i mod N` to payee
//!   `i mod N`. Consecutive transfers — the ones in flight together on the connections —
//!   never share an account while N is larger than the number of connections, as in a bank
//!   whose customers rarely pay from or to the same account at the same moment. Every
//!   account's balance moves (payers down, payees up), so the ledger check after the run
//!   checks each of them.
//!
//! Either way every transfer spends its own single-use step-up token bound (RFC 9396) to
//! exactly that payment, minted through the real flow for the payer who sends it.

use std::collections::BTreeMap;

use bank_sandbox::SandboxConfig;
use bank_sandbox::api::AccountSeed;
use bank_sandbox::authz::{Password, UserSeed};

/// The seeded payers' password (the sandbox's cheap test hashing applies).
const PASSWORD: &str = "bench-payer";
/// Each seeded payer's opening balance: 1,000.00, as alice's.
const OPENING_MINOR: i64 = 100_000;

#[derive(Clone, Debug)]
pub enum Payers {
    /// alice → bob, every time.
    HotAccount,
    /// `n` seeded payers, each paying its own seeded payee.
    Many(usize),
}

impl Payers {
    pub fn new(n: usize) -> anyhow::Result<Payers> {
        anyhow::ensure!(n >= 1, "--payers is 1 (one hot account) or more");
        Ok(if n == 1 {
            Payers::HotAccount
        } else {
            Payers::Many(n)
        })
    }

    /// How many accounts send money.
    pub fn count(&self) -> usize {
        match self {
            Payers::HotAccount => 1,
            Payers::Many(n) => *n,
        }
    }

    /// Adds the payers' users and accounts to the sandbox (alice and bob are always there).
    pub fn seed(&self, config: &mut SandboxConfig) {
        let Payers::Many(n) = self else {
            return;
        };
        for p in 0..*n {
            for (name, display) in [
                (payer_name(p), format!("Payer {p}")),
                (payee_name(p), format!("Payee {p}")),
            ] {
                config.authz.users.push(UserSeed {
                    username: name.clone(),
                    password: Password::new(PASSWORD),
                    display_name: display,
                });
                config.api.accounts.push(AccountSeed {
                    handle: name,
                    sub: None,
                    balance_minor: OPENING_MINOR,
                });
            }
        }
    }

    /// The user who sends transfer `i` (index into [`Payers::users`]).
    pub fn payer_of(&self, i: usize) -> usize {
        match self {
            Payers::HotAccount => 0,
            Payers::Many(n) => i % n,
        }
    }

    /// The handle transfer `i` pays.
    pub fn payee_of(&self, i: usize) -> String {
        match self {
            Payers::HotAccount => "bob".into(),
            Payers::Many(n) => payee_name(i % n),
        }
    }

    /// The sending users, with their passwords.
    pub fn users(&self) -> Vec<(String, String)> {
        match self {
            Payers::HotAccount => vec![("alice".into(), "wonderland".into())],
            Payers::Many(n) => (0..*n)
                .map(|p| (payer_name(p), PASSWORD.to_owned()))
                .collect(),
        }
    }

    /// What each account's balance changes by after transfers `0..count` of 0.01.
    pub fn expected_deltas(&self, count: usize) -> BTreeMap<String, i64> {
        let users = self.users();
        let mut deltas = BTreeMap::new();
        for i in 0..count {
            *deltas.entry(users[self.payer_of(i)].0.clone()).or_insert(0) -= 1;
            *deltas.entry(self.payee_of(i)).or_insert(0) += 1;
        }
        deltas
    }

    /// `pattern` in the benchmark's JSON.
    pub fn describe(&self) -> &'static str {
        match self {
            Payers::HotAccount => "one hot account (alice → bob)",
            Payers::Many(_) => "many payers (each seeded payer pays its own payee)",
        }
    }
}

fn payer_name(p: usize) -> String {
    format!("payer{p:03}")
}

fn payee_name(p: usize) -> String {
    format!("payee{p:03}")
}

/// The RFC 9396 details a transfer token is bound to: 0.01 USD to `payee`, exactly what the
/// driver sends.
pub fn payment(payee: &str) -> String {
    serde_json::json!([{
        "type": "payment_initiation",
        "instructedAmount": {"currency": "USD", "amount": "0.01"},
        "creditorAccount": {"handle": payee},
    }])
    .to_string()
}
