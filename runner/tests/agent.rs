//! `gcannon agent` against the kube-rs mock API (tower-test): the apply
//! request's shape, the wait for `startAt`, retries, failures reported as a
//! `Failed` shard, and a full run against a real `gcannon serve` on loopback.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use api::loadtest::{RunnerResultStatus as Shard, ShardPhase};
use api::report::{Report, WireReport};
use http::{Request, Response};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::Client;
use runner::agent::{run, Agent, AgentConfig, AgentError, ShardState, Timing};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tower_test::mock::Handle;

type ApiHandle = Handle<Request<Body>, Response<Body>>;

const LT_PATH: &str = "/apis/glasscannon.dev/v1alpha1/namespaces/perf/loadtests/smoke";

/// One request the agent sent.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Option<Value>,
}

fn cfg(index: u32) -> AgentConfig {
    AgentConfig {
        loadtest: "smoke".into(),
        namespace: "perf".into(),
        pod: format!("smoke-{index}-abcde"),
        node: Some("node-a".into()),
        index,
        start_timeout: Duration::from_secs(10),
        metrics_listen: None,
        metrics_linger: Duration::ZERO,
    }
}

fn fast() -> Timing {
    Timing {
        poll: Duration::from_millis(10),
        progress_every: Duration::from_millis(100),
        retry_base: Duration::from_millis(1),
        attempts: 3,
    }
}

fn mock() -> (Client, ApiHandle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(svc, "perf"), handle)
}

fn loadtest(spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest",
        "metadata": {"name": "smoke", "namespace": "perf", "uid": "u-1"},
        "spec": spec, "status": status,
    })
}

fn status_error(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("mock {code}"), "reason": "Mock", "code": code})
}

fn respond(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn read(req: Request<Body>) -> Seen {
    let (parts, body) = req.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        content_type: parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string()),
        body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap()),
    }
}

/// Serve every request with `answer` until the client is dropped; return what was seen.
fn serve_api(
    mut handle: ApiHandle,
    mut answer: impl FnMut(&Seen, usize) -> (u16, Value) + Send + 'static,
) -> JoinHandle<Vec<Seen>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        // Bounded: no test makes anywhere near this many calls.
        for n in 0..10_000 {
            let Some((req, send)) = handle.next_request().await else {
                break;
            };
            let s = read(req).await;
            let (code, mut body) = answer(&s, n);
            if code == 200 && s.path.contains("/runnerresults/") {
                // What the server answers an apply with: the whole RunnerResult.
                body = json!({"apiVersion": "glasscannon.dev/v1alpha1", "kind": "RunnerResult",
                    "metadata": {"name": s.path.rsplit('/').nth(1), "namespace": "perf"},
                    "spec": {"loadTest": "smoke", "index": 1},
                    "status": s.body.as_ref().map(|b| b["status"].clone())});
            }
            send.send_response(respond(code, &body));
            seen.push(s);
        }
        seen
    })
}

fn shard_of(seen: &Seen) -> Shard {
    let body = seen.body.as_ref().expect("apply has a body");
    serde_json::from_value(body["status"].clone()).unwrap()
}

/// The built-in server on an ephemeral loopback port: the load test's target.
fn target() -> runner::serve::ServerHandle {
    runner::serve::start(&runner::serve::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
    })
    .unwrap()
}

/// A mock API whose LoadTest (a `duration` run against `server`) already has
/// `startAt`, so the agent starts at once.
fn started(
    server: &runner::serve::ServerHandle,
    duration: &str,
) -> (Client, JoinHandle<Vec<Seen>>) {
    let mut spec = tiny_spec(&format!("http://{}/", server.local_addr()));
    spec["duration"] = json!(duration);
    let (client, handle) = mock();
    let api = serve_api(handle, move |_, _| {
        (
            200,
            loadtest(
                spec.clone(),
                json!({"startAt": Timestamp::now().to_string()}),
            ),
        )
    });
    (client, api)
}

/// The shards the agent applied, in order.
async fn applied(api: JoinHandle<Vec<Seen>>) -> Vec<Shard> {
    api.await
        .unwrap()
        .iter()
        .filter(|s| s.method == "PATCH")
        .map(shard_of)
        .collect()
}

fn tiny_spec(target: &str) -> Value {
    json!({"target": target, "connections": 2, "threads": 1, "duration": "300ms",
           "warmup": "0s", "runners": 2})
}

#[tokio::test]
async fn apply_is_a_forced_server_side_apply_of_only_this_runners_result() {
    let (client, handle) = mock();
    let api = serve_api(handle, |_, _| (200, loadtest(json!({}), json!({}))));
    let agent = Agent::new(client, cfg(1), fast());
    let mut report = Report::default();
    report.counts.responses = 77;
    report.elapsed_sec = 0.3;
    report.latency.record(120).unwrap();
    let shard =
        runner::agent::build_status(agent.config(), ShardState::Done(&report), Timestamp::now());
    agent.apply(&shard).await.unwrap();
    drop(agent);
    let seen = api.await.unwrap();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "PATCH");
    assert_eq!(
        s.path,
        "/apis/glasscannon.dev/v1alpha1/namespaces/perf/runnerresults/smoke-1/status"
    );
    assert!(
        s.query
            .contains(&("fieldManager".into(), "glass-cannon-runner-1".into())),
        "{:?}",
        s.query
    );
    assert!(
        s.query.contains(&("force".into(), "true".into())),
        "{:?}",
        s.query
    );
    assert_eq!(
        s.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let body = s.body.as_ref().unwrap();
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "status"]);
    assert_eq!(body["metadata"], json!({"name": "smoke-1"}));
    assert_eq!(body["kind"], "RunnerResult");
    let shard = shard_of(s);
    assert_eq!(shard.phase, ShardPhase::Done);
    assert_eq!(shard.pod.as_deref(), Some("smoke-1-abcde"));
    assert_eq!(shard.node.as_deref(), Some("node-a"));
    let back = Report::from_wire(&shard.report.unwrap()).unwrap();
    assert_eq!(back.counts.responses, 77);
    assert_eq!(back.latency.len(), 1);
}

#[tokio::test]
async fn waits_until_start_at_appears() {
    let (client, handle) = mock();
    let api = serve_api(handle, |_, n| {
        let status = if n < 2 {
            json!({"phase": "Starting"})
        } else {
            json!({"phase": "Running", "startAt": "2030-01-02T03:04:05Z"})
        };
        (200, loadtest(json!({}), status))
    });
    let agent = Agent::new(client, cfg(0), fast());
    let at = agent.wait_for_start().await.unwrap();
    assert_eq!(at.to_string(), "2030-01-02T03:04:05Z");
    drop(agent);
    let seen = api.await.unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.method == "GET" && s.path == LT_PATH));
}

#[tokio::test]
async fn wait_gives_up_on_failure_deletion_and_timeout() {
    let (client, handle) = mock();
    let api = serve_api(handle, |_, _| {
        (
            200,
            loadtest(json!({}), json!({"phase": "Failed", "message": "bad spec"})),
        )
    });
    let err = Agent::new(client, cfg(0), fast())
        .wait_for_start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::TestFailed(m) if m == "bad spec"),
        "{err}"
    );
    api.await.unwrap();

    let (client, handle) = mock();
    let api = serve_api(handle, |_, _| (404, status_error(404)));
    let err = Agent::new(client, cfg(0), fast())
        .wait_for_start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::Deleted(n) if n == "smoke"),
        "{err}"
    );
    assert_eq!(api.await.unwrap().len(), 1, "404 is not retried");

    let (client, handle) = mock();
    let api = serve_api(handle, |_, _| {
        (200, loadtest(json!({}), json!({"phase": "Starting"})))
    });
    let mut c = cfg(0);
    c.start_timeout = Duration::from_millis(100);
    let err = Agent::new(client, c, fast())
        .wait_for_start()
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::StartTimeout(_)), "{err}");
    assert!(err.to_string().contains("startAt"));
    api.await.unwrap();
}

#[tokio::test]
async fn transient_errors_are_retried_a_few_times() {
    let (client, handle) = mock();
    let api = serve_api(handle, |_, n| {
        if n < 2 {
            (503, status_error(503))
        } else {
            (200, loadtest(json!({}), json!({})))
        }
    });
    let agent = Agent::new(client, cfg(0), fast());
    agent.get_loadtest().await.unwrap();
    drop(agent);
    assert_eq!(api.await.unwrap().len(), 3);

    let (client, handle) = mock();
    let api = serve_api(handle, |_, _| (500, status_error(500)));
    let err = Agent::new(client, cfg(0), fast())
        .get_loadtest()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reading LoadTest smoke"), "{err}");
    assert_eq!(api.await.unwrap().len(), 3, "gives up after `attempts`");
}

#[tokio::test]
async fn a_shard_too_large_for_etcd_is_not_retried() {
    let (client, handle) = mock();
    // kube-apiserver's answer when etcd refuses the object (kubernetes/kubernetes#112152).
    let too_large = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "etcdserver: request is too large", "code": 500});
    let api = serve_api(handle, move |_, _| (500, too_large.clone()));
    let shard = Shard::default();
    let err = Agent::new(client, cfg(0), fast())
        .apply(&shard)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("request is too large"), "{err}");
    assert_eq!(
        api.await.unwrap().len(),
        1,
        "a permanent rejection is not retried"
    );
}

#[tokio::test]
async fn missing_configmap_is_applied_as_a_failed_shard() {
    let (client, handle) = mock();
    let spec = json!({"target": "http://127.0.0.1:9/", "connections": 2, "runners": 2,
                      "templates": [{"configMapRef": {"name": "reqs", "key": "get"}}]});
    let api = serve_api(handle, move |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", p) if p.ends_with("/configmaps/reqs") => (404, status_error(404)),
            _ => (200, loadtest(spec.clone(), json!({}))),
        }
    });
    let err = run(client, cfg(1), fast(), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Plan(_)), "{err}");
    let seen = api.await.unwrap();
    let applies: Vec<_> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert_eq!(applies.len(), 1, "no Ready shard for an unrunnable plan");
    let shard = shard_of(applies[0]);
    assert_eq!(shard.phase, ShardPhase::Failed);
    let msg = shard.message.unwrap();
    assert!(
        msg.contains("ConfigMap reqs not found in namespace perf"),
        "{msg}"
    );
}

#[tokio::test]
async fn full_run_against_serve_applies_ready_then_done() {
    let server = target();
    let target = format!("http://{}/", server.local_addr());
    let mut spec = tiny_spec(&target);
    spec["templates"] = json!([{"configMapRef": {"name": "reqs", "key": "get"}}]);
    let (client, handle) = mock();
    let api = serve_api(handle, move |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", p) if p.ends_with("/configmaps/reqs") => (
                200,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "reqs"},
                   "data": {"get": "GET /json HTTP/1.1\n\n"}}),
            ),
            _ => (
                200,
                loadtest(
                    spec.clone(),
                    json!({"phase": "Running", "startAt": Timestamp::now().to_string()}),
                ),
            ),
        }
    });
    let code = run(client, cfg(1), fast(), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap();
    assert_eq!(code, 0);
    let seen = api.await.unwrap();
    assert!(
        seen.iter().any(|s| s.path.ends_with("/configmaps/reqs")),
        "template read from the ConfigMap"
    );
    let applies: Vec<_> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert!(applies.len() >= 2, "{applies:?}");
    assert!(applies.iter().all(|s| s
        .query
        .contains(&("fieldManager".into(), "glass-cannon-runner-1".into()))));
    let first = shard_of(applies[0]);
    assert_eq!(first.phase, ShardPhase::Ready);
    assert!(first.report.is_none());
    let last = shard_of(applies[applies.len() - 1]);
    assert_eq!(last.phase, ShardPhase::Done);
    assert!(applies
        .iter()
        .all(|s| s.path.ends_with("/runnerresults/smoke-1/status")));
    let wire: WireReport = last.report.unwrap();
    let report = Report::from_wire(&wire).unwrap();
    assert!(report.counts.responses > 0, "{:?}", report.counts);
    let timeline = last.timeline.expect("a timeline");
    assert_eq!(timeline.total_responses(), report.counts.responses);
    assert_eq!(report.counts.responses, report.latency.len());
    assert!(server.requests() >= report.counts.responses);
    server.shutdown();
}

#[tokio::test]
async fn progress_is_applied_while_the_engine_runs() {
    let server = target();
    // The engine reports progress once a second, so run a little longer than that.
    let (client, api) = started(&server, "1300ms");
    assert_eq!(
        run(client, cfg(0), fast(), Arc::new(AtomicBool::new(false)))
            .await
            .unwrap(),
        0
    );
    let shards = applied(api).await;
    let progress: Vec<&Shard> = shards
        .iter()
        .filter(|s| s.phase == ShardPhase::Running && s.report.is_some())
        .collect();
    assert!(!progress.is_empty(), "{shards:?}");
    let interim = Report::from_wire(progress[0].report.as_ref().unwrap()).unwrap();
    assert!(interim.counts.responses > 0);
    let last = shards.last().unwrap();
    assert_eq!(last.phase, ShardPhase::Done);
    assert!(last.report.as_ref().unwrap().counts.responses >= interim.counts.responses);
    server.shutdown();
}

#[tokio::test]
async fn sigterm_mid_run_reports_a_failed_shard_and_ends_early() {
    let server = target();
    let (client, api) = started(&server, "60s");
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // What the SIGTERM handler does when the pod is deleted mid-run.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let err = run(client, cfg(0), fast(), interrupt).await.unwrap_err();
    assert!(err.to_string().contains("SIGTERM"), "{err}");
    let shards = applied(api).await;
    let last = shards.last().expect("a final apply");
    assert_eq!(last.phase, ShardPhase::Failed, "{shards:?}");
    assert!(
        last.message.as_deref().unwrap_or("").contains("SIGTERM"),
        "{last:?}"
    );
    // What was measured before the signal stays in the shard for the operator.
    let partial = Report::from_wire(last.report.as_ref().expect("partial report")).unwrap();
    assert!(partial.counts.responses > 0, "{:?}", partial.counts);
    server.shutdown();
}

#[tokio::test]
async fn sigterm_while_waiting_for_start_at_stops_at_once() {
    let server = target();
    let spec = tiny_spec(&format!("http://{}/", server.local_addr()));
    let (client, handle) = mock();
    // The operator never sets startAt (another runner is not ready yet).
    let api = serve_api(handle, move |_, _| {
        (200, loadtest(spec.clone(), json!({"phase": "Starting"})))
    });
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut c = cfg(0);
    c.start_timeout = Duration::from_secs(3600);
    // Only a hang guard: without the fix the agent would wait out the hour.
    let err = tokio::time::timeout(Duration::from_secs(120), run(client, c, fast(), interrupt))
        .await
        .expect("the agent stopped on SIGTERM instead of waiting for startAt")
        .unwrap_err();
    assert!(matches!(err, AgentError::InterruptedBeforeStart), "{err}");
    let shards = applied(api).await;
    let last = shards.last().expect("a final apply");
    assert_eq!(last.phase, ShardPhase::Failed, "{shards:?}");
    let msg = last.message.as_deref().unwrap_or("");
    assert!(msg.contains("SIGTERM") && msg.contains("startAt"), "{msg}");
    assert!(last.report.is_none());
    assert_eq!(server.requests(), 0, "no load is sent");
    server.shutdown();
}

/// kube-apiserver's answer when etcd refuses an object (kubernetes/kubernetes#112152).
fn etcd_too_large() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": "etcdserver: request is too large", "code": 500})
}

/// A Done result with a per-second timeline of `seconds` points.
fn done_with_timeline(seconds: u64) -> Shard {
    let mut report = Report::default();
    report.timeline = (0..seconds)
        .map(|i| api::report::Second {
            responses: 10 + i,
            p99_us: 500,
        })
        .collect();
    report.counts.responses = report.timeline.iter().map(|s| s.responses).sum();
    runner::agent::build_status(&cfg(0), ShardState::Done(&report), Timestamp::now())
}

#[tokio::test]
async fn a_result_the_server_refuses_as_too_large_is_reduced_not_lost() {
    let (client, handle) = mock();
    // A server stricter than our own bound: it stores no timeline longer than 3 points.
    let api = serve_api(handle, |s, _| {
        let points = s.body.as_ref().unwrap()["status"]["timeline"]["responses"]
            .as_array()
            .map_or(0, Vec::len);
        if points > 3 {
            (500, etcd_too_large())
        } else {
            (200, json!({}))
        }
    });
    let full = done_with_timeline(20);
    let stored = Agent::new(client, cfg(0), fast())
        .apply_reducing(full.clone())
        .await
        .unwrap();
    let seen = applied(api).await;
    let steps: Vec<u32> = seen
        .iter()
        .map(|s| s.timeline.as_ref().unwrap().step_sec)
        .collect();
    assert_eq!(
        steps,
        [1, 2, 4, 8],
        "one doubling per refusal, not retried as is"
    );
    let last = seen.last().unwrap();
    assert_eq!(
        (&stored.timeline, &stored.reduced),
        (&last.timeline, &last.reduced),
        "the stored result is returned"
    );
    let t = stored.timeline.as_ref().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(
        t.total_responses(),
        full.timeline.as_ref().unwrap().total_responses(),
        "every response is still counted"
    );
    assert_eq!(
        stored.report, full.report,
        "counts and histograms are untouched"
    );
    assert_eq!(
        stored.reduced.as_deref(),
        Some("timeline coarsened to 8 s steps: the API server refused it at 4 s steps as too large (etcdserver: request is too large)")
    );
}

#[tokio::test]
async fn a_result_too_large_even_at_one_point_fails_the_runner_saying_so() {
    let server = target();
    let spec = tiny_spec(&format!("http://{}/", server.local_addr()));
    let (client, handle) = mock();
    // Every Done result is refused, however small its timeline; the failure report is stored.
    let api = serve_api(handle, move |s, _| match s.method.as_str() {
        "PATCH" if s.body.as_ref().unwrap()["status"]["phase"] == "Done" => (500, etcd_too_large()),
        "PATCH" => (200, json!({})),
        _ => (
            200,
            loadtest(
                spec.clone(),
                json!({"startAt": Timestamp::now().to_string()}),
            ),
        ),
    });
    let err = run(client, cfg(0), fast(), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::TooLarge { .. }), "{err}");
    let shards = applied(api).await;
    let dones: Vec<&Shard> = shards
        .iter()
        .filter(|s| s.phase == ShardPhase::Done)
        .collect();
    assert!(!dones.is_empty());
    assert!(
        dones
            .last()
            .unwrap()
            .timeline
            .as_ref()
            .map_or(0, |t| t.len())
            <= 1,
        "reduced to one point before giving up"
    );
    let last = shards.last().unwrap();
    assert_eq!(last.phase, ShardPhase::Failed);
    assert_eq!(
        last.message.as_deref(),
        Some("the API server refused RunnerResult smoke-0 as too large even with its timeline reduced to one point (etcdserver: request is too large); its counts and histograms alone are more than it stores")
    );
    server.shutdown();
}
