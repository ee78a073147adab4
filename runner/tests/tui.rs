//! The `--tui` views: the live view rendered into ratatui's test backend, and
//! the results view's tables, histogram and history charts.

mod common;

use std::time::Duration;

use api::plan::LoadPlan;
use api::report::Report;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use runner::history::Entry;
use runner::progress::Progress;
use runner::tui::ansi::strip_ansi;
use runner::tui::{
    check_buckets, latency_buckets, render_results, LiveFrame, LiveState, RunnerLine, MAX_BUCKETS,
};

fn progress(secs: u64, responses: u64, bytes: u64) -> LiveFrame {
    LiveFrame::from(&Progress {
        elapsed: Duration::from_secs(secs),
        total: Duration::from_secs(10),
        responses,
        bytes_read: bytes,
    })
}

fn screen(state: &LiveState, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| f.render_widget(state, f.area())).unwrap();
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn new_state(target: &str, secs: u64) -> LiveState {
    LiveState::new(target, Duration::from_secs(secs), Duration::ZERO)
}

#[test]
fn live_rates_come_from_differences_between_reports() {
    let mut st = new_state("http://127.0.0.1:8080/", 10);
    st.update(progress(1, 1000, 100_000));
    st.update(progress(2, 3000, 300_000));
    st.update(progress(3, 3500, 350_000));
    assert_eq!(st.samples(), &[1000, 2000, 500]);
    assert_eq!(st.peak(), 2000);
    assert_eq!(st.current_rps(), 500.0);
    // A repeated report adds no sample and keeps the rate.
    st.update(progress(3, 3500, 350_000));
    assert_eq!(st.samples().len(), 3);
    assert!((st.ratio() - 0.3).abs() < 1e-9);
}

#[test]
fn live_view_shows_progress_rate_and_peak() {
    let mut st = new_state("http://127.0.0.1:8080/json", 10);
    st.update(progress(1, 1000, 1 << 20));
    st.update(progress(2, 3500, 3 << 20));
    st.update(progress(5, 5000, 4 << 20));
    let s = screen(&st, 100, 30);
    assert!(s.contains("http://127.0.0.1:8080/json"), "{s}");
    assert!(s.contains("50%"), "{s}");
    assert!(s.contains("5.0s / 10.0s"), "{s}");
    assert!(s.contains("req/s 500"), "current rate (1500 in 3 s): {s}");
    assert!(s.contains("responses 5000"), "{s}");
    assert!(s.contains("bandwidth 341.33KiB/s"), "{s}");
    assert!(s.contains("peak 2.50K"), "{s}");
    // The chart draws its line in braille dots.
    assert!(s.contains("Req/s  now 500  peak 2.50K"), "{s}");
    assert!(
        s.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "{s}"
    );
}

/// A frame as the engine's workers would give it: latency, statuses,
/// errors with the first one's reason, connections, the open model's schedule.
fn rich_frame(secs: u64, responses: u64) -> LiveFrame {
    let mut h = api::report::new_histogram();
    for v in 1..=responses {
        h.record(100 + v % 900).unwrap();
    }
    let mut f = progress(secs, responses, responses * 100);
    f.latency = Some(h);
    f.counts.requests = responses + 9;
    f.counts.status.s2xx = responses - 4;
    f.counts.status.s5xx = 4;
    f.counts.errors.connect = 3;
    f.counts.errors.timeout = 2;
    f.counts.reconnects = 6;
    f.counts.late = 11;
    f.open_connections = Some(48);
    f.scheduled = Some(responses + 20);
    f.first_error = Some("connect: Connection refused (os error 111)".into());
    f
}

#[test]
fn live_view_fills_the_terminal_with_percentiles_statuses_and_errors() {
    let mut st = new_state("http://127.0.0.1:8080/", 10);
    st.update(rich_frame(1, 1000));
    st.update(rich_frame(2, 3000));
    let s = screen(&st, 120, 40);
    for part in [
        "Latency so far",
        "p50",
        "p90",
        "p99.9",
        "max",
        "Status codes",
        "2xx     2996",
        "5xx     4",
        "Errors",
        "connect 3",
        "timeout 2",
        "total   5",
        "open connections 48",
        "reconnects 6",
        "scheduled 3020",
        "late 11",
        "unsent 11",
        "first error connect: Connection refused (os error 111)",
        "Latency histogram so far",
    ] {
        assert!(s.contains(part), "missing {part:?}:\n{s}");
    }
    let p = st.latency().expect("latency from the frames");
    assert!(p.p50 > 0 && p.p99 >= p.p50 && p.max >= p.p999, "{p:?}");
    assert!(
        s.contains(&format!(
            "p99     {}",
            runner::output::format::latency_us(p.p99 as f64)
        )),
        "{s}"
    );
    // The last second's p99 comes from the difference of the cumulative histograms.
    assert!(st.p99_last().is_some_and(|v| v > 0), "{s}");
    // Every row is used: the histogram reaches the bottom border.
    assert!(s.lines().nth(39).unwrap().starts_with('└'), "{s}");
}

#[test]
fn live_view_adapts_to_small_and_odd_sizes() {
    let mut st = new_state("http://127.0.0.1:8080/", 10);
    st.update(rich_frame(1, 1000));
    // Too short for the histogram and chart: the numbers stay.
    let short = screen(&st, 80, 12);
    for part in ["p99 ", "2xx 996", "errors 5"] {
        assert!(short.contains(part), "missing {part:?}:\n{short}");
    }
    assert!(!short.contains("Latency histogram"), "{short}");
    // Tiny: title, gauge, rates, notes; nothing panics.
    let tiny = screen(&st, 30, 5);
    assert!(tiny.contains("gcannon"), "{tiny}");
    for (w, h) in [(1, 1), (10, 3), (200, 80), (40, 100)] {
        screen(&st, w, h);
    }
}

#[test]
fn warm_up_counts_down_before_the_first_frame() {
    let mut st = LiveState::new("http://x/", Duration::from_secs(5), Duration::from_secs(2));
    st.tick(Duration::from_millis(500));
    assert!(st.warming_up());
    let s = screen(&st, 100, 20);
    assert!(s.contains("warm-up 0.5s / 2.0s (not measured)"), "{s}");
    st.update(progress(1, 10, 10));
    assert!(!st.warming_up());
}

#[test]
fn live_view_fits_a_narrow_terminal_and_a_long_run() {
    let mut st = new_state("http://127.0.0.1:1/", 600);
    for i in 1..=600u64 {
        st.update(progress(i, i * i, i));
    }
    let s = screen(&st, 20, 30);
    assert!(s.contains("100%"), "{s}");
    assert_eq!(st.peak(), 600 * 600 - 599 * 599);
}

#[test]
fn local_and_cluster_runs_list_each_runner() {
    let mut st = new_state("http://127.0.0.1:8080/", 10);
    let mut f = rich_frame(1, 1000);
    f.phase = Some("Running: 3/3 runners".into());
    f.runners = (0..3)
        .map(|i| RunnerLine {
            name: format!("runner {i}"),
            state: "running".into(),
            responses: 100 * (i + 1),
            rps: 50.0,
            errors: i,
            p99_us: Some(1500),
        })
        .collect();
    st.update(f);
    let s = screen(&st, 120, 40);
    for part in [
        "Runners",
        "runner 0",
        "runner 2",
        "Running: 3/3 runners",
        "1.50ms",
    ] {
        assert!(s.contains(part), "missing {part:?}:\n{s}");
    }

    // A running LoadTest's status has responses and an error total, nothing finer.
    let mut f = rich_frame(2, 2000);
    f.partial = true;
    st.update(f);
    let s = screen(&st, 120, 40);
    for part in [
        "2xx     -",
        "connect -",
        "total   5",
        "requests -",
        "bandwidth -",
    ] {
        assert!(s.contains(part), "missing {part:?}:\n{s}");
    }
}

fn report_with(values: &[(u64, u64)]) -> Report {
    let mut r = Report::default();
    for &(v, n) in values {
        r.latency.record_n(v, n).unwrap();
    }
    r.counts.responses = r.latency.len();
    r.counts.requests = r.latency.len() + 3;
    r.counts.bytes_read = r.counts.responses * 100;
    r.counts.status.s2xx = r.counts.responses - 7;
    r.counts.status.s5xx = 7;
    r.counts.errors.timeout = 2;
    r.elapsed_sec = 2.0;
    r
}

fn plan() -> LoadPlan {
    LoadPlan {
        target: "http://127.0.0.1:9/x".into(),
        ..LoadPlan::default()
    }
}

/// Rows of the histogram box: between its title line and the next bottom border.
fn histogram_rows(text: &str) -> Vec<String> {
    let plain = strip_ansi(text);
    let lines: Vec<&str> = plain.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("Latency histogram"))
        .expect("histogram title");
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with('└'))
        .map(|l| l.to_string())
        .collect()
}

fn spread() -> Report {
    // 1000 fast, a bulk in the middle, a thin tail and one outlier past p99.9.
    let mut v: Vec<(u64, u64)> = (1..=200).map(|i| (100 + i * 5, 50)).collect();
    v.push((50, 1000));
    v.push((5_000_000, 1));
    report_with(&v)
}

#[test]
fn results_have_every_table_with_coloured_percentiles() {
    let r = spread();
    let out = render_results(&plan(), &r, 10, &[]);
    let plain = strip_ansi(&out);
    for part in [
        "Latency",
        "Throughput",
        "Status codes",
        "Latency histogram",
        "p99.9",
        "Req/s",
        "Bandwidth",
        "2xx",
        "5xx",
        "Errors",
        "http://127.0.0.1:9/x",
    ] {
        assert!(plain.contains(part), "missing {part}: {plain}");
    }
    assert!(
        plain.contains('┌') && plain.contains('┘'),
        "box drawn: {plain}"
    );
    let p99 = runner::output::format::latency_us(r.latency.value_at_quantile(0.99) as f64);
    let p999 = runner::output::format::latency_us(r.latency.value_at_quantile(0.999) as f64);
    assert!(
        out.contains(&format!("\x1b[0;33m{p99}")),
        "p99 {p99} yellow: {out:?}"
    );
    assert!(
        out.contains(&format!("\x1b[0;31m{p999}")),
        "p99.9 {p999} red: {out:?}"
    );
    // Throughput: responses over 2 s.
    let rps = runner::output::format::si(r.counts.responses as f64 / 2.0);
    assert!(plain.contains(&rps), "{rps}: {plain}");
    assert!(plain.contains(&r.counts.requests.to_string()));
    // No line is wider than the view.
    assert!(plain.lines().all(|l| l.chars().count() <= 78), "{plain}");
}

#[test]
fn histogram_has_the_asked_rows_and_counts_up_to_p999() {
    let r = spread();
    let p999 = r.latency.value_at_quantile(0.999);
    let within: u64 = r
        .latency
        .iter_recorded()
        .filter(|v| v.value_iterated_to() <= p999)
        .map(|v| v.count_at_value())
        .sum();
    assert!(within < r.latency.len(), "the outlier is beyond p99.9");
    for n in [1usize, 7, 10, 100] {
        let buckets = latency_buckets(&r.latency, n);
        assert_eq!(buckets.len(), n);
        assert!(buckets
            .windows(2)
            .all(|w| w[0].low_us < w[1].low_us && w[0].high_us <= w[1].low_us + 1e-9));
        assert!(buckets.iter().all(|b| b.low_us < b.high_us));
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), within);
        assert!(buckets[0].low_us <= r.latency.min() as f64 + 1.0);
        assert!((buckets[n - 1].high_us - p999 as f64).abs() < 1.0);

        let rows = histogram_rows(&render_results(&plan(), &r, n, &[]));
        assert_eq!(rows.len(), n, "{rows:#?}");
        // Each row ends with its count and percentage; they add up as well.
        let counts: u64 = rows
            .iter()
            .map(|l| {
                let t: Vec<&str> = l.trim_end_matches('│').split_whitespace().collect();
                t[t.len() - 2].parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(counts, within);
    }
}

#[test]
fn bucket_option_is_validated_and_clamped() {
    assert!(check_buckets(0).is_err());
    assert!(check_buckets(MAX_BUCKETS + 1).is_err());
    assert_eq!(check_buckets(1), Ok(1));
    assert_eq!(check_buckets(MAX_BUCKETS), Ok(MAX_BUCKETS));
    let msg = check_buckets(0).unwrap_err().to_string();
    assert!(msg.contains("-b 0") && msg.contains("100"), "{msg}");
    let r = spread();
    assert_eq!(
        histogram_rows(&render_results(&plan(), &r, 0, &[])).len(),
        1
    );
    assert_eq!(
        histogram_rows(&render_results(&plan(), &r, 5000, &[])).len(),
        MAX_BUCKETS
    );
}

#[test]
fn single_latency_value_still_gets_increasing_bounds() {
    let r = report_with(&[(300, 1000)]);
    let b = latency_buckets(&r.latency, 4);
    assert_eq!(b.len(), 4);
    assert!(b.windows(2).all(|w| w[0].low_us < w[1].low_us));
    assert_eq!(b[0].count, 1000);
}

#[test]
fn empty_report_renders_without_panicking() {
    let out = strip_ansi(&render_results(&plan(), &Report::default(), 10, &[]));
    assert!(out.contains("no responses recorded"), "{out}");
    assert!(latency_buckets(&Report::default().latency, 10).is_empty());
}

fn run(i: u64) -> Entry {
    Entry {
        timestamp: 1_700_000_000 + i,
        target: "http://127.0.0.1:9/".into(),
        rps: 1000.0 * i as f64,
        avg_us: 100.0 * i as f64,
        p50_us: 90 * i,
        p99_us: 300 * i,
        responses: 10_000 * i,
        errors: 0,
        duration_sec: 10.0,
        connections: 8,
        pipeline: 1,
    }
}

#[test]
fn history_charts_show_last_ten_runs_with_values_at_the_tips() {
    let history: Vec<Entry> = (1..=15).map(run).collect();
    let plain = strip_ansi(&render_results(&plan(), &spread(), 10, &history));
    let lines: Vec<&str> = plain.lines().collect();
    let rps_start = lines
        .iter()
        .position(|l| l.contains("Req/s, last runs"))
        .expect("rps chart");
    let lat_start = lines
        .iter()
        .position(|l| l.contains("Avg latency, last runs"))
        .expect("latency chart");
    let rows = |start: usize| -> Vec<&str> {
        lines[start + 1..]
            .iter()
            .take_while(|l| !l.starts_with('└'))
            .copied()
            .collect()
    };
    let rps_rows = rows(rps_start);
    let lat_rows = rows(lat_start);
    assert_eq!(rps_rows.len(), 10);
    assert_eq!(lat_rows.len(), 10);
    // Oldest shown is run 6, newest (marked) run 15; each value sits right after its bar.
    assert!(rps_rows[0].contains("run 6 "), "{}", rps_rows[0]);
    assert!(rps_rows[9].contains("run 15*"), "{}", rps_rows[9]);
    // Bars grow with the value.
    let tip = |l: &str, v: &str| {
        let at = l
            .find(&format!(" {v}"))
            .unwrap_or_else(|| panic!("{v} in {l}"));
        l[..at].ends_with(|c| "▏▎▍▌▋▊▉█".contains(c))
    };
    assert!(tip(rps_rows[0], "6.00K"), "{}", rps_rows[0]);
    assert!(tip(rps_rows[9], "15.00K"), "{}", rps_rows[9]);
    assert!(tip(lat_rows[0], "600us"), "{}", lat_rows[0]);
    assert!(tip(lat_rows[9], "1.50ms"), "{}", lat_rows[9]);
    let bar_len = |l: &str| l.chars().filter(|c| *c == '█').count();
    assert!(bar_len(rps_rows[0]) < bar_len(rps_rows[9]));
    assert!(!plain.contains("run 5 "), "only the last ten");
}

#[test]
fn short_history_is_charted_and_no_history_draws_no_chart() {
    let plain = strip_ansi(&render_results(&plan(), &spread(), 10, &[run(3)]));
    assert!(plain.contains("run 1*"), "{plain}");
    assert!(plain.contains("3.00K"), "{plain}");
    let none = strip_ansi(&render_results(&plan(), &spread(), 10, &[]));
    assert!(!none.contains("last runs"), "{none}");
}

#[test]
fn ansi_output_strips_back_to_the_drawn_text() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::style::{Color, Style};
    let mut buf = Buffer::empty(Rect::new(0, 0, 10, 2));
    buf.set_string(0, 0, "ab", Style::default().fg(Color::Red));
    buf.set_string(2, 0, "cd", Style::default());
    buf.set_string(0, 1, "x", Style::default());
    let s = runner::tui::ansi::buffer_to_ansi(&buf);
    assert_eq!(s, "\x1b[0;31mab\x1b[0mcd\nx\n");
    assert_eq!(strip_ansi(&s), "abcd\nx\n");
}

#[test]
fn rate_runs_chart_requests_and_p99_per_second() {
    let mut r = spread();
    r.timeline = vec![
        api::report::Second {
            responses: 1000,
            p99_us: 800,
        },
        api::report::Second {
            responses: 3000,
            p99_us: 2500,
        },
    ];
    let rate_plan = LoadPlan {
        rate: Some(2000),
        ..plan()
    };
    let text = strip_ansi(&render_results(&rate_plan, &r, 10, &[]));
    assert!(text.contains("Responses per second"), "{text}");
    assert!(text.contains("p99 per second"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("2s") && l.contains("3.00K")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("2s") && l.contains("2.50ms")),
        "{text}"
    );
    let closed = strip_ansi(&render_results(&plan(), &spread(), 10, &[]));
    assert!(!closed.contains("per second"), "no timeline, no chart");
    // A closed-loop run charts its per-second p99 too.
    let closed = strip_ansi(&render_results(&plan(), &r, 10, &[]));
    assert!(closed.contains("p99 per second"), "{closed}");
    // A timeline without per-second p99 would chart zeros: no p99 panel.
    for s in &mut r.timeline {
        s.p99_us = 0;
    }
    let bare = strip_ansi(&render_results(&plan(), &r, 10, &[]));
    assert!(bare.contains("Responses per second"), "{bare}");
    assert!(!bare.contains("p99 per second"), "{bare}");
}

#[test]
fn a_closed_loop_run_measures_each_seconds_p99() {
    let srv = common::serve();
    let p = common::plan(&format!("http://{}/", srv.local_addr()), 2, 1, 2100);
    let r = common::run(&p);
    assert!(r.timeline.len() >= 2, "{:?}", r.timeline);
    for s in &r.timeline[..2] {
        assert!(s.responses > 0 && s.p99_us > 0, "{:?}", r.timeline);
    }
}
