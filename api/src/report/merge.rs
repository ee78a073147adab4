//! Exact merging of reports from workers, runner processes and pods.

use hdrhistogram::Histogram;

use super::{Counts, Errors, Report, StatusClasses};

impl Counts {
    /// Add another set of counts to this one, field by field.
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.responses += o.responses;
        self.bytes_read += o.bytes_read;
        self.status.add(&o.status);
        self.unexpected_status += o.unexpected_status;
        self.errors.add(&o.errors);
        self.reconnects += o.reconnects;
        self.ws_upgrades += o.ws_upgrades;
        self.ws_frames += o.ws_frames;
        self.tls_handshakes += o.tls_handshakes;
        self.tls_resumed += o.tls_resumed;
        self.late += o.late;
        self.unsent += o.unsent;
        self.seq_repeats += o.seq_repeats;
    }
}

impl StatusClasses {
    /// Add another set of status classes to this one.
    pub fn add(&mut self, o: &StatusClasses) {
        self.s2xx += o.s2xx;
        self.s3xx += o.s3xx;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.other += o.other;
    }

    /// All responses with a status line.
    pub fn total(&self) -> u64 {
        self.s2xx + self.s3xx + self.s4xx + self.s5xx + self.other
    }
}

impl Errors {
    /// Add another set of fault counts to this one.
    pub fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.read += o.read;
        self.timeout += o.timeout;
        self.parse += o.parse;
        self.tls += o.tls;
    }
}

/// Add `src` into `dst` bucket by bucket.
///
/// Histograms made by `new_histogram` share bounds, so `add` succeeds; if a
/// histogram with a wider range ever arrives, its out-of-range values are
/// clamped to the top instead of losing the whole histogram.
pub fn add_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_ok() {
        return;
    }
    for v in src.iter_recorded() {
        dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
    }
}

impl Report {
    /// Merge another report into this one.
    ///
    /// Counts and histograms add exactly; `elapsed_sec` becomes the longer of
    /// the two (runs are concurrent, not sequential). Timeline seconds are
    /// aligned by index: responses add, and the merged second's `p99_us` is the
    /// larger of the two, which is an upper bound of the true p99 of the
    /// combined second (the per-second histograms are not kept).
    pub fn merge(&mut self, other: &Report) {
        self.counts.add(&other.counts);
        if other.elapsed_sec > self.elapsed_sec {
            self.elapsed_sec = other.elapsed_sec;
        }
        add_histogram(&mut self.latency, &other.latency);
        match (&mut self.uncorrected, &other.uncorrected) {
            (Some(mine), Some(theirs)) => add_histogram(mine, theirs),
            (None, Some(theirs)) => self.uncorrected = Some(theirs.clone()),
            _ => {}
        }
        match (&mut self.handshake, &other.handshake) {
            (Some(mine), Some(theirs)) => add_histogram(mine, theirs),
            (None, Some(theirs)) => self.handshake = Some(theirs.clone()),
            _ => {}
        }
        for (i, theirs) in other.per_template.iter().enumerate() {
            match self.per_template.get_mut(i) {
                Some(mine) => add_histogram(mine, theirs),
                None => self.per_template.push(theirs.clone()),
            }
        }
        for (i, theirs) in other.timeline.iter().enumerate() {
            match self.timeline.get_mut(i) {
                Some(mine) => {
                    mine.responses += theirs.responses;
                    mine.p99_us = mine.p99_us.max(theirs.p99_us);
                }
                None => self.timeline.push(*theirs),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{new_histogram, Second};
    use proptest::prelude::*;

    fn report_of(samples: &[u64]) -> Report {
        let mut r = Report::default();
        for &s in samples {
            r.latency.record(s).unwrap();
            r.counts.responses += 1;
            r.counts.requests += 1;
            r.counts.bytes_read += 100;
            r.counts.status.record(200);
        }
        r
    }

    proptest! {
        #[test]
        fn merging_parts_equals_recording_everything(
            parts in prop::collection::vec(prop::collection::vec(1u64..10_000_000, 0..200), 1..6)
        ) {
            let all: Vec<u64> = parts.iter().flatten().copied().collect();
            let whole = report_of(&all);
            let mut merged = Report::default();
            for p in &parts {
                merged.merge(&report_of(p));
            }
            prop_assert_eq!(merged.counts, whole.counts);
            prop_assert_eq!(merged.latency.len(), whole.latency.len());
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(merged.latency.value_at_quantile(q), whole.latency.value_at_quantile(q));
            }
            prop_assert_eq!(merged.latency.max(), whole.latency.max());
            prop_assert_eq!(merged.latency.min(), whole.latency.min());
        }
    }

    #[test]
    fn elapsed_is_the_longest_and_counts_add() {
        let mut a = report_of(&[10, 20]);
        a.elapsed_sec = 5.0;
        a.counts.errors.timeout = 2;
        let mut b = report_of(&[30]);
        b.elapsed_sec = 5.2;
        b.counts.errors.timeout = 1;
        b.counts.late = 4;
        a.merge(&b);
        assert_eq!(a.elapsed_sec, 5.2);
        assert_eq!(a.counts.responses, 3);
        assert_eq!(a.counts.errors.timeout, 3);
        assert_eq!(a.counts.late, 4);
    }

    #[test]
    fn optional_histograms_and_timeline_merge() {
        let mut a = Report::default();
        let mut b = Report::default();
        let mut u = new_histogram();
        u.record(42).unwrap();
        b.uncorrected = Some(u.clone());
        b.per_template = vec![u.clone(), u.clone()];
        a.per_template = vec![u.clone()];
        a.timeline = vec![Second {
            responses: 10,
            p99_us: 500,
        }];
        b.timeline = vec![
            Second {
                responses: 5,
                p99_us: 700,
            },
            Second {
                responses: 3,
                p99_us: 100,
            },
        ];
        a.merge(&b);
        assert_eq!(a.uncorrected.as_ref().unwrap().len(), 1);
        a.merge(&b);
        assert_eq!(a.uncorrected.as_ref().unwrap().len(), 2);
        assert_eq!(a.per_template.len(), 2);
        assert_eq!(a.per_template[0].len(), 3);
        assert_eq!(a.per_template[1].len(), 2);
        assert_eq!(
            a.timeline[0],
            Second {
                responses: 20,
                p99_us: 700
            }
        );
        assert_eq!(
            a.timeline[1],
            Second {
                responses: 6,
                p99_us: 100
            }
        );
    }

    #[test]
    fn wider_histograms_clamp_instead_of_failing() {
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 3).unwrap();
        wide.record(crate::report::MAX_LATENCY_US * 10).unwrap();
        wide.record(5).unwrap();
        let mut dst = new_histogram();
        add_histogram(&mut dst, &wide);
        assert_eq!(dst.len(), 2);
    }
}
