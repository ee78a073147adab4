//! Watching a run while it lasts: a thread that reads the workers' snapshots
//! (see `engine::snapshot`) every few milliseconds, keeps the live totals the
//! metrics endpoint serves, and cuts the per-second interval histograms of
//! `--hlog`. After the run the final report replaces the live totals, so
//! what `/metrics` says at the end is exactly the printed result.

pub mod metrics;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use api::report::{add_histogram, new_histogram, Counts, Report};
use hdrhistogram::Histogram;

use crate::engine::snapshot::{Snapshots, WorkerSnapshot, SNAPSHOT_NS};
use crate::output::hlog::HlogWriter;

/// How often the observer looks for new snapshots.
const POLL: Duration = Duration::from_millis(50);

/// What the metrics endpoint shows: the run's totals so far.
#[derive(Clone, Debug)]
pub struct LiveTotals {
    /// Counters summed over workers.
    pub counts: Counts,
    /// Cumulative latency in microseconds, merged over workers.
    pub latency: Histogram<u64>,
    /// Connections open now.
    pub open_connections: u64,
    /// Open model: requests due so far in the measured part.
    pub scheduled: u64,
    /// Open model run (the scheduled/late/unsent series are served).
    pub rate_mode: bool,
    /// A run is in progress.
    pub running: bool,
    /// Measured seconds so far.
    pub elapsed_sec: f64,
}

impl Default for LiveTotals {
    fn default() -> Self {
        Self {
            counts: Counts::default(),
            latency: new_histogram(),
            open_connections: 0,
            scheduled: 0,
            rate_mode: false,
            running: false,
            elapsed_sec: 0.0,
        }
    }
}

/// The live totals, shared between the observer and the metrics endpoint.
#[derive(Debug, Default)]
pub struct Live(Mutex<LiveTotals>);

impl Live {
    /// Lock the totals for reading or updating.
    pub fn lock(&self) -> MutexGuard<'_, LiveTotals> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The observer thread of one run.
pub struct Observer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<Tracker, String>>,
    live: Option<Arc<Live>>,
}

impl Observer {
    /// Start watching `snapshots`: update `live` and write `hlog` as seconds complete.
    pub fn start(
        snapshots: Arc<Snapshots>,
        live: Option<Arc<Live>>,
        hlog: Option<HlogWriter>,
        rate_mode: bool,
    ) -> Self {
        if let Some(l) = &live {
            let mut t = l.lock();
            *t = LiveTotals {
                rate_mode,
                running: true,
                ..LiveTotals::default()
            };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tracker = Tracker::new(snapshots, live.clone(), hlog);
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Relaxed) {
                tracker.poll()?;
                std::thread::sleep(POLL);
            }
            Ok(tracker)
        });
        Self { stop, handle, live }
    }

    /// Stop watching: take the workers' final snapshots, finish the interval
    /// log, and (given the run's report) make the live totals exactly the report's.
    pub fn finish(self, report: Option<&Report>) -> Result<(), String> {
        self.stop.store(true, Relaxed);
        let mut tracker = self
            .handle
            .join()
            .map_err(|_| "the metrics/interval-log thread panicked".to_string())??;
        tracker.poll()?;
        if let Some(hlog) = tracker.hlog.take() {
            hlog.finish()?;
        }
        if let Some(live) = &self.live {
            let mut t = live.lock();
            if let Some(r) = report {
                t.counts = r.counts;
                t.latency = r.latency.clone();
                t.elapsed_sec = r.elapsed_sec;
            }
            t.open_connections = 0;
            t.running = false;
        }
        Ok(())
    }
}

/// One worker as the observer last saw it.
struct Seen {
    version: u64,
    /// Seconds closed by the latest snapshot (its intervals are complete).
    second: u64,
    done: bool,
    latest: WorkerSnapshot,
}

/// Turns successive cumulative snapshots into live totals and intervals.
struct Tracker {
    snapshots: Arc<Snapshots>,
    live: Option<Arc<Live>>,
    hlog: Option<HlogWriter>,
    seen: Vec<Seen>,
    /// Interval k (1-based: the k-th measured second) not yet written.
    pending: BTreeMap<u64, Histogram<u64>>,
    next_interval: u64,
    /// Measured nanoseconds reached by the last snapshot of any worker.
    last_ns: u64,
}

impl Tracker {
    fn new(snapshots: Arc<Snapshots>, live: Option<Arc<Live>>, hlog: Option<HlogWriter>) -> Self {
        let seen = snapshots
            .read()
            .into_iter()
            .map(|latest| Seen {
                version: 0,
                second: 0,
                done: false,
                latest,
            })
            .collect();
        Self {
            snapshots,
            live,
            hlog,
            seen,
            pending: BTreeMap::new(),
            next_interval: 1,
            last_ns: 0,
        }
    }

    /// Take every new snapshot, update the totals, write completed intervals.
    fn poll(&mut self) -> Result<(), String> {
        let mut changed = false;
        for (w, seen) in self.seen.iter_mut().enumerate() {
            let Some(snap) = self.snapshots.read_newer(w, seen.version) else {
                continue;
            };
            changed = true;
            // A periodic snapshot closes the seconds before it; the final one
            // also closes the second it ends in (partly measured when interrupted).
            let second = if snap.done {
                (seen.second + 1).max(snap.at_ns.saturating_sub(1_000_000).div_ceil(SNAPSHOT_NS))
            } else {
                snap.at_ns / SNAPSHOT_NS
            }
            .max(seen.second);
            if self.hlog.is_some() {
                let mut delta = snap.latency.clone();
                delta
                    .subtract(&seen.latest.latency)
                    .map_err(|e| format!("interval histogram: {e:?}"))?;
                if second > 0 {
                    self.pending
                        .entry(second)
                        .or_insert_with(new_histogram)
                        .add(&delta)
                        .map_err(|e| format!("interval histogram: {e:?}"))?;
                }
            }
            self.last_ns = self.last_ns.max(snap.at_ns);
            seen.version = snap.version;
            seen.second = second;
            seen.done = snap.done;
            seen.latest = snap;
        }
        if changed {
            self.update_live();
        }
        self.write_intervals(self.complete())?;
        Ok(())
    }

    fn update_live(&self) {
        let Some(live) = &self.live else { return };
        let mut counts = Counts::default();
        let mut latency = new_histogram();
        let (mut open, mut scheduled) = (0, 0);
        for s in &self.seen {
            counts.add(&s.latest.counts);
            add_histogram(&mut latency, &s.latest.latency);
            open += s.latest.open_connections;
            scheduled += s.latest.scheduled;
        }
        let mut t = live.lock();
        t.counts = counts;
        t.latency = latency;
        t.open_connections = open;
        t.scheduled = scheduled;
        t.elapsed_sec = self.last_ns as f64 / 1e9;
    }

    /// Write intervals up to and including `upto`; seconds nobody reported
    /// (no snapshot landed in them) are written empty so the log stays regular.
    fn write_intervals(&mut self, upto: u64) -> Result<(), String> {
        let Some(hlog) = self.hlog.as_mut() else {
            return Ok(());
        };
        if self.next_interval > upto {
            return Ok(());
        }
        if let Some(start) = self.snapshots.measure_start() {
            hlog.begin(start)?;
        }
        while self.next_interval <= upto {
            let k = self.next_interval;
            let h = self.pending.remove(&k).unwrap_or_else(new_histogram);
            let offset = Duration::from_nanos((k - 1) * SNAPSHOT_NS);
            // The last second of an interrupted run is shorter.
            let end = (k * SNAPSHOT_NS).min(self.last_ns.max((k - 1) * SNAPSHOT_NS + 1));
            let length = Duration::from_nanos(end) - offset;
            hlog.interval(&h, offset, length)?;
            self.next_interval += 1;
        }
        Ok(())
    }

    /// The last interval every worker has closed: the smallest second any
    /// running worker reached; once all are done, the last one with data.
    fn complete(&self) -> u64 {
        let running = self.seen.iter().filter(|s| !s.done).map(|s| s.second).min();
        running.unwrap_or_else(|| {
            let last = self.pending.keys().last().copied().unwrap_or(0);
            last.max(self.seen.iter().map(|s| s.second).max().unwrap_or(0))
        })
    }
}
