//! The checked-in CRD must be exactly what `crdgen` prints.

#[test]
fn checked_in_crd_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/loadtest.yaml");
    let on_disk = std::fs::read_to_string(path).expect("crds/loadtest.yaml exists");
    assert!(
        on_disk == operator::crd_yaml(),
        "crds/loadtest.yaml is stale; regenerate it with:\n    cargo run -p operator --bin crdgen > crds/loadtest.yaml"
    );
}
