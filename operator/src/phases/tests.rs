use k8s_openapi::api::core::v1::Pod;

use super::*;

fn pod(json: serde_json::Value) -> Pod {
    serde_json::from_value(json).unwrap()
}

#[test]
fn evicted_pod_is_named_with_its_reason() {
    let p = pod(
        json!({"metadata": {"name": "smoke-0-x"}, "status": {"phase": "Failed", "reason": "Evicted", "message": "node low on memory"}}),
    );
    assert_eq!(
        pod_failure(&p),
        Some(("smoke-0-x".into(), "Evicted: node low on memory".into()))
    );
}

#[test]
fn crashed_container_exit_code_is_reported() {
    let p = pod(
        json!({"metadata": {"name": "p"}, "status": {"phase": "Failed", "containerStatuses": [
        {"name": "runner", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}}),
    );
    assert_eq!(
        pod_failure(&p).unwrap().1,
        "Failed: container runner exited with code 3 (Error)"
    );
}

#[test]
fn image_pull_backoff_counts_as_failure_but_pending_does_not() {
    let p = pod(
        json!({"metadata": {"name": "p"}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "runner", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}}),
    );
    assert_eq!(
        pod_failure(&p).unwrap().1,
        "ImagePullBackOff: no such image"
    );
    let p = pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}));
    assert_eq!(pod_failure(&p), None);
    assert!(!pod_ready(&p));
}

#[test]
fn conditions_replace_by_type() {
    let old = vec![
        condition("Failed", false, "A", "a", Some(1)),
        condition("Other", true, "B", "b", Some(1)),
    ];
    let merged = merge_conditions(&old, vec![condition("Failed", true, "C", "c", Some(2))]);
    assert_eq!(merged.len(), 2);
    assert_eq!(
        merged.iter().find(|c| c.type_ == "Failed").unwrap().reason,
        "C"
    );
}

#[test]
fn event_notes_are_cut_on_char_boundaries() {
    assert_eq!(truncate("short".into(), 10), "short");
    let cut = truncate("µ".repeat(600), 1000);
    assert!(cut.len() <= 1000 && cut.ends_with("..."));
}
