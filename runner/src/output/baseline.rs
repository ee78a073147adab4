//! `--baseline FILE`: a previous `--json` result read back, so thresholds such
//! as `p99 < baseline * 1.10` compare this run with it.

use api::report::{
    decode_histogram, new_histogram, Counts, Errors, Report, Second, StatusClasses, Summary,
};
use api::significance::Seconds;
use serde::Deserialize;

/// A baseline run: its numbers, and its per-second samples for noise-aware judging.
pub struct Baseline {
    /// What thresholds compare with.
    pub summary: Summary,
    /// The full seconds of its timeline (empty for results saved without one).
    pub seconds: Seconds,
}

/// The fields of our `--json` object a comparison needs. The latency comes
/// from the full histogram, so every percentile is exact.
#[derive(Deserialize)]
struct Saved {
    elapsed_sec: f64,
    requests: u64,
    responses: u64,
    rps: f64,
    bytes_read: u64,
    status: StatusClasses,
    errors: Errors,
    reconnects: u64,
    #[serde(default)]
    unexpected_status: u64,
    #[serde(default)]
    ws_upgrades: u64,
    #[serde(default)]
    ws_frames: u64,
    #[serde(default)]
    late: u64,
    #[serde(default)]
    unsent: u64,
    histogram: String,
    #[serde(default)]
    timeline: Vec<Second>,
}

/// Read a baseline result; the error names the file and what is wrong with it.
pub fn load(path: &std::path::Path) -> Result<Baseline, String> {
    let what = |e: &dyn std::fmt::Display| format!("--baseline {}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| what(&e))?;
    let b: Saved = serde_json::from_str(&text).map_err(|e| {
        what(&format!(
            "not a gcannon --json result ({e}); save one with `gcannon ... --json > FILE`"
        ))
    })?;
    let latency = if b.histogram.is_empty() {
        new_histogram()
    } else {
        decode_histogram("histogram", &b.histogram).map_err(|e| what(&e))?
    };
    let report = Report {
        counts: Counts {
            requests: b.requests,
            responses: b.responses,
            bytes_read: b.bytes_read,
            status: b.status,
            unexpected_status: b.unexpected_status,
            errors: b.errors,
            reconnects: b.reconnects,
            ws_upgrades: b.ws_upgrades,
            ws_frames: b.ws_frames,
            late: b.late,
            unsent: b.unsent,
            ..Counts::default()
        },
        elapsed_sec: b.elapsed_sec,
        latency,
        uncorrected: None,
        per_template: Vec::new(),
        timeline: Vec::new(),
        handshake: None,
    };
    let mut summary = Summary::from_report(&report);
    // The file's rate is what that run printed; elapsed was rounded on output.
    summary.rps = b.rps;
    Ok(Baseline {
        seconds: Seconds::of(&b.timeline, b.elapsed_sec),
        summary,
    })
}
