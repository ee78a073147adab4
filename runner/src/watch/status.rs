//! A LoadTest's status read as the live view reads a local run: pure
//! functions (LoadTest in; frame, report, verdicts out), tested without a
//! server. Every read of the status layout is here.

use std::time::Duration;

use api::loadtest::{LoadTest, Phase, Shard, ShardPhase, Verdict};
use api::report::{decode_histogram, Report};
use api::threshold::Evaluation;
use k8s_openapi::jiff::Timestamp;

use crate::tui::{LiveFrame, RunnerLine};

/// What one runner has reported so far: (responses, errors, measured seconds).
fn shard_numbers(s: &Shard) -> (u64, u64, Option<f64>) {
    (s.responses, s.errors, s.elapsed_sec)
}

/// `Running · runners 2/3 ready, 2 running, 0 done`, with the phase's message.
pub fn phase_text(lt: &LoadTest) -> String {
    let st = lt.status.clone().unwrap_or_default();
    let phase = st.phase.map_or("Pending".to_string(), |p| format!("{p:?}"));
    let runners = lt.spec.runners;
    let count = |ph: ShardPhase| st.shards.iter().filter(|s| s.phase == ph).count();
    let mut text = format!(
        "{phase} · runners {}/{runners} ready, {} running, {} done",
        st.shards.len().min(runners as usize),
        count(ShardPhase::Running),
        count(ShardPhase::Done)
    );
    let failed = count(ShardPhase::Failed);
    if failed > 0 {
        text.push_str(&format!(", {failed} failed"));
    }
    if let Some(m) = st.message.as_deref().filter(|m| !m.is_empty()) {
        // Pending and Starting say what they wait for; later the message is history.
        if matches!(
            st.phase,
            None | Some(Phase::Pending) | Some(Phase::Starting)
        ) {
            text.push_str(&format!(" · {m}"));
        }
    }
    text
}

/// The live frame at `now`: merged counts as the runners reported them, one
/// line per runner, the phase. `previous` holds each runner's last report
/// (responses, seconds, the rate it gave), for its rate, and is updated.
pub fn frame(lt: &LoadTest, now: Timestamp, previous: &mut Vec<(u64, f64, f64)>) -> LiveFrame {
    let st = lt.status.clone().unwrap_or_default();
    let warmup = lt.spec.warmup.get();
    let total = lt.spec.run_length().saturating_sub(warmup);
    // Measured time by the clock since the start, or as far as a runner reported.
    let by_clock = st
        .start_at
        .as_ref()
        .and_then(|t| Duration::try_from(now.duration_since(t.0)).ok())
        .map_or(Duration::ZERO, |d| d.saturating_sub(warmup).min(total));
    let reported = st
        .shards
        .iter()
        .filter_map(|s| shard_numbers(s).2)
        .fold(0.0f64, f64::max);
    let elapsed = by_clock.max(Duration::from_secs_f64(reported).min(total));
    let mut f = LiveFrame {
        elapsed,
        partial: true,
        total,
        phase: Some(phase_text(lt)),
        ..LiveFrame::default()
    };
    previous.resize(lt.spec.runners as usize, (0, 0.0, 0.0));
    for i in 0..lt.spec.runners {
        let shard = st.shards.iter().find(|s| s.index == i);
        let mut line = RunnerLine {
            name: format!("runner {i}"),
            state: "starting".into(),
            ..RunnerLine::default()
        };
        if let Some(s) = shard {
            let (responses, errors, secs) = shard_numbers(s);
            f.counts.responses += responses;
            f.errors_of_unknown_kind += errors;
            line.responses = responses;
            line.errors = errors;
            line.state = match (s.phase, &s.message) {
                (ShardPhase::Ready, _) => "ready".into(),
                (ShardPhase::Running, _) => "running".into(),
                (ShardPhase::Done, _) => "done".into(),
                (ShardPhase::Failed, Some(m)) => format!("failed: {m}"),
                (ShardPhase::Failed, None) => "failed".into(),
            };
            if let Some(pod) = &s.pod {
                line.name = pod.clone();
            }
            let (n0, t0, rps) = previous[i as usize];
            line.rps = rps;
            if let Some(t) = secs.filter(|t| *t > t0) {
                line.rps = responses.saturating_sub(n0) as f64 / (t - t0);
                previous[i as usize] = (responses, t, line.rps);
            }
            if s.phase != ShardPhase::Running {
                line.rps = 0.0;
            }
        }
        f.runners.push(line);
    }
    // Runners report at their own times: the whole test's rate is the sum of theirs.
    f.rate = Some(f.runners.iter().map(|r| r.rps).sum());
    if let Some(s) = &st.summary {
        // The merged result is in: the exact numbers, latency included.
        f.counts.responses = s.responses;
        f.counts.requests = s.requests;
        f.counts.bytes_read = s.bytes_read;
        f.counts.status = s.status.classes;
        f.counts.errors = s.errors.by_kind;
        f.errors_of_unknown_kind = 0;
        f.partial = false;
        f.latency = decode_histogram("summary.histogram", &s.histogram).ok();
    }
    f
}

/// The merged result as a report, once the status has one.
pub fn report(lt: &LoadTest) -> Option<Report> {
    let s = lt.status.as_ref()?.summary.as_ref()?;
    let mut r = Report::default();
    let c = &mut r.counts;
    c.requests = s.requests;
    c.responses = s.responses;
    c.bytes_read = s.bytes_read;
    c.status = s.status.classes;
    c.unexpected_status = s.status.unexpected;
    c.errors = s.errors.by_kind;
    r.elapsed_sec = s.elapsed_sec;
    if let Ok(h) = decode_histogram("summary.histogram", &s.histogram) {
        r.latency = h;
    }
    Some(r)
}

/// The thresholds as the operator judged them.
pub fn verdicts(lt: &LoadTest) -> Vec<Evaluation> {
    let Some(st) = lt.status.as_ref() else {
        return Vec::new();
    };
    st.threshold_results
        .iter()
        .map(|t| Evaluation {
            threshold: t.expr.clone(),
            measured: t.measured.clone().unwrap_or_else(|| "-".into()),
            value: f64::NAN,
            passed: t.passed,
            baseline: None,
            change: None,
            significance: None,
        })
        .collect()
}

/// Finished, and how: `Some(true)` passed, `Some(false)` failed (verdict or
/// phase), `None` still going.
pub fn outcome(lt: &LoadTest) -> Option<bool> {
    let st = lt.status.as_ref()?;
    let phase = st.phase?;
    if !phase.is_finished() {
        return None;
    }
    Some(phase == Phase::Succeeded && st.verdict == Some(Verdict::Passed))
}
