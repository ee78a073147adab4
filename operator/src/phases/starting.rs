//! Starting: wait until every runner pod is ready, then give them one start time.

use std::time::Duration;

use api::loadtest::{LoadTest, Phase, Shard};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::pending::POLL;
use super::{event, fail, first_failure, patch_status, pod_ready};
use crate::controller::Context;
use crate::error::Result;
use crate::job::LOADTEST_LABEL;

/// How far in the future `startAt` is set, so every runner sees it before it passes.
pub const START_DELAY: Duration = Duration::from_secs(5);

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
/// announced in `status.shards` (the agent writes its entry once its plan is resolved).
pub fn decide(pods: &[Pod], shards: &[Shard], runners: u32) -> StartDecision {
    if let Some((pod, reason)) = first_failure(pods, shards) {
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

/// The runner pods of a LoadTest.
pub async fn runner_pods(ctx: &Context, lt: &LoadTest) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let lp = ListParams::default().labels(&format!("{LOADTEST_LABEL}={}", lt.name_any()));
    Ok(pods.list(&lp).await?.items)
}

/// Start the runners together once all are ready.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    let pods = runner_pods(ctx, lt).await?;
    let shards = lt
        .status
        .as_ref()
        .map(|s| s.shards.clone())
        .unwrap_or_default();
    match decide(&pods, &shards, lt.spec.runners) {
        StartDecision::Wait { .. } => Ok(Action::requeue(POLL)),
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
            patch_status(
                ctx,
                lt,
                json!({
                    "phase": Phase::Running,
                    "startAt": Time(start),
                    "message": format!("{} runner(s) start at {start}", lt.spec.runners),
                }),
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

#[cfg(test)]
mod tests {
    use api::loadtest::ShardPhase;

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
