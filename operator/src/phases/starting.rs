//! Starting: wait until every runner pod is ready, then give them one start time.
//! While waiting, say why pods are not running (from what the API reports), and
//! past the start deadline fail with that reason: never a silent hang.

use std::time::Duration;

use api::loadtest::{LoadTest, LoadTestStatus, Phase, Shard};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::{
    changed_shards, condition, conditions, event, fail, first_failure_by, merge_conditions,
    patch_status, pod_failed, pod_ready, pod_stuck, pod_unschedulable, runner_pods, POLL,
};
use crate::context::Context;
use crate::error::Result;
use crate::job::job_name;

/// How far in the future `startAt` is set, so every runner sees it before it passes.
pub const START_DELAY: Duration = Duration::from_secs(5);
/// Reason of `RunnersReady` while nothing is known to be in the way.
pub const WAITING: &str = "Starting";
/// Reason of the failure when the deadline passes with nothing known in the way.
pub const START_TIMEOUT: &str = "StartTimeout";

/// What stands between the runner pods and running, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// `Unschedulable`, `FailedCreate`, `ImagePullBackOff`, ... (a condition reason).
    pub reason: String,
    /// The API's own words, prefixed with the pod or Job it is about.
    pub message: String,
}

/// What to do with the runner pods seen so far.
#[derive(Debug, PartialEq, Eq)]
pub enum StartDecision {
    /// Not all ready yet.
    Wait {
        /// Ready runner pods.
        ready: usize,
    },
    /// All ready: set `startAt`.
    Start,
    /// A runner pod cannot run.
    Fail {
        /// The pod.
        pod: String,
        /// Why.
        reason: String,
    },
}

/// Decide whether the test can start: every runner pod ready and every runner
/// announced in its RunnerResult (the agent writes it once its plan is resolved).
pub fn decide(pods: &[Pod], shards: &[Shard], runners: u32) -> StartDecision {
    // A stuck container is not a failure yet: `wait` reports it until the deadline.
    if let Some((pod, reason)) = first_failure_by(pods, shards, pod_failed) {
        return StartDecision::Fail { pod, reason };
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let announced = (0..runners).all(|i| shards.iter().any(|s| s.index == i));
    if ready >= runners as usize && announced {
        StartDecision::Start
    } else {
        StartDecision::Wait { ready }
    }
}

/// Why the runners are not running yet, if the API says: a pod the scheduler
/// cannot place, a container stuck pulling or creating, or (when pods are
/// missing) the Job controller's `FailedCreate` events, newest first.
pub fn blocker(pods: &[Pod], failed_creates: &[CoreEvent], runners: u32) -> Option<Blocker> {
    let per_pod = pods.iter().find_map(|p| {
        let (reason, message) = pod_unschedulable(p)
            .map(|m| ("Unschedulable".to_string(), m))
            .or_else(|| pod_stuck(p))?;
        Some(Blocker {
            message: format!("pod {}: {reason}: {message}", p.name_any())
                .trim_end_matches(": ")
                .to_string(),
            reason,
        })
    });
    per_pod.or_else(|| {
        if pods.len() >= runners as usize {
            return None;
        }
        let newest = failed_creates.iter().max_by_key(|e| event_time(e))?;
        Some(Blocker {
            reason: "FailedCreate".into(),
            message: format!(
                "Job {}: {}",
                newest.involved_object.name.clone().unwrap_or_default(),
                newest.message.clone().unwrap_or_default()
            ),
        })
    })
}

fn event_time(e: &CoreEvent) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
}

/// When the wait for the runners began: `RunnersReady` turning False, else the
/// LoadTest's creation (a test from before the condition existed).
pub fn waiting_since(lt: &LoadTest) -> Option<Timestamp> {
    let status = lt.status.as_ref();
    status
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == conditions::RUNNERS_READY && c.status == "False")
        })
        .map(|c| c.last_transition_time.0)
        .or_else(|| lt.meta().creation_timestamp.as_ref().map(|t| t.0))
}

/// The `RunnersReady=False` condition the Pending phase sets when the Job exists.
pub fn waiting_condition(lt: &LoadTest) -> Condition {
    condition(
        conditions::RUNNERS_READY,
        false,
        WAITING,
        &format!("waiting for {} runner pod(s) to be ready", lt.spec.runners),
        lt.meta().generation,
    )
}

/// The Job controller's `FailedCreate` events about this LoadTest's Job since the
/// LoadTest was created (older ones are about an earlier Job of the same name).
async fn failed_creates(ctx: &Context, lt: &LoadTest) -> Result<Vec<CoreEvent>> {
    let events: Api<CoreEvent> =
        Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let job = job_name(lt);
    let lp = ListParams::default().fields(&format!(
        "involvedObject.kind=Job,involvedObject.name={job},reason=FailedCreate"
    ));
    let created = lt.meta().creation_timestamp.as_ref().map(|t| t.0);
    Ok(events
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("FailedCreate")
                && e.involved_object.kind.as_deref() == Some("Job")
                && e.involved_object.name.as_deref() == Some(job.as_str())
                && (created.is_none() || event_time(e) >= created)
        })
        .collect())
}

/// Start the runners together once all are ready; until then say what is in the way.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    if !ctx.results.is_synced() {
        return Ok(Action::requeue(POLL));
    }
    let pods = runner_pods(ctx, lt).await?;
    let shards = ctx.results.shards(lt);
    match decide(&pods, &shards, lt.spec.runners) {
        StartDecision::Wait { ready } => {
            if let Some(shards) = changed_shards(lt, &shards) {
                let status = LoadTestStatus {
                    shards,
                    ..Default::default()
                };
                patch_status(ctx, lt, &status).await?;
            }
            wait(ctx, lt, &pods, ready).await
        }
        StartDecision::Fail { pod, reason } => {
            fail(
                ctx,
                lt,
                "RunnerFailed",
                format!("runner pod {pod} failed before the start: {reason}"),
            )
            .await?;
            Ok(Action::await_change())
        }
        StartDecision::Start => {
            let now = Timestamp::now();
            let start = now
                .checked_add(SignedDuration::try_from(START_DELAY).unwrap_or_default())
                .unwrap_or(now);
            let existing = lt
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            let ready = condition(
                conditions::RUNNERS_READY,
                true,
                "Started",
                &format!(
                    "all {} runner(s) ready; load starts at {start}",
                    lt.spec.runners
                ),
                lt.meta().generation,
            );
            patch_status(
                ctx,
                lt,
                &LoadTestStatus {
                    phase: Some(Phase::Running),
                    start_at: Some(Time(start)),
                    message: Some(format!("{} runner(s) start at {start}", lt.spec.runners)),
                    conditions: merge_conditions(&existing, vec![ready]),
                    shards,
                    ..Default::default()
                },
            )
            .await?;
            event(
                ctx,
                lt,
                false,
                "Started",
                format!(
                    "all {} runner(s) ready; load starts at {start}",
                    lt.spec.runners
                ),
            )
            .await;
            Ok(Action::requeue(POLL))
        }
    }
}

/// Not all ready: report what is in the way, and fail once the deadline passed.
async fn wait(ctx: &Context, lt: &LoadTest, pods: &[Pod], ready: usize) -> Result<Action> {
    let runners = lt.spec.runners;
    let events = if pods.len() < runners as usize {
        failed_creates(ctx, lt).await?
    } else {
        Vec::new()
    };
    let found = blocker(pods, &events, runners);
    let now = Timestamp::now();
    let timeout = ctx.config.start_timeout;
    let since = waiting_since(lt).unwrap_or(now);
    let deadline = since
        .checked_add(SignedDuration::try_from(timeout).unwrap_or_default())
        .unwrap_or(now);
    let counts = format!("{ready} of {runners} runner pod(s) ready");
    if now > deadline {
        let human = api::duration::HumanDuration(timeout);
        let (reason, detail) = match found {
            Some(b) => (b.reason, format!("{}; {counts}", b.message)),
            None => (START_TIMEOUT.to_string(), counts),
        };
        let message = format!("runners not running within {human}: {detail}");
        // RunnersReady keeps the final reason too (the `Start` column).
        let mut lt = lt.clone();
        if let Some(status) = lt.status.as_mut() {
            let cond = condition(
                conditions::RUNNERS_READY,
                false,
                &reason,
                &message,
                lt.metadata.generation,
            );
            status.conditions = merge_conditions(&status.conditions, vec![cond]);
        }
        fail(ctx, &lt, &reason, message).await?;
        return Ok(Action::await_change());
    }
    let Some(b) = found else {
        return Ok(Action::requeue(POLL));
    };
    let existing = lt
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let message = format!(
        "{}; {counts}; the test fails at {deadline} if this lasts",
        b.message
    );
    let current = existing
        .iter()
        .find(|c| c.type_ == conditions::RUNNERS_READY);
    // Only a change is written (and announced): a steady reason costs one list per poll.
    if current.is_some_and(|c| c.reason == b.reason && c.message == message) {
        return Ok(Action::requeue(POLL));
    }
    let mut cond = condition(
        conditions::RUNNERS_READY,
        false,
        &b.reason,
        &message,
        lt.meta().generation,
    );
    if current.is_none() {
        // The wait began before this condition was first written.
        cond.last_transition_time = Time(since);
    }
    patch_status(
        ctx,
        lt,
        &LoadTestStatus {
            message: Some(message.clone()),
            conditions: merge_conditions(&existing, vec![cond]),
            ..Default::default()
        },
    )
    .await?;
    event(ctx, lt, true, &b.reason, message).await;
    Ok(Action::requeue(POLL))
}

#[cfg(test)]
mod tests {
    use api::loadtest::ShardPhase;

    use serde_json::json;

    use super::*;

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}),
        )
        .unwrap()
    }

    fn announced(n: u32) -> Vec<Shard> {
        (0..n)
            .map(|index| Shard {
                index,
                ..Shard::default()
            })
            .collect()
    }

    #[test]
    fn starts_only_when_every_runner_is_ready_and_announced() {
        let both = announced(2);
        let (a, b, nb) = (pod("a", true), pod("b", true), pod("b", false));
        assert_eq!(
            decide(std::slice::from_ref(&a), &both, 2),
            StartDecision::Wait { ready: 1 }
        );
        assert_eq!(
            decide(&[a.clone(), nb], &both, 2),
            StartDecision::Wait { ready: 1 }
        );
        assert_eq!(
            decide(&[a.clone(), b.clone()], &both, 2),
            StartDecision::Start
        );
        assert_eq!(
            decide(&[a, b], &announced(1), 2),
            StartDecision::Wait { ready: 2 }
        );
        assert_eq!(decide(&[], &[], 1), StartDecision::Wait { ready: 0 });
    }

    #[test]
    fn a_failed_pod_or_runner_fails_the_start() {
        let bad: Pod = serde_json::from_value(
            json!({"metadata": {"name": "b"}, "status": {"phase": "Failed", "reason": "Evicted"}}),
        )
        .unwrap();
        let want = StartDecision::Fail {
            pod: "b".into(),
            reason: "Evicted".into(),
        };
        assert_eq!(decide(&[pod("a", true), bad], &announced(2), 2), want);
        let mut shards = announced(2);
        shards[1].phase = ShardPhase::Failed;
        shards[1].pod = Some("b".into());
        shards[1].message = Some("bad template".into());
        let want = StartDecision::Fail {
            pod: "b".into(),
            reason: "bad template".into(),
        };
        assert_eq!(decide(&[pod("a", true), pod("b", true)], &shards, 2), want);
    }
}
