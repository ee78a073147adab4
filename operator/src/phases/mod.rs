//! One module per phase of a LoadTest; each decides from what it observes (the
//! pods, and the runners' results as `results.rs` accumulated them) and writes
//! the status. Runners write only their own RunnerResult, never the LoadTest.

pub mod finished;
pub mod pending;
pub mod running;
pub mod starting;

use std::time::Duration;

use api::loadtest::{LoadTest, LoadTestStatus, Phase, Shard, ShardPhase, Verdict};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::context::Context;
use crate::error::Result;
use crate::job::LOADTEST_LABEL;

/// How often a test that is waiting on something is looked at again.
pub const POLL: Duration = Duration::from_secs(2);

/// The runner pods of a LoadTest.
pub async fn runner_pods(ctx: &Context, lt: &LoadTest) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let lp = ListParams::default().labels(&format!("{LOADTEST_LABEL}={}", lt.name_any()));
    Ok(pods.list(&lp).await?.items)
}

/// Condition types the operator sets.
pub mod conditions {
    /// The test ran to the end and results are in status.
    pub const COMPLETE: &str = "Complete";
    /// The test could not run or a runner failed.
    pub const FAILED: &str = "Failed";
    /// Every threshold held.
    pub const THRESHOLDS_PASSED: &str = "ThresholdsPassed";
    /// The spec changed after the test finished; it is not re-run.
    pub const SPEC_CHANGED: &str = "SpecChanged";
    /// Every runner pod is running and announced. While False, its reason says what
    /// the API reports in the way (`Unschedulable`, `ImagePullBackOff`, `FailedCreate`, ...),
    /// and its `lastTransitionTime` is when the wait began (the start deadline counts from it).
    pub const RUNNERS_READY: &str = "RunnersReady";
    /// `spec.baseline` was found (True, its name in the message) or not (False,
    /// `BaselineMissing`, relative thresholds not judged: `onMissing: Warn`).
    pub const BASELINE: &str = "Baseline";
    /// The admin policy refused the LoadTest: its reason names the first broken
    /// rule, its message every one (`policy.<chart value>: ...`). No pod was made.
    pub const REJECTED: &str = "Rejected";
}

/// A metav1 Condition stamped now.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Replace (by type) or add conditions, keeping the others. As with
/// `meta.SetStatusCondition`, `lastTransitionTime` only moves when the status does.
pub fn merge_conditions(existing: &[Condition], new: Vec<Condition>) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| !new.iter().any(|n| n.type_ == c.type_))
        .cloned()
        .collect();
    out.extend(new.into_iter().map(|mut n| {
        if let Some(old) = existing
            .iter()
            .find(|c| c.type_ == n.type_ && c.status == n.status)
        {
            n.last_transition_time = old.last_transition_time.clone();
        }
        n
    }));
    out
}

/// Why a runner pod can no longer report, if it cannot: `(pod, reason)`. Either
/// it failed, or (during the run) it is stuck in one of [`STUCK`].
pub fn pod_failure(pod: &Pod) -> Option<(String, String)> {
    pod_failed(pod).or_else(|| {
        let (reason, message) = pod_stuck(pod)?;
        let text = format!("{reason}: {message}");
        Some((pod.name_any(), text.trim_end_matches(": ").to_string()))
    })
}

/// Waiting reasons of a runner container that will not go away by themselves soon.
pub const STUCK: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// `(reason, message)` when a container of the pod waits for one of [`STUCK`].
pub fn pod_stuck(pod: &Pod) -> Option<(String, String)> {
    let status = pod.status.as_ref()?;
    status.container_statuses.as_ref()?.iter().find_map(|c| {
        let w = c.state.as_ref()?.waiting.as_ref()?;
        let reason = w.reason.as_deref()?;
        STUCK
            .contains(&reason)
            .then(|| (reason.to_string(), w.message.clone().unwrap_or_default()))
    })
}

/// The scheduler's message when it cannot place the pod.
pub fn pod_unschedulable(pod: &Pod) -> Option<String> {
    let conds = pod.status.as_ref()?.conditions.as_ref()?;
    conds
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.clone().unwrap_or_default())
}

/// `(pod, reason)` when the pod has failed (phase `Failed`).
pub fn pod_failed(pod: &Pod) -> Option<(String, String)> {
    let name = pod.name_any();
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed") {
        let reason = status.reason.clone().unwrap_or_else(|| "Failed".into());
        let detail = status.message.clone().or_else(|| {
            status.container_statuses.as_ref()?.iter().find_map(|c| {
                let t = c.state.as_ref()?.terminated.as_ref()?;
                Some(format!(
                    "container {} exited with code {}{}",
                    c.name,
                    t.exit_code,
                    t.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ))
            })
        });
        return Some((
            name,
            detail.map(|d| format!("{reason}: {d}")).unwrap_or(reason),
        ));
    }
    None
}

/// The failure to report when runners fail: `(pod, reason)`. A runner whose pod
/// is being deleted, or is gone, failed because of something else (the Job
/// failing, a cleanup), so causes come first: a runner's own failure while its
/// pod lives, then a failed pod nobody is deleting, then everything else.
pub fn first_failure(pods: &[Pod], shards: &[Shard]) -> Option<(String, String)> {
    first_failure_by(pods, shards, pod_failure)
}

/// [`first_failure`] with `pod_failure` deciding which pods count as failed.
pub fn first_failure_by(
    pods: &[Pod],
    shards: &[Shard],
    pod_failure: fn(&Pod) -> Option<(String, String)>,
) -> Option<(String, String)> {
    let alive = |p: &Pod| p.metadata.deletion_timestamp.is_none();
    let lives = |name: &str| pods.iter().any(|p| p.name_any() == name && alive(p));
    let of_shard = |s: &Shard| {
        (
            s.pod
                .clone()
                .unwrap_or_else(|| format!("index {}", s.index)),
            s.message
                .clone()
                .unwrap_or_else(|| "runner reported failure".into()),
        )
    };
    let (caused, consequences): (Vec<&Shard>, Vec<&Shard>) = shards
        .iter()
        .filter(|s| s.phase == ShardPhase::Failed)
        .partition(|s| s.pod.as_deref().is_some_and(lives));
    caused
        .first()
        .map(|s| of_shard(s))
        .or_else(|| pods.iter().filter(|p| alive(p)).find_map(pod_failure))
        .or_else(|| consequences.first().map(|s| of_shard(s)))
        .or_else(|| pods.iter().find_map(pod_failure))
}

/// True when the pod's Ready condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Merge-patch the operator's status fields: the fields `status` sets, nothing else.
pub async fn patch_status(
    ctx: &Context,
    lt: &LoadTest,
    status: &LoadTestStatus,
) -> Result<LoadTest> {
    let api: Api<LoadTest> =
        Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let patch = json!({ "status": status });
    Ok(api
        .patch_status(
            &lt.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// Publish an Event about the LoadTest; failures are logged, never fatal.
pub async fn event(ctx: &Context, lt: &LoadTest, warning: bool, reason: &str, note: String) {
    let ev = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(truncate(note, 1000)),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &lt.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

/// At most `max` bytes, cut on a character boundary (Event notes are limited to 1 kB).
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max.saturating_sub(3);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The runners' compact entries, when they differ from what the status shows.
pub fn changed_shards(lt: &LoadTest, shards: &[Shard]) -> Option<Vec<Shard>> {
    let shown = lt
        .status
        .as_ref()
        .map(|s| &s.shards[..])
        .unwrap_or_default();
    (shown != shards).then(|| shards.to_vec())
}

/// Mark the test Failed with a message; the runners' entries and results stay
/// (the entries, when the server refuses them as too large, only in the RunnerResults).
pub async fn fail(ctx: &Context, lt: &LoadTest, reason: &str, message: String) -> Result<()> {
    fail_with(ctx, lt, reason, message, Vec::new()).await
}

/// [`fail`], setting `extra` conditions as well.
pub async fn fail_with(
    ctx: &Context,
    lt: &LoadTest,
    reason: &str,
    message: String,
    extra: Vec<Condition>,
) -> Result<()> {
    let status = lt.status.clone().unwrap_or_default();
    let gen = lt.meta().generation;
    let mut new = vec![
        condition(conditions::FAILED, true, reason, &message, gen),
        condition(conditions::COMPLETE, false, reason, &message, gen),
    ];
    new.extend(extra);
    let conds = merge_conditions(&status.conditions, new);
    let status = LoadTestStatus {
        phase: Some(Phase::Failed),
        verdict: Some(Verdict::Failed),
        message: Some(message.clone()),
        conditions: conds,
        observed_generation: finished::ran_generation(lt),
        ..Default::default()
    };
    let written = match changed_shards(lt, &ctx.results.shards(lt)) {
        Some(shards) => {
            let with = LoadTestStatus {
                shards,
                ..status.clone()
            };
            patch_status(ctx, lt, &with).await
        }
        None => patch_status(ctx, lt, &status).await,
    };
    match written {
        // The entries alone may be what makes it too large; the runners' results keep them.
        Err(e) if finished::too_large(&e).is_some() => {
            patch_status(ctx, lt, &status).await?;
        }
        other => {
            other?;
        }
    }
    ctx.results.forget(lt);
    event(ctx, lt, true, reason, message).await;
    finished::cleanup(ctx, lt).await
}

#[cfg(test)]
mod tests;
