//! Prometheus metrics of the operator's own reconciles.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use api::loadtest::LoadTest;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

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
    /// LoadTests by phase and verdict, from the controller's cache.
    pub loadtests: LoadTestCounts,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            loadtests: LoadTestCounts::default(),
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
        sub.register_collector(Box::new(self.loadtests.clone()));
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

/// Phases and verdicts always present in the output (0 when none), so a
/// dashboard sees a stable set of series.
const PHASES: [&str; 5] = ["Pending", "Starting", "Running", "Succeeded", "Failed"];
const VERDICTS: [&str; 2] = ["Passed", "Failed"];

/// Counts LoadTests by phase and by verdict at every scrape, from the
/// controller's own cache: exact, and nothing to forget when one is deleted.
#[derive(Clone, Debug, Default)]
pub struct LoadTestCounts(Arc<Mutex<Vec<Store<LoadTest>>>>);

impl LoadTestCounts {
    /// Count from this store (a controller's; one per watched namespace) from now on.
    pub fn watch(&self, store: Store<LoadTest>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(store);
    }

    /// (phase -> count, verdict -> count) of the LoadTests in the cache.
    pub fn counts(&self) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
        let mut phases: BTreeMap<String, i64> = PHASES.iter().map(|p| (p.to_string(), 0)).collect();
        let mut verdicts: BTreeMap<String, i64> =
            VERDICTS.iter().map(|v| (v.to_string(), 0)).collect();
        let stores = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for lt in stores.iter().flat_map(|s| s.state()) {
            let status = lt.status.as_ref();
            // No status yet: the operator has not seen it, which is Pending to a user.
            let phase = status
                .and_then(|s| s.phase)
                .map_or("Pending".to_string(), |p| format!("{p:?}"));
            *phases.entry(phase).or_default() += 1;
            if let Some(v) = status.and_then(|s| s.verdict) {
                *verdicts.entry(format!("{v:?}")).or_default() += 1;
            }
        }
        (phases, verdicts)
    }
}

impl Collector for LoadTestCounts {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (phases, verdicts) = self.counts();
        for (name, help, label, values) in [
            ("loadtests", "LoadTests by phase", "phase", &phases),
            (
                "loadtest_verdicts",
                "Finished LoadTests by verdict",
                "verdict",
                &verdicts,
            ),
        ] {
            let mut metric = enc.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (value, n) in values {
                let labels = [(label, value.as_str())];
                ConstGauge::new(*n).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::loadtest::{LoadTestSpec, LoadTestStatus, Phase, Verdict};
    use kube::runtime::{reflector, watcher};

    fn lt(name: &str, phase: Option<Phase>, verdict: Option<Verdict>) -> LoadTest {
        let spec: LoadTestSpec = serde_yaml::from_str("target: http://t/\n").unwrap();
        let mut lt = LoadTest::new(name, spec);
        lt.metadata.namespace = Some("perf".into());
        lt.status = phase.map(|p| LoadTestStatus {
            phase: Some(p),
            verdict,
            ..LoadTestStatus::default()
        });
        lt
    }

    #[test]
    fn loadtests_are_counted_by_phase_and_verdict_at_scrape() {
        let (store, mut writer) = reflector::store();
        let metrics = Metrics::default();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = metrics.register(&mut registry);
        metrics.loadtests.watch(store);
        for o in [
            lt("a", None, None),
            lt("b", Some(Phase::Running), None),
            lt("c", Some(Phase::Succeeded), Some(Verdict::Passed)),
            lt("d", Some(Phase::Succeeded), Some(Verdict::Failed)),
            lt("e", Some(Phase::Failed), Some(Verdict::Failed)),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "glasscannon_operator_loadtests{phase=\"Pending\"} 1",
            "glasscannon_operator_loadtests{phase=\"Starting\"} 0",
            "glasscannon_operator_loadtests{phase=\"Running\"} 1",
            "glasscannon_operator_loadtests{phase=\"Succeeded\"} 2",
            "glasscannon_operator_loadtests{phase=\"Failed\"} 1",
            "glasscannon_operator_loadtest_verdicts{verdict=\"Passed\"} 1",
            "glasscannon_operator_loadtest_verdicts{verdict=\"Failed\"} 2",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // A deleted LoadTest stops counting.
        writer.apply_watcher_event(&watcher::Event::Delete(lt("b", Some(Phase::Running), None)));
        assert_eq!(metrics.loadtests.counts().0["Running"], 0);
    }
}
