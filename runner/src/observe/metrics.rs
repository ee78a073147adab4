//! `--metrics-listen ADDR` (always on in runner pods): the live totals as
//! OpenMetrics text on `/metrics`, for Prometheus to scrape during the run.
//!
//! Every series carries the labels `loadtest`, `namespace` and `runner`
//! (empty ones are left out). Latency is also served as a Prometheus histogram
//! with the fixed buckets of [`LATENCY_BUCKETS_S`], counted from the exact HDR
//! histogram (to its 3 significant digits); percentiles in results and
//! verdicts always come from the HDR histogram itself, never from these buckets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::{Live, LiveTotals};

/// Upper bounds of the latency histogram's buckets, in seconds: 100 µs to 10 s
/// in 1–2.5–5 steps, where HTTP service latencies and their SLOs live.
pub const LATENCY_BUCKETS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Who is measuring: the labels on every series.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    /// The LoadTest's name.
    pub loadtest: String,
    /// The LoadTest's namespace.
    pub namespace: String,
    /// This runner's index.
    pub runner: u32,
}

/// A serving metrics endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` now (a taken port fails before any load) and serve `live` from a thread.
    pub fn start(addr: SocketAddr, labels: &Labels, live: Arc<Live>) -> Result<Self, String> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
        let registry = Arc::new(registry(labels, live));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("metrics endpoint: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("gcannon-metrics".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = Router::new().route(
                        "/metrics",
                        get(move || {
                            let registry = registry.clone();
                            async move { render(&registry) }
                        }),
                    );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| format!("metrics endpoint: {e}"))?;
        Ok(Self {
            addr: bound,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address actually bound (port 0 picks one).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn render(registry: &Registry) -> impl axum::response::IntoResponse {
    let mut body = String::new();
    let status = match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => axum::http::StatusCode::OK,
        Err(e) => {
            body = format!("cannot encode metrics: {e}");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// A registry whose one collector reads `live` at every scrape.
pub fn registry(labels: &Labels, live: Arc<Live>) -> Registry {
    let mut pairs = Vec::new();
    for (k, v) in [
        ("loadtest", &labels.loadtest),
        ("namespace", &labels.namespace),
    ] {
        if !v.is_empty() {
            pairs.push((k.into(), v.clone().into()));
        }
    }
    pairs.push(("runner".into(), labels.runner.to_string().into()));
    let mut registry = Registry::with_prefix_and_labels("gcannon", pairs.into_iter());
    registry.register_collector(Box::new(LiveCollector(live)));
    registry
}

#[derive(Debug)]
struct LiveCollector(Arc<Live>);

impl Collector for LiveCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t: LiveTotals = self.0.lock().clone();
        let c = &t.counts;
        counter(
            &mut enc,
            "requests",
            "Requests (or WebSocket frames) written",
            None,
            c.requests,
        )?;
        let s = &c.status;
        family(
            &mut enc,
            "responses",
            "Responses received, by status class",
            "class",
            &[
                ("2xx", s.s2xx),
                ("3xx", s.s3xx),
                ("4xx", s.s4xx),
                ("5xx", s.s5xx),
                ("other", s.other),
            ],
        )?;
        counter(
            &mut enc,
            "unexpected_status",
            "Responses whose status was not the expected one",
            None,
            c.unexpected_status,
        )?;
        let e = &c.errors;
        family(
            &mut enc,
            "errors",
            "Faults, by kind",
            "kind",
            &[
                ("connect", e.connect),
                ("read", e.read),
                ("timeout", e.timeout),
                ("parse", e.parse),
                ("tls", e.tls),
            ],
        )?;
        counter(
            &mut enc,
            "reconnects",
            "Connections closed and opened again",
            None,
            c.reconnects,
        )?;
        counter(
            &mut enc,
            "received",
            "Bytes received",
            Some(&Unit::Bytes),
            c.bytes_read,
        )?;
        counter(
            &mut enc,
            "ws_upgrades",
            "WebSocket upgrades completed",
            None,
            c.ws_upgrades,
        )?;
        counter(
            &mut enc,
            "ws_frames",
            "WebSocket frames echoed",
            None,
            c.ws_frames,
        )?;
        if t.rate_mode {
            counter(
                &mut enc,
                "rate_scheduled",
                "Open model: requests due so far by the schedule",
                None,
                t.scheduled,
            )?;
            counter(
                &mut enc,
                "rate_late",
                "Open model: requests written more than 1 ms after their intended time",
                None,
                c.late,
            )?;
            counter(
                &mut enc,
                "rate_unsent",
                "Open model: requests due but never written (known at the end)",
                None,
                c.unsent,
            )?;
        }
        gauge(
            &mut enc,
            "open_connections",
            "Connections open now",
            t.open_connections as i64,
        )?;
        gauge(
            &mut enc,
            "running",
            "1 while a run is measuring, 0 before and after",
            i64::from(t.running),
        )?;
        let elapsed = ConstGauge::new(t.elapsed_sec);
        elapsed.encode(enc.encode_descriptor(
            "elapsed",
            "Measured time so far",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?)?;
        LatencyHistogram(&t.latency).encode(enc.encode_descriptor(
            "latency",
            "Response latency (corrected for coordinated omission in the open model), from the HDR histogram",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?)
    }
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(enc.encode_descriptor(name, help, unit, c.metric_type())?)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&'static str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for &(v, n) in values {
        let labels = [(label, v)];
        ConstCounter::new(n).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The HDR histogram as Prometheus buckets.
struct LatencyHistogram<'a>(&'a hdrhistogram::Histogram<u64>);

impl EncodeMetric for LatencyHistogram<'_> {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let (buckets, sum, count) = buckets(self.0);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Per-bucket counts (not cumulative; the encoder adds them up), the sum in
/// seconds (mean × count: HDR keeps no exact sum) and the count.
pub fn buckets(h: &hdrhistogram::Histogram<u64>) -> (Vec<(f64, u64)>, f64, u64) {
    let count = h.len();
    let mut out = Vec::with_capacity(LATENCY_BUCKETS_S.len() + 1);
    let mut below = 0;
    for &bound in &LATENCY_BUCKETS_S {
        let us = (bound * 1e6).round() as u64;
        let upto = if count == 0 {
            0
        } else {
            h.count_between(0, us)
        };
        out.push((bound, upto - below));
        below = upto;
    }
    out.push((f64::MAX, count - below));
    let sum = if count == 0 {
        0.0
    } else {
        h.mean() * count as f64 / 1e6
    };
    (out, sum, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_value_once_and_in_the_right_place() {
        let mut h = api::report::new_histogram();
        for us in [50, 100, 101, 999, 1000, 20_000, 30_000_000] {
            h.record(us).unwrap();
        }
        let (b, sum, count) = buckets(&h);
        assert_eq!(count, 7);
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), 7);
        assert_eq!(b[0], (0.0001, 2)); // 50 µs and 100 µs
        assert_eq!(b[1], (0.00025, 1)); // 101 µs
        assert_eq!(b[3], (0.001, 2)); // 999 µs and 1 ms
        assert_eq!(b[7], (0.025, 1)); // 20 ms
        assert_eq!(*b.last().unwrap(), (f64::MAX, 1)); // 30 s, above 10 s
        assert!((sum - 30.052_25).abs() < 0.1, "{sum}");
    }

    #[test]
    fn scrape_shows_labels_and_totals() {
        let live = Arc::new(Live::default());
        {
            let mut t = live.lock();
            t.counts.requests = 12;
            t.counts.status.s2xx = 10;
            t.counts.errors.timeout = 2;
            t.rate_mode = true;
            t.latency.record(300).unwrap();
        }
        let labels = Labels {
            loadtest: "gate".into(),
            namespace: "perf".into(),
            runner: 3,
        };
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry(&labels, live)).unwrap();
        for line in [
            "gcannon_requests_total{loadtest=\"gate\",namespace=\"perf\",runner=\"3\"} 12",
            "gcannon_responses_total{loadtest=\"gate\",namespace=\"perf\",runner=\"3\",class=\"2xx\"} 10",
            "gcannon_errors_total{loadtest=\"gate\",namespace=\"perf\",runner=\"3\",kind=\"timeout\"} 2",
            "gcannon_rate_scheduled_total{loadtest=\"gate\",namespace=\"perf\",runner=\"3\"} 0",
            "gcannon_latency_seconds_bucket{loadtest=\"gate\",namespace=\"perf\",runner=\"3\",le=\"0.0005\"} 1",
            "gcannon_latency_seconds_count{loadtest=\"gate\",namespace=\"perf\",runner=\"3\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
