//! Controller scenarios against the mock API server, one reconcile each.

mod support;

use std::sync::Arc;
use std::time::Duration;

use api::loadtest::{
    LoadTest, LoadTestStatus, Phase, RunnerResult, RunnerResultStatus, Shard, ShardPhase,
};
use api::report::Report;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use operator::controller::reconcile;
use serde_json::json;
use support::{
    already_exists, condition, context, loadtest, pod, pod_list, ApiServer, RUNNER_RBAC,
};

const JOBS: &str = "/apis/batch/v1/namespaces/perf/jobs";
const JOB: &str = "/apis/batch/v1/namespaces/perf/jobs/smoke";
const PODS: &str = "/api/v1/namespaces/perf/pods";
const RESULTS: &str = "/apis/glasscannon.dev/v1alpha1/namespaces/perf/runnerresults";

/// Run one reconcile while `script` plays the API server; both must finish.
async fn run<F, Fut>(lt: LoadTest, script: F) -> Action
where
    F: FnOnce(ApiServer, LoadTest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_with(lt, vec![], script).await
}

/// [`run`], with these runner results already seen by the operator's watch.
async fn run_with<F, Fut>(lt: LoadTest, results: Vec<RunnerResult>, script: F) -> Action
where
    F: FnOnce(ApiServer, LoadTest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (ctx, server) = context();
    for rr in &results {
        ctx.results.observe(rr);
    }
    ctx.results.set_synced();
    let server_task = tokio::spawn(script(server, lt.clone()));
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(lt), ctx))
        .await
        .expect("reconcile waited for a request the script never answered")
        .expect("reconcile failed");
    server_task.await.expect("API script assertion failed");
    action
}

fn status(phase: Phase, shards: Vec<Shard>) -> Option<LoadTestStatus> {
    Some(LoadTestStatus {
        phase: Some(phase),
        job_name: Some("smoke".into()),
        start_at: (phase == Phase::Running).then(|| Time(Timestamp::now())),
        shards,
        observed_generation: Some(1),
        ..LoadTestStatus::default()
    })
}

/// The RunnerResult of runner `index` of `perf/smoke` with this status.
fn result(index: u32, status: RunnerResultStatus) -> RunnerResult {
    let lt = loadtest("target: http://svc:8080/\n", None);
    let mut rr = operator::results::runner_result(&lt, index).unwrap();
    rr.status = Some(RunnerResultStatus {
        pod: Some(format!("smoke-{index}-x")),
        ..status
    });
    rr
}

/// Results the agents write once up and waiting for `startAt`.
fn announced(n: u32) -> Vec<RunnerResult> {
    (0..n)
        .map(|index| result(index, RunnerResultStatus::default()))
        .collect()
}

/// The compact entries the operator shows for these results.
fn compact(results: &[RunnerResult]) -> Vec<Shard> {
    let mut acc = operator::results::Accumulator::default();
    for rr in results {
        acc.observe(rr);
    }
    acc.shard_list()
}

fn done_result(index: u32, latencies_us: &[u64]) -> RunnerResult {
    let mut r = Report {
        elapsed_sec: 2.0,
        ..Report::default()
    };
    for v in latencies_us {
        r.latency.record(*v).unwrap();
    }
    r.counts.requests = latencies_us.len() as u64;
    r.counts.responses = latencies_us.len() as u64;
    r.counts.status.s2xx = latencies_us.len() as u64;
    result(
        index,
        RunnerResultStatus {
            phase: ShardPhase::Done,
            report: Some(r.to_wire()),
            ..RunnerResultStatus::default()
        },
    )
}

#[tokio::test]
async fn new_loadtest_creates_the_indexed_job() {
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 8\nseccomp: Localhost\n",
        None,
    );
    let action = run(lt, |mut s, lt| async move {
        let [sa, role, binding] = s.expect_runner_rbac().await;
        assert_eq!(sa["metadata"]["name"], "smoke-runner");
        assert_eq!(sa["metadata"]["ownerReferences"][0]["uid"], "uid-smoke");
        // The runner token reaches this LoadTest and its runners' results only.
        let rules = role["rules"].as_array().unwrap();
        assert_eq!(rules[0]["resourceNames"], json!(["smoke"]));
        assert_eq!(rules[1]["resources"], json!(["runnerresults/status"]));
        assert_eq!(rules[1]["resourceNames"], json!(["smoke-0", "smoke-1"]));
        let results = s.expect_runner_results(2).await;
        assert_eq!(results[1]["metadata"]["name"], "smoke-1");
        assert_eq!(results[1]["spec"], json!({"loadTest": "smoke", "index": 1}));
        assert_eq!(
            results[1]["metadata"]["ownerReferences"][0]["uid"],
            "uid-smoke"
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "smoke-runner", "namespace": "perf"}])
        );
        assert_eq!(binding["roleRef"]["name"], "smoke-runner");
        s.expect("GET", JOB).await.not_found();
        let create = s.expect("POST", JOBS).await;
        let job = create.body.clone();
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        assert_eq!(
            (
                job["spec"]["completions"].clone(),
                job["spec"]["parallelism"].clone()
            ),
            (json!(2), json!(2))
        );
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "uid-smoke");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "Localhost"
        );
        assert_eq!(pod["serviceAccountName"], "smoke-runner");
        assert_eq!(pod["containers"][0]["command"], json!(["gcannon", "agent"]));
        assert_eq!(
            pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
        create.respond(201, job);
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(
            (patch["phase"].clone(), patch["jobName"].clone()),
            (json!("Starting"), json!("smoke"))
        );
        s.expect_event("JobCreated").await;
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn restart_with_existing_job_adopts_it_instead_of_creating_another() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    run(lt, |mut s, lt| async move {
        s.expect_runner_rbac().await;
        s.expect_runner_results(1).await;
        let get = s.expect("GET", JOB).await;
        let existing = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "smoke", "namespace": "perf",
            "ownerReferences": [{"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "name": "smoke", "uid": "uid-smoke", "controller": true}]}});
        get.respond(200, existing);
        // The next request must be the status patch, not a POST of a second Job.
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Starting");
        s.expect_event("JobAdopted").await;
    })
    .await;
}

#[tokio::test]
async fn invalid_spec_sets_a_condition_and_creates_no_job() {
    let lt = loadtest(
        "target: http://svc:8080/\nthresholds: ['p99 <<< 5ms']\n",
        None,
    );
    let action = run(lt, |mut s, lt| async move {
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert!(
            patch["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid spec: thresholds: at "),
            "{patch}"
        );
        let failed = condition(&patch, "Failed");
        assert_eq!(
            (failed["status"].clone(), failed["reason"].clone()),
            (json!("True"), json!("InvalidSpec"))
        );
        s.expect_event("InvalidSpec").await;
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn all_pods_ready_sets_start_at_in_the_future() {
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\n",
        status(Phase::Starting, vec![]),
    );
    let before = Timestamp::now();
    run_with(lt, announced(2), move |mut s, lt| async move {
        let list = s.expect("GET", PODS).await;
        assert!(
            list.query
                .contains("labelSelector=glasscannon.dev%2Floadtest%3Dsmoke"),
            "{}",
            list.query
        );
        list.respond(200, pod_list(vec![pod(0, true, None), pod(1, true, None)]));
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Running");
        let start: Timestamp = patch["startAt"].as_str().unwrap().parse().unwrap();
        assert!(
            start > before,
            "startAt {start} must be in the future of {before}"
        );
        s.expect_event("Started").await;
    })
    .await;
}

#[tokio::test]
async fn pods_not_all_ready_keep_waiting_without_writes() {
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\n",
        status(Phase::Starting, compact(&announced(2))),
    );
    let action = run_with(lt, announced(2), |mut s, _| async move {
        s.expect("GET", PODS)
            .await
            .respond(200, pod_list(vec![pod(0, true, None), pod(1, false, None)]));
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn all_shards_done_merges_judges_reports_and_cleans_up() {
    let results = vec![
        done_result(0, &[100, 200, 300]),
        done_result(1, &[400, 500, 600]),
    ];
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\nthresholds: ['p99 < 1s', 'rps >= 1000000']\n",
        status(Phase::Running, vec![]),
    );
    run_with(lt, results, |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(200, pod_list(vec![]));
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Succeeded");
        assert_eq!(patch["summary"]["responses"], 6);
        assert_eq!(patch["summary"]["rps"], 3.0);
        assert!(!patch["summary"]["histogram"].as_str().unwrap().is_empty());
        assert_eq!(patch["shards"][1]["responses"], 3);
        assert_eq!(patch["shards"][1]["phase"], "Done");
        assert_eq!(patch["verdict"], "Failed");
        assert_eq!(patch["thresholdResults"][0]["passed"], true);
        assert_eq!(patch["thresholdResults"][1]["passed"], false);
        let cond = |t: &str| condition(&patch, t)["status"].clone();
        assert_eq!(
            (cond("Complete"), cond("ThresholdsPassed")),
            (json!("True"), json!("False"))
        );
        s.expect_event("ThresholdsFailed").await;
        let del = s.expect("DELETE", JOB).await;
        assert_eq!(del.body["propagationPolicy"], "Background");
        del.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
}

#[tokio::test]
async fn keep_policy_leaves_the_job() {
    let lt = loadtest(
        "target: http://svc:8080/\ncleanup: Keep\n",
        status(Phase::Running, vec![]),
    );
    run_with(lt, vec![done_result(0, &[100])], |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(200, pod_list(vec![]));
        assert_eq!(s.expect_status_patch(&lt).await["verdict"], "Passed");
        s.expect_event("Passed").await;
    })
    .await;
}

#[tokio::test]
async fn failed_pod_fails_the_test_naming_it_and_keeps_shards() {
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\n",
        status(Phase::Running, vec![]),
    );
    run_with(lt, vec![done_result(0, &[100])], |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(
            200,
            pod_list(vec![pod(0, false, None), pod(1, false, Some("Evicted"))]),
        );
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert_eq!(patch["message"], "runner pod smoke-1-x failed: Evicted");
        assert_eq!(
            patch["shards"],
            json!([{"index": 0, "pod": "smoke-0-x", "phase": "Done", "requests": 1, "responses": 1, "errors": 0, "elapsedSec": 2.0}]),
            "the finished runner's entry is kept"
        );
        s.expect_event("RunnerFailed").await;
        s.expect("DELETE", JOB).await.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
}

#[tokio::test]
async fn a_write_refused_as_too_large_fails_the_test_instead_of_retrying_forever() {
    let lt = loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\n",
        status(Phase::Running, vec![]),
    );
    let too_large = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "message": "etcdserver: request is too large", "code": 500});
    let action = run_with(lt, vec![done_result(0, &[100])], move |mut s, lt| async move {
        s.expect("GET", PODS)
            .await
            .respond(200, pod_list(vec![pod(0, true, None), pod(1, true, None)]));
        // The runners' entries, refused; then the failure with them, refused; then without.
        let path = "/apis/glasscannon.dev/v1alpha1/namespaces/perf/loadtests/smoke/status";
        let progress = s.expect("PATCH", path).await;
        assert!(progress.body["status"]["shards"].is_array());
        progress.respond(500, too_large.clone());
        let with = s.expect("PATCH", path).await;
        assert_eq!(with.body["status"]["phase"], "Failed");
        assert!(with.body["status"]["shards"].is_array());
        with.respond(500, too_large);
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert!(patch.get("shards").is_none(), "{patch}");
        assert_eq!(
            patch["message"],
            "the API server refused a write of this test as too large (etcdserver: request is too large); \
             each runner's result stays in its RunnerResult"
        );
        assert_eq!(condition(&patch, "Failed")["reason"], "ObjectTooLarge");
        s.expect_event("ObjectTooLarge").await;
        s.expect("DELETE", JOB).await.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn spec_change_after_finish_is_reported_not_rerun() {
    let mut lt = loadtest(
        "target: http://svc:8080/\n",
        status(Phase::Succeeded, vec![]),
    );
    lt.metadata.generation = Some(2);
    run(lt, |mut s, lt| async move {
        let patch = s.expect_status_patch(&lt).await;
        assert!(
            patch["message"]
                .as_str()
                .unwrap()
                .contains("kubectl delete loadtest smoke"),
            "{patch}"
        );
        assert!(
            patch.get("phase").is_none(),
            "a finished test keeps its phase"
        );
        s.expect_event("SpecChangedAfterFinish").await;
    })
    .await;
}

#[tokio::test]
async fn restart_after_start_at_was_set_resumes_watching_and_creates_nothing() {
    let mut st = status(Phase::Starting, compact(&announced(1)));
    st.as_mut().unwrap().start_at = Some(Time(Timestamp::now()));
    let lt = loadtest("target: http://svc:8080/\n", st);
    let action = run_with(lt, announced(1), |mut s, _| async move {
        // Straight to watching the runners: no Job lookup, no Job creation, no new startAt.
        s.expect("GET", PODS)
            .await
            .respond(200, pod_list(vec![pod(0, true, None)]));
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn spec_change_during_the_run_is_reported_after_it_finishes() {
    // The runners started with generation 1; the user edited the spec (generation 2) mid-run.
    let mut lt = loadtest("target: http://svc:8080/\n", status(Phase::Running, vec![]));
    lt.metadata.generation = Some(2);
    run_with(lt, vec![done_result(0, &[100])], |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(200, pod_list(vec![]));
        assert_eq!(s.expect_status_patch(&lt).await["observedGeneration"], 1);
        s.expect_event("Passed").await;
        s.expect("DELETE", JOB).await.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
}

#[tokio::test]
async fn job_created_concurrently_is_not_an_error_and_is_not_created_twice() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    let action = run(lt, |mut s, _| async move {
        s.expect_runner_rbac().await;
        s.expect_runner_results(1).await;
        s.expect("GET", JOB).await.not_found();
        s.expect("POST", JOBS).await.respond(
            409,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"}),
        );
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

/// An owner reference to `perf/smoke` with the given uid.
fn owned(name: &str, uid: &str) -> serde_json::Value {
    json!({"metadata": {"name": name, "namespace": "perf", "ownerReferences": [
        {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "name": "smoke", "uid": uid, "controller": true}]}})
}

#[tokio::test]
async fn runner_rbac_left_by_an_earlier_pass_is_kept() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    run(lt, |mut s, lt| async move {
        // An earlier reconcile created them, then failed before the Job.
        for path in RUNNER_RBAC {
            s.expect("POST", path).await.respond(409, already_exists());
            s.expect("GET", &format!("{path}/smoke-runner"))
                .await
                .respond(200, owned("smoke-runner", "uid-smoke"));
        }
        s.expect("POST", RESULTS)
            .await
            .respond(409, already_exists());
        let mut mine = owned("smoke-0", "uid-smoke");
        mine["spec"] = json!({"loadTest": "smoke", "index": 0});
        s.expect("GET", &format!("{RESULTS}/smoke-0"))
            .await
            .respond(200, mine);
        s.expect("GET", JOB).await.not_found();
        let create = s.expect("POST", JOBS).await;
        let job = create.body.clone();
        create.respond(201, job);
        assert_eq!(s.expect_status_patch(&lt).await["phase"], "Starting");
        s.expect_event("JobCreated").await;
    })
    .await;
}

#[tokio::test]
async fn a_service_account_of_someone_else_fails_the_test_and_creates_no_job() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    let action = run(lt, |mut s, lt| async move {
        s.expect("POST", RUNNER_RBAC[0])
            .await
            .respond(409, already_exists());
        // Same name, but a previous LoadTest's (another uid): never borrowed.
        s.expect("GET", &format!("{}/smoke-runner", RUNNER_RBAC[0]))
            .await
            .respond(200, owned("smoke-runner", "uid-of-another"));
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert_eq!(
            patch["message"],
            "ServiceAccount smoke-runner already exists and is not owned by this LoadTest; delete it or rename the LoadTest"
        );
        let failed = condition(&patch, "Failed");
        assert_eq!(failed["reason"], "RunnerRBACFailed");
        s.expect_event("RunnerRBACFailed").await;
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_role_the_operator_may_not_grant_fails_with_the_api_message() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    run(lt, |mut s, lt| async move {
        s.expect("POST", RUNNER_RBAC[0]).await.respond(201, json!({}));
        s.expect("POST", RUNNER_RBAC[1]).await.respond(
            403,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                "message": "roles.rbac.authorization.k8s.io \"smoke-runner\" is forbidden: user is attempting to grant RBAC permissions not currently held"}),
        );
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        let msg = patch["message"].as_str().unwrap();
        assert!(
            msg.starts_with("cannot create the runners' Role smoke-runner: ")
                && msg.contains("not currently held"),
            "{msg}"
        );
        s.expect_event("RunnerRBACFailed").await;
    })
    .await;
}

const EVENTS: &str = "/api/v1/namespaces/perf/events";

/// A Starting LoadTest whose `RunnersReady` wait began `ago` seconds ago, with
/// that condition's reason.
fn starting_since(ago: i64, reason: &str) -> LoadTest {
    let mut st = status(Phase::Starting, vec![]).unwrap();
    let since = Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(ago))
        .unwrap();
    st.conditions = vec![serde_json::from_value(json!({
        "type": "RunnersReady", "status": "False", "reason": reason,
        "message": "waiting for 2 runner pod(s) to be ready",
        "lastTransitionTime": Time(since), "observedGeneration": 1
    }))
    .unwrap()];
    loadtest(
        "target: http://svc:8080/\nrunners: 2\nconnections: 2\n",
        Some(st),
    )
}

/// A pending runner pod the scheduler cannot place.
fn unschedulable_pod(index: u32) -> serde_json::Value {
    json!({
        "metadata": {"name": format!("smoke-{index}-x"), "namespace": "perf",
            "labels": {"glasscannon.dev/loadtest": "smoke"}},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available"}]}
    })
}

/// A runner pod whose container waits with this reason.
fn waiting_pod(index: u32, reason: &str, message: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": format!("smoke-{index}-x"), "namespace": "perf",
            "labels": {"glasscannon.dev/loadtest": "smoke"}},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "runner", "ready": false,
            "restartCount": 0, "image": "gc:x", "imageID": "",
            "state": {"waiting": {"reason": reason, "message": message}}}]}
    })
}

fn runners_ready(patch: &serde_json::Value) -> serde_json::Value {
    patch["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "RunnersReady")
        .expect("RunnersReady condition")
        .clone()
}

#[tokio::test]
async fn the_job_created_starts_the_wait_for_runners() {
    let lt = loadtest("target: http://svc:8080/\n", None);
    run(lt, |mut s, lt| async move {
        s.expect_runner_rbac().await;
        s.expect_runner_results(1).await;
        s.expect("GET", JOB).await.not_found();
        let create = s.expect("POST", JOBS).await;
        let job = create.body.clone();
        create.respond(201, job);
        let patch = s.expect_status_patch(&lt).await;
        let cond = runners_ready(&patch);
        assert_eq!(
            (cond["status"].clone(), cond["reason"].clone()),
            (json!("False"), json!("Starting"))
        );
        s.expect_event("JobCreated").await;
    })
    .await;
}

#[tokio::test]
async fn an_unschedulable_pod_is_reported_with_the_schedulers_words() {
    let lt = starting_since(30, "Starting");
    let action = run(lt, |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(
            200,
            pod_list(vec![unschedulable_pod(0), unschedulable_pod(1)]),
        );
        let patch = s.expect_status_patch(&lt).await;
        assert!(patch.get("phase").is_none(), "still Starting: {patch}");
        let cond = runners_ready(&patch);
        assert_eq!(cond["reason"], "Unschedulable");
        let msg = cond["message"].as_str().unwrap();
        assert!(
            msg.starts_with(
                "pod smoke-0-x: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."
            ),
            "{msg}"
        );
        assert!(msg.contains("0 of 2 runner pod(s) ready"), "{msg}");
        assert_eq!(patch["message"], cond["message"]);
        // The wait's start does not move when the reason changes.
        let t: Timestamp = cond["lastTransitionTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(Timestamp::now().duration_since(t).as_secs() >= 29);
        let ev = s.expect_event("Unschedulable").await;
        assert_eq!(ev["type"], "Warning");
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn missing_pods_report_the_jobs_failed_create_event() {
    let lt = starting_since(10, "Starting");
    run(lt, |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(200, pod_list(vec![]));
        let list = s.expect("GET", EVENTS).await;
        assert!(
            list.query.contains("involvedObject.name%3Dsmoke"),
            "{}",
            list.query
        );
        list.respond(200, json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": [
            {"metadata": {"name": "smoke.1", "namespace": "perf"}, "reason": "FailedCreate", "type": "Warning",
             "involvedObject": {"kind": "Job", "name": "smoke", "namespace": "perf"},
             "lastTimestamp": Time(Timestamp::now()),
             "message": "Error creating: pods \"smoke-0-\" is forbidden: exceeded quota: compute, requested: cpu=4, used: cpu=0, limited: cpu=2"}
        ]}));
        let patch = s.expect_status_patch(&lt).await;
        let cond = runners_ready(&patch);
        assert_eq!(cond["reason"], "FailedCreate");
        assert!(
            cond["message"]
                .as_str()
                .unwrap()
                .starts_with("Job smoke: Error creating: pods \"smoke-0-\" is forbidden: exceeded quota"),
            "{cond}"
        );
        s.expect_event("FailedCreate").await;
    })
    .await;
}

#[tokio::test]
async fn a_reason_already_reported_is_not_written_again() {
    let lt = starting_since(10, "Starting");
    // First pass: the reason is new and written.
    let pods = vec![
        waiting_pod(0, "ImagePullBackOff", "Back-off pulling image \"gc:x\""),
        pod(1, true, None),
    ];
    let first = pods.clone();
    let answer = lt.clone();
    let (ctx, mut server) = context();
    ctx.results.set_synced();
    let task = tokio::spawn(async move {
        server
            .expect("GET", PODS)
            .await
            .respond(200, pod_list(first));
        let seen = server
            .expect(
                "PATCH",
                "/apis/glasscannon.dev/v1alpha1/namespaces/perf/loadtests/smoke/status",
            )
            .await;
        let patch = seen.body["status"].clone();
        seen.respond(200, serde_json::to_value(&answer).unwrap());
        server.expect_event("ImagePullBackOff").await;
        patch
    });
    reconcile(Arc::new(lt.clone()), ctx).await.unwrap();
    let patch = task.await.unwrap();
    // Second pass sees its own status: one list, no write, no event.
    let mut lt2 = lt;
    let st = lt2.status.as_mut().unwrap();
    st.conditions = serde_json::from_value(patch["conditions"].clone()).unwrap();
    let action = run(lt2, |mut s, _| async move {
        s.expect("GET", PODS).await.respond(200, pod_list(pods));
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn past_the_deadline_the_test_fails_with_the_reason_seen() {
    // The default deadline is 5 minutes; this wait began 6 minutes ago.
    let lt = starting_since(360, "ImagePullBackOff");
    let action = run(lt, |mut s, lt| async move {
        s.expect("GET", PODS).await.respond(
            200,
            pod_list(vec![
                waiting_pod(
                    0,
                    "ErrImagePull",
                    "pull access denied for gc, repository does not exist",
                ),
                pod(1, true, None),
            ]),
        );
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert_eq!(patch["verdict"], "Failed");
        let msg = patch["message"].as_str().unwrap();
        assert!(
            msg.starts_with(
                "runners not running within 5m: pod smoke-0-x: ErrImagePull: pull access denied"
            ),
            "{msg}"
        );
        assert!(msg.ends_with("1 of 2 runner pod(s) ready"), "{msg}");
        let conds = patch["conditions"].as_array().unwrap();
        let failed = conds.iter().find(|c| c["type"] == "Failed").unwrap();
        assert_eq!(failed["reason"], "ErrImagePull");
        assert_eq!(runners_ready(&patch)["reason"], "ErrImagePull");
        s.expect_event("ErrImagePull").await;
        // The Job goes, like any failed test's.
        s.expect("DELETE", JOB).await.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn past_the_deadline_with_nothing_reported_fails_as_start_timeout() {
    let lt = starting_since(301, "Starting");
    run(lt, |mut s, lt| async move {
        // Both pods exist and run, but never become ready.
        s.expect("GET", PODS)
            .await
            .respond(200, pod_list(vec![pod(0, false, None), pod(1, true, None)]));
        let patch = s.expect_status_patch(&lt).await;
        assert_eq!(patch["phase"], "Failed");
        assert_eq!(
            patch["message"],
            "runners not running within 5m: 1 of 2 runner pod(s) ready"
        );
        s.expect_event("StartTimeout").await;
        s.expect("DELETE", JOB).await.respond(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    })
    .await;
}
