//! A latency histogram that many tasks record into at once.
//!
//! HdrHistogram over microseconds, three significant digits, behind a mutex: a record
//! is a few tens of nanoseconds inside the lock, far below the deliveries' own cost, so
//! the lock does not shape what is measured.

use std::sync::Mutex;
use std::time::Duration;

/// 2^40 µs (about 12 days): longer than any run.
const HIGHEST_US: u64 = 1 << 40;

pub struct Histogram(Mutex<hdrhistogram::Histogram<u64>>);

impl Default for Histogram {
    fn default() -> Self {
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_US, 3)
            .expect("valid histogram bounds");
        Self(Mutex::new(histogram))
    }
}

impl Histogram {
    fn with<T>(&self, f: impl FnOnce(&mut hdrhistogram::Histogram<u64>) -> T) -> T {
        // A panic while recording leaves the counts usable: take them anyway.
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub fn record(&self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, HIGHEST_US);
        self.with(|h| h.saturating_record(us));
    }

    pub fn count(&self) -> u64 {
        self.with(|h| h.len())
    }

    /// The value below which `q` (0–1) of the recordings fall.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.with(|h| h.value_at_quantile(q)))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.with(|h| h.max()))
    }

    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.with(|h| h.mean()) as u64)
    }

    pub fn reset(&self) {
        self.with(|h| h.reset());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_the_recordings() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).as_millis();
        let p99 = h.quantile(0.99).as_millis();
        assert!((49..=50).contains(&p50), "{p50}");
        assert!((98..=99).contains(&p99), "{p99}");
        assert_eq!(h.max().as_millis(), 100);
        assert_eq!(h.mean().as_millis(), 50);
    }

    #[test]
    fn reset_forgets_everything() {
        let h = Histogram::default();
        h.record(Duration::from_secs(3));
        h.reset();
        assert_eq!(h.count(), 0);
        assert_eq!(h.quantile(0.99), Duration::ZERO);
    }
}
