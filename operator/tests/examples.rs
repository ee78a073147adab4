//! Every example manifest parses, passes the operator's validation and builds a Job.

use api::loadtest::LoadTest;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use operator::config::Config;
use operator::job::build_job;
use operator::phases::pending::validate;

fn example(name: &str) -> LoadTest {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lt: LoadTest = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    validate(&lt.spec).unwrap_or_else(|e| panic!("{path}: {e}"));
    lt.metadata.namespace = Some("default".into());
    lt.metadata.uid = Some("uid".into());
    build_job(&lt, &Config::default()).unwrap();
    lt
}

#[test]
fn simple_get() {
    let lt = example("simple-get.yaml");
    assert_eq!(
        (
            lt.spec.runners,
            lt.spec.connections,
            lt.spec.duration().to_string().as_str()
        ),
        (1, 64, "30s")
    );
}

#[test]
fn post_templates_are_inline_and_become_the_plan() {
    let lt = example("post-templates.yaml");
    let plan = lt.spec.plan(|_| unreachable!("inline only")).unwrap();
    assert_eq!(plan.templates.len(), 2);
    assert_eq!(plan.templates[0].name, "create-order");
    assert!(plan.templates[0]
        .text
        .starts_with("POST /orders HTTP/1.1\r\n"));
    assert_eq!(plan.expected_status, 201);
}

#[test]
fn websocket() {
    let lt = example("websocket.yaml");
    assert_eq!(
        lt.spec.websocket.unwrap().message,
        "hello from glass cannon"
    );
}

#[test]
fn multi_runner_with_thresholds_and_spread() {
    let lt = example("multi-runner-thresholds.yaml");
    assert_eq!((lt.spec.runners, lt.spec.thresholds.len()), (4, 5));
    assert!(lt.spec.runner.spread);
}

#[test]
fn open_model_rate_and_stages() {
    let lt = example("open-model-stages.yaml");
    assert_eq!(lt.spec.rate, Some(20000));
    assert_eq!(lt.spec.stages.len(), 3);
}

#[test]
fn every_example_is_covered_here() {
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .filter(|n| {
            std::fs::read_to_string(format!("{dir}/{n}"))
                .is_ok_and(|t| t.contains("kind: LoadTest"))
        })
        .collect();
    names.sort();
    for n in &names {
        example(n);
        // A new user learns from the file itself whether their cluster can run it.
        let text = std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
        assert!(
            text.contains("# Needs from the cluster:") || text.contains("without a cluster"),
            "{n}: say in a comment what it needs from the cluster"
        );
    }
    assert!(names.len() >= 5, "{names:?}");
}

/// The quick start's target manifests: (Deployment, Service).
fn quickstart_target() -> (Deployment, Service) {
    use serde::Deserialize;
    let path = format!(
        "{}/../examples/quickstart/target.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect();
    let of = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("{path}: no {kind}"))
            .clone()
    };
    (
        serde_yaml::from_value(of("Deployment")).unwrap(),
        serde_yaml::from_value(of("Service")).unwrap(),
    )
}

fn millicores(q: &Quantity) -> u64 {
    match q.0.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => q.0.parse::<u64>().unwrap() * 1000,
    }
}

fn mebibytes(q: &Quantity) -> u64 {
    q.0.strip_suffix("Mi")
        .expect("memory in Mi")
        .parse()
        .unwrap()
}

#[test]
fn quickstart_schedules_on_a_laptop_kind_cluster() {
    let lt = example("quickstart/loadtest.yaml");
    let r = &lt.spec.runner;
    assert!(
        r.node_selector.is_empty() && r.tolerations.is_empty() && r.affinity.is_none() && !r.spread,
        "the quick start must not need node labels, taints or one node per runner"
    );
    assert!(!lt.spec.privileged && lt.spec.runner.image.is_none());
    let requests = r.resources.as_ref().unwrap().requests.as_ref().unwrap();
    let runners = u64::from(lt.spec.runners);
    assert!(
        runners * millicores(&requests["cpu"]) <= 500,
        "{requests:?}"
    );
    assert!(
        runners * mebibytes(&requests["memory"]) <= 256,
        "{requests:?}"
    );
    assert!(lt.spec.duration().get() <= std::time::Duration::from_secs(30));
    assert!(!lt.spec.thresholds.is_empty());
    let (deploy, _) = quickstart_target();
    let pod = deploy.spec.template.spec.unwrap();
    let c = &pod.containers[0];
    let cpu = &c.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"];
    assert!(millicores(cpu) <= 100);
    assert!(pod.node_selector.is_none() && pod.affinity.is_none());
}

#[test]
fn quickstart_loadtest_targets_the_quickstart_service() {
    let lt = example("quickstart/loadtest.yaml");
    let (deploy, svc) = quickstart_target();
    let svc_name = svc.metadata.name.clone().unwrap();
    let svc_spec = svc.spec.unwrap();
    let port = &svc_spec.ports.as_ref().unwrap()[0];
    assert_eq!(lt.spec.target, format!("http://{svc_name}:{}/", port.port));
    // The Service selects the Deployment's pods and reaches the port serve listens on.
    let spec = deploy.spec;
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    for (k, v) in svc_spec.selector.as_ref().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "selector {k}");
    }
    let c = &spec.template.spec.unwrap().containers[0];
    let container_port = match port.target_port.as_ref().unwrap() {
        IntOrString::String(name) => {
            c.ports
                .as_ref()
                .unwrap()
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap()
                .container_port
        }
        IntOrString::Int(n) => *n,
    };
    let args = c.args.as_ref().unwrap();
    assert_eq!(args[0], "serve");
    let listen = &args[args.iter().position(|a| a == "--listen").unwrap() + 1];
    assert_eq!(listen, &format!("0.0.0.0:{container_port}"));
}
