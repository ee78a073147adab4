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

/// Which counter a fault went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `errors.connect`.
    Connect,
    /// `errors.read`.
    Read,
    /// `errors.timeout`.
    Timeout,
    /// `errors.parse`.
    Parse,
    /// `errors.tls`.
    Tls,
}

/// Why a fault happened: the kernel's error number or a fixed description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// An errno from a failed socket operation.
    Os(i32),
    /// What went wrong, in words.
    Text(&'static str),
}

/// The first fault a worker counted in the measured part: the live view
/// shows it beside the error counts so a failing run says why at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstError {
    /// Measured nanoseconds when it happened.
    pub at_ns: u64,
    /// The counter it went to.
    pub kind: ErrorKind,
    /// Why.
    pub cause: Cause,
}

impl std::fmt::Display for FirstError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            ErrorKind::Connect => "connect",
            ErrorKind::Read => "read",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Parse => "parse",
            ErrorKind::Tls => "tls",
        };
        match self.cause {
            Cause::Os(errno) => write!(f, "{kind}: {}", std::io::Error::from_raw_os_error(errno)),
            Cause::Text(why) => write!(f, "{kind}: {why}"),
        }
    }
}

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
    /// The first fault counted in the measured part, if any.
    pub first_error: Option<FirstError>,
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
            first_error: None,
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

    /// Every worker's latest snapshot merged into one: counts and open
    /// connections summed, latency histograms added, the furthest time, the
    /// earliest first fault; `done` when every worker is. Each slot is locked
    /// only while it is added (workers skip a busy slot).
    pub fn merged(&self) -> WorkerSnapshot {
        let mut m = WorkerSnapshot {
            done: true,
            ..WorkerSnapshot::default()
        };
        for slot in &self.slots {
            let s = lock(slot);
            m.done &= s.done;
            m.version += s.version;
            m.at_ns = m.at_ns.max(s.at_ns);
            m.counts.add(&s.counts);
            api::report::add_histogram(&mut m.latency, &s.latency);
            m.open_connections += s.open_connections;
            m.scheduled += s.scheduled;
            if let Some(e) = s.first_error {
                if m.first_error.is_none_or(|f| e.at_ns < f.at_ns) {
                    m.first_error = Some(e);
                }
            }
        }
        m
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
