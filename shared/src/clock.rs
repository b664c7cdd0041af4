//! Time as a port: production reads the system clock, tests and the simulation set it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: tests and the virtual-time simulation.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An instant as the traces and reasons show it, to the minute: `2026-11-02 10:00 UTC`.
/// Written from the date's numbers: the policy explains every decision with a few of these,
/// and chrono's pattern formatting costs more than the decision itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Minute(pub DateTime<Utc>);

impl std::fmt::Display for Minute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        if !(0..=9999).contains(&t.year()) {
            return write!(f, "{}", t.format("%Y-%m-%d %H:%M UTC"));
        }
        write!(f, "{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month(), t.day(), t.hour(), t.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_minute_reads_as_chronos_pattern_would_write_it(secs in -63_000_000_000i64..260_000_000_000i64) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            prop_assert_eq!(Minute(t).to_string(), t.format("%Y-%m-%d %H:%M UTC").to_string());
        }
    }
}

/// How long to wait before attempt `attempt` again after a lost race: exponential from 10 ms,
/// at most 250 ms, with full jitter (racing writers spread out instead of colliding again).
pub fn backoff(attempt: u32) -> std::time::Duration {
    let cap_ms = (10_u64 << attempt.min(5)).min(250);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::time::Duration::from_millis(u64::from(nanos) % (cap_ms + 1))
}
