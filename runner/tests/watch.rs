//! `gcannon watch`'s reading of a LoadTest's status, without a server: the
//! live frame (phase, runners, merged counts and rate), the final report,
//! the verdicts and the outcome. The command itself runs against the API
//! server stand-in in tests/e2e/emulated (scenario 14).

use api::loadtest::LoadTest;
use k8s_openapi::jiff::Timestamp;
use runner::watch::status;

fn loadtest(status: serde_json::Value) -> LoadTest {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "glasscannon.dev/v1alpha1",
        "kind": "LoadTest",
        "metadata": {"name": "w", "namespace": "e2e"},
        "spec": {"target": "http://127.0.0.1:1/", "runners": 3, "duration": "10s", "warmup": "2s"},
        "status": status,
    }))
    .expect("a LoadTest")
}

fn shard(index: u32, phase: &str, responses: u64, secs: f64) -> serde_json::Value {
    serde_json::json!({
        "index": index, "pod": format!("w-{index}-abcde"), "phase": phase,
        "responses": responses, "elapsedSec": secs, "errors": index,
    })
}

#[test]
fn a_running_test_shows_phase_runners_and_the_sum_of_their_rates() {
    let start = "2026-01-01T00:00:00Z";
    let mut lt = loadtest(serde_json::json!({
        "phase": "Running", "startAt": start, "message": "3 runner(s) start at 00:00:00",
        "shards": [shard(0, "Running", 1000, 1.0), shard(1, "Running", 3000, 1.0)],
    }));
    let now: Timestamp = "2026-01-01T00:00:03.5Z".parse().unwrap();
    let mut previous = Vec::new();
    let f = status::frame(&lt, now, &mut previous);
    assert_eq!(
        f.phase.as_deref(),
        Some("Running · runners 2/3 ready, 2 running, 0 done")
    );
    assert_eq!(f.counts.responses, 4000);
    assert!(f.partial, "status classes are not known while running");
    assert_eq!(
        f.errors_of_unknown_kind, 1,
        "errors as reported, kind unknown"
    );
    // 3.5 s since the start, 2 s of warm-up: 1.5 s measured by the clock.
    assert_eq!(f.elapsed.as_millis(), 1500);
    assert_eq!(f.total.as_secs(), 10);
    assert_eq!(f.runners.len(), 3);
    assert_eq!(f.runners[0].name, "w-0-abcde");
    assert_eq!(f.runners[2].state, "starting");

    // Next reports: each runner's rate from its own two reports; the test's is their sum.
    lt.status.as_mut().unwrap().shards = serde_json::from_value(serde_json::json!([
        shard(0, "Running", 3000, 2.0),
        shard(1, "Done", 9000, 3.0),
        shard(2, "Running", 500, 1.0),
    ]))
    .unwrap();
    let f = status::frame(&lt, now, &mut previous);
    assert_eq!(f.runners[0].rps, 2000.0);
    assert_eq!(f.runners[1].rps, 0.0, "a finished runner sends nothing");
    assert_eq!(f.runners[1].state, "done");
    assert_eq!(f.runners[2].rps, 500.0);
    assert_eq!(f.rate, Some(2500.0));
    assert_eq!(
        f.phase.as_deref(),
        Some("Running · runners 3/3 ready, 2 running, 1 done")
    );
    assert_eq!(status::outcome(&lt), None);
}

#[test]
fn a_finished_test_gives_its_result_verdicts_and_outcome() {
    let mut h = api::report::new_histogram();
    for v in [100u64, 200, 300, 4000] {
        h.record(v).unwrap();
    }
    let hist = api::report::encode_histogram(&h);
    let lt = loadtest(serde_json::json!({
        "phase": "Succeeded", "verdict": "Failed", "message": "threshold missed",
        "summary": {
            "requests": 10, "responses": 4, "bytesRead": 400, "elapsedSec": 10.0, "rps": 0.4,
            "bandwidthBytesPerSec": 40.0,
            "latency": {"avgUs": 1.0, "p50Us": 1, "p90Us": 1, "p99Us": 1, "p999Us": 1, "maxUs": 1, "p99Text": "1us"},
            "status": {"2xx": 3, "5xx": 1, "unexpected": 1},
            "errors": {"total": 2, "timeout": 2},
            "histogram": hist,
        },
        "thresholdResults": [
            {"expr": "p99 < 1ms", "measured": "4.00ms", "passed": false},
            {"expr": "errors < 5", "measured": "2", "passed": true},
        ],
    }));
    let r = status::report(&lt).expect("a summary");
    assert_eq!(r.counts.responses, 4);
    assert_eq!(r.counts.status.s5xx, 1);
    assert_eq!(r.counts.errors.timeout, 2);
    assert_eq!(r.latency.len(), 4, "the merged histogram");
    let v = status::verdicts(&lt);
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].threshold.as_str(), v[0].passed), ("p99 < 1ms", false));
    assert_eq!(v[0].measured, "4.00ms");
    assert_eq!(status::outcome(&lt), Some(false), "verdict Failed");
    // The frame of a finished test carries the exact merged numbers.
    let f = status::frame(&lt, Timestamp::now(), &mut Vec::new());
    assert_eq!(f.counts.status.s2xx, 3);
    assert!(!f.partial);
    assert!(f.latency.is_some_and(|h| h.len() == 4));
    assert_eq!(
        f.phase.as_deref(),
        Some("Succeeded · runners 0/3 ready, 0 running, 0 done"),
        "a finished phase's message is not repeated"
    );

    let passed = loadtest(serde_json::json!({"phase": "Succeeded", "verdict": "Passed"}));
    assert_eq!(status::outcome(&passed), Some(true));
    let failed = loadtest(serde_json::json!({"phase": "Failed", "verdict": "Failed"}));
    assert_eq!(status::outcome(&failed), Some(false));
}
