//! Starting: wait until every runner pod is ready, then give them one start time.

use std::time::Duration;

use api::loadtest::{LoadTest, Phase};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::pending::POLL;
use super::{event, fail, patch_status, pod_failure, pod_ready};
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

/// Decide from the runner pods whether the test can start.
pub fn decide(pods: &[Pod], runners: u32) -> StartDecision {
    if let Some((pod, reason)) = pods.iter().find_map(pod_failure) {
        return StartDecision::Fail { pod, reason };
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    if ready >= runners as usize {
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
    match decide(&pods, lt.spec.runners) {
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
    use super::*;

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}),
        )
        .unwrap()
    }

    #[test]
    fn starts_only_when_every_runner_is_ready() {
        assert_eq!(
            decide(&[pod("a", true)], 2),
            StartDecision::Wait { ready: 1 }
        );
        assert_eq!(
            decide(&[pod("a", true), pod("b", false)], 2),
            StartDecision::Wait { ready: 1 }
        );
        assert_eq!(
            decide(&[pod("a", true), pod("b", true)], 2),
            StartDecision::Start
        );
        assert_eq!(decide(&[], 1), StartDecision::Wait { ready: 0 });
    }

    #[test]
    fn a_failed_pod_fails_the_start() {
        let bad: Pod = serde_json::from_value(
            json!({"metadata": {"name": "b"}, "status": {"phase": "Failed", "reason": "Evicted"}}),
        )
        .unwrap();
        assert_eq!(
            decide(&[pod("a", true), bad], 2),
            StartDecision::Fail {
                pod: "b".into(),
                reason: "Evicted".into()
            }
        );
    }
}
