//! The numbers people read: rates, percentiles and shares computed once from a
//! report, so the text output, `--json`, thresholds and the operator agree.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{Errors, Report, StatusClasses};

/// A latency in microseconds the way people read it: `850us`, `1.82ms`, `1.20s`.
pub fn format_latency_us(us: f64) -> String {
    if !us.is_finite() {
        return "-".to_string();
    }
    if us < 999.5 {
        format!("{us:.0}us")
    } else if us < 999_995.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// Latency statistics of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Mean.
    pub avg: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value recorded.
    pub max: u64,
    /// Smallest value recorded.
    pub min: u64,
    /// Number of values recorded.
    pub samples: u64,
}

impl LatencySummary {
    /// Statistics of one histogram; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            avg: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            min: h.min(),
            samples: h.len(),
        }
    }
}

/// Everything the outputs and thresholds need, derived from one [`Report`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests written.
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Measured wall time in seconds.
    pub elapsed_sec: f64,
    /// Responses per second.
    pub rps: f64,
    /// Bytes read per second.
    pub bandwidth_bps: f64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Latency (corrected for coordinated omission in the open model).
    pub latency: LatencySummary,
    /// Open model: service time from the actual send.
    pub uncorrected: Option<LatencySummary>,
    /// Per-template latency, by template index.
    pub per_template: Vec<LatencySummary>,
    /// Responses by status class.
    pub status: StatusClasses,
    /// Responses whose status differed from the expected one.
    pub unexpected_status: u64,
    /// Faults by kind.
    pub errors: Errors,
    /// All faults.
    pub error_total: u64,
    /// Faults / (responses + faults), 0 when nothing happened.
    pub error_rate: f64,
    /// Connections reopened.
    pub reconnects: u64,
    /// WebSocket upgrades.
    pub ws_upgrades: u64,
    /// WebSocket frames echoed.
    pub ws_frames: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// Of those, resumed sessions.
    pub tls_resumed: u64,
    /// TLS handshake latency, when the target is TLS.
    pub handshake: Option<LatencySummary>,
    /// Open model: requests sent late.
    pub late: u64,
    /// Open model: requests never sent.
    pub unsent: u64,
}

impl Summary {
    /// Compute the summary of a (merged) report.
    pub fn from_report(r: &Report) -> Self {
        let c = &r.counts;
        let per_sec = |n: u64| {
            if r.elapsed_sec > 0.0 {
                n as f64 / r.elapsed_sec
            } else {
                0.0
            }
        };
        let error_total = c.errors.total();
        let attempts = c.responses + error_total;
        Self {
            requests: c.requests,
            responses: c.responses,
            elapsed_sec: r.elapsed_sec,
            rps: per_sec(c.responses),
            bandwidth_bps: per_sec(c.bytes_read),
            bytes_read: c.bytes_read,
            latency: LatencySummary::of(&r.latency),
            uncorrected: r.uncorrected.as_ref().map(LatencySummary::of),
            per_template: r.per_template.iter().map(LatencySummary::of).collect(),
            status: c.status,
            unexpected_status: c.unexpected_status,
            errors: c.errors,
            error_total,
            error_rate: if attempts > 0 {
                error_total as f64 / attempts as f64
            } else {
                0.0
            },
            reconnects: c.reconnects,
            ws_upgrades: c.ws_upgrades,
            ws_frames: c.ws_frames,
            tls_handshakes: c.tls_handshakes,
            tls_resumed: c.tls_resumed,
            handshake: r.handshake.as_ref().map(LatencySummary::of),
            late: c.late,
            unsent: c.unsent,
        }
    }

    /// Share of responses in a status class, 0 when there were none.
    pub fn status_share(&self, count: u64) -> f64 {
        if self.responses > 0 {
            count as f64 / self.responses as f64
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_histogram;

    #[test]
    fn derives_rates_percentiles_and_shares() {
        let mut r = Report::default();
        for v in 1..=1000u64 {
            r.latency.record(v).unwrap();
        }
        r.counts.responses = 1000;
        r.counts.requests = 1010;
        r.counts.bytes_read = 50_000;
        r.counts.errors.timeout = 5;
        r.counts.errors.connect = 5;
        r.counts.status.s2xx = 990;
        r.counts.status.s5xx = 10;
        r.elapsed_sec = 2.0;
        let s = Summary::from_report(&r);
        assert_eq!(s.rps, 500.0);
        assert_eq!(s.bandwidth_bps, 25_000.0);
        assert_eq!(s.latency.samples, 1000);
        assert_eq!(s.latency.min, 1);
        assert_eq!(s.latency.max, 1000);
        assert_eq!(s.latency.p50, 500);
        assert_eq!(s.latency.p90, 900);
        assert_eq!(s.latency.p99, 990);
        assert_eq!(s.latency.p999, 999);
        assert!((s.latency.avg - 500.5).abs() < 1.0);
        assert_eq!(s.error_total, 10);
        assert!((s.error_rate - 10.0 / 1010.0).abs() < 1e-12);
        assert!((s.status_share(s.status.s5xx) - 0.01).abs() < 1e-12);
        assert!(s.uncorrected.is_none());
    }

    #[test]
    fn latency_units_follow_magnitude() {
        assert_eq!(format_latency_us(850.0), "850us");
        assert_eq!(format_latency_us(1_820.0), "1.82ms");
        assert_eq!(format_latency_us(1_200_000.0), "1.20s");
        assert_eq!(format_latency_us(999.4), "999us");
        assert_eq!(format_latency_us(f64::NAN), "-");
    }

    #[test]
    fn empty_report_gives_zeros_not_nan() {
        let r = Report {
            uncorrected: Some(new_histogram()),
            ..Report::default()
        };
        let s = Summary::from_report(&r);
        assert_eq!(s.rps, 0.0);
        assert_eq!(s.error_rate, 0.0);
        assert_eq!(s.status_share(0), 0.0);
        assert_eq!(s.latency, LatencySummary::default());
        assert_eq!(s.uncorrected, Some(LatencySummary::default()));
    }
}
