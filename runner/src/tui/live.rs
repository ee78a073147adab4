//! What the live view knows while a run goes on: once a second a [`LiveFrame`]
//! of cumulative totals comes in (from this process's workers, from runner
//! processes, or from a LoadTest's status) and [`LiveState`] turns successive
//! frames into rates, a per-second history and percentiles. Drawing is in
//! `live_view.rs`, the terminal in `screen.rs`.

use std::time::Duration;

use api::report::{Counts, LatencySummary};
use hdrhistogram::Histogram;

use crate::progress::Progress;

/// Per-second samples kept for the chart; a longer run shows its latest.
const MAX_SAMPLES: usize = 3600;

/// One update of the live view: the totals of the measured part so far.
#[derive(Clone, Debug, Default)]
pub struct LiveFrame {
    /// Measured time so far.
    pub elapsed: Duration,
    /// Responses per second as the source knows it, when differences of
    /// `counts` would mislead (a LoadTest's runners report at their own times).
    pub rate: Option<f64>,
    /// Planned length of the measured part (zero when unknown).
    pub total: Duration,
    /// Counters so far.
    pub counts: Counts,
    /// Cumulative latency in microseconds, when the source has it.
    pub latency: Option<Histogram<u64>>,
    /// Connections open now, when known.
    pub open_connections: Option<u64>,
    /// Open model: requests due so far (`None` in the closed model).
    pub scheduled: Option<u64>,
    /// The first fault of the run, in words.
    pub first_error: Option<String>,
    /// Faults counted but not by kind (a LoadTest's runners report a total).
    pub errors_of_unknown_kind: u64,
    /// Only `responses` and the error total are known so far (a running
    /// LoadTest): requests, bytes, status classes and error kinds show `-`.
    pub partial: bool,
    /// `gcannon run` and `gcannon watch`: one line per runner.
    pub runners: Vec<RunnerLine>,
    /// `gcannon watch`: the LoadTest's phase and what it says about it.
    pub phase: Option<String>,
}

/// One runner process or pod, as the live view lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunnerLine {
    /// `runner 0`, a pod name.
    pub name: String,
    /// `running`, `done`, `failed: …`.
    pub state: String,
    /// Responses so far.
    pub responses: u64,
    /// Responses per second over the last update.
    pub rps: f64,
    /// Faults so far.
    pub errors: u64,
    /// p99 so far, microseconds, when known.
    pub p99_us: Option<u64>,
}

impl From<&Progress> for LiveFrame {
    fn from(p: &Progress) -> Self {
        LiveFrame {
            elapsed: p.elapsed,
            total: p.total,
            counts: Counts {
                responses: p.responses,
                bytes_read: p.bytes_read,
                ..Counts::default()
            },
            ..LiveFrame::default()
        }
    }
}

/// What the live view shows, updated from [`LiveFrame`]s; renders as a widget.
#[derive(Clone, Debug)]
pub struct LiveState {
    pub(super) target: String,
    pub(super) total: Duration,
    pub(super) warmup: Duration,
    /// Time since the run started, warm-up included (drives the warm-up gauge).
    pub(super) clock: Duration,
    pub(super) elapsed: Duration,
    pub(super) rps_now: f64,
    pub(super) bandwidth_now: f64,
    pub(super) per_second: Vec<u64>,
    /// Measured seconds at which each sample was taken.
    pub(super) sample_at: Vec<f64>,
    pub(super) peak: u64,
    pub(super) latency: Option<LatencySummary>,
    /// p99 of the responses of the last update interval.
    pub(super) p99_last: Option<u64>,
    pub(super) histogram: Option<Histogram<u64>>,
    pub(super) frame: LiveFrame,
    pub(super) paused: bool,
    /// Time, responses and bytes of the last frame that gave a rate.
    seen: Option<(Duration, u64, u64)>,
}

impl LiveState {
    /// An empty view for a run against `target` lasting `total` after `warmup`.
    pub fn new(target: &str, total: Duration, warmup: Duration) -> LiveState {
        LiveState {
            target: target.to_string(),
            total,
            warmup,
            clock: Duration::ZERO,
            elapsed: Duration::ZERO,
            rps_now: 0.0,
            bandwidth_now: 0.0,
            per_second: Vec::new(),
            sample_at: Vec::new(),
            peak: 0,
            latency: None,
            p99_last: None,
            histogram: None,
            frame: LiveFrame::default(),
            paused: false,
            seen: None,
        }
    }

    /// Take in a frame; rates come from the difference to the previous one.
    pub fn update(&mut self, f: LiveFrame) {
        let (prev_t, prev_r, prev_b) = self.seen.unwrap_or((Duration::ZERO, 0, 0));
        let c = &f.counts;
        let at = f.elapsed;
        // A frame that does not move time forward (or goes back) carries no rate.
        if let Some(dt) = at.checked_sub(prev_t).filter(|d| !d.is_zero()) {
            let secs = dt.as_secs_f64();
            self.rps_now = f
                .rate
                .unwrap_or(c.responses.saturating_sub(prev_r) as f64 / secs);
            self.bandwidth_now = c.bytes_read.saturating_sub(prev_b) as f64 / secs;
            let sample = self.rps_now.round() as u64;
            self.peak = self.peak.max(sample);
            self.per_second.push(sample);
            self.sample_at.push(at.as_secs_f64());
            if self.per_second.len() > MAX_SAMPLES {
                self.per_second.remove(0);
                self.sample_at.remove(0);
            }
            self.seen = Some((at, c.responses, c.bytes_read));
        }
        if let Some(h) = &f.latency {
            self.p99_last = self.histogram.as_ref().and_then(|prev| {
                let mut last = h.clone();
                last.subtract(prev).ok()?;
                (!last.is_empty()).then(|| last.value_at_quantile(0.99))
            });
            self.latency = Some(LatencySummary::of(h));
        }
        if !f.total.is_zero() {
            self.total = f.total;
        }
        self.elapsed = f.elapsed;
        self.clock = self.clock.max(self.warmup + f.elapsed);
        self.histogram = f.latency.clone().or(self.histogram.take());
        self.frame = LiveFrame { latency: None, ..f };
    }

    /// Time since the run began, warm-up included: the view's own clock, so
    /// the warm-up counts down before the first frame arrives.
    pub fn tick(&mut self, since_start: Duration) {
        self.clock = self.clock.max(since_start);
    }

    /// Stop or resume showing new frames (the load goes on either way).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// The highest per-second rate seen so far.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The rate over the last interval, responses per second.
    pub fn current_rps(&self) -> f64 {
        self.rps_now
    }

    /// Per-second req/s samples, oldest first.
    pub fn samples(&self) -> &[u64] {
        &self.per_second
    }

    /// The latest frame's numbers (without its histogram).
    pub fn frame(&self) -> &LiveFrame {
        &self.frame
    }

    /// Percentiles of every response so far, once a frame carried latency.
    pub fn latency(&self) -> Option<&LatencySummary> {
        self.latency.as_ref()
    }

    /// p99 of the responses since the previous frame.
    pub fn p99_last(&self) -> Option<u64> {
        self.p99_last
    }

    /// Still in the warm-up (nothing measured yet).
    pub fn warming_up(&self) -> bool {
        self.elapsed.is_zero() && self.clock < self.warmup
    }

    /// Fraction of the measured part done, 0.0..=1.0.
    pub fn ratio(&self) -> f64 {
        if self.total.is_zero() {
            return 0.0;
        }
        (self.elapsed.as_secs_f64() / self.total.as_secs_f64()).clamp(0.0, 1.0)
    }
}
