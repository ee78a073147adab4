//! `Context`: what every reconcile shares (client, settings, event recorder, metrics,
//! the runners' results merged so far).

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};
use kube::Client;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::results::Results;

/// Name the operator reports events and field ownership under.
pub const CONTROLLER_NAME: &str = api::contract::OPERATOR_NAME;

/// Shared state of every reconcile.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Operator settings.
    pub config: Config,
    /// Event publisher.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: Metrics,
    /// The runners' results, merged as they arrive (fed by `results::watch`).
    pub results: Arc<Results>,
}

impl Context {
    /// A context around a client.
    pub fn new(client: Client, config: Config, metrics: Metrics) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: std::env::var("GC_POD_NAME")
                .or_else(|_| std::env::var("POD_NAME"))
                .ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics,
            results: Arc::default(),
        }
    }
}
