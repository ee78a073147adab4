//! Every example manifest parses, passes the operator's validation and builds a Job.

use api::loadtest::LoadTest;
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
            lt.spec.duration.to_string().as_str()
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
    }
    assert!(names.len() >= 5, "{names:?}");
}
