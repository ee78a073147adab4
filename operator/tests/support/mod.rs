//! A scripted mock API server for controller tests, after kube-rs/controller-rs's fixtures.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use std::sync::Arc;

use api::loadtest::{LoadTest, LoadTestSpec, LoadTestStatus};
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use operator::config::Config;
use operator::context::Context;
use operator::metrics::Metrics;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle, SendResponse};

/// The mock API server's side: each test scripts the requests it expects.
pub struct ApiServer(Handle<Request<Body>, Response<Body>>);

/// One request the operator made.
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string, `""` when none.
    pub query: String,
    /// JSON body, `Null` when empty.
    pub body: Value,
    /// Where the answer goes.
    pub reply: SendResponse<Response<Body>>,
}

impl Seen {
    /// Answer with a status code and JSON body.
    pub fn respond(self, code: u16, body: Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.reply.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(bytes))
                .unwrap(),
        );
    }

    /// Answer 404 the way the API server does.
    pub fn not_found(self) {
        self.respond(404, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}));
    }
}

impl ApiServer {
    /// The next request; asserts its method and path.
    pub async fn expect(&mut self, method: &str, path: &str) -> Seen {
        let (req, reply) = self
            .0
            .next_request()
            .await
            .expect("the operator made no further request");
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body,
            reply,
        };
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            (method, path),
            "unexpected request (query {})",
            seen.query
        );
        seen
    }

    /// Expect an Event about the LoadTest with this reason, and accept it.
    pub async fn expect_event(&mut self, reason: &str) -> Value {
        let seen = self
            .expect("POST", "/apis/events.k8s.io/v1/namespaces/perf/events")
            .await;
        assert_eq!(seen.body["reason"], reason, "event: {}", seen.body);
        let body = seen.body.clone();
        seen.respond(201, body.clone());
        body
    }

    /// Expect the runners' ServiceAccount, Role and RoleBinding to be created, in
    /// that order, and accept each; returns the three bodies.
    pub async fn expect_runner_rbac(&mut self) -> [Value; 3] {
        let mut bodies = Vec::new();
        for path in RUNNER_RBAC {
            let seen = self.expect("POST", path).await;
            let body = seen.body.clone();
            seen.respond(201, body.clone());
            bodies.push(body);
        }
        bodies.try_into().unwrap()
    }

    /// Expect the `n` runners' empty RunnerResults to be created, in index order; returns the bodies.
    pub async fn expect_runner_results(&mut self, n: u32) -> Vec<Value> {
        let mut bodies = Vec::new();
        for _ in 0..n {
            let seen = self
                .expect(
                    "POST",
                    "/apis/glasscannon.dev/v1alpha1/namespaces/perf/runnerresults",
                )
                .await;
            let body = seen.body.clone();
            seen.respond(201, body.clone());
            bodies.push(body);
        }
        bodies
    }

    /// Expect the status merge patch and answer with the patched object; returns the patch.
    pub async fn expect_status_patch(&mut self, lt: &LoadTest) -> Value {
        let seen = self
            .expect(
                "PATCH",
                "/apis/glasscannon.dev/v1alpha1/namespaces/perf/loadtests/smoke/status",
            )
            .await;
        let patch = seen.body["status"].clone();
        assert!(patch.is_object(), "status patch: {}", seen.body);
        seen.respond(200, serde_json::to_value(lt).unwrap());
        patch
    }
}

/// Where the runners' ServiceAccount, Role and RoleBinding of `perf/smoke` are created.
pub const RUNNER_RBAC: [&str; 3] = [
    "/api/v1/namespaces/perf/serviceaccounts",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/perf/roles",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/perf/rolebindings",
];

/// The condition of type `kind` in a status patch (panics when it is missing).
pub fn condition(patch: &Value, kind: &str) -> Value {
    patch["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {patch}"))
        .clone()
}

/// The answer the API server gives when an object's name is taken.
pub fn already_exists() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "already exists"})
}

/// A context whose client talks to the returned mock server.
pub fn context() -> (Arc<Context>, ApiServer) {
    context_with(Config::default())
}

/// [`context`] with these operator settings.
pub fn context_with(config: Config) -> (Arc<Context>, ApiServer) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "perf");
    (
        Arc::new(Context::new(client, config, Metrics::default())),
        ApiServer(handle),
    )
}

/// The test LoadTest `perf/smoke` with the given spec YAML and status.
pub fn loadtest(spec_yaml: &str, status: Option<LoadTestStatus>) -> LoadTest {
    let spec: LoadTestSpec = serde_yaml::from_str(spec_yaml).unwrap();
    let mut lt = LoadTest::new("smoke", spec);
    lt.metadata.namespace = Some("perf".into());
    lt.metadata.uid = Some("uid-smoke".into());
    lt.metadata.generation = Some(1);
    lt.status = status;
    lt
}

/// A runner pod of `smoke` with the given index, ready or not, or failed with a reason.
pub fn pod(index: u32, ready: bool, failed: Option<&str>) -> Value {
    let phase = if failed.is_some() {
        "Failed"
    } else {
        "Running"
    };
    json!({
        "metadata": {"name": format!("smoke-{index}-x"), "namespace": "perf",
            "annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()},
            "labels": {"glasscannon.dev/loadtest": "smoke"}},
        "status": {"phase": phase, "reason": failed,
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    })
}

/// A pod list response.
pub fn pod_list(items: Vec<Value>) -> Value {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
}
