use super::*;
use api::duration::HumanDuration;
use api::plan::{RequestTemplate, WebSocketPlan};
use api::report::new_histogram;
use api::threshold::{evaluate, Threshold};
use std::time::Duration;

fn plan() -> LoadPlan {
    LoadPlan {
        target: "http://localhost:8080/json".into(),
        connections: 512,
        threads: 8,
        pipeline: 16,
        duration: HumanDuration(Duration::from_secs(5)),
        ..LoadPlan::default()
    }
}

fn report() -> Report {
    let mut r = Report::default();
    r.latency.record_n(850, 50).unwrap();
    r.latency.record_n(1_820, 49).unwrap();
    r.latency.record(1_200_000).unwrap();
    r.counts.requests = 4_823_901;
    r.counts.responses = 4_823_901;
    r.counts.status.s2xx = 4_823_901;
    r.counts.bytes_read = 379_433_164;
    r.elapsed_sec = 5.0;
    r
}

#[test]
fn banner_matches_the_original_shape() {
    let b = render_banner(&plan());
    assert!(b.starts_with("gcannon — io_uring HTTP load generator\n"));
    assert!(b.contains("  Target:    localhost:8080/json\n"), "{b}");
    assert!(b.contains("  Threads:   8\n"));
    assert!(b.contains("  Conns:     512 (64/thread)\n"));
    assert!(b.contains("  Pipeline:  16\n"));
    assert!(b.contains("  Duration:  5s\n"));
    assert!(!b.contains("Rate:"));
    let uneven = render_banner(&LoadPlan {
        connections: 10,
        threads: 4,
        ..plan()
    });
    assert!(uneven.contains("10 (2-3/thread)"), "{uneven}");
    let rated = render_banner(&LoadPlan {
        rate: Some(1000),
        ..plan()
    });
    assert!(
        rated.contains("Rate:      open model, 1000 req/s"),
        "{rated}"
    );
    let tpl = render_banner(&LoadPlan {
        target: String::new(),
        templates: vec![RequestTemplate {
            name: "a.raw".into(),
            text: String::new(),
        }],
        ..plan()
    });
    assert!(tpl.contains("Target:    (from templates: a.raw)"), "{tpl}");
}

#[test]
fn result_has_latency_throughput_bandwidth_status() {
    let out = render_result(&plan(), &report(), &[]);
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], "Latency");
    assert!(cells[1].ends_with("ms"), "avg {row}");
    assert_eq!(cells[2], "850us", "{row}");
    assert_eq!(cells[3], "1.82ms", "{row}");
    assert_eq!(cells[6], "1.20s", "{row}");
    assert!(out.contains("p99.9"));
    assert!(
        out.contains("  4823901 requests in 5.00s, 4823901 responses\n"),
        "{out}"
    );
    assert!(out.contains("  Throughput: 964.78K req/s\n"), "{out}");
    assert!(
        out.contains("  Bandwidth:  72.37MiB/s\n") || out.contains("  Bandwidth:  72.36MiB/s\n"),
        "{out}"
    );
    assert!(out.contains("  Status codes: 2xx=4823901, 3xx=0, 4xx=0, 5xx=0\n"));
    assert!(out.contains("  Reconnects: 0\n"));
    assert!(!out.contains("Errors:"));
    assert!(!out.contains("Unexpected"));
    assert!(!out.contains("WebSocket"));
    assert!(!out.contains("Thresholds"));
}

#[test]
fn faults_and_unexpected_status_are_shown() {
    let mut r = report();
    r.counts.errors.timeout = 3;
    r.counts.errors.parse = 1;
    r.counts.unexpected_status = 7;
    r.counts.status.other = 2;
    let out = render_result(&plan(), &r, &[]);
    assert!(
        out.contains("Errors: connect=0, read=0, timeout=3, parse=1"),
        "{out}"
    );
    assert!(
        out.contains("Unexpected status: 7 responses were not 200"),
        "{out}"
    );
    assert!(out.contains(", other=2\n"), "{out}");
}

#[test]
fn ws_and_rate_modes_add_their_lines() {
    let ws = LoadPlan {
        websocket: Some(WebSocketPlan {
            message: "hi".into(),
        }),
        ..plan()
    };
    let mut r = report();
    r.counts.ws_upgrades = 512;
    r.counts.ws_frames = 1000;
    assert!(render_result(&ws, &r, &[]).contains("WebSocket: 512 upgrades, 1000 frames"));

    let rated = LoadPlan {
        rate: Some(1000),
        ..plan()
    };
    let mut u = new_histogram();
    u.record(100).unwrap();
    r.uncorrected = Some(u);
    r.counts.late = 4;
    r.counts.unsent = 2;
    let out = render_result(&rated, &r, &[]);
    assert!(
        out.contains("corrected, measured from each request's intended send time"),
        "{out}"
    );
    assert!(
        out.contains("uncorrected, measured from the actual send"),
        "{out}"
    );
    let service = out
        .lines()
        .find(|l| l.trim_start().starts_with("Service"))
        .unwrap();
    assert!(service.contains("100us"), "{service}");
    assert!(out.contains("Schedule: 4 sent late, 2 never sent"), "{out}");
}

#[test]
fn per_template_rows_and_verdicts() {
    let p = LoadPlan {
        templates: vec![
            RequestTemplate {
                name: "get.raw".into(),
                text: String::new(),
            },
            RequestTemplate {
                name: "post.raw".into(),
                text: String::new(),
            },
        ],
        ..plan()
    };
    let mut r = report();
    let mut a = new_histogram();
    a.record(300).unwrap();
    r.per_template = vec![a, new_histogram()];
    let ts = [
        Threshold::parse("p99 < 5ms").unwrap(),
        Threshold::parse("max < 1s").unwrap(),
    ];
    let verdicts = evaluate(&ts, &Summary::from_report(&r), None);
    let out = render_result(&p, &r, &verdicts);
    let row0 = out
        .lines()
        .find(|l| l.trim_start().starts_with("[0]"))
        .unwrap();
    assert!(row0.contains("300us"), "{row0}");
    assert!(out.contains("^ get.raw"));
    assert!(out.contains("^ post.raw"));
    assert!(out.contains("Thresholds: 1/2 passed"), "{out}");
    assert!(out.contains("✓ p99 < 5ms (measured 1.82ms)"), "{out}");
    assert!(out.contains("✗ max < 1s (measured 1.20s)"), "{out}");
}

#[test]
fn no_verdicts_no_block() {
    assert_eq!(render_verdicts(&[]), "");
}

#[test]
fn rate_mode_prints_requests_and_p99_per_second() {
    let rated = LoadPlan {
        rate: Some(1000),
        ..plan()
    };
    let mut r = report();
    r.timeline = vec![
        api::report::Second {
            responses: 500,
            p99_us: 900,
        },
        api::report::Second {
            responses: 2000,
            p99_us: 1_500,
        },
    ];
    let out = render_result(&rated, &r, &[]);
    assert!(out.contains("Per second"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2']) && l.contains("s "))
        .collect();
    assert!(
        rows.iter()
            .any(|l| l.contains("1s") && l.contains("500") && l.contains("900us")),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|l| l.contains("2s") && l.contains("2.00K") && l.contains("1.50ms")),
        "{out}"
    );
    assert!(
        !render_result(&plan(), &r, &[]).contains("Per second"),
        "closed loop prints no timeline"
    );
}
