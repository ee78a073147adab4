//! Prometheus metrics of the operator's own reconciles.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set for failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The error's kind.
    pub error: String,
}

/// Reconcile counters and timings.
#[derive(Clone)]
pub struct Metrics {
    /// Reconciles started.
    pub reconciles: Counter,
    /// Reconciles that failed, by kind.
    pub failures: Family<ErrorLabels, Counter>,
    /// Reconcile duration in seconds.
    pub duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
        }
    }
}

impl Metrics {
    /// Register every metric under the `glasscannon_operator` prefix.
    pub fn register(self, registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("glasscannon_operator");
        sub.register("reconciles", "Reconciles started", self.reconciles.clone());
        sub.register(
            "reconcile_failures",
            "Reconciles that failed",
            self.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            self.duration.clone(),
        );
        self
    }

    /// Count a reconcile; the returned guard records its duration when dropped.
    pub fn start(&self) -> Timer<'_> {
        self.reconciles.inc();
        Timer {
            start: Instant::now(),
            metrics: self,
        }
    }

    /// Count a failed reconcile.
    pub fn failure(&self, error: &crate::error::Error) {
        let kind = match error {
            crate::error::Error::Kube(_) => "kube",
            crate::error::Error::MissingField(_) => "missing_field",
            crate::error::Error::Config(_) => "config",
        };
        self.failures
            .get_or_create(&ErrorLabels { error: kind.into() })
            .inc();
    }
}

/// Records a reconcile's duration on drop.
pub struct Timer<'a> {
    start: Instant,
    metrics: &'a Metrics,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}
