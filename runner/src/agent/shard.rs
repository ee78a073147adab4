//! This runner's entry in `status.shards` and the server-side-apply body that
//! carries it. Pure functions: the client only sends what these build.

use api::loadtest::{LoadTest, Shard, ShardPhase};
use api::report::{encode_histogram, new_histogram, Counts, Report, WireReport};
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

/// This runner's shard entry in `state`, stamped `now`.
pub fn build_shard(cfg: &AgentConfig, state: ShardState<'_>, now: Timestamp) -> Shard {
    let (phase, message, report) = match state {
        ShardState::Ready => (ShardPhase::Ready, None, None),
        ShardState::Progress(p) => (ShardPhase::Running, None, Some(progress_report(&p))),
        ShardState::Done(r) => (ShardPhase::Done, None, Some(r.to_wire())),
        ShardState::Failed(m) => (ShardPhase::Failed, Some(m), None),
        ShardState::Interrupted(r) => (
            ShardPhase::Failed,
            Some(super::INTERRUPTED.to_string()),
            Some(r.to_wire()),
        ),
    };
    Shard {
        index: cfg.index,
        pod: Some(cfg.pod.clone()),
        node: cfg.node.clone(),
        phase,
        updated_at: Some(Time(now)),
        message,
        report,
    }
}

/// A light interim report: the counters the engine publishes while running,
/// and an empty (but decodable) histogram so readers never choke on it.
fn progress_report(p: &Progress) -> WireReport {
    WireReport {
        counts: Counts {
            responses: p.responses,
            bytes_read: p.bytes_read,
            ..Counts::default()
        },
        elapsed_sec: p.elapsed.as_secs_f64(),
        histogram: encode_histogram(&new_histogram()),
        ..WireReport::default()
    }
}

/// The apply-patch body: identity of the LoadTest plus only this shard, so the
/// field manager owns nothing but its own list-map entry.
pub fn apply_body(loadtest: &str, shard: &Shard) -> Value {
    json!({
        "apiVersion": LoadTest::api_version(&()),
        "kind": LoadTest::kind(&()),
        "metadata": { "name": loadtest },
        "status": { "shards": [shard] },
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
    fn body_holds_only_identity_and_this_shard() {
        let shard = build_shard(&cfg(), ShardState::Ready, Timestamp::UNIX_EPOCH);
        let body = apply_body("smoke", &shard);
        assert_eq!(keys(&body), ["apiVersion", "kind", "metadata", "status"]);
        assert_eq!(body["apiVersion"], "glasscannon.dev/v1alpha1");
        assert_eq!(body["kind"], "LoadTest");
        assert_eq!(body["metadata"], json!({"name": "smoke"}));
        assert_eq!(keys(&body["status"]), ["shards"]);
        let shards = body["status"]["shards"].as_array().unwrap();
        assert_eq!(shards.len(), 1);
        assert_eq!(shards[0]["index"], 1);
        assert_eq!(shards[0]["pod"], "smoke-1-x");
        assert_eq!(shards[0]["node"], "node-a");
        assert_eq!(shards[0]["phase"], "Ready");
        assert_eq!(shards[0]["updatedAt"], "1970-01-01T00:00:00Z");
        assert!(shards[0].get("report").is_none() && shards[0].get("message").is_none());
    }

    #[test]
    fn done_shard_carries_a_decodable_report() {
        let mut report = Report::default();
        report.counts.responses = 42;
        report.counts.bytes_read = 4200;
        report.elapsed_sec = 1.5;
        report.latency.record(250).unwrap();
        let shard = build_shard(&cfg(), ShardState::Done(&report), Timestamp::UNIX_EPOCH);
        let body = apply_body("smoke", &shard);
        let entry = &body["status"]["shards"][0];
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
        let shard = build_shard(&cfg(), ShardState::Progress(p), Timestamp::UNIX_EPOCH);
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
        let shard = build_shard(
            &cfg(),
            ShardState::Failed("io_uring refused".into()),
            Timestamp::UNIX_EPOCH,
        );
        let body = apply_body("smoke", &shard);
        let entry = &body["status"]["shards"][0];
        assert_eq!(entry["phase"], "Failed");
        assert_eq!(entry["message"], "io_uring refused");
        assert!(entry.get("report").is_none());
    }
}
