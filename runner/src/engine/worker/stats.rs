//! Accounting of completed responses: latency into the HDR histograms (all,
//! uncorrected, per template), the per-second timeline, and progress.

use std::sync::atomic::Ordering::Relaxed;

use api::report::{Report, Second};
use hdrhistogram::Histogram;

use super::{Cause, Consumed, ErrorKind, Worker};
use crate::http::parse::Response;

impl Worker {
    /// One response completed outside `consume` (close-delimited body at EOF).
    pub(super) fn completed(&mut self, i: usize, resp: Response, now: u64) {
        if self.conns[i].inflight == 0 {
            return;
        }
        if self.oldest_measured(i) {
            self.report.counts.status.record(resp.status);
            self.report.counts.unexpected_status +=
                (resp.status != self.plan.expected_status) as u64;
        }
        self.record_latencies(i, 1, now);
    }

    /// Whether the oldest request in flight on slot `i` is part of the measured
    /// window. A request belongs to the window it was meant to go in (its due
    /// time in the open model, when it was handed to the connection in the
    /// closed one): its answer, status, latency or loss count there, so the
    /// warm-up's requests answered later never leak into the results.
    #[inline]
    pub(super) fn oldest_measured(&self, i: usize) -> bool {
        self.conns[i].inflight_intended_before(self.measure_start) == 0
    }

    /// Requests in flight on slot `i` that will never be answered now that its
    /// socket goes away, as many as were measured. Each one counts, so
    /// requests, responses and errors add up.
    pub(super) fn lost_in_flight(&self, i: usize) -> u64 {
        let c = &self.conns[i];
        u64::from(c.inflight - c.inflight_intended_before(self.measure_start))
    }

    /// A socket failed (read or write error, or closed mid-response): each
    /// request in flight is a read error, or the fault itself when none was.
    pub(super) fn count_socket_fault(&mut self, i: usize, now: u64, cause: Cause) {
        let n = if self.conns[i].inflight == 0 {
            u64::from(now >= self.measure_start)
        } else {
            self.lost_in_flight(i)
        };
        self.report.counts.errors.read += n;
        self.note_error(ErrorKind::Read, cause, n > 0);
    }

    /// A response (or frame) that breaks the protocol: one parse error, and the
    /// socket goes. The broken answer stands for the oldest request in flight;
    /// those behind it are lost (read errors), not dropped from the counts.
    pub(super) fn protocol_error(
        &mut self,
        i: usize,
        measuring: bool,
        why: &'static str,
    ) -> Consumed {
        let measured = match self.conns[i].inflight {
            0 => measuring,
            _ => self.oldest_measured(i),
        };
        self.report.counts.errors.parse += u64::from(measured);
        self.note_error(ErrorKind::Parse, Cause::Text(why), measured);
        self.conns[i].complete();
        self.report.counts.errors.read += self.lost_in_flight(i);
        Consumed::Reconnect
    }

    /// Pop the `done` oldest requests' times and record their latencies, all
    /// answered at `now`.
    ///
    /// Requests that went out in one send share their times, so a pipelined
    /// batch is a few runs of equal latencies: each run is one histogram update.
    #[inline]
    pub(super) fn record_latencies(&mut self, i: usize, done: u32, now: u64) {
        let c = &mut self.conns[i];
        if now < self.measure_start {
            // Every request answered before the window was meant for the warm-up.
            for _ in 0..done {
                c.complete();
            }
            return;
        }
        // A response handled in the last pass after the end belongs to the last second.
        let last = self.end.saturating_sub(self.measure_start + 1) / 1_000_000_000;
        let sec = (now.saturating_sub(self.measure_start) / 1_000_000_000).min(last) as usize;
        if sec >= self.report.timeline.len() {
            // Close the previous second (its p99) before this one's latencies land:
            // the run's histogram then holds exactly the seconds that ended.
            self.roll_second(sec);
        }
        let c = &mut self.conns[i];
        let template = c.template;
        let (mut run, mut n, mut recorded) = ((0, 0), 0u64, 0u64);
        for _ in 0..done {
            let Some(times) = c.complete() else { break };
            // A response belongs to the window its request was meant for.
            if times.0 < self.measure_start {
                continue;
            }
            if times != run && n > 0 {
                record_run(&mut self.report, template, run, n, now);
                recorded += n;
                n = 0;
            }
            run = times;
            n += 1;
        }
        if n > 0 {
            record_run(&mut self.report, template, run, n, now);
            recorded += n;
        }
        self.report.counts.responses += recorded;
        self.report.timeline[sec].responses += recorded;
    }

    /// Close the per-second p99 of the seconds that ended and open `sec`.
    #[cold]
    pub(super) fn roll_second(&mut self, sec: usize) {
        let r = &mut self.report;
        if let (Some(s), Some(last)) = (self.second_p99.as_mut(), r.timeline.last_mut()) {
            last.p99_us = s.close(&r.latency);
        }
        r.timeline.resize(sec + 1, Second::default());
    }

    /// Count the requests whose `{SEQ}` value repeated because its range wrapped
    /// (with several SEQ templates, the narrowest range decides).
    #[cold]
    pub(super) fn count_seq_repeats(&mut self) {
        use crate::http::template::{seq_repeats, seq_span, PlaceholderKind};
        let span = self
            .plan
            .requests
            .iter()
            .filter_map(|r| r.fill)
            .filter_map(|p| match p.kind {
                PlaceholderKind::Seq { start } => Some(seq_span(start, p.width)),
                PlaceholderKind::Rand { .. } => None,
            })
            .min();
        if let Some(span) = span {
            self.report.counts.seq_repeats =
                seq_repeats(self.seq, span, self.plan.seq_stride, self.plan.seq_offset);
        }
    }

    pub(super) fn publish_progress(&self) {
        self.shared.progress[self.plan.index as usize]
            .responses
            .store(self.report.counts.responses, Relaxed);
        self.shared.progress[self.plan.index as usize]
            .bytes_read
            .store(self.report.counts.bytes_read, Relaxed);
    }
}

/// `n` responses whose requests were meant to go at `intended` and went at
/// `sent`, all answered at `now`.
#[inline]
fn record_run(r: &mut Report, template: usize, (intended, sent): (u64, u64), n: u64, now: u64) {
    let us = (now.saturating_sub(intended) / 1000).max(1);
    r.latency.saturating_record_n(us, n);
    if let Some(h) = r.per_template.get_mut(template) {
        h.saturating_record_n(us, n);
    }
    if let Some(u) = r.uncorrected.as_mut() {
        u.saturating_record_n((now.saturating_sub(sent) / 1000).max(1), n);
    }
}

/// Each second's p99 without touching the hot path: at a second's end, the
/// run's histogram minus its copy from the previous end is that second's
/// latencies (bench/second_p99.sh shows it costs nothing per response).
pub(super) struct SecondP99 {
    /// The run's histogram as it was when the previous second closed.
    prev: Histogram<u64>,
}

impl SecondP99 {
    pub(super) fn new() -> Self {
        Self {
            prev: api::report::new_histogram(),
        }
    }

    /// The p99 of what `run` gained since the previous call, as
    /// `value_at_quantile` would give on a histogram of those latencies alone.
    #[cold]
    #[inline(never)]
    fn close(&mut self, run: &Histogram<u64>) -> u64 {
        let gained = run.len() - self.prev.len();
        let mut p99 = 0;
        if gained > 0 {
            // Bucket by bucket from the run's lowest latency up to the p99's,
            // not over the whole range (cheaper than the histogram's iterators).
            let rank = ((0.99 * gained as f64).ceil() as u64).max(1);
            let (mut seen, mut value) = (0, run.min_nz());
            loop {
                seen += run
                    .count_at(value)
                    .saturating_sub(self.prev.count_at(value));
                if seen >= rank || value >= run.max() {
                    p99 = run.highest_equivalent(value);
                    break;
                }
                value = run.next_non_equivalent(value);
            }
        }
        // Same bounds on both sides: a plain copy of the counts, cannot fail.
        let _ = self.prev.set_to(run);
        p99
    }
}

#[cfg(test)]
mod tests {
    use super::SecondP99;

    #[test]
    fn each_second_p99_counts_only_that_seconds_latencies() {
        let mut run = api::report::new_histogram();
        let mut seconds = SecondP99::new();
        run.record_n(100, 1000).unwrap();
        assert_eq!(seconds.close(&run), 100);
        // The next second is all slow: its p99 must not be diluted by the first.
        run.record_n(50_000, 10).unwrap();
        assert_eq!(run.value_at_quantile(0.99), 100);
        assert!((49_950..=50_050).contains(&seconds.close(&run)));
        // A second without responses has no p99.
        assert_eq!(seconds.close(&run), 0);
        run.record_n(7, 3).unwrap();
        assert_eq!(seconds.close(&run), 7);
        // Any mix: the same p99 as a histogram of that second's latencies alone.
        let mut alone = api::report::new_histogram();
        for (i, us) in (1..5000u64).map(|i| (i, i * 7919 % 100_000 + 1)) {
            run.record_n(us, i % 3 + 1).unwrap();
            alone.record_n(us, i % 3 + 1).unwrap();
        }
        assert_eq!(seconds.close(&run), alone.value_at_quantile(0.99));
    }
}
