//! Publishing the worker's results once a measured second for live metrics
//! and the interval log (see `engine::snapshot`): one clock comparison per
//! loop pass, a copy of the counts and histogram once a second.

use super::super::conn::State;
use super::super::snapshot::{Cause, ErrorKind, FirstError, SNAPSHOT_NS};
use super::Worker;

impl Worker {
    /// Publish when the next measured second has begun.
    #[inline]
    pub(super) fn maybe_snapshot(&mut self, now: u64) {
        if now >= self.next_snapshot {
            self.snapshot(now);
        }
    }

    #[cold]
    fn snapshot(&mut self, now: u64) {
        let at_ns = now.saturating_sub(self.measure_start);
        let latency = self.report.latency.clone();
        let (counts, open, scheduled, first_error) = (
            self.report.counts,
            self.open_connections(),
            self.scheduled(now),
            self.first_error,
        );
        let stored = self
            .shared
            .snapshots
            .try_publish(self.plan.index as usize, |s| {
                s.at_ns = at_ns;
                s.counts = counts;
                s.latency = latency;
                s.open_connections = open;
                s.scheduled = scheduled;
                s.first_error = first_error;
            });
        if stored {
            self.next_snapshot = self.measure_start + (at_ns / SNAPSHOT_NS + 1) * SNAPSHOT_NS;
        }
    }

    /// The final snapshot: the report the worker hands back, exactly.
    pub(super) fn final_snapshot(&mut self, now: u64) {
        let at_ns = now.saturating_sub(self.measure_start);
        let scheduled = self.scheduled(now);
        let first_error = self.first_error;
        let report = &self.report;
        self.shared
            .snapshots
            .publish_final(self.plan.index as usize, |s| {
                s.at_ns = at_ns;
                s.counts = report.counts;
                s.latency = report.latency.clone();
                s.open_connections = 0;
                s.scheduled = scheduled;
                s.first_error = first_error;
            });
    }

    /// Keep the first fault of the measured part for the live view (see
    /// `engine::snapshot::FirstError`); later ones are only counted.
    #[cold]
    pub(super) fn note_error(&mut self, kind: ErrorKind, cause: Cause, measured: bool) {
        if self.first_error.is_none() && measured {
            self.first_error = Some(FirstError {
                at_ns: self.clock.now().saturating_sub(self.measure_start),
                kind,
                cause,
            });
        }
    }

    fn open_connections(&self) -> u64 {
        self.conns
            .iter()
            .filter(|c| matches!(c.state, State::Open | State::Handshaking | State::Upgrading))
            .count() as u64
    }

    /// Open model: requests due in the measured part before `now`, counted
    /// as `finish` counts them, so the final snapshot's `scheduled` is exactly
    /// the report's requests plus unsent.
    fn scheduled(&self, now: u64) -> u64 {
        self.plan.schedule.as_ref().map_or(0, |s| {
            s.count_due_before(now.min(self.end))
                .saturating_sub(s.count_due_before(self.measure_start))
        })
    }
}
