//! The `--json` object: the original tool's field names, plus extras.

use api::plan::LoadPlan;
use api::report::{LatencySummary, Report, Second, Summary};
use api::threshold::Evaluation;
use serde::Serialize;

/// Latency statistics in microseconds, as `latency_us` holds them.
#[derive(Serialize)]
struct Latency {
    avg: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    samples: u64,
    max: u64,
    min: u64,
}

/// One template's latency, named by its file (or manifest position).
#[derive(Serialize)]
struct TemplateLatency<'a> {
    template: &'a str,
    #[serde(flatten)]
    latency: Latency,
}

impl From<&LatencySummary> for Latency {
    fn from(l: &LatencySummary) -> Self {
        Self {
            // Two decimals are plenty for microseconds and keep the output short.
            avg: (l.avg * 100.0).round() / 100.0,
            p50: l.p50,
            p90: l.p90,
            p99: l.p99,
            p999: l.p999,
            samples: l.samples,
            max: l.max,
            min: l.min,
        }
    }
}

/// One threshold's outcome.
#[derive(Serialize)]
struct Threshold<'a> {
    expr: &'a str,
    value: f64,
    measured: &'a str,
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    significance: Option<&'a str>,
}

/// Field order follows the original tool, extras after.
#[derive(Serialize)]
struct Output<'a> {
    target: &'a str,
    mode: &'static str,
    connections: u32,
    threads: u32,
    pipeline_depth: u32,
    duration_sec: f64,
    elapsed_sec: f64,
    requests: u64,
    responses: u64,
    rps: f64,
    bandwidth_bps: f64,
    bytes_read: u64,
    latency_us: Latency,
    status: api::report::StatusClasses,
    errors: api::report::Errors,
    reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ws_upgrades: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ws_frames: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_handshakes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_resumed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handshake_latency_us: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_tls_error: Option<&'static str>,
    expected_status: u16,
    unexpected_status: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uncorrected_latency_us: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<&'a [Second]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_template_latency_us: Vec<TemplateLatency<'a>>,
    histogram: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thresholds: Vec<Threshold<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_repeats: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runners: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a str>,
}

/// Rates and averages rounded to two decimals, as the original prints them.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Top-level fields of the original C tool's JSON, which scripts depend on.
pub const ORIGINAL_FIELDS: [&str; 16] = [
    "target",
    "mode",
    "connections",
    "threads",
    "pipeline_depth",
    "duration_sec",
    "elapsed_sec",
    "requests",
    "responses",
    "rps",
    "bandwidth_bps",
    "bytes_read",
    "latency_us",
    "status",
    "errors",
    "reconnects",
];

/// The `--json` object for one run that ran to its end, on one line.
pub fn render_json(plan: &LoadPlan, report: &Report, verdicts: &[Evaluation]) -> String {
    render_json_ended(plan, report, verdicts, &super::Ending::default())
}

/// The `--json` object, with `interrupted` and `failure` when the run had them.
pub fn render_json_ended(
    plan: &LoadPlan,
    report: &Report,
    verdicts: &[Evaluation],
    ending: &super::Ending,
) -> String {
    let s = Summary::from_report(report);
    let ws = plan.websocket.is_some();
    let rate_mode = plan.rate_mode().is_open();
    let out = Output {
        target: &plan.target,
        mode: plan.protocol().as_str(),
        connections: plan.connections,
        threads: plan.threads,
        pipeline_depth: plan.pipeline,
        duration_sec: plan.measured_duration().as_secs_f64(),
        elapsed_sec: round2(s.elapsed_sec),
        requests: s.requests,
        responses: s.responses,
        rps: round2(s.rps),
        bandwidth_bps: round2(s.bandwidth_bps),
        bytes_read: s.bytes_read,
        latency_us: Latency::from(&s.latency),
        status: s.status,
        errors: s.errors,
        reconnects: s.reconnects,
        ws_upgrades: ws.then_some(s.ws_upgrades),
        ws_frames: ws.then_some(s.ws_frames),
        tls_handshakes: s.handshake.is_some().then_some(s.tls_handshakes),
        tls_resumed: s.handshake.is_some().then_some(s.tls_resumed),
        handshake_latency_us: s.handshake.as_ref().map(Latency::from),
        first_tls_error: crate::engine::first_tls_error(),
        expected_status: plan.expected_status,
        unexpected_status: s.unexpected_status,
        rate: if rate_mode { plan.rate } else { None },
        uncorrected_latency_us: s.uncorrected.as_ref().map(Latency::from),
        late: rate_mode.then_some(s.late),
        unsent: rate_mode.then_some(s.unsent),
        timeline: (!report.timeline.is_empty()).then_some(&report.timeline[..]),
        per_template_latency_us: s
            .per_template
            .iter()
            .enumerate()
            .map(|(i, l)| TemplateLatency {
                template: plan.templates.get(i).map_or("", |t| t.name.as_str()),
                latency: Latency::from(l),
            })
            .collect(),
        histogram: api::report::encode_histogram(&report.latency),
        thresholds: verdicts
            .iter()
            .map(|v| Threshold {
                expr: &v.threshold,
                value: v.value,
                measured: &v.measured,
                passed: v.passed,
                baseline: v.baseline.as_deref(),
                change: v.change.as_deref(),
                significance: v.significance.as_deref(),
            })
            .collect(),
        seq_repeats: (report.counts.seq_repeats > 0).then_some(report.counts.seq_repeats),
        runners: ending.runners,
        interrupted: ending.interrupted.as_deref(),
        failure: ending.failure.as_deref(),
    };
    // Serializing plain structs of numbers and strings cannot fail; NaN has
    // no JSON form, so it was kept out by Summary (zeros, never NaN).
    serde_json::to_string(&out).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::plan::WebSocketPlan;
    use api::report::{decode_histogram, new_histogram};
    use api::threshold::{evaluate, Threshold as T};
    use serde_json::Value;

    fn report() -> Report {
        let mut r = Report::default();
        for v in [100u64, 200, 300, 400, 1_000] {
            r.latency.record(v).unwrap();
        }
        r.counts.requests = 6;
        r.counts.responses = 5;
        r.counts.bytes_read = 500;
        r.counts.status.s2xx = 4;
        r.counts.status.s4xx = 1;
        r.counts.unexpected_status = 1;
        r.counts.errors.parse = 1;
        r.counts.ws_frames = 9;
        r.elapsed_sec = 2.0;
        r
    }

    fn plan() -> LoadPlan {
        LoadPlan {
            target: "http://127.0.0.1:8080/json".into(),
            connections: 64,
            threads: 4,
            pipeline: 16,
            ..LoadPlan::default()
        }
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn has_the_original_fields() {
        let v = parse(&render_json(&plan(), &report(), &[]));
        for key in ORIGINAL_FIELDS {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["target"], "http://127.0.0.1:8080/json");
        assert_eq!(v["mode"], "http");
        assert_eq!(v["pipeline_depth"], 16);
        assert_eq!(v["duration_sec"], 10.0);
        assert_eq!(v["rps"], 2.5);
        assert_eq!(v["bandwidth_bps"], 250.0);
        for key in ["avg", "p50", "p90", "p99", "p999", "samples", "max", "min"] {
            assert!(v["latency_us"].get(key).is_some(), "latency_us.{key}");
        }
        assert_eq!(v["latency_us"]["samples"], 5);
        assert_eq!(v["latency_us"]["p50"], 300);
        assert_eq!(v["latency_us"]["avg"], 400.0);
        assert_eq!(v["status"]["2xx"], 4);
        assert_eq!(v["status"]["4xx"], 1);
        assert_eq!(v["status"]["other"], 0);
        assert_eq!(v["errors"]["parse"], 1);
        assert_eq!(v["errors"]["connect"], 0);
        assert_eq!(v["unexpected_status"], 1);
        assert_eq!(v["expected_status"], 200);
        assert!(v.get("ws_upgrades").is_none());
        assert!(v.get("late").is_none());
        assert!(v.get("uncorrected_latency_us").is_none());
        assert!(v.get("thresholds").is_none());
        let h = decode_histogram("histogram", v["histogram"].as_str().unwrap()).unwrap();
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn ws_mode_adds_ws_counts() {
        let p = LoadPlan {
            websocket: Some(WebSocketPlan {
                message: "hello".into(),
            }),
            ..plan()
        };
        let v = parse(&render_json(&p, &report(), &[]));
        assert_eq!(v["mode"], "ws");
        assert_eq!(v["ws_frames"], 9);
        assert_eq!(v["ws_upgrades"], 0);
    }

    #[test]
    fn rate_mode_adds_uncorrected_late_unsent() {
        let p = LoadPlan {
            rate: Some(1000),
            ..plan()
        };
        let mut r = report();
        let mut u = new_histogram();
        u.record(50).unwrap();
        r.uncorrected = Some(u);
        r.counts.late = 3;
        r.counts.unsent = 2;
        r.timeline = vec![Second {
            responses: 5,
            p99_us: 1000,
        }];
        let v = parse(&render_json(&p, &r, &[]));
        assert_eq!(v["rate"], 1000);
        assert_eq!(v["late"], 3);
        assert_eq!(v["unsent"], 2);
        assert_eq!(v["uncorrected_latency_us"]["p50"], 50);
        assert_eq!(v["timeline"][0]["responses"], 5);
    }

    #[test]
    fn thresholds_are_listed() {
        let r = report();
        let ts = [
            T::parse("p99 < 5ms").unwrap(),
            T::parse("errors == 0").unwrap(),
        ];
        let verdicts = evaluate(&ts, &Summary::from_report(&r), None);
        let v = parse(&render_json(&plan(), &r, &verdicts));
        assert_eq!(v["thresholds"][0]["expr"], "p99 < 5ms");
        assert_eq!(v["thresholds"][0]["passed"], true);
        assert_eq!(v["thresholds"][1]["expr"], "errors == 0");
        assert_eq!(v["thresholds"][1]["passed"], false);
        assert_eq!(v["thresholds"][1]["value"], 1.0);
    }

    #[test]
    fn empty_run_is_valid_json() {
        let v = parse(&render_json(&plan(), &Report::default(), &[]));
        assert_eq!(v["rps"], 0.0);
        assert_eq!(v["latency_us"]["samples"], 0);
    }
}
