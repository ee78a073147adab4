//! The operator's decision on every case of `tests/policy/cases.yaml`, under the
//! chart's `policy` values: the same cases the chart's ValidatingAdmissionPolicy
//! must decide alike (tests/chart/test_admission_policy.py).

use api::loadtest::LoadTestSpec;
use operator::config::Config;
use operator::policy::{check, Policy};
use serde_json::Value;

fn read_yaml(path: &str) -> Value {
    let path = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Helm's merge of user values over the chart's: maps merge, the rest replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[test]
fn operator_decides_every_shared_case_as_listed() {
    let mut chart_policy = read_yaml("charts/glass-cannon/values.yaml")["policy"].clone();
    chart_policy
        .as_object_mut()
        .unwrap()
        .remove("admission")
        .expect("policy.admission in the chart values");
    let own_image = Config::default().runner_image;
    let cases = read_yaml("tests/policy/cases.yaml");
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut values = chart_policy.clone();
        if !case["policy"].is_null() {
            merge(&mut values, &case["policy"]);
        }
        let policy = Policy::from_json(&values.to_string(), None)
            .unwrap_or_else(|e| panic!("{name}: policy: {e}"));
        let spec: LoadTestSpec = serde_json::from_value(case["spec"].clone())
            .unwrap_or_else(|e| panic!("{name}: spec: {e}"));
        // One rule broken twice (two tolerations) is one decision.
        let mut broken: Vec<&str> = check(&spec, &policy, &own_image)
            .iter()
            .map(|v| v.rule.value())
            .collect();
        broken.dedup();
        let want: Vec<&str> = case["broken"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(broken, want, "case {name:?}");
    }
}

#[test]
fn the_chart_defaults_are_the_operators_defaults() {
    let mut values = read_yaml("charts/glass-cannon/values.yaml")["policy"].clone();
    values.as_object_mut().unwrap().remove("admission");
    assert_eq!(
        Policy::from_json(&values.to_string(), None).unwrap(),
        Policy::default(),
        "without GC_POLICY the operator must apply what the chart ships"
    );
}
