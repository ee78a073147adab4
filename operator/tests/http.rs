//! `/metrics`, `/healthz` and `/readyz` over real loopback HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use operator::http::{serve_on, HttpState};
use operator::metrics::Metrics;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn probes_and_metrics() {
    let mut registry = Registry::default();
    let metrics = Metrics::default().register(&mut registry);
    drop(metrics.start());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_on(
        listener,
        HttpState {
            registry: Arc::new(registry),
            ready: ready.clone(),
        },
    ));

    assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
    ready.store(true, Ordering::Relaxed);
    assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
    let body = get(addr, "/metrics").await;
    assert!(
        body.contains("glasscannon_operator_reconciles_total 1"),
        "{body}"
    );
    assert!(
        body.contains("glasscannon_operator_reconcile_duration_seconds_count 1"),
        "{body}"
    );
    server.abort();
}
