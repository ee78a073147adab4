use super::*;
use crate::report::{new_histogram, Report};

fn t(s: &str) -> Threshold {
    Threshold::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn err(s: &str) -> ThresholdError {
    Threshold::parse(s).expect_err(s)
}

#[test]
fn parses_every_metric() {
    for (text, metric) in [
        ("p50 <= 800us", Metric::P50),
        ("p90 < 2ms", Metric::P90),
        ("p99 < 5ms", Metric::P99),
        ("p99.9 < 1s", Metric::P999),
        ("p999 < 1s", Metric::P999),
        ("avg < 2ms", Metric::Avg),
        ("max < 50ms", Metric::Max),
        ("min > 10ns", Metric::Min),
        ("rps >= 150000", Metric::Rps),
        ("requests > 10", Metric::Requests),
        ("responses > 1000", Metric::Responses),
        ("errors == 0", Metric::Errors),
        ("status_2xx > 99%", Metric::Status2xx),
        ("status_3xx == 0", Metric::Status3xx),
        ("status_4xx < 1%", Metric::Status4xx),
        ("status_5xx == 0", Metric::Status5xx),
        ("status_other == 0", Metric::StatusOther),
        ("unexpected_status == 0", Metric::UnexpectedStatus),
        ("reconnects < 5", Metric::Reconnects),
        ("late == 0", Metric::Late),
        ("unsent == 0", Metric::Unsent),
    ] {
        assert_eq!(t(text).metric, metric, "{text}");
    }
}

#[test]
fn parses_every_operator_and_unit() {
    assert_eq!(t("p99 < 5ms").op, Op::Lt);
    assert_eq!(t("p99 <= 5ms").op, Op::Le);
    assert_eq!(t("p99 > 5ms").op, Op::Gt);
    assert_eq!(t("p99 >= 5ms").op, Op::Ge);
    assert_eq!(t("p99 == 5ms").op, Op::Eq);
    assert_eq!(t("p99 != 5ms").op, Op::Ne);
    assert_eq!(t("p99 < 7ns").limit, Limit::Duration(7));
    assert_eq!(t("p99 < 7us").limit, Limit::Duration(7_000));
    assert_eq!(t("p99 < 7µs").limit, Limit::Duration(7_000));
    assert_eq!(t("p99 < 1.5ms").limit, Limit::Duration(1_500_000));
    assert_eq!(t("p99 < 2s").limit, Limit::Duration(2_000_000_000));
    assert_eq!(t("errors < 0.1%").limit, Limit::Percent(0.1));
    assert_eq!(t("errors == 0").limit, Limit::Number(0.0));
    assert_eq!(t("  p99<5ms  ").limit, Limit::Duration(5_000_000));
    assert_eq!(t("P99 < 5 ms").metric, Metric::P99);
}

#[test]
fn display_is_canonical_and_round_trips() {
    for (input, canonical) in [
        ("p99<5ms", "p99 < 5ms"),
        ("p999 < 1000ms", "p99.9 < 1s"),
        ("p50 <= 1.5ms", "p50 <= 1500us"),
        ("errors < 0.10%", "errors < 0.1%"),
        ("rps >= 150000", "rps >= 150000"),
        ("mean < 2ms", "avg < 2ms"),
    ] {
        let th = t(input);
        assert_eq!(th.to_string(), canonical);
        assert_eq!(t(canonical), th);
    }
}

#[test]
fn serde_is_a_string() {
    let th: Vec<Threshold> = serde_json::from_str(r#"["p99 < 5ms", "errors < 1%"]"#).unwrap();
    assert_eq!(
        serde_json::to_string(&th).unwrap(),
        r#"["p99 < 5ms","errors < 1%"]"#
    );
    let bad: Result<Threshold, _> = serde_json::from_str(r#""p99 ~ 5ms""#);
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("at 4: expected an operator"));
}

#[test]
fn errors_name_position_and_expectation() {
    let e = err("p99 x 5ms");
    assert_eq!(e.pos, 4);
    assert!(
        e.to_string()
            .starts_with("at 4: expected an operator (<, <=, >, >=, ==, !=)"),
        "{e}"
    );
    let e = err("");
    assert_eq!(
        (e.pos, e.message.starts_with("expected a metric")),
        (0, true)
    );
    let e = err("p98 < 5ms");
    assert_eq!(e.pos, 0);
    assert!(e.message.contains("unknown metric \"p98\""), "{e}");
    let e = err("p99 < ms");
    assert_eq!((e.pos, e.message.as_str()), (6, "expected a number"));
    let e = err("p99 < 5");
    assert_eq!(e.pos, 7);
    assert!(e.message.contains("duration unit"), "{e}");
    let e = err("p99 < 5xs");
    assert_eq!(e.pos, 7);
    assert!(e.message.contains("unknown unit \"xs\""), "{e}");
    let e = err("rps > 5%");
    assert_eq!(e.pos, 7);
    assert!(e.message.contains("does not take a percentage"), "{e}");
    let e = err("rps > 5ms");
    assert_eq!(e.pos, 7);
    assert!(e.message.contains("not a latency"), "{e}");
    let e = err("p99 < 5ms and more");
    assert_eq!(
        (e.pos, e.message.as_str()),
        (10, "expected the end of the threshold")
    );
    let e = err("p99 < 1.2.3ms");
    assert_eq!(e.pos, 6);
    let e = err("p99 = 5ms");
    assert_eq!(e.pos, 4);
}

fn summary() -> Summary {
    let mut r = Report::default();
    for v in 1..=1000u64 {
        r.latency.record(v * 10).unwrap(); // 10us .. 10ms
    }
    r.counts.requests = 1_020;
    r.counts.responses = 1_000;
    r.counts.status.s2xx = 980;
    r.counts.status.s4xx = 15;
    r.counts.status.s5xx = 5;
    r.counts.unexpected_status = 20;
    r.counts.errors.timeout = 10;
    r.counts.reconnects = 3;
    r.counts.late = 1;
    r.elapsed_sec = 0.5;
    r.uncorrected = Some(new_histogram());
    Summary::from_report(&r)
}

#[test]
fn evaluates_against_a_summary() {
    let s = summary();
    let check = |text: &str| t(text).evaluate(&s, None);
    let v = check("p99 < 5ms");
    assert!(!v.passed);
    assert_eq!(v.value, s.latency.p99 as f64);
    assert_eq!(v.measured, format_latency_us(s.latency.p99 as f64));
    assert!(check("p99 < 11ms").passed);
    assert!(check("p50 <= 5.1ms").passed);
    assert!(!check("p50 < 4ms").passed);
    assert!(check("p90 > 8ms").passed);
    assert!(check("p99.9 <= 10ms").passed);
    assert!(check("avg > 4ms").passed && check("avg < 6ms").passed);
    assert!(check("max >= 10ms").passed);
    assert!(check("min == 10us").passed);
    assert!(check("min != 11us").passed);
    let v = check("rps >= 2000");
    assert!(v.passed);
    assert_eq!(v.value, 2000.0);
    assert!(!check("rps > 2000").passed);
    assert!(check("requests == 1020").passed);
    assert!(check("responses > 999").passed);
    let v = check("errors == 0");
    assert!(!v.passed);
    assert_eq!(v.value, 10.0);
    let v = check("errors < 0.5%");
    assert!((v.value - 100.0 * 10.0 / 1010.0).abs() < 1e-9);
    assert!(!v.passed);
    assert_eq!(v.measured, "0.99%");
    assert_eq!(check("status_4xx < 1%").measured, "1.5%");
    assert_eq!(fmt_pct(0.0), "0%");
    assert_eq!(fmt_pct(0.0001), "<0.001%");
    assert!(check("errors < 1%").passed);
    assert!(check("status_5xx == 5").passed);
    assert!(!check("status_5xx == 0").passed);
    let v = check("status_4xx < 1%");
    assert!((v.value - 1.5).abs() < 1e-9);
    assert!(!v.passed);
    assert!(check("status_4xx < 2%").passed);
    assert!(check("status_2xx >= 98%").passed);
    assert!(check("status_3xx == 0").passed);
    assert!(check("status_other == 0").passed);
    assert!(!check("unexpected_status == 0").passed);
    assert!(check("unexpected_status <= 2%").passed);
    assert!(check("reconnects == 3").passed);
    assert!(check("late == 1").passed);
    assert!(check("unsent == 0").passed);
}

#[test]
fn evaluate_keeps_order_and_canonical_text() {
    let s = summary();
    let ts = [t("p99<11ms"), t("errors==0")];
    let v = evaluate(&ts, &s, None);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].threshold, "p99 < 11ms");
    assert!(v[0].passed);
    assert_eq!(v[1].threshold, "errors == 0");
    assert!(!v[1].passed);
    let json = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(json["passed"], true);
    assert!(json["measured"].is_string());
}

#[test]
fn a_threshold_with_no_data_fails_saying_so() {
    // The target was down: connect errors only, no response, no latency sample.
    let mut r = Report::default();
    r.counts.errors.connect = 40;
    let s = crate::report::Summary::from_report(&r);
    for (expr, why) in [
        ("p99 < 50ms", "no samples"),
        ("avg < 1s", "no samples"),
        ("max < 1s", "no samples"),
        ("status_5xx < 1%", "no responses"),
        ("unexpected_status < 1%", "no responses"),
    ] {
        let v = t(expr).evaluate(&s, None);
        assert!(!v.passed, "{expr} passed with no data");
        assert_eq!(v.measured, why, "{expr}");
    }
    // Counts still judge an empty run: zero 5xx responses is true.
    assert!(t("status_5xx == 0").evaluate(&s, None).passed);
}

#[test]
fn parses_relative_thresholds_and_writes_them_back() {
    for (text, limit, canonical) in [
        ("p99 < baseline", Relative::Times(1.0), "p99 < baseline"),
        (
            "p99 < BASELINE*1.10",
            Relative::Times(1.1),
            "p99 < baseline * 1.1",
        ),
        (
            "rps >= baseline * 0.95",
            Relative::Times(0.95),
            "rps >= baseline * 0.95",
        ),
        (
            "p99 <= baseline + 2ms",
            Relative::Plus {
                by: 2000.0,
                percent: false,
            },
            "p99 <= baseline + 2ms",
        ),
        (
            "errors <= baseline + 0.1%",
            Relative::Plus {
                by: 0.1,
                percent: true,
            },
            "errors <= baseline + 0.1%",
        ),
        (
            "rps > baseline - 500",
            Relative::Plus {
                by: -500.0,
                percent: false,
            },
            "rps > baseline - 500",
        ),
    ] {
        let th = t(text);
        assert_eq!(th.limit, Limit::Baseline(limit), "{text}");
        assert!(th.is_relative());
        assert_eq!(th.to_string(), canonical);
        assert_eq!(t(canonical), th, "{canonical} reads back");
    }
    assert!(!t("p99 < 5ms").is_relative());
    assert!(err("p99 < baseline / 2").message.contains("after baseline"));
    assert!(err("p99 < baseline + 2").message.contains("duration unit"));
    assert!(err("rps < baseline + 2%").message.contains("percentage"));
    assert!(err("p99 < baseline * 2ms")
        .message
        .contains("end of the threshold"));
}

#[test]
fn evaluates_against_a_baseline_run() {
    let mut now = summary();
    now.latency.p99 = 10_000;
    let mut base = now.clone();
    base.latency.p99 = 5_000;
    base.rps = 4000.0;
    base.error_total = 10;
    base.error_rate = 0.005;
    let check = |text: &str| t(text).evaluate(&now, Some(&base));
    let v = check("p99 < baseline * 1.5");
    assert!(!v.passed, "twice the baseline's p99 is over 1.5x");
    assert_eq!(v.baseline.as_deref(), Some("5.00ms"));
    assert_eq!(v.change.as_deref(), Some("+100%"));
    assert!(v.measured_text().contains(", baseline ") && v.measured_text().ends_with("+100%"));
    assert!(check("p99 <= baseline * 2").passed);
    let v = check("rps >= baseline * 0.95");
    assert!(!v.passed);
    assert_eq!(v.change.as_deref(), Some("-50%"));
    assert!(check("rps >= baseline - 2000").passed);
    // Errors: as counts with `*`, as rates (percentage points) with `+ x%`.
    assert!(check("errors <= baseline").passed);
    let v = check("errors <= baseline + 0.1%");
    assert!((v.value - 100.0 * 10.0 / 1010.0).abs() < 1e-9);
    assert!(!v.passed, "0.99% is more than 0.5% + 0.1 points");
    assert!(check("errors <= baseline + 0.5%").passed);
    // Without a baseline a relative threshold never holds.
    let v = t("p99 < baseline * 10").evaluate(&now, None);
    assert!(!v.passed);
    assert_eq!(v.baseline.as_deref(), Some("none"));
    // A baseline of zero has no ratio.
    base.late = 0;
    let v = t("late <= baseline").evaluate(&now, Some(&base));
    assert!(!v.passed && now.late == 1);
    assert_eq!(v.change.as_deref(), Some("from 0"));
}
