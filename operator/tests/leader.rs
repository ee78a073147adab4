//! Leader election rounds against the mock API server.

mod support;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use operator::leader::{try_hold, LeaseConfig};
use serde_json::json;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/gc/leases";

fn cfg() -> LeaseConfig {
    LeaseConfig {
        namespace: "gc".into(),
        name: "gc-operator".into(),
        identity: "op-1".into(),
    }
}

#[tokio::test]
async fn first_replica_creates_the_lease_and_leads() {
    let (ctx, mut s) = support::context();
    let server = tokio::spawn(async move {
        s.expect("GET", &format!("{LEASES}/gc-operator"))
            .await
            .not_found();
        let create = s.expect("POST", LEASES).await;
        assert_eq!(create.body["spec"]["holderIdentity"], "op-1");
        assert_eq!(create.body["spec"]["leaseDurationSeconds"], 15);
        let body = create.body.clone();
        create.respond(201, body);
    });
    let led = tokio::time::timeout(Duration::from_secs(10), try_hold(&ctx.client, &cfg()))
        .await
        .unwrap()
        .unwrap();
    server.await.unwrap();
    assert!(led);
}

#[tokio::test]
async fn fresh_lease_of_another_replica_means_standby_without_writes() {
    let (ctx, mut s) = support::context();
    let server = tokio::spawn(async move {
        s.expect("GET", &format!("{LEASES}/gc-operator"))
            .await
            .respond(
                200,
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "gc-operator", "namespace": "gc", "resourceVersion": "7"},
                "spec": {"holderIdentity": "op-2", "leaseDurationSeconds": 15,
                         "renewTime": Timestamp::now().to_string()}}),
            );
    });
    let led = tokio::time::timeout(Duration::from_secs(10), try_hold(&ctx.client, &cfg()))
        .await
        .unwrap()
        .unwrap();
    server.await.unwrap();
    assert!(!led);
}

#[tokio::test]
async fn expired_lease_is_taken_over_with_its_resource_version() {
    let (ctx, mut s) = support::context();
    let server = tokio::spawn(async move {
        s.expect("GET", &format!("{LEASES}/gc-operator"))
            .await
            .respond(
                200,
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "gc-operator", "namespace": "gc", "resourceVersion": "7"},
                "spec": {"holderIdentity": "op-2", "leaseDurationSeconds": 15,
                         "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 2}}),
            );
        let put = s.expect("PUT", &format!("{LEASES}/gc-operator")).await;
        assert_eq!(put.body["metadata"]["resourceVersion"], "7");
        assert_eq!(
            (
                put.body["spec"]["holderIdentity"].clone(),
                put.body["spec"]["leaseTransitions"].clone()
            ),
            (json!("op-1"), json!(3))
        );
        let body = put.body.clone();
        put.respond(200, body);
    });
    let led = tokio::time::timeout(Duration::from_secs(10), try_hold(&ctx.client, &cfg()))
        .await
        .unwrap()
        .unwrap();
    server.await.unwrap();
    assert!(led);
}
