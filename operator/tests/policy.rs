//! The admin policy against the mock API server: a LoadTest breaking a rule is
//! Failed with a `Rejected` condition naming the rule, one Warning event, and
//! no runner ServiceAccount, Role, Job or pod; one within the policy goes on.

mod support;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use operator::config::Config;
use operator::controller::reconcile;
use operator::policy::Policy;
use serde_json::{json, Value};
use support::{condition, context_with, loadtest, ApiServer};

/// One reconcile of `perf/smoke` with `spec` under `policy`, the API scripted by `script`.
async fn reconcile_under<F, Fut>(policy: Policy, spec: &str, script: F) -> Action
where
    F: FnOnce(ApiServer, api::loadtest::LoadTest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let lt = loadtest(spec, None);
    let (ctx, server) = context_with(Config {
        policy,
        ..Config::default()
    });
    let task = tokio::spawn(script(server, lt.clone()));
    // A request the script does not answer (a Job, a ServiceAccount) times this out.
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(lt), ctx))
        .await
        .expect("the operator made a request after the rejection")
        .expect("reconcile failed");
    task.await.expect("API script assertion failed");
    action
}

/// Expect exactly the rejection: status patch, then the Warning event; returns the patch.
async fn expect_rejection(mut s: ApiServer, lt: api::loadtest::LoadTest) -> Value {
    let patch = s.expect_status_patch(&lt).await;
    let event = s.expect_event("Rejected").await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["note"], patch["message"]);
    patch
}

#[tokio::test]
async fn each_rule_rejects_with_its_reason_and_no_job() {
    let cases = [
        (
            "privileged: true\n",
            "PrivilegedForbidden",
            "policy.allowPrivileged: ",
        ),
        (
            "seccomp: Unconfined\n",
            "SeccompNotAllowed",
            "policy.seccomp: ",
        ),
        (
            "runner: {image: 'evil/x:1'}\n",
            "ImageNotAllowed",
            "policy.images: ",
        ),
        (
            "runner: {env: [{name: T, valueFrom: {secretKeyRef: {name: s, key: k}}}]}\n",
            "SecretEnvForbidden",
            "policy.allowSecretEnv: ",
        ),
        (
            "runner: {tolerations: [{operator: Exists}]}\n",
            "TolerationNotAllowed",
            "policy.tolerationKeys: ",
        ),
        (
            "runner: {podAnnotations: {a: b}}\n",
            "PodAnnotationNotAllowed",
            "policy.podAnnotationKeys: ",
        ),
        (
            "runners: 101\nconnections: 101\n",
            "TooManyRunners",
            "policy.max.runners: ",
        ),
        (
            "connections: 1000001\nthreads: 62\n",
            "TooManyConnections",
            "policy.max.connections: ",
        ),
        ("rate: 10000001\n", "RateTooHigh", "policy.max.rate: "),
        ("duration: 2h\n", "DurationTooLong", "policy.max.duration: "),
    ];
    for (extra, reason, rule) in cases {
        let spec = format!("target: http://svc:8080/\n{extra}");
        let action = reconcile_under(Policy::default(), &spec, move |s, lt| async move {
            let patch = expect_rejection(s, lt).await;
            assert_eq!(patch["phase"], "Failed");
            let msg = patch["message"].as_str().unwrap();
            assert!(
                msg.starts_with(&format!("rejected by the admin policy: {rule}")),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "{msg}");
            let rejected = condition(&patch, "Rejected");
            assert_eq!(
                (rejected["status"].clone(), rejected["reason"].clone()),
                (json!("True"), json!(reason))
            );
            assert_eq!(rejected["message"], patch["message"]);
            let failed = condition(&patch, "Failed");
            assert_eq!(
                (failed["status"].clone(), failed["reason"].clone()),
                (json!("True"), json!("Rejected"))
            );
            assert_eq!(condition(&patch, "Complete")["status"], "False");
        })
        .await;
        assert_eq!(action, Action::await_change(), "{extra}");
    }
}

#[tokio::test]
async fn the_metadata_service_is_not_a_target() {
    reconcile_under(
        Policy::default(),
        "target: http://169.254.169.254/latest/meta-data/\n",
        |s, lt| async move {
            let patch = expect_rejection(s, lt).await;
            assert_eq!(
                patch["message"],
                "rejected by the admin policy: policy.targets: spec.target host \"169.254.169.254\" is in the denied range 169.254.0.0/16"
            );
            assert_eq!(condition(&patch, "Rejected")["reason"], "TargetNotAllowed");
        },
    )
    .await;
}

#[tokio::test]
async fn what_the_admin_allows_goes_on_to_the_runners() {
    let policy = Policy {
        allow_privileged: true,
        images: vec!["registry.corp/perf/*".into()],
        ..Policy::default()
    };
    let spec =
        "target: http://svc:8080/\nprivileged: true\nrunner: {image: 'registry.corp/perf/gc:2'}\n";
    reconcile_under(policy, spec, |mut s, lt| async move {
        let [sa, ..] = s.expect_runner_rbac().await;
        assert_eq!(sa["metadata"]["name"], "smoke-runner");
        s.expect_runner_results(1).await;
        s.expect("GET", "/apis/batch/v1/namespaces/perf/jobs/smoke")
            .await
            .not_found();
        let create = s
            .expect("POST", "/apis/batch/v1/namespaces/perf/jobs")
            .await;
        let job = create.body.clone();
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "registry.corp/perf/gc:2");
        assert_eq!(c["securityContext"]["privileged"], true);
        create.respond(201, job);
        s.expect_status_patch(&lt).await;
        s.expect_event("JobCreated").await;
    })
    .await;
}
