//! `gcannon run --tui`: each runner process prints one [`LiveLine`] a second
//! on its stdout before its report (`gcannon shard --live`), and the parent
//! merges the latest line of every runner into the live view's frame, with
//! one line per runner.

use std::time::Duration;

use api::report::{add_histogram, decode_histogram, encode_histogram, new_histogram, Counts};
use serde::{Deserialize, Serialize};

use crate::engine::snapshot::WorkerSnapshot;
use crate::progress::Progress;
use crate::tui::{LiveFrame, RunnerLine};

/// The key that tells a live line from the final report on a runner's stdout.
const LIVE_KEY: &str = "{\"live\":";

/// One runner's totals so far, as it prints them once a second.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveLine {
    /// Measured nanoseconds covered.
    pub elapsed_ns: u64,
    /// Planned measured nanoseconds.
    pub total_ns: u64,
    /// Counters so far.
    pub counts: Counts,
    /// Cumulative latency histogram, V2-compressed and base64 like the wire report.
    pub latency: String,
    /// Connections open now.
    pub open_connections: u64,
    /// Open model: requests due so far.
    pub scheduled: u64,
    /// The first fault, in words.
    pub first_error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Wrapped {
    live: LiveLine,
}

impl LiveLine {
    /// This process's workers merged, at progress report `p`.
    pub fn from_engine(p: &Progress, m: &WorkerSnapshot) -> Self {
        LiveLine {
            elapsed_ns: if m.at_ns > 0 {
                m.at_ns
            } else {
                p.elapsed.as_nanos() as u64
            },
            total_ns: p.total.as_nanos() as u64,
            counts: m.counts,
            latency: encode_histogram(&m.latency),
            open_connections: m.open_connections,
            scheduled: m.scheduled,
            first_error: m.first_error.map(|e| e.to_string()),
        }
    }

    /// The line as printed: `{"live":{…}}`.
    pub fn to_line(&self) -> String {
        serde_json::to_string(&Wrapped { live: self.clone() }).unwrap_or_default()
    }

    /// A live line read back, or `None` for any other line (the report).
    pub fn parse(line: &str) -> Option<LiveLine> {
        if !line.starts_with(LIVE_KEY) {
            return None;
        }
        serde_json::from_str::<Wrapped>(line).ok().map(|w| w.live)
    }
}

/// The runners' latest lines and what the view was last sent.
pub struct LiveMerge {
    latest: Vec<Option<LiveLine>>,
    previous: Vec<Option<(u64, u64)>>,
    rps: Vec<f64>,
    done: Vec<Option<String>>,
    rate_mode: bool,
    sent_second: u64,
}

impl LiveMerge {
    /// Nothing heard yet from `runners` runners.
    pub fn new(runners: usize, rate_mode: bool) -> Self {
        LiveMerge {
            latest: vec![None; runners],
            previous: vec![None; runners],
            rps: vec![0.0; runners],
            done: vec![None; runners],
            rate_mode,
            sent_second: 0,
        }
    }

    /// Runner `i` reported.
    pub fn take(&mut self, i: usize, line: LiveLine) {
        let Some(slot) = self.latest.get_mut(i) else {
            return;
        };
        if let Some((t, n)) = self.previous[i] {
            let dt = line.elapsed_ns.saturating_sub(t);
            if dt > 0 {
                self.rps[i] = line.counts.responses.saturating_sub(n) as f64 * 1e9 / dt as f64;
            }
        } else if line.elapsed_ns > 0 {
            self.rps[i] = line.counts.responses as f64 * 1e9 / line.elapsed_ns as f64;
        }
        self.previous[i] = Some((line.elapsed_ns, line.counts.responses));
        *slot = Some(line);
    }

    /// Runner `i` ended (`exited`, `killed by SIGKILL`, …).
    pub fn ended(&mut self, i: usize, how: String) {
        if let Some(d) = self.done.get_mut(i) {
            *d = Some(how);
            self.rps[i] = 0.0;
        }
    }

    /// A frame when every running runner has reported a second not shown
    /// yet (so rates compare like with like), or when `force`.
    pub fn frame(&mut self, force: bool) -> Option<LiveFrame> {
        let second = |l: &LiveLine| l.elapsed_ns / 1_000_000_000;
        let running_min = self
            .latest
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| d.is_none())
            .map(|(l, _)| l.as_ref().map_or(0, second))
            .min();
        let newest = self.latest.iter().flatten().map(second).max().unwrap_or(0);
        let ready = running_min.unwrap_or(newest) > self.sent_second;
        if !(ready || force && newest > self.sent_second) {
            return None;
        }
        self.sent_second = running_min.unwrap_or(newest).max(self.sent_second + 1);
        Some(self.build())
    }

    fn build(&self) -> LiveFrame {
        let mut f = LiveFrame::default();
        let mut latency = new_histogram();
        let (mut open, mut scheduled) = (0, 0);
        for (i, line) in self.latest.iter().enumerate() {
            let state = match (&self.done[i], line) {
                (Some(how), _) => how.clone(),
                (None, Some(_)) => "running".into(),
                (None, None) => "starting".into(),
            };
            let mut runner = RunnerLine {
                name: format!("runner {i}"),
                state,
                ..RunnerLine::default()
            };
            if let Some(l) = line {
                f.elapsed = f.elapsed.max(Duration::from_nanos(l.elapsed_ns));
                f.total = f.total.max(Duration::from_nanos(l.total_ns));
                f.counts.add(&l.counts);
                if let Ok(h) = decode_histogram("latency", &l.latency) {
                    add_histogram(&mut latency, &h);
                    runner.p99_us = (!h.is_empty()).then(|| h.value_at_quantile(0.99));
                }
                open += l.open_connections;
                scheduled += l.scheduled;
                if f.first_error.is_none() {
                    f.first_error = l.first_error.clone().map(|e| format!("runner {i}: {e}"));
                }
                runner.responses = l.counts.responses;
                runner.errors = l.counts.errors.total();
                runner.rps = self.rps[i];
            }
            f.runners.push(runner);
        }
        f.latency = Some(latency);
        f.open_connections = Some(open);
        f.scheduled = self.rate_mode.then_some(scheduled);
        f
    }
}
