//! `glass-cannon-operator`: reconciles LoadTests into runner Jobs.

#![forbid(unsafe_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use operator::config::Config;
use operator::context::Context;
use operator::controller;
use operator::http::{self, HttpState};
use operator::metrics::Metrics;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("glass-cannon-operator: {e}");
            std::process::exit(2);
        }
    };
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("glass-cannon-operator: no Kubernetes client configuration: {e}");
            std::process::exit(1);
        }
    };
    let mut registry = Registry::default();
    let metrics = Metrics::default().register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    let addr = config.metrics_addr;
    tokio::spawn(async move {
        if let Err(e) = http::serve(addr, state).await {
            tracing::error!(%addr, error = %e, "metrics server failed");
            std::process::exit(1);
        }
    });
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let ctx = Arc::new(Context::new(client, config, metrics));
    controller::run(ctx, ready).await;
}
