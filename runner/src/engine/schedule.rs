//! Open-model send schedule: when the k-th request of a worker is due.
//!
//! The target rate is piecewise linear in time (a constant `--rate`, or
//! `--stages` ramps). Request k is due when the integral of the rate reaches k,
//! so the schedule never drifts: due times come from a closed form, not from
//! adding up intervals.

use std::time::Duration;

/// A piecewise-linear rate, integrated.
#[derive(Clone, Debug)]
pub struct Schedule {
    segments: Vec<Segment>,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    start: f64,
    len: f64,
    from: f64,
    to: f64,
    before: f64,
}

impl Schedule {
    /// Rates in requests per second: start at `initial`, then for each
    /// `(duration, target)` move linearly to `target` over `duration`.
    pub fn new(initial: f64, stages: &[(Duration, f64)]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut t, mut from, mut before) = (0.0, initial, 0.0);
        for &(d, to) in stages {
            let len = d.as_secs_f64();
            segments.push(Segment {
                start: t,
                len,
                from,
                to,
                before,
            });
            before += len * (from + to) / 2.0;
            t += len;
            from = to;
        }
        Self { segments }
    }

    /// A constant rate for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self::new(rate, &[(duration, rate)])
    }

    /// Requests due in total by the end.
    pub fn total(&self) -> u64 {
        self.segments
            .last()
            .map(|s| (s.before + s.len * (s.from + s.to) / 2.0).floor() as u64)
            .unwrap_or(0)
    }

    /// How many requests are due strictly before `t_ns`, found by bisection
    /// over [`Schedule::due_ns`] so it agrees with it exactly and costs
    /// O(log n) even at hundreds of millions of requests per second.
    pub fn count_due_before(&self, t_ns: u64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.total().saturating_add(2));
        // Invariant: every k < lo is due before t; no k >= hi is.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.due_ns(mid).is_some_and(|d| d < t_ns) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// When request `k` (0-based) is due, in ns from the schedule's start; `None`
    /// when the schedule ends first.
    pub fn due_ns(&self, k: u64) -> Option<u64> {
        let k = k as f64;
        let seg = self.segments.iter().rev().find(|s| s.before <= k)?;
        let need = k - seg.before;
        let slope = (seg.to - seg.from) / seg.len.max(f64::MIN_POSITIVE);
        // Solve from*x + slope/2*x^2 = need for x in [0, len]; this form stays
        // exact when slope is 0 and has no cancellation when it is negative.
        let disc = seg.from * seg.from + 2.0 * slope * need;
        if disc < 0.0 {
            return None;
        }
        let denom = seg.from + disc.sqrt();
        let x = if need == 0.0 {
            0.0
        } else if denom <= 0.0 {
            return None;
        } else {
            2.0 * need / denom
        };
        if x > seg.len {
            return None;
        }
        Some(((seg.start + x) * 1e9) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = Schedule::constant(1000.0, Duration::from_secs(2));
        assert_eq!(s.total(), 2000);
        assert_eq!(s.due_ns(0), Some(0));
        assert_eq!(s.due_ns(1), Some(1_000_000));
        assert_eq!(s.due_ns(1500), Some(1_500_000_000));
        assert_eq!(s.due_ns(2001), None);
    }

    #[test]
    fn count_due_before_agrees_with_due_times() {
        let s = Schedule::new(
            500.0,
            &[
                (Duration::from_secs(1), 500.0),
                (Duration::from_secs(2), 3000.0),
            ],
        );
        for t in [
            0,
            1,
            999_999,
            1_000_000_000,
            1_500_000_123,
            3_000_000_000,
            9e9 as u64,
        ] {
            let by_scan = (0..10_000)
                .take_while(|&k| s.due_ns(k).is_some_and(|d| d < t))
                .count() as u64;
            assert_eq!(s.count_due_before(t), by_scan, "t={t}");
        }
        // 300M/s for 1.1 s: answered at once, not by walking 330M due times.
        let fast = Schedule::constant(75e6, Duration::from_millis(1100));
        assert_eq!(fast.count_due_before(1_000_000_000), 75_000_000);
    }

    #[test]
    fn ramps_put_the_expected_count_in_each_stage() {
        // 0 -> 1000 over 10 s (5000 requests), hold 1000 for 5 s (5000), down to 0 over 10 s (5000).
        let s = Schedule::new(
            0.0,
            &[
                (Duration::from_secs(10), 1000.0),
                (Duration::from_secs(5), 1000.0),
                (Duration::from_secs(10), 0.0),
            ],
        );
        assert_eq!(s.total(), 15_000);
        let count_before = |secs: f64| {
            (0..16_000)
                .filter(|&k| s.due_ns(k).is_some_and(|t| (t as f64) < secs * 1e9))
                .count()
        };
        assert!((count_before(10.0) as i64 - 5000).abs() <= 1);
        assert!((count_before(15.0) as i64 - 10_000).abs() <= 1);
        assert!((count_before(25.0) as i64 - 15_000).abs() <= 1);
        // Due times never go backwards.
        let mut last = 0;
        for k in 0..15_000 {
            let t = s.due_ns(k).unwrap();
            assert!(t >= last, "request {k} due before request {}", k - 1);
            last = t;
        }
    }
}
