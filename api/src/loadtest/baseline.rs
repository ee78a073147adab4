//! `spec.baseline`: which earlier LoadTest relative thresholds (`p99 < baseline
//! * 1.10`) compare with, and how its stored result becomes a baseline.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::MergedSummary;
use crate::report::{decode_histogram, Counts, Report, Summary as ReportSummary};
use crate::threshold::{Metric, Threshold};

/// The run relative thresholds compare with: a LoadTest of the same namespace.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.name) != has(self.seriesLabel)").message("set exactly one of name or seriesLabel"))]
#[serde(rename_all = "camelCase")]
pub struct BaselineRef {
    /// A finished LoadTest, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Or a label key: the newest `Passed` LoadTest whose value of this label
    /// equals this LoadTest's (a series: `app.example.com/series: checkout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_label: Option<String>,
    /// No such baseline: `Fail` the test before any load (default), or `Warn`:
    /// run, judge the absolute thresholds and skip the relative ones.
    #[serde(default)]
    pub on_missing: MissingBaseline,
}

/// What a LoadTest does when its baseline cannot be found.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum MissingBaseline {
    /// Fail the test, reason `BaselineMissing`.
    #[default]
    Fail,
    /// Pass with a warning: condition `Baseline=False`, relative thresholds skipped.
    Warn,
}

/// Metrics a LoadTest's status does not keep, so no LoadTest can be their baseline.
pub const NOT_IN_STATUS: [Metric; 4] = [
    Metric::Min,
    Metric::Reconnects,
    Metric::Late,
    Metric::Unsent,
];

/// Why a relative threshold cannot be judged against a LoadTest, if it cannot.
pub fn unsupported(t: &Threshold) -> Option<String> {
    (t.is_relative() && NOT_IN_STATUS.contains(&t.metric)).then(|| {
        format!(
            "{:?} compares {} with a baseline, but a LoadTest's status does not keep {}; \
             compare it in gcannon run --baseline FILE instead",
            t.to_string(),
            t.metric.name(),
            t.metric.name()
        )
    })
}

/// A baseline LoadTest's merged result, as the thresholds read a run: counts
/// from its summary, percentiles from its merged histogram.
pub fn summary_of(s: &MergedSummary) -> Result<ReportSummary, String> {
    if s.histogram.is_empty() {
        return Err("its status keeps no merged histogram".into());
    }
    let latency = decode_histogram("histogram", &s.histogram).map_err(|e| e.to_string())?;
    let report = Report {
        counts: Counts {
            requests: s.requests,
            responses: s.responses,
            bytes_read: s.bytes_read,
            status: s.status.classes,
            unexpected_status: s.status.unexpected,
            errors: s.errors.by_kind,
            ..Counts::default()
        },
        elapsed_sec: s.elapsed_sec,
        latency,
        ..Report::default()
    };
    Ok(ReportSummary::from_report(&report))
}
