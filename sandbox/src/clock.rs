//! The sandbox's notion of "now", in Unix seconds: the system clock plus an offset that only
//! tests move, to expire codes, tokens and MFA requests or age `auth_time` without sleeping.
//! Nothing moves it in normal operation. The authorization server and the bank API each own
//! one (separate state, as the trust boundary requires), so a test that moves one must move
//! the other to keep their views of time consistent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock forward (tests only).
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX / 4);
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}
