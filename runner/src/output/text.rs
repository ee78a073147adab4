//! The default text output, shaped like the original tool's.

use std::fmt::Write as _;

use api::plan::LoadPlan;
use api::report::{format_latency_us, LatencySummary, Report, Summary};
use api::threshold::Evaluation;

use super::format;

/// The target as the banner shows it: without the `http://` scheme.
fn shown_target(plan: &LoadPlan) -> String {
    if plan.target.is_empty() {
        let names: Vec<&str> = plan.templates.iter().map(|t| t.name.as_str()).collect();
        return format!("(from templates: {})", names.join(", "));
    }
    plan.target
        .strip_prefix("http://")
        .unwrap_or(&plan.target)
        .to_string()
}

/// The banner printed before the run: target, threads, connections, pipeline, duration.
pub fn render_banner(plan: &LoadPlan) -> String {
    let mut s = String::from("gcannon — io_uring HTTP load generator\n");
    let threads = plan.threads.max(1);
    let lo = plan.connections / threads;
    let per_thread = if plan.connections.is_multiple_of(threads) {
        format!("{lo}")
    } else {
        format!("{lo}-{}", lo + 1)
    };
    let _ = writeln!(s, "  Target:    {}", shown_target(plan));
    let _ = writeln!(s, "  Threads:   {}", plan.threads);
    let _ = writeln!(s, "  Conns:     {} ({per_thread}/thread)", plan.connections);
    let _ = writeln!(s, "  Pipeline:  {}", plan.pipeline);
    let duration = api::duration::HumanDuration(plan.measured_duration());
    let _ = writeln!(s, "  Duration:  {duration}");
    if let Some(ws) = &plan.websocket {
        let _ = writeln!(
            s,
            "  Mode:      WebSocket echo ({} byte message)",
            ws.message.len()
        );
    }
    if !plan.stages.is_empty() {
        let stages: Vec<String> = plan
            .stages
            .iter()
            .map(|st| format!("{}/s over {}", st.target, st.duration))
            .collect();
        let _ = writeln!(s, "  Rate:      open model, stages {}", stages.join(" → "));
    } else if let Some(rate) = plan.rate {
        let _ = writeln!(s, "  Rate:      open model, {rate} req/s");
    }
    if let Some(tls) = tls_line(plan) {
        let _ = writeln!(s, "  TLS:       {tls}");
    }
    if !plan.target.is_empty() && !plan.templates.is_empty() {
        let names: Vec<&str> = plan.templates.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(s, "  Templates: {}", names.join(", "));
    }
    s
}

/// How the banner describes the TLS settings of an https:// or wss:// target.
fn tls_line(plan: &LoadPlan) -> Option<String> {
    let lower = plan.target.to_ascii_lowercase();
    if !lower.starts_with("https://") && !lower.starts_with("wss://") {
        return None;
    }
    let t = &plan.tls;
    let mut parts = vec![if t.insecure {
        "INSECURE: certificate not verified (--insecure)".to_string()
    } else if let Some(ca) = &t.ca_file {
        format!("verified against {ca}")
    } else {
        "verified against the system roots".to_string()
    }];
    if let Some(sni) = &t.sni {
        parts.push(format!("SNI {sni}"));
    }
    if t.cert_file.is_some() {
        parts.push("client certificate".into());
    }
    if plan.requests_per_connection.is_some() {
        parts.push(
            if t.resume {
                "sessions resumed"
            } else {
                "full handshake per connection"
            }
            .into(),
        );
    }
    Some(parts.join(", "))
}

/// One latency row: label, then avg/p50/p90/p99/p99.9/max right-aligned.
fn latency_row(s: &mut String, label: &str, l: &LatencySummary) {
    let _ = write!(s, "  {label:>12}");
    for v in [
        l.avg,
        l.p50 as f64,
        l.p90 as f64,
        l.p99 as f64,
        l.p999 as f64,
        l.max as f64,
    ] {
        let cell = if l.samples == 0 {
            "-".to_string()
        } else {
            format_latency_us(v)
        };
        let _ = write!(s, " {cell:>8}");
    }
    s.push('\n');
}

/// One threshold verdict: `✓ p99 < 5ms (measured 1.20ms)`, and against a
/// baseline `✗ p99 < baseline * 1.1 (measured 2.40ms, baseline 1.20ms, +100%)`.
pub fn render_verdict(v: &Evaluation) -> String {
    let mark = if v.passed { '✓' } else { '✗' };
    format!("{mark} {} ({})", v.threshold, v.measured_text())
}

/// The threshold block: a pass count, then one verdict line each; empty when none.
pub fn render_verdicts(verdicts: &[Evaluation]) -> String {
    let mut out = String::new();
    if verdicts.is_empty() {
        return out;
    }
    let passed = verdicts.iter().filter(|v| v.passed).count();
    let _ = writeln!(out, "\n  Thresholds: {passed}/{} passed", verdicts.len());
    for v in verdicts {
        let _ = writeln!(out, "    {}", render_verdict(v));
    }
    out
}

/// Per-second responses and p99 (grouped to at most 60 rows) so a ramp's knee
/// shows; the column counts responses completed, not requests sent.
pub fn render_timeline(timeline: &[api::report::Second]) -> String {
    let rows = api::report::timeline::rows(timeline, TIMELINE_ROWS);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n  Per second   responses/s        p99\n");
    for r in rows {
        let span = if r.to_sec - r.from_sec == 1 {
            format!("{}s", r.to_sec)
        } else {
            format!("{}-{}s", r.from_sec + 1, r.to_sec)
        };
        let _ = writeln!(
            out,
            "  {span:>10} {:>12} {:>10}",
            format::si(r.rps),
            format_latency_us(r.p99_us as f64)
        );
    }
    out
}

/// Most rows the per-second table prints.
const TIMELINE_ROWS: usize = 60;

/// The result printed after the run.
pub fn render_result(plan: &LoadPlan, report: &Report, verdicts: &[Evaluation]) -> String {
    let s = Summary::from_report(report);
    let rate_mode = plan.rate_mode().is_open();
    let mut out = String::from("\n");
    let _ = writeln!(
        out,
        "  Thread Stats {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "Avg", "p50", "p90", "p99", "p99.9", "Max"
    );
    match &s.uncorrected {
        Some(u) if rate_mode => {
            latency_row(&mut out, "Latency", &s.latency);
            latency_row(&mut out, "Service", u);
            out.push_str(
                "    Latency: corrected, measured from each request's intended send time\n",
            );
            out.push_str(
                "    Service: uncorrected, measured from the actual send (service time)\n",
            );
        }
        _ => {
            latency_row(&mut out, "Latency", &s.latency);
            if rate_mode {
                out.push_str(
                    "    Latency: corrected, measured from each request's intended send time\n",
                );
            }
        }
    }
    if let Some(h) = &s.handshake {
        latency_row(&mut out, "Handshake", h);
        out.push_str("    Handshake: TCP connected to TLS established, not part of latency\n");
    }
    for (i, l) in s.per_template.iter().enumerate() {
        let name = plan
            .templates
            .get(i)
            .map(|t| t.name.as_str())
            .unwrap_or("template");
        latency_row(&mut out, &format!("[{i}]"), l);
        let _ = writeln!(out, "               ^ {name}");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  {} requests in {:.2}s, {} responses",
        s.requests, s.elapsed_sec, s.responses
    );
    let _ = writeln!(out, "  Throughput: {} req/s", format::si(s.rps));
    let _ = writeln!(out, "  Bandwidth:  {}/s", format::bytes(s.bandwidth_bps));
    let st = &s.status;
    let _ = write!(
        out,
        "  Status codes: 2xx={}, 3xx={}, 4xx={}, 5xx={}",
        st.s2xx, st.s3xx, st.s4xx, st.s5xx
    );
    if st.other > 0 {
        let _ = write!(out, ", other={}", st.other);
    }
    out.push('\n');
    if s.unexpected_status > 0 {
        let _ = writeln!(
            out,
            "  Unexpected status: {} responses were not {}",
            s.unexpected_status, plan.expected_status
        );
    }
    if s.error_total > 0 {
        let e = &s.errors;
        let _ = writeln!(
            out,
            "  Errors: connect={}, read={}, timeout={}, parse={}, tls={}",
            e.connect, e.read, e.timeout, e.parse, e.tls
        );
    }
    if s.handshake.is_some() {
        let _ = writeln!(
            out,
            "  TLS handshakes: {} ({} resumed)",
            s.tls_handshakes, s.tls_resumed
        );
    }
    if let Some(why) = crate::engine::first_tls_error() {
        let _ = writeln!(out, "  First TLS error: {why}");
    }
    let _ = writeln!(out, "  Reconnects: {}", s.reconnects);
    if report.counts.seq_repeats > 0 {
        let _ = writeln!(
            out,
            "  {{SEQ}} repeats: {} requests carried a value already sent (the range wrapped)",
            report.counts.seq_repeats
        );
    }
    if plan.websocket.is_some() {
        let _ = writeln!(
            out,
            "  WebSocket: {} upgrades, {} frames",
            s.ws_upgrades, s.ws_frames
        );
    }
    if rate_mode {
        let _ = writeln!(
            out,
            "  Schedule: {} sent late, {} never sent",
            s.late, s.unsent
        );
        out.push_str(&render_timeline(&report.timeline));
    }
    out.push_str(&render_verdicts(verdicts));
    out
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
