//! Running: watch the runners' results and pods until all report or one fails.

use std::time::Duration;

use api::loadtest::{LoadTest, LoadTestStatus, Shard, ShardPhase};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::{changed_shards, fail, finished, first_failure, patch_status, runner_pods, POLL};
use crate::context::Context;
use crate::error::Result;

/// Annotation Kubernetes puts on Indexed Job pods.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// What to do next while the test runs.
#[derive(Debug, PartialEq, Eq)]
pub enum RunDecision {
    /// Keep waiting.
    Wait,
    /// Every runner is done: merge and judge.
    Finish,
    /// The test failed.
    Fail {
        /// Event/condition reason.
        reason: &'static str,
        /// Message naming the pod(s) and cause.
        message: String,
    },
}

/// Decide from the runners' entries, pods and the clock; `deadline` is when every runner must be final.
pub fn decide(
    lt: &LoadTest,
    shards: &[Shard],
    pods: &[Pod],
    now: Timestamp,
    deadline: Timestamp,
) -> RunDecision {
    let runners = lt.spec.runners;
    let done = |i: u32| {
        shards
            .iter()
            .any(|s| s.index == i && s.phase == ShardPhase::Done)
    };
    if (0..runners).all(done) {
        return RunDecision::Finish;
    }
    if let Some((pod, why)) = first_failure(pods, shards) {
        return RunDecision::Fail {
            reason: "RunnerFailed",
            message: format!("runner pod {pod} failed: {why}"),
        };
    }
    if now > deadline {
        let missing: Vec<String> = (0..runners)
            .filter(|i| !done(*i))
            .map(|i| pod_for_index(pods, i).unwrap_or_else(|| format!("index {i}")))
            .collect();
        return RunDecision::Fail {
            reason: "RunnerNeverReported",
            message: format!(
                "runner(s) never reported a final result by {deadline}: {}",
                missing.join(", ")
            ),
        };
    }
    RunDecision::Wait
}

fn pod_for_index(pods: &[Pod], index: u32) -> Option<String> {
    let idx = index.to_string();
    pods.iter()
        .find(|p| p.annotations().get(INDEX_ANNOTATION) == Some(&idx))
        .map(|p| p.name_any())
}

/// When every shard must be final: start + warm-up + measured part (stages
/// included, from `api::plan`) + `grace`.
pub fn deadline(lt: &LoadTest, grace: Duration) -> Timestamp {
    let start = lt
        .status
        .as_ref()
        .and_then(|s| s.start_at.as_ref())
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    let run = lt.spec.run_length() + grace;
    start
        .checked_add(SignedDuration::try_from(run).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// Check the runners' results and pods; finish or fail when the time comes.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    if !ctx.results.is_synced() {
        // Right after a (re)start the results are still being listed.
        return Ok(Action::requeue(POLL));
    }
    let pods = runner_pods(ctx, lt).await?;
    let deadline = deadline(lt, ctx.config.report_grace);
    let shards = ctx.results.shards(lt);
    match decide(lt, &shards, &pods, Timestamp::now(), deadline) {
        RunDecision::Wait => {
            if let Some(shards) = changed_shards(lt, &shards) {
                let status = LoadTestStatus {
                    shards,
                    ..Default::default()
                };
                patch_status(ctx, lt, &status).await?;
            }
            Ok(Action::requeue(POLL))
        }
        RunDecision::Finish => finished::finish(ctx, lt).await,
        RunDecision::Fail { reason, message } => {
            fail(ctx, lt, reason, message).await?;
            Ok(Action::await_change())
        }
    }
}

#[cfg(test)]
mod tests {
    use api::loadtest::{LoadTestSpec, LoadTestStatus, Shard};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;

    const GRACE: Duration = crate::config::DEFAULT_REPORT_GRACE;

    fn lt(shards: Vec<Shard>) -> LoadTest {
        let spec: LoadTestSpec = serde_yaml::from_str(
            "target: http://t/\nrunners: 2\nconnections: 2\nduration: 10s\nwarmup: 0s\n",
        )
        .unwrap();
        let mut lt = LoadTest::new("smoke", spec);
        lt.status = Some(LoadTestStatus {
            shards,
            start_at: Some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        });
        lt
    }

    fn shard(index: u32, phase: ShardPhase) -> Shard {
        Shard {
            index,
            phase,
            pod: Some(format!("smoke-{index}-abc")),
            ..Default::default()
        }
    }

    fn indexed_pod(i: u32) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": format!("smoke-{i}-abc"),
            "annotations": {INDEX_ANNOTATION: i.to_string()}}, "status": {"phase": "Running"}}))
        .unwrap()
    }

    #[test]
    fn finishes_only_when_every_index_is_done() {
        let now = Timestamp::UNIX_EPOCH;
        let l = lt(vec![
            shard(0, ShardPhase::Done),
            shard(1, ShardPhase::Running),
        ]);
        assert_eq!(
            decide(
                &l,
                &l.status.as_ref().unwrap().shards,
                &[],
                now,
                deadline(&l, GRACE)
            ),
            RunDecision::Wait
        );
        let l = lt(vec![shard(1, ShardPhase::Done), shard(0, ShardPhase::Done)]);
        assert_eq!(
            decide(
                &l,
                &l.status.as_ref().unwrap().shards,
                &[],
                now,
                deadline(&l, GRACE)
            ),
            RunDecision::Finish
        );
    }

    #[test]
    fn a_killed_pod_is_named_before_the_runners_stopped_because_of_it() {
        let now = Timestamp::UNIX_EPOCH;
        // Runner 0 was interrupted when the Job failed and deleted its pod; pod 1 was killed.
        let mut interrupted = shard(0, ShardPhase::Failed);
        interrupted.message = Some("interrupted by SIGTERM before the run finished".into());
        let l = lt(vec![interrupted, shard(1, ShardPhase::Running)]);
        let mut deleting = indexed_pod(0);
        deleting.metadata.deletion_timestamp = Some(Time(now));
        let killed: Pod = serde_json::from_value(json!({"metadata": {"name": "smoke-1-abc"},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "runner", "image": "i",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}}))
        .unwrap();
        let RunDecision::Fail { message, .. } = decide(
            &l,
            &l.status.as_ref().unwrap().shards,
            &[deleting, killed],
            now,
            deadline(&l, GRACE),
        ) else {
            panic!()
        };
        assert_eq!(
            message,
            "runner pod smoke-1-abc failed: Failed: container runner exited with code 137 (Error)"
        );
    }

    #[test]
    fn deadline_covers_every_stage_of_a_ramp() {
        let mut l = lt(vec![]);
        l.spec.stages =
            serde_yaml::from_str("[{duration: 30s, target: 10}, {duration: 50s, target: 0}]")
                .unwrap();
        assert_eq!(
            deadline(&l, Duration::from_secs(5)),
            Timestamp::UNIX_EPOCH
                .checked_add(SignedDuration::from_secs(85))
                .unwrap()
        );
    }

    #[test]
    fn deadline_covers_warmup_duration_and_grace() {
        let l = lt(vec![]);
        assert_eq!(
            deadline(&l, GRACE),
            Timestamp::UNIX_EPOCH
                .checked_add(SignedDuration::from_secs(70))
                .unwrap()
        );
        // Ramping: the stages, not `duration`, set the measured part.
        let mut ramp = lt(vec![]);
        ramp.spec.stages =
            serde_yaml::from_str("[{duration: 30s, target: 5}, {duration: 45s, target: 0}]")
                .unwrap();
        assert_eq!(
            deadline(&ramp, GRACE),
            Timestamp::UNIX_EPOCH
                .checked_add(SignedDuration::from_secs(75 + 60))
                .unwrap()
        );
    }

    #[test]
    fn failed_shard_and_silent_runner_fail_the_test_by_name() {
        let now = Timestamp::UNIX_EPOCH;
        let mut failed = shard(1, ShardPhase::Failed);
        failed.message = Some("io_uring blocked by seccomp".into());
        let l = lt(vec![shard(0, ShardPhase::Done), failed]);
        let RunDecision::Fail { message, .. } = decide(
            &l,
            &l.status.as_ref().unwrap().shards,
            &[],
            now,
            deadline(&l, GRACE),
        ) else {
            panic!()
        };
        assert_eq!(
            message,
            "runner pod smoke-1-abc failed: io_uring blocked by seccomp"
        );

        let l = lt(vec![shard(0, ShardPhase::Done)]);
        let late = deadline(&l, GRACE)
            .checked_add(SignedDuration::from_secs(1))
            .unwrap();
        let got = decide(
            &l,
            &l.status.as_ref().unwrap().shards,
            &[indexed_pod(0), indexed_pod(1)],
            late,
            deadline(&l, GRACE),
        );
        let RunDecision::Fail { reason, message } = got else {
            panic!()
        };
        assert_eq!(reason, "RunnerNeverReported");
        assert!(message.ends_with(": smoke-1-abc"), "{message}");
    }
}
