//! Following a run while it lasts: the `--tui` live view fed once a second
//! from the workers' merged snapshots, or a plain progress line on stderr
//! when there is no terminal to draw on.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use api::plan::LoadPlan;
use api::report::{LatencySummary, Report};

use super::signals;
use super::INTERRUPTED;
use crate::engine::snapshot::Snapshots;
use crate::engine::Run;
use crate::output::format;
use crate::progress::Progress;
use crate::tui::{LiveFrame, LiveState, LiveView};

/// Turns the engine's progress reports into live frames.
pub struct FrameSource {
    snapshots: Arc<Snapshots>,
    rate_mode: bool,
}

impl FrameSource {
    /// Frames of `run` (call before executing it).
    pub fn new(run: &Run, plan: &LoadPlan) -> Self {
        FrameSource {
            snapshots: run.snapshots(),
            rate_mode: plan.rate_mode().is_open(),
        }
    }

    /// The run so far: the workers' latest snapshots merged (off the hot
    /// path: each worker copied its own numbers at the second's boundary),
    /// timed by when they were taken so rates and counts agree.
    pub fn frame(&self, p: &Progress) -> LiveFrame {
        let m = self.snapshots.merged();
        let elapsed = match m.at_ns {
            0 => p.elapsed,
            ns => std::time::Duration::from_nanos(ns).min(p.total),
        };
        LiveFrame {
            elapsed,
            total: p.total,
            counts: m.counts,
            latency: Some(m.latency),
            open_connections: Some(m.open_connections),
            scheduled: self.rate_mode.then_some(m.scheduled),
            first_error: m.first_error.map(|e| e.to_string()),
            ..LiveFrame::default()
        }
    }
}

/// Run with the live view; without a terminal, with a plain progress line
/// on stderr instead (returns `None` as the second value then, so the caller
/// prints text results).
pub fn execute_live(run: Run, plan: &LoadPlan) -> Result<(Report, bool), String> {
    let source = FrameSource::new(&run, plan);
    let state = LiveState::new(&plan.target, run.duration(), plan.warmup.get());
    let view = LiveView::start(state, signals::stop_by_key).map_err(|e| e.to_string())?;
    let Some(view) = view else {
        return execute_plain(run, plan, &source).map(|r| (r, false));
    };
    let result = run.execute(&INTERRUPTED, |p| view.update(source.frame(p)));
    // Back to the normal screen before anything is printed.
    view.finish()
        .map_err(|e| format!("the live view failed: {e}"))?;
    result.map(|r| (r, true)).map_err(|e| e.to_string())
}

/// `--tui` without a terminal: the text banner, then the progress line.
fn execute_plain(run: Run, plan: &LoadPlan, source: &FrameSource) -> Result<Report, String> {
    super::emit(&crate::output::text::render_banner(plan))?;
    let mut plain = PlainProgress::default();
    let r = run.execute(&INTERRUPTED, |p| plain.show(&source.frame(p)));
    plain.end();
    r.map_err(|e| e.to_string())
}

/// One progress line a second on stderr: rewritten in place on a terminal,
/// one line each otherwise (a CI log reads them in order).
#[derive(Default)]
pub struct PlainProgress {
    last: Option<(f64, u64)>,
    rps: f64,
    shown: bool,
}

impl PlainProgress {
    /// Print the line for frame `f`.
    pub fn show(&mut self, f: &LiveFrame) {
        let now = f.elapsed.as_secs_f64();
        let (t0, n0) = self.last.unwrap_or((0.0, 0));
        // The frame's own rate when it has one (a watched LoadTest's runners');
        // a frame that does not move time forward keeps the last rate.
        if let Some(rate) = f.rate {
            self.rps = rate;
        } else if now > t0 {
            self.rps = f.counts.responses.saturating_sub(n0) as f64 / (now - t0);
        }
        self.last = Some((now, f.counts.responses));
        let line = progress_line(f, self.rps);
        let _ = if std::io::stderr().is_terminal() {
            write!(std::io::stderr(), "\r\x1b[2K{line}")
        } else {
            writeln!(std::io::stderr(), "{line}")
        };
        self.shown = true;
    }

    /// Clear the line on a terminal; say why the run stops early otherwise.
    pub fn end(&mut self) {
        if !self.shown {
            return;
        }
        if std::io::stderr().is_terminal() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        } else if INTERRUPTED.load(Ordering::Relaxed) {
            let why = signals::interrupted_by().unwrap_or("interrupted");
            let _ = writeln!(std::io::stderr(), "  stopping: {why}");
        }
    }
}

/// `  50%  3.0s/6.0s  12.30K req/s  responses 6150  p99 1.20ms  2xx 6150
/// errors 0`, after the LoadTest's phase when watching one.
pub fn progress_line(f: &LiveFrame, rps: f64) -> String {
    let pct = 100.0 * f.elapsed.as_secs_f64() / f.total.as_secs_f64().max(1e-9);
    let p99 = f
        .latency
        .as_ref()
        .map(LatencySummary::of)
        .filter(|l| l.samples > 0)
        .map_or("-".into(), |l| format::latency_us(l.p99 as f64));
    let c = &f.counts;
    let phase = f
        .phase
        .as_deref()
        .map_or(String::new(), |p| format!("  {p}"));
    format!(
        "{phase}  {pct:>3.0}%  {}/{}  {} req/s  responses {}  p99 {p99}  2xx {}  errors {}",
        format::seconds(f.elapsed.as_secs_f64()),
        format::seconds(f.total.as_secs_f64()),
        format::si(rps),
        c.responses,
        c.status.s2xx,
        c.errors.total() + f.errors_of_unknown_kind
    )
}
