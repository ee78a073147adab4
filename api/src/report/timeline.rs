//! Per-second samples of a run: grouped into at most N rows for display, so a
//! ramp's knee shows in a short table or chart whatever the run's length; and
//! as a [`Timeline`] of power-of-two steps, bounded in size however long the
//! run, for runner results and the LoadTest status.

use serde::{Deserialize, Serialize};

use super::Second;

/// Consecutive seconds shown as one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineRow {
    /// First second of the row (0-based, from the start of the measured part).
    pub from_sec: usize,
    /// One past the last second of the row.
    pub to_sec: usize,
    /// Responses per second over the row.
    pub rps: f64,
    /// Highest per-second p99 in the row, microseconds (an upper bound).
    pub p99_us: u64,
}

/// Group `timeline` into at most `max_rows` rows of equal length.
pub fn rows(timeline: &[Second], max_rows: usize) -> Vec<TimelineRow> {
    if timeline.is_empty() || max_rows == 0 {
        return Vec::new();
    }
    let per_row = timeline.len().div_ceil(max_rows);
    timeline
        .chunks(per_row)
        .enumerate()
        .map(|(i, chunk)| TimelineRow {
            from_sec: i * per_row,
            to_sec: i * per_row + chunk.len(),
            rps: chunk.iter().map(|s| s.responses).sum::<u64>() as f64 / chunk.len() as f64,
            p99_us: chunk.iter().map(|s| s.p99_us).max().unwrap_or(0),
        })
        .collect()
}

/// Most points a bounded timeline keeps: one per second for the first 10
/// minutes; a longer run doubles the step (2 s up to 20 min, 4 s up to 40 min,
/// ..., 256 s for 24 h) until it fits again.
pub const MAX_POINTS: usize = 600;

/// A run's timeline in equal steps, column by column (compact in JSON): step
/// `i` covers seconds `[i * stepSec, (i + 1) * stepSec)` of the measured part.
/// Steps are powers of two, so timelines of any two steps merge exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Seconds per point: 1, 2, 4, 8, ...
    pub step_sec: u32,
    /// Responses completed in each step; their sum is the exact total.
    pub responses: Vec<u64>,
    /// Highest per-second p99 in each step, microseconds (an upper bound).
    pub p99_us: Vec<u64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            step_sec: 1,
            responses: Vec::new(),
            p99_us: Vec::new(),
        }
    }
}

/// Why a timeline read from elsewhere cannot be merged.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// The step is zero or not a power of two.
    #[error("timeline.stepSec must be a power of two >= 1, got {0}")]
    Step(u32),
    /// The columns have different lengths.
    #[error("timeline columns differ in length: {responses} responses, {p99} p99Us")]
    Columns {
        /// Length of `responses`.
        responses: usize,
        /// Length of `p99Us`.
        p99: usize,
    },
}

impl Timeline {
    /// One point per second.
    pub fn from_seconds(seconds: &[Second]) -> Self {
        Self {
            step_sec: 1,
            responses: seconds.iter().map(|s| s.responses).collect(),
            p99_us: seconds.iter().map(|s| s.p99_us).collect(),
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.responses.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }

    /// All responses over the whole timeline.
    pub fn total_responses(&self) -> u64 {
        self.responses.iter().sum()
    }

    /// Check what a foreign writer could get wrong.
    pub fn validate(&self) -> Result<(), TimelineError> {
        if !self.step_sec.is_power_of_two() {
            return Err(TimelineError::Step(self.step_sec));
        }
        if self.responses.len() != self.p99_us.len() {
            return Err(TimelineError::Columns {
                responses: self.responses.len(),
                p99: self.p99_us.len(),
            });
        }
        Ok(())
    }

    /// Widen the step to `step` (a larger power of two): responses add, p99 is the worst.
    pub fn coarsen(&mut self, step: u32) {
        if step <= self.step_sec || self.step_sec == 0 {
            return;
        }
        let factor = (step / self.step_sec) as usize;
        self.responses = self
            .responses
            .chunks(factor)
            .map(|c| c.iter().sum())
            .collect();
        self.p99_us = self
            .p99_us
            .chunks(factor)
            .map(|c| c.iter().copied().max().unwrap_or(0))
            .collect();
        self.step_sec = step;
    }

    /// Add another (valid) timeline, aligned by time, at the coarser of the two steps.
    pub fn add(&mut self, other: &Timeline) {
        let step = self.step_sec.max(other.step_sec);
        self.coarsen(step);
        let coarse;
        let other = if other.step_sec < step {
            let mut c = other.clone();
            c.coarsen(step);
            coarse = c;
            &coarse
        } else {
            other
        };
        if self.len() < other.len() {
            self.responses.resize(other.len(), 0);
            self.p99_us.resize(other.len(), 0);
        }
        for (i, (&r, &p)) in other.responses.iter().zip(&other.p99_us).enumerate() {
            self.responses[i] += r;
            self.p99_us[i] = self.p99_us[i].max(p);
        }
    }

    /// Double the step until at most `max_points` remain (see [`MAX_POINTS`]).
    pub fn bound(&mut self, max_points: usize) {
        while self.len() > max_points.max(1) {
            self.coarsen(self.step_sec.saturating_mul(2));
        }
    }

    /// This timeline bounded to `max_points`.
    pub fn bounded(mut self, max_points: usize) -> Self {
        self.bound(max_points);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(responses: u64, p99_us: u64) -> Second {
        Second { responses, p99_us }
    }

    #[test]
    fn short_runs_keep_one_row_per_second() {
        let r = rows(&[sec(10, 5), sec(20, 7)], 60);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].from_sec, r[1].to_sec, r[1].rps, r[1].p99_us),
            (1, 2, 20.0, 7)
        );
    }

    #[test]
    fn long_runs_are_grouped_and_keep_totals() {
        let t: Vec<Second> = (0..125).map(|i| sec(i, i)).collect();
        let r = rows(&t, 60);
        assert!(r.len() <= 60);
        let total: f64 = r
            .iter()
            .map(|row| row.rps * (row.to_sec - row.from_sec) as f64)
            .sum();
        assert_eq!(total as u64, (0..125).sum::<u64>());
        assert_eq!(r.last().unwrap().to_sec, 125);
        assert_eq!(r[0].p99_us, 2, "a row's p99 is the worst of its seconds");
    }

    fn seconds(n: u64) -> Vec<Second> {
        (0..n).map(|i| sec(i % 97 + 1, 1_000 + i % 13)).collect()
    }

    #[test]
    fn bounded_timeline_keeps_the_total_and_the_documented_resolution() {
        // Up to 10 minutes: one point per second, untouched.
        for n in [0u64, 1, 599, 600] {
            let t = Timeline::from_seconds(&seconds(n)).bounded(MAX_POINTS);
            assert_eq!((t.step_sec, t.len() as u64), (1, n));
        }
        // Beyond: the smallest power-of-two step that fits, totals exact, worst p99 kept.
        for (n, step) in [
            (601u64, 2u32),
            (1200, 2),
            (1201, 4),
            (3600, 8),
            (86_400, 256),
        ] {
            let s = seconds(n);
            let t = Timeline::from_seconds(&s).bounded(MAX_POINTS);
            assert_eq!(t.step_sec, step, "{n} s");
            assert_eq!(t.len() as u64, n.div_ceil(u64::from(step)));
            assert!(t.len() <= MAX_POINTS);
            assert_eq!(
                t.total_responses(),
                s.iter().map(|x| x.responses).sum::<u64>()
            );
            assert_eq!(
                t.p99_us[0],
                s[..step as usize].iter().map(|x| x.p99_us).max().unwrap()
            );
        }
    }

    #[test]
    fn timelines_of_different_steps_merge_exactly() {
        let a = Timeline::from_seconds(&seconds(100));
        let mut b = Timeline::from_seconds(&seconds(37));
        b.coarsen(8);
        let mut m = a.clone();
        m.add(&b);
        assert_eq!(m.step_sec, 8);
        assert_eq!(m.len(), 13);
        assert_eq!(
            m.total_responses(),
            a.total_responses() + b.total_responses()
        );
        let mut n = b.clone();
        n.add(&a);
        assert_eq!(n, m, "merging is order-independent");
        assert_eq!(Timeline::default().validate(), Ok(()));
        let bad = Timeline {
            step_sec: 3,
            ..Timeline::default()
        };
        assert_eq!(bad.validate(), Err(TimelineError::Step(3)));
    }
}
