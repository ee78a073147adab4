//! Accounting of completed responses: latency into the HDR histograms (all,
//! uncorrected, per template), the per-second timeline, and progress.

use std::sync::atomic::Ordering::Relaxed;

use api::report::Second;

use super::{Consumed, Worker};
use crate::http::parse::Response;

impl Worker {
    /// One response completed outside `consume` (close-delimited body at EOF).
    pub(super) fn completed(&mut self, i: usize, resp: Response, now: u64) {
        if self.conns[i].inflight == 0 {
            return;
        }
        let measuring = now >= self.measure_start;
        let measured = match self.plan.schedule {
            Some(_) => self.conns[i].inflight_intended_before(self.measure_start) == 0,
            None => measuring,
        };
        if measured {
            self.report.counts.status.record(resp.status);
            self.report.counts.unexpected_status +=
                (resp.status != self.plan.expected_status) as u64;
        }
        self.record_latency(i, now, measuring);
    }

    /// Requests in flight on slot `i` that will never be answered now that its
    /// socket goes away, as many as were measured: open model by the window
    /// they were due in, closed model by the time of the loss. Each one counts,
    /// so requests, responses and errors add up.
    pub(super) fn lost_in_flight(&self, i: usize, now: u64) -> u64 {
        let c = &self.conns[i];
        let measured = match self.plan.schedule {
            Some(_) => c.inflight - c.inflight_intended_before(self.measure_start),
            None if now >= self.measure_start => c.inflight,
            None => 0,
        };
        u64::from(measured)
    }

    /// A socket failed (read or write error, or closed mid-response): each
    /// request in flight is a read error, or the fault itself when none was.
    pub(super) fn count_socket_fault(&mut self, i: usize, now: u64) {
        self.report.counts.errors.read += if self.conns[i].inflight == 0 {
            u64::from(now >= self.measure_start)
        } else {
            self.lost_in_flight(i, now)
        };
    }

    /// A response (or frame) that breaks the protocol: one parse error, and the
    /// socket goes. The broken answer stands for the oldest request in flight;
    /// those behind it are lost (read errors), not dropped from the counts.
    pub(super) fn protocol_error(&mut self, i: usize, now: u64, measuring: bool) -> Consumed {
        if measuring {
            self.report.counts.errors.parse += 1;
        }
        self.conns[i].complete();
        self.report.counts.errors.read += self.lost_in_flight(i, now);
        Consumed::Reconnect
    }

    /// Pop the oldest request's times and record its latency.
    #[inline]
    pub(super) fn record_latency(&mut self, i: usize, now: u64, measuring: bool) {
        let template = self.conns[i].template;
        let Some((intended, sent)) = self.conns[i].complete() else {
            return;
        };
        // Open model: a response belongs to the window its request was due in.
        let measuring = if self.plan.schedule.is_some() {
            intended >= self.measure_start
        } else {
            measuring
        };
        if !measuring {
            return;
        }
        let r = &mut self.report;
        r.counts.responses += 1;
        let us = (now.saturating_sub(intended) / 1000).max(1);
        r.latency.saturating_record(us);
        if let Some(h) = r.per_template.get_mut(template) {
            h.saturating_record(us);
        }
        if let Some(u) = r.uncorrected.as_mut() {
            u.saturating_record((now.saturating_sub(sent) / 1000).max(1));
        }
        // A response handled in the last pass after the end belongs to the last second.
        let last = self.end.saturating_sub(self.measure_start + 1) / 1_000_000_000;
        let sec = (now.saturating_sub(self.measure_start) / 1_000_000_000).min(last) as usize;
        if sec >= r.timeline.len() {
            self.roll_second(sec);
        }
        let r = &mut self.report;
        r.timeline[sec].responses += 1;
        if let Some(h) = self.sec_hist.as_mut() {
            h.saturating_record(us);
        }
    }

    /// Close the per-second p99 of the seconds that ended and open `sec`.
    #[cold]
    pub(super) fn roll_second(&mut self, sec: usize) {
        let r = &mut self.report;
        if let (Some(h), Some(last)) = (self.sec_hist.as_mut(), r.timeline.last_mut()) {
            last.p99_us = h.value_at_quantile(0.99);
            h.reset();
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
