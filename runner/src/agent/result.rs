//! This runner's RunnerResult status and the server-side-apply body that
//! carries it. Pure functions: the client only sends what these build.

use api::loadtest::{
    runner_result_name, RunnerResult, RunnerResultStatus, ShardPhase, MAX_RESULT_BYTES,
};
use api::report::{new_histogram, Counts, Report, Timeline, WireReport};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde_json::{json, Value};

use super::config::AgentConfig;
use crate::progress::Progress;

/// What the runner has to say about itself.
#[derive(Debug, Clone)]
pub enum ShardState<'a> {
    /// Up, plan resolved, waiting for `startAt`.
    Ready,
    /// Sending load; counts so far.
    Progress(Progress),
    /// Finished with this report.
    Done(&'a Report),
    /// Could not run, for this reason.
    Failed(String),
    /// Stopped by SIGTERM mid-run: failed, but with what it measured until then.
    Interrupted(&'a Report),
}

/// This runner's result in `state`, stamped `now`. A full report carries its
/// timeline in `timeline`, coarsened if needed so the whole status stays
/// within [`MAX_RESULT_BYTES`] (said in `reduced`).
pub fn build_status(
    cfg: &AgentConfig,
    state: ShardState<'_>,
    now: Timestamp,
) -> RunnerResultStatus {
    let progress;
    let (phase, message, report) = match state {
        ShardState::Ready => (ShardPhase::Ready, None, None),
        ShardState::Progress(p) => {
            progress = progress_report(&p);
            (ShardPhase::Running, None, Some(&progress))
        }
        ShardState::Done(r) => (ShardPhase::Done, None, Some(r)),
        ShardState::Failed(m) => (ShardPhase::Failed, Some(m), None),
        ShardState::Interrupted(r) => (
            ShardPhase::Failed,
            Some(super::INTERRUPTED.to_string()),
            Some(r),
        ),
    };
    let timeline = report
        .filter(|r| !r.timeline.is_empty())
        .map(|r| Timeline::from_seconds(&r.timeline));
    let report = report.map(|r| WireReport {
        timeline: Vec::new(),
        ..r.to_wire()
    });
    let mut status = RunnerResultStatus {
        phase,
        pod: Some(cfg.pod.clone()),
        node: cfg.node.clone(),
        updated_at: Some(Time(now)),
        message,
        report,
        timeline,
        reduced: None,
    };
    status.fit(MAX_RESULT_BYTES);
    status
}

/// A light interim report: the counters the engine publishes while running,
/// and an empty (but decodable) histogram so readers never choke on it.
fn progress_report(p: &Progress) -> Report {
    Report {
        counts: Counts {
            responses: p.responses,
            bytes_read: p.bytes_read,
            ..Counts::default()
        },
        elapsed_sec: p.elapsed.as_secs_f64(),
        latency: new_histogram(),
        ..Report::default()
    }
}

/// The apply-patch body: identity of this runner's RunnerResult plus its
/// status, so the field manager owns nothing but that status.
pub fn apply_body(loadtest: &str, index: u32, status: &RunnerResultStatus) -> Value {
    json!({
        "apiVersion": RunnerResult::api_version(&()),
        "kind": RunnerResult::kind(&()),
        "metadata": { "name": runner_result_name(loadtest, index) },
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::agent::config::DEFAULT_START_TIMEOUT;

    fn cfg() -> AgentConfig {
        AgentConfig {
            loadtest: "smoke".into(),
            namespace: "perf".into(),
            pod: "smoke-1-x".into(),
            node: Some("node-a".into()),
            index: 1,
            start_timeout: DEFAULT_START_TIMEOUT,
            metrics_listen: None,
            metrics_linger: std::time::Duration::ZERO,
        }
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn body_holds_only_identity_and_this_status() {
        let shard = build_status(&cfg(), ShardState::Ready, Timestamp::UNIX_EPOCH);
        let body = apply_body("smoke", 1, &shard);
        assert_eq!(keys(&body), ["apiVersion", "kind", "metadata", "status"]);
        assert_eq!(body["apiVersion"], "glasscannon.dev/v1alpha1");
        assert_eq!(body["kind"], "RunnerResult");
        assert_eq!(body["metadata"], json!({"name": "smoke-1"}));
        let st = &body["status"];
        assert_eq!(keys(st), ["node", "phase", "pod", "updatedAt"]);
        assert_eq!(st["pod"], "smoke-1-x");
        assert_eq!(st["node"], "node-a");
        assert_eq!(st["phase"], "Ready");
        assert_eq!(st["updatedAt"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_day_long_run_is_reduced_to_fit_and_keeps_every_response() {
        let mut report = Report::default();
        report.timeline = (0..86_400u64)
            .map(|i| api::report::Second {
                responses: 5_000 + i % 77,
                p99_us: 900 + i % 31,
            })
            .collect();
        report.counts.responses = report.timeline.iter().map(|s| s.responses).sum();
        let st = build_status(&cfg(), ShardState::Done(&report), Timestamp::UNIX_EPOCH);
        let bytes = serde_json::to_vec(&apply_body("smoke", 1, &st))
            .unwrap()
            .len();
        assert!(bytes <= MAX_RESULT_BYTES + 200, "{bytes}");
        let t = st.timeline.as_ref().unwrap();
        assert!(t.step_sec > 1, "a day at 1 s steps does not fit");
        assert_eq!(t.total_responses(), report.counts.responses);
        assert!(st
            .reduced
            .as_deref()
            .unwrap()
            .contains(&format!("to {} s steps", t.step_sec)));
        assert!(
            st.report.as_ref().unwrap().timeline.is_empty(),
            "the timeline is sent once"
        );
    }

    #[test]
    fn done_shard_carries_a_decodable_report() {
        let mut report = Report::default();
        report.counts.responses = 42;
        report.counts.bytes_read = 4200;
        report.elapsed_sec = 1.5;
        report.latency.record(250).unwrap();
        let shard = build_status(&cfg(), ShardState::Done(&report), Timestamp::UNIX_EPOCH);
        let body = apply_body("smoke", 1, &shard);
        let entry = &body["status"];
        assert_eq!(entry["phase"], "Done");
        assert_eq!(entry["report"]["responses"], 42);
        let wire: WireReport = serde_json::from_value(entry["report"].clone()).unwrap();
        let back = Report::from_wire(&wire).unwrap();
        assert_eq!(back.counts.responses, 42);
        assert_eq!(back.latency.len(), 1);
    }

    #[test]
    fn progress_has_counts_and_an_empty_decodable_histogram() {
        let p = Progress {
            elapsed: Duration::from_secs(5),
            total: Duration::from_secs(30),
            responses: 1000,
            bytes_read: 9000,
        };
        let shard = build_status(&cfg(), ShardState::Progress(p), Timestamp::UNIX_EPOCH);
        assert_eq!(shard.phase, ShardPhase::Running);
        let wire = shard.report.unwrap();
        assert_eq!(
            (wire.counts.responses, wire.counts.bytes_read),
            (1000, 9000)
        );
        assert_eq!(wire.elapsed_sec, 5.0);
        assert_eq!(Report::from_wire(&wire).unwrap().latency.len(), 0);
    }

    #[test]
    fn failed_shard_has_the_message_and_no_report() {
        let shard = build_status(
            &cfg(),
            ShardState::Failed("io_uring refused".into()),
            Timestamp::UNIX_EPOCH,
        );
        let body = apply_body("smoke", 1, &shard);
        let entry = &body["status"];
        assert_eq!(entry["phase"], "Failed");
        assert_eq!(entry["message"], "io_uring refused");
        assert!(entry.get("report").is_none());
    }
}
