//! Live copies of each worker's results for `--metrics-listen` and `--hlog`.
//!
//! A worker copies its counts and cumulative latency histogram into its own
//! slot once per measured second (and once more at the end), off the hot
//! path: responses are never counted twice, no atomic is touched per request,
//! and a busy slot is simply tried again on the next loop pass. Readers sum
//! the slots; the difference of two cumulative histograms is an interval's.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use api::report::{new_histogram, Counts};
use hdrhistogram::Histogram;

/// How often a worker publishes: every measured second.
pub const SNAPSHOT_NS: u64 = 1_000_000_000;

/// One worker's results as of its latest publication.
#[derive(Clone, Debug)]
pub struct WorkerSnapshot {
    /// Measured nanoseconds covered (from the end of the warm-up).
    pub at_ns: u64,
    /// Counters, exactly as in the worker's report.
    pub counts: Counts,
    /// Cumulative latency in microseconds (the report's histogram).
    pub latency: Histogram<u64>,
    /// Connections open (or upgrading) when published.
    pub open_connections: u64,
    /// Open model: requests the schedule made due in the measured part so far.
    pub scheduled: u64,
    /// The worker has finished: this is its final report.
    pub done: bool,
    /// Publications so far; readers compare it to see something new.
    pub version: u64,
}

impl Default for WorkerSnapshot {
    fn default() -> Self {
        Self {
            at_ns: 0,
            counts: Counts::default(),
            latency: new_histogram(),
            open_connections: 0,
            scheduled: 0,
            done: false,
            version: 0,
        }
    }
}

/// Every worker's slot, plus when the measured part began.
#[derive(Debug, Default)]
pub struct Snapshots {
    slots: Vec<Mutex<WorkerSnapshot>>,
    measure_start: OnceLock<SystemTime>,
}

impl Snapshots {
    /// Slots for `workers` workers.
    pub fn new(workers: u32) -> Self {
        Self {
            slots: (0..workers)
                .map(|_| Mutex::new(WorkerSnapshot::default()))
                .collect(),
            measure_start: OnceLock::new(),
        }
    }

    /// Wall-clock time at which measuring began (once the run has started).
    pub fn measure_start(&self) -> Option<SystemTime> {
        self.measure_start.get().copied()
    }

    pub(super) fn set_measure_start(&self, at: SystemTime) {
        let _ = self.measure_start.set(at);
    }

    /// A copy of every worker's latest snapshot.
    pub fn read(&self) -> Vec<WorkerSnapshot> {
        self.slots.iter().map(|s| lock(s).clone()).collect()
    }

    /// Worker `w`'s snapshot when it is newer than `version`.
    pub fn read_newer(&self, w: usize, version: u64) -> Option<WorkerSnapshot> {
        let slot = lock(self.slots.get(w)?);
        (slot.version > version).then(|| slot.clone())
    }

    /// Replace worker `w`'s snapshot unless a reader holds it right now;
    /// returns whether it was stored.
    pub(super) fn try_publish(&self, w: usize, fill: impl FnOnce(&mut WorkerSnapshot)) -> bool {
        let Some(slot) = self.slots.get(w) else {
            return true;
        };
        let mut guard = match slot.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        fill(&mut guard);
        guard.version += 1;
        true
    }

    /// Store worker `w`'s final snapshot, waiting for a reader if need be.
    pub(super) fn publish_final(&self, w: usize, fill: impl FnOnce(&mut WorkerSnapshot)) {
        if let Some(slot) = self.slots.get(w) {
            let mut guard = lock(slot);
            fill(&mut guard);
            guard.done = true;
            guard.version += 1;
        }
    }
}

fn lock(m: &Mutex<WorkerSnapshot>) -> MutexGuard<'_, WorkerSnapshot> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
