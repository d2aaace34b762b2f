//! A latency histogram that many tasks record into at once, without locks.
//!
//! Log-linear buckets over microseconds: 32 sub-buckets per power of two, so every
//! value is kept to within about 3 %. Enough for percentiles; no dependency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Up to 2^40 µs (about 12 days).
const GROUPS: usize = 41;

pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..GROUPS * SUB).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

fn index(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let group = 63 - us.leading_zeros() - SUB_BITS + 1;
    let sub = (us >> (group - 1)) as usize & (SUB - 1);
    (group as usize * SUB + sub).min(GROUPS * SUB - 1)
}

/// The smallest value of bucket `i`.
fn value(i: usize) -> u64 {
    let (group, sub) = (i / SUB, i % SUB);
    if group == 0 {
        return sub as u64;
    }
    ((SUB + sub) as u64) << (group - 1)
}

impl Histogram {
    pub fn record(&self, latency: Duration) {
        let us = latency.as_micros().min(u64::MAX as u128) as u64;
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The value below which `q` (0–1) of the recordings fall.
    pub fn quantile(&self, q: f64) -> Duration {
        let count = self.count();
        if count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Duration::from_micros(value(i));
            }
        }
        self.max()
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }

    pub fn mean(&self) -> Duration {
        let count = self.count();
        if count == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.sum_us.load(Ordering::Relaxed) / count)
    }

    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
        self.sum_us.store(0, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_down_to_within_a_few_percent() {
        for us in [
            0, 1, 31, 32, 33, 100, 999, 1_000, 12_345, 25_000, 1_000_000, 7_777_777,
        ] {
            let got = value(index(us));
            assert!(got <= us && us - got <= us / 16 + 1, "{us} -> {got}");
        }
    }

    #[test]
    fn quantiles_follow_the_recordings() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).as_millis();
        let p99 = h.quantile(0.99).as_millis();
        assert!((48..=50).contains(&p50), "{p50}");
        assert!((95..=99).contains(&p99), "{p99}");
        assert_eq!(h.max(), Duration::from_millis(100));
    }
}
