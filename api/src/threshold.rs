//! Pass/fail thresholds as users write them (`p99 < 5ms`, `errors < 0.1%`,
//! `rps >= 150000`, or against a baseline run: `p99 < baseline * 1.10`),
//! parsed once and evaluated against a [`Summary`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::report::{format_latency_us, Summary};

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Median latency.
    P50,
    /// 90th percentile latency.
    P90,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P999,
    /// Mean latency.
    Avg,
    /// Largest latency.
    Max,
    /// Smallest latency.
    Min,
    /// Responses per second.
    Rps,
    /// Requests written.
    Requests,
    /// Responses received.
    Responses,
    /// Faults: a count, or with `%` the error rate.
    Errors,
    /// 2xx responses: a count, or with `%` their share of responses.
    Status2xx,
    /// 3xx responses.
    Status3xx,
    /// 4xx responses.
    Status4xx,
    /// 5xx responses.
    Status5xx,
    /// Responses with any other status.
    StatusOther,
    /// Responses whose status was not the expected one.
    UnexpectedStatus,
    /// Connections reopened.
    Reconnects,
    /// Open model: requests sent late.
    Late,
    /// Open model: requests never sent.
    Unsent,
}

/// Every metric with its canonical name, then accepted aliases.
const NAMES: &[(&str, Metric)] = &[
    ("p50", Metric::P50),
    ("p90", Metric::P90),
    ("p99", Metric::P99),
    ("p99.9", Metric::P999),
    ("avg", Metric::Avg),
    ("max", Metric::Max),
    ("min", Metric::Min),
    ("rps", Metric::Rps),
    ("requests", Metric::Requests),
    ("responses", Metric::Responses),
    ("errors", Metric::Errors),
    ("status_2xx", Metric::Status2xx),
    ("status_3xx", Metric::Status3xx),
    ("status_4xx", Metric::Status4xx),
    ("status_5xx", Metric::Status5xx),
    ("status_other", Metric::StatusOther),
    ("unexpected_status", Metric::UnexpectedStatus),
    ("reconnects", Metric::Reconnects),
    ("late", Metric::Late),
    ("unsent", Metric::Unsent),
    // Aliases, accepted on input only.
    ("p999", Metric::P999),
    ("median", Metric::P50),
    ("mean", Metric::Avg),
];

const METRIC_LIST: &str = "p50, p90, p99, p99.9, avg, max, min, rps, requests, responses, \
errors, status_2xx, status_3xx, status_4xx, status_5xx, status_other, unexpected_status, \
reconnects, late, unsent";

impl Metric {
    /// The canonical name, as written back.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::P50
                | Metric::P90
                | Metric::P99
                | Metric::P999
                | Metric::Avg
                | Metric::Max
                | Metric::Min
        )
    }

    fn takes_percent(self) -> bool {
        matches!(
            self,
            Metric::Errors
                | Metric::Status2xx
                | Metric::Status3xx
                | Metric::Status4xx
                | Metric::Status5xx
                | Metric::StatusOther
                | Metric::UnexpectedStatus
        )
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `measured <op> limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
            Op::Eq => measured == limit,
            Op::Ne => measured != limit,
        }
    }
}

/// The limit a metric is compared with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// A latency, in nanoseconds.
    Duration(u64),
    /// A percentage (0.1 means 0.1 %).
    Percent(f64),
    /// A plain count or rate.
    Number(f64),
    /// The same metric of a baseline run, scaled or shifted.
    Baseline(Relative),
}

/// How a limit follows the baseline run's value of the threshold's metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relative {
    /// `baseline * f`; `baseline` alone is `baseline * 1`. Counts compare as counts.
    Times(f64),
    /// `baseline + x` or `baseline - x` (negative `by`), in the threshold's unit:
    /// microseconds for latencies, percentage points when `percent`, else a count or rate.
    Plus {
        /// The shift.
        by: f64,
        /// Whether the metric is compared as a share of responses (`errors <= baseline + 0.1%`).
        percent: bool,
    },
}

/// A parsed threshold: `<metric> <op> <limit>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub op: Op,
    /// What it is compared with.
    pub limit: Limit,
}

/// Why a threshold was rejected: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {pos}: {message} (in threshold {input:?})")]
pub struct ThresholdError {
    /// The threshold as given.
    pub input: String,
    /// Byte offset of the problem, 0-based.
    pub pos: usize,
    /// What was wrong or expected there.
    pub message: String,
}

/// The outcome of one threshold against a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The threshold in canonical form.
    pub threshold: String,
    /// The measured value for people, with its unit.
    pub measured: String,
    /// The measured value in the threshold's unit: microseconds, percent, or a count/rate.
    pub value: f64,
    /// Whether the threshold held.
    pub passed: bool,
    /// Against a baseline: the baseline run's value for people, with its unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Against a baseline: the change from the baseline's value (`+12.5%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Noise-aware comparison: what the significance test found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub significance: Option<String>,
}

impl Evaluation {
    /// What was measured, for people: `measured 1.20ms`, and against a
    /// baseline `measured 2.40ms, baseline 1.20ms, +100%`.
    pub fn measured_text(&self) -> String {
        let mut text = match (&self.baseline, &self.change) {
            (Some(b), Some(change)) => {
                format!("measured {}, baseline {b}, {change}", self.measured)
            }
            (Some(b), None) => format!("measured {}, baseline {b}", self.measured),
            _ => format!("measured {}", self.measured),
        };
        if let Some(s) = &self.significance {
            text.push_str("; ");
            text.push_str(s);
        }
        text
    }
}

struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        let rest = &self.input[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = &self.input[self.pos..];
        let n = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    fn err(&self, pos: usize, message: impl Into<String>) -> ThresholdError {
        ThresholdError {
            input: self.input.to_string(),
            pos,
            message: message.into(),
        }
    }
}

/// A number with the metric's unit: `5ms`, `0.1%`, `150000`.
fn parse_absolute(c: &mut Cursor<'_>, metric: Metric) -> Result<Limit, ThresholdError> {
    let num_pos = c.pos;
    let value = parse_number(c)?;
    c.skip_ws();
    let unit_pos = c.pos;
    let unit = c.take_while(|ch| ch.is_alphabetic() || ch == '%');
    let scale = match unit {
        "" if metric.is_latency() => {
            return Err(c.err(
                unit_pos,
                format!(
                    "expected a duration unit (ns, us, ms, s) for {}",
                    metric.name()
                ),
            ))
        }
        "" => return Ok(Limit::Number(value)),
        "%" if metric.takes_percent() => return Ok(Limit::Percent(value)),
        "%" => {
            return Err(c.err(
                unit_pos,
                format!(
                "{} does not take a percentage (only errors, status_* and unexpected_status do)",
                metric.name()
            ),
            ))
        }
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        u => {
            return Err(c.err(
                unit_pos,
                format!("unknown unit {u:?}, expected ns, us, ms, s or %"),
            ))
        }
    };
    if !metric.is_latency() {
        return Err(c.err(
            unit_pos,
            format!(
                "{} is not a latency; expected a plain number",
                metric.name()
            ),
        ));
    }
    let nanos = value * scale;
    if !nanos.is_finite() || nanos > 1e18 {
        return Err(c.err(num_pos, "duration too large"));
    }
    Ok(Limit::Duration(nanos.round() as u64))
}

/// A plain non-negative number.
fn parse_number(c: &mut Cursor<'_>) -> Result<f64, ThresholdError> {
    let num_pos = c.pos;
    let digits = c.take_while(|ch| ch.is_ascii_digit() || ch == '.');
    if digits.is_empty() || !digits.bytes().any(|b| b.is_ascii_digit()) {
        return Err(c.err(num_pos, "expected a number"));
    }
    digits
        .parse()
        .map_err(|_| c.err(num_pos, format!("{digits:?} is not a number")))
}

/// What follows `baseline`: nothing, `* 1.1`, `+ 2ms` or `- 5%`.
fn parse_relative(c: &mut Cursor<'_>, metric: Metric) -> Result<Limit, ThresholdError> {
    c.skip_ws();
    let op_pos = c.pos;
    let rel = match c.input[c.pos..].chars().next() {
        None => Relative::Times(1.0),
        Some('*') => {
            c.pos += 1;
            c.skip_ws();
            Relative::Times(parse_number(c)?)
        }
        Some(sign @ ('+' | '-')) => {
            c.pos += 1;
            c.skip_ws();
            let sign = if sign == '-' { -1.0 } else { 1.0 };
            match parse_absolute(c, metric)? {
                Limit::Duration(ns) => Relative::Plus {
                    by: sign * ns as f64 / 1e3,
                    percent: false,
                },
                Limit::Percent(p) => Relative::Plus {
                    by: sign * p,
                    percent: true,
                },
                Limit::Number(n) => Relative::Plus {
                    by: sign * n,
                    percent: false,
                },
                Limit::Baseline(_) => unreachable!("parse_absolute never returns a baseline"),
            }
        }
        Some(_) => {
            return Err(c.err(
                op_pos,
                "expected `* FACTOR`, `+ AMOUNT` or `- AMOUNT` after baseline",
            ))
        }
    };
    Ok(Limit::Baseline(rel))
}

impl Threshold {
    /// Parse `p99 < 5ms`, `errors < 0.1%`, `rps >= 150000`, `status_5xx == 0` and the like.
    pub fn parse(input: &str) -> Result<Self, ThresholdError> {
        let mut c = Cursor { input, pos: 0 };
        c.skip_ws();
        let start = c.pos;
        let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.');
        if name.is_empty() {
            return Err(c.err(start, format!("expected a metric ({METRIC_LIST})")));
        }
        let lower = name.to_ascii_lowercase();
        let metric = NAMES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                c.err(
                    start,
                    format!("unknown metric {name:?}, expected one of {METRIC_LIST}"),
                )
            })?;

        c.skip_ws();
        let op_pos = c.pos;
        let rest = &input[c.pos..];
        let op = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find(|(s, _)| rest.starts_with(s))
        .map(|(s, op)| {
            c.pos += s.len();
            *op
        })
        .ok_or_else(|| c.err(op_pos, "expected an operator (<, <=, >, >=, ==, !=)"))?;

        c.skip_ws();
        let limit = if c.input[c.pos..]
            .to_ascii_lowercase()
            .starts_with("baseline")
        {
            c.pos += "baseline".len();
            parse_relative(&mut c, metric)?
        } else {
            parse_absolute(&mut c, metric)?
        };
        c.skip_ws();
        if c.pos != input.len() {
            return Err(c.err(c.pos, "expected the end of the threshold"));
        }
        Ok(Threshold { metric, op, limit })
    }

    /// Whether this threshold compares with a baseline run.
    pub fn is_relative(&self) -> bool {
        matches!(self.limit, Limit::Baseline(_))
    }

    /// Whether the metric is measured as a share of responses (its limit is in %).
    fn in_percent(&self) -> bool {
        matches!(
            self.limit,
            Limit::Percent(_) | Limit::Baseline(Relative::Plus { percent: true, .. })
        )
    }

    /// Measure this threshold's metric in a run: the value (in the limit's
    /// unit) and a human rendering of it.
    /// `"no samples"` for a latency threshold without latency samples, `"no
    /// responses"` for a share of responses when there were none.
    fn missing_data(&self, s: &Summary) -> Option<&'static str> {
        use Metric::*;
        match self.metric {
            P50 | P90 | P99 | P999 | Avg | Max | Min if s.latency.samples == 0 => {
                Some("no samples")
            }
            Status2xx | Status3xx | Status4xx | Status5xx | StatusOther | UnexpectedStatus
                if self.in_percent() && s.responses == 0 =>
            {
                Some("no responses")
            }
            _ => None,
        }
    }

    fn measure(&self, s: &Summary) -> (f64, String) {
        let l = &s.latency;
        let latency = |us: f64| (us, format_latency_us(us));
        let count = |n: u64| (n as f64, n.to_string());
        let share = |n: u64| {
            let pct = s.status_share(n) * 100.0;
            (pct, fmt_pct(pct))
        };
        let either = |n: u64| {
            if self.in_percent() {
                share(n)
            } else {
                count(n)
            }
        };
        match self.metric {
            Metric::P50 => latency(l.p50 as f64),
            Metric::P90 => latency(l.p90 as f64),
            Metric::P99 => latency(l.p99 as f64),
            Metric::P999 => latency(l.p999 as f64),
            Metric::Avg => latency(l.avg),
            Metric::Max => latency(l.max as f64),
            Metric::Min => latency(l.min as f64),
            Metric::Rps => (s.rps, format!("{:.2} req/s", s.rps)),
            Metric::Requests => count(s.requests),
            Metric::Responses => count(s.responses),
            Metric::Errors if self.in_percent() => {
                let pct = s.error_rate * 100.0;
                (pct, fmt_pct(pct))
            }
            Metric::Errors => count(s.error_total),
            Metric::Status2xx => either(s.status.s2xx),
            Metric::Status3xx => either(s.status.s3xx),
            Metric::Status4xx => either(s.status.s4xx),
            Metric::Status5xx => either(s.status.s5xx),
            Metric::StatusOther => either(s.status.other),
            Metric::UnexpectedStatus => either(s.unexpected_status),
            Metric::Reconnects => count(s.reconnects),
            Metric::Late => count(s.late),
            Metric::Unsent => count(s.unsent),
        }
    }

    /// Evaluate against a run, and for a relative threshold against the baseline run.
    pub fn evaluate(&self, s: &Summary, baseline: Option<&Summary>) -> Evaluation {
        // With nothing measured a threshold cannot hold: `p99 < 50ms` over no
        // samples (target down) must not pass on a latency of 0.
        if let Some(missing) = self.missing_data(s) {
            return Evaluation {
                threshold: self.to_string(),
                measured: missing.to_string(),
                value: 0.0,
                passed: false,
                baseline: None,
                change: None,
                significance: None,
            };
        }
        let (value, measured) = self.measure(s);
        let mut verdict = Evaluation {
            threshold: self.to_string(),
            measured,
            value,
            passed: false,
            baseline: None,
            change: None,
            significance: None,
        };
        let limit = match self.limit {
            Limit::Duration(ns) => ns as f64 / 1e3,
            Limit::Percent(p) => p,
            Limit::Number(n) => n,
            Limit::Baseline(rel) => {
                // Without a baseline a relative threshold cannot hold.
                let Some(b) = baseline else {
                    verdict.baseline = Some("none".into());
                    return verdict;
                };
                if let Some(missing) = self.missing_data(b) {
                    verdict.baseline = Some(missing.into());
                    return verdict;
                }
                let (base, shown) = self.measure(b);
                verdict.baseline = Some(shown);
                verdict.change = Some(fmt_change(base, value));
                match rel {
                    Relative::Times(f) => base * f,
                    Relative::Plus { by, .. } => base + by,
                }
            }
        };
        verdict.passed = self.op.holds(value, limit);
        verdict
    }
}

/// Evaluate every threshold against a run (and the baseline run, for relative ones), in order.
pub fn evaluate(
    thresholds: &[Threshold],
    s: &Summary,
    baseline: Option<&Summary>,
) -> Vec<Evaluation> {
    thresholds.iter().map(|t| t.evaluate(s, baseline)).collect()
}

/// The change from a baseline value for people: `+12.5%`, `-3%`, `+0%`, or
/// `from 0` when the baseline is zero and a ratio means nothing.
fn fmt_change(base: f64, value: f64) -> String {
    if base == 0.0 {
        return if value == 0.0 {
            "+0%".into()
        } else {
            "from 0".into()
        };
    }
    let pct = (value - base) / base * 100.0;
    let sign = if pct < 0.0 { "-" } else { "+" };
    let s = format!("{:.1}", pct.abs());
    format!("{sign}{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// A number without a needless fraction: `150000`, `0.1`, `2.5`.
fn fmt_num(v: f64) -> String {
    let r = (v * 1e6).round() / 1e6;
    format!("{r}")
}

/// A measured percentage for people: `0.99%`, `12.5%`, `<0.001%`.
fn fmt_pct(pct: f64) -> String {
    if pct > 0.0 && pct < 0.001 {
        return "<0.001%".to_string();
    }
    let s = format!("{pct:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// A duration in nanoseconds with the largest unit that keeps it whole.
fn fmt_nanos(ns: u64) -> String {
    match ns {
        0 => "0s".to_string(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = match self.limit {
            Limit::Duration(ns) => fmt_nanos(ns),
            Limit::Percent(p) => format!("{}%", fmt_num(p)),
            Limit::Number(n) => fmt_num(n),
            Limit::Baseline(Relative::Times(1.0)) => "baseline".into(),
            Limit::Baseline(Relative::Times(f)) => format!("baseline * {}", fmt_num(f)),
            Limit::Baseline(Relative::Plus { by, percent }) => {
                let sign = if by < 0.0 { '-' } else { '+' };
                let by = by.abs();
                let amount = if percent {
                    format!("{}%", fmt_num(by))
                } else if self.metric.is_latency() {
                    fmt_nanos((by * 1e3).round() as u64)
                } else {
                    fmt_num(by)
                };
                format!("baseline {sign} {amount}")
            }
        };
        write!(f, "{} {} {}", self.metric.name(), self.op.symbol(), limit)
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Threshold {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A pass/fail threshold such as `p99 < 5ms`, `errors < 0.1%`, `rps >= 150000` or `p99 < baseline * 1.1`."
        })
    }
}

#[cfg(test)]
#[path = "threshold_tests.rs"]
mod tests;
