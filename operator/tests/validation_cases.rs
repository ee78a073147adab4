//! The operator's pending phase against tests/crd/cases.yaml, the table the
//! CRD's CEL rules and `gcannon run` are held to in tests/crd/test_validation.py:
//! every case gets the same decision, and a rejection the same message.

use api::loadtest::LoadTestSpec;
use operator::phases::pending::validate;
use serde_json::Value;

const CASES: &str = include_str!("../../tests/crd/cases.yaml");
const TEMPLATE: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n";

fn spec(case: &Value) -> LoadTestSpec {
    let mut spec = case["spec"].clone();
    if let Some(n) = case["templates"].as_u64() {
        let one = serde_json::json!({ "text": TEMPLATE });
        spec["templates"] = Value::Array(vec![one; n as usize]);
    }
    serde_json::from_value(spec).unwrap_or_else(|e| panic!("{}: {e}", case["name"]))
}

#[test]
fn pending_phase_decides_every_case_as_the_crd_and_gcannon_run_do() {
    let cases: Vec<Value> = serde_yaml::from_str(CASES).unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let accept = case["accept"].as_bool().unwrap();
        match (validate(&spec(case)), accept) {
            (Ok(()), true) => {}
            (Err(msg), false) => {
                let want = case["error"].as_str().unwrap();
                assert!(msg.contains(want), "{name}: {msg:?} lacks {want:?}");
            }
            (got, _) => panic!("{name}: expected accept={accept}, got {got:?}"),
        }
    }
}
