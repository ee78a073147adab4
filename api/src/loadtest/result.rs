//! The `RunnerResult` custom resource: one per runner of a LoadTest, named
//! `<loadtest>-<index>`, created empty by the operator (owned by the LoadTest,
//! so garbage-collected with it) and filled in by that runner alone. Full
//! per-runner results live here, so the LoadTest itself stays small at any scale.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::status::{preserve_unknown, ShardPhase};
use crate::report::{Timeline, WireReport};

/// Largest RunnerResult status a runner writes, as JSON: with the object's
/// metadata and managed fields (about 2 KiB) the stored object stays under
/// 256 KiB, far from etcd's 1.5 MiB, and that is what the operator holds per
/// runner while merging. A longer run's timeline is coarsened to fit, never dropped.
pub const MAX_RESULT_BYTES: usize = 240 * 1024;

/// One runner's result.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[kube(
    group = "glasscannon.dev",
    version = "v1alpha1",
    kind = "RunnerResult",
    plural = "runnerresults",
    shortname = "rr",
    namespaced,
    status = "RunnerResultStatus",
    doc = "One runner's full result for a LoadTest (histograms, timeline); written by that runner, merged by the operator.",
    printcolumn = r#"{"name":"LoadTest","type":"string","jsonPath":".spec.loadTest"}"#,
    printcolumn = r#"{"name":"Index","type":"integer","jsonPath":".spec.index"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Responses","type":"integer","jsonPath":".status.report.responses"}"#,
    printcolumn = r#"{"name":"Step","type":"integer","jsonPath":".status.timeline.stepSec"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RunnerResultSpec {
    /// The LoadTest this runner belongs to.
    pub load_test: String,
    /// The runner's `JOB_COMPLETION_INDEX`.
    pub index: u32,
}

/// What the runner reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerResultStatus {
    /// Progress of this runner.
    #[serde(default)]
    pub phase: ShardPhase,
    /// Runner pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Node the pod ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Last update by the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Why the runner failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Counts and serialized histograms so far (final once `Done`); the timeline is in `timeline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub report: Option<WireReport>,
    /// The run's timeline, per second unless `reduced` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// Set when the timeline was coarsened to keep this object under its size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduced: Option<String>,
}

/// The name of runner `index`'s result: `<loadtest>-<index>` (unique: the
/// index after the last `-` tells the two parts apart).
pub fn runner_result_name(loadtest: &str, index: u32) -> String {
    format!("{loadtest}-{index}")
}

impl RunnerResultStatus {
    /// Coarsen the timeline (doubling its step) until this status, as JSON, is
    /// at most `max_bytes`; say so in `reduced`. Histograms and counts are
    /// never touched. Returns the serialized size reached.
    pub fn fit(&mut self, max_bytes: usize) -> usize {
        let size = |s: &Self| serde_json::to_vec(s).map(|v| v.len()).unwrap_or(usize::MAX);
        let mut bytes = size(self);
        let from = self.timeline.as_ref().map(|t| t.step_sec);
        while bytes > max_bytes {
            let Some(t) = self.timeline.as_mut().filter(|t| t.len() > 1) else {
                break;
            };
            t.coarsen(t.step_sec.saturating_mul(2));
            let (from, to) = (from.unwrap_or(1), t.step_sec);
            self.reduced = Some(format!(
                "timeline coarsened from {from} s to {to} s steps to keep this result under {max_bytes} bytes"
            ));
            bytes = size(self);
        }
        bytes
    }

    /// After the API server refused this result as too large (`why`), double
    /// the timeline's step and say so in `reduced`. False when there is
    /// nothing left to reduce (a timeline of one point, or none): counts and
    /// histograms are never reduced.
    pub fn reduce_after_refusal(&mut self, why: &str) -> bool {
        let Some(t) = self.timeline.as_mut().filter(|t| t.len() > 1) else {
            return false;
        };
        let from = t.step_sec;
        t.coarsen(from.saturating_mul(2));
        self.reduced = Some(format!(
            "timeline coarsened to {} s steps: the API server refused it at {from} s steps as too large ({why})",
            t.step_sec
        ));
        true
    }
}
