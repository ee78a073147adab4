//! The checked-in CRDs must be exactly what `crdgen` prints.

fn check(file: &str, generated: String, args: &str) {
    let path = format!("{}/../crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("crds/{file} exists"));
    assert!(
        on_disk == generated,
        "crds/{file} is stale; regenerate it with:\n    cargo run -p operator --bin crdgen{args} > crds/{file}"
    );
}

#[test]
fn checked_in_crds_are_up_to_date() {
    check("loadtest.yaml", operator::crd_yaml(), "");
    check(
        "runnerresult.yaml",
        operator::runner_result_crd_yaml(),
        " -- runnerresult",
    );
}
