//! What the operator and the runners write into a `LoadTest`'s status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::report::{
    format_latency_us, Errors, LatencySummary as ReportLatency, StatusClasses,
    Summary as ReportSummary, Timeline,
};

/// Observed state of a LoadTest.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadTestStatus {
    /// Where the test is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// When every runner starts sending: set once all runner pods are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Time>,
    /// One compact entry per runner (phase and counts), written by the operator
    /// from the runners' RunnerResults, which hold each runner's full result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    // Atomic: the operator alone writes it, always whole, so the server records
    // one managed field for it rather than one per runner (about 100 kB at 1000).
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub shards: Vec<Shard>,
    /// The merged result of all shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<MergedSummary>,
    /// The merged timeline, at most `MAX_POINTS` points: per second up to 10
    /// minutes, then the step doubles (see `api::report::timeline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// `Passed` when every threshold holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Each threshold with its measured value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threshold_results: Vec<ThresholdResult>,
    /// `Complete`, `Failed`, `ThresholdsPassed`, `SpecChanged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Human-readable explanation of the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Indexed Job running the runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// The LoadTest relative thresholds compare with, pinned before the Job (`spec.baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

/// Life cycle of a LoadTest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Phase {
    /// Accepted; the Job is being created.
    Pending,
    /// Runner pods are being scheduled and started.
    Starting,
    /// Runners are sending load.
    Running,
    /// Every runner reported; results are in `summary`.
    Succeeded,
    /// A runner failed, or the spec is invalid; see `message`.
    Failed,
}

impl Phase {
    /// True once the test can never change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One runner's entry: what `kubectl get loadtest -o yaml` shows per runner.
/// Its full result (histograms, timeline) is its RunnerResult `<loadtest>-<index>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    /// The runner's `JOB_COMPLETION_INDEX`.
    pub index: u32,
    /// Runner pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Progress of this runner.
    #[serde(default)]
    pub phase: ShardPhase,
    /// Requests sent so far (final once `Done`).
    #[serde(default)]
    pub requests: u64,
    /// Responses received so far (final once `Done`).
    #[serde(default)]
    pub responses: u64,
    /// Faults so far (final once `Done`).
    #[serde(default)]
    pub errors: u64,
    /// Seconds this runner has measured so far (to the millisecond), for its rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_sec: Option<f64>,
    /// Why the runner failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub(crate) fn preserve_unknown(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Progress of one runner.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ShardPhase {
    /// Plan resolved and waiting for `startAt`; no load yet.
    Ready,
    /// Sending load.
    #[default]
    Running,
    /// Finished; its report is final.
    Done,
    /// Could not run; see `message`.
    Failed,
}

/// Final verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Verdict {
    /// Every threshold holds.
    Passed,
    /// At least one threshold failed, or the test failed.
    Failed,
}

/// One threshold and how it went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdResult {
    /// The expression as written.
    pub expr: String,
    /// The measured value, formatted in the expression's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// Whether it held.
    pub passed: bool,
}

/// Merged result of every shard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergedSummary {
    /// Requests sent.
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Bytes received.
    pub bytes_read: u64,
    /// Longest runner's measured time, seconds.
    pub elapsed_sec: f64,
    /// Responses per second.
    pub rps: f64,
    /// Bytes received per second.
    pub bandwidth_bytes_per_sec: f64,
    /// Latency from the merged histogram.
    pub latency: LatencyPercentiles,
    /// Responses by status class.
    pub status: SummaryStatus,
    /// Faults.
    pub errors: SummaryErrors,
    /// TLS targets: handshakes and their latency (never part of `latency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SummaryTls>,
    /// Merged HDR histogram, V2-deflate serialized then base64 (microseconds).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub histogram: String,
}

/// TLS handshakes of every runner.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryTls {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Of those, resumed sessions.
    pub resumed: u64,
    /// Handshake latency, TCP connected to TLS established.
    pub handshake_latency: LatencyPercentiles,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPercentiles {
    /// Mean.
    pub avg_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// p99 for humans (`1.25ms`), for `kubectl get`.
    pub p99_text: String,
}

/// Responses by status class, and those that were not the expected status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryStatus {
    /// Responses per class.
    #[serde(flatten)]
    pub classes: StatusClasses,
    /// Responses whose status was not the expected one.
    pub unexpected: u64,
}

/// Faults by kind, and all of them together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryErrors {
    /// All faults.
    pub total: u64,
    /// Faults by kind.
    #[serde(flatten)]
    pub by_kind: Errors,
}

impl MergedSummary {
    /// The status form of a merged run's summary; `histogram` is the merged histogram, encoded.
    pub fn from_summary(s: &ReportSummary, histogram: String) -> Self {
        Self {
            requests: s.requests,
            responses: s.responses,
            bytes_read: s.bytes_read,
            elapsed_sec: s.elapsed_sec,
            rps: (s.rps * 10.0).round() / 10.0,
            bandwidth_bytes_per_sec: s.bandwidth_bps.round(),
            latency: LatencyPercentiles::of(&s.latency),
            status: SummaryStatus {
                classes: s.status,
                unexpected: s.unexpected_status,
            },
            errors: SummaryErrors {
                total: s.error_total,
                by_kind: s.errors,
            },
            tls: s.handshake.as_ref().map(|h| SummaryTls {
                handshakes: s.tls_handshakes,
                resumed: s.tls_resumed,
                handshake_latency: LatencyPercentiles::of(h),
            }),
            histogram,
        }
    }
}

impl LatencyPercentiles {
    /// The status form of a report's latency statistics.
    fn of(l: &ReportLatency) -> Self {
        Self {
            avg_us: (l.avg * 10.0).round() / 10.0,
            p50_us: l.p50,
            p90_us: l.p90,
            p99_us: l.p99,
            p999_us: l.p999,
            max_us: l.max,
            p99_text: format_latency_us(l.p99 as f64),
        }
    }
}
