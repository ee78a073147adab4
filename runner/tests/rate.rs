//! Open model: the achieved rate matches the schedule, stages put the expected
//! count in each second, and latency measured from the intended send time
//! shows a server stall that service time hides (coordinated omission).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use api::duration::HumanDuration;
use api::plan::Stage;
use common::{plan, run, serve};

#[test]
fn constant_rate_is_achieved_and_not_exceeded() {
    let srv = serve();
    let mut p = plan(&format!("http://{}/", srv.local_addr()), 16, 1, 1000);
    p.rate = Some(3000);
    p.threads = 2;
    let r = run(&p);
    srv.shutdown();
    let c = r.counts;
    assert!(
        (2850..=3001).contains(&c.requests),
        "3000 req/s for 1 s: {c:?}"
    );
    assert!(c.responses + 16 >= c.requests, "{c:?}");
    assert_eq!(c.unsent, 0, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert!(
        r.uncorrected.is_some(),
        "rate mode keeps the uncorrected histogram too"
    );
}

#[test]
fn stages_put_the_expected_count_in_each_second() {
    let srv = serve();
    let mut p = plan(&format!("http://{}/", srv.local_addr()), 8, 1, 1);
    let s = |secs, target| Stage {
        duration: HumanDuration(Duration::from_secs(secs)),
        target,
    };
    // 0 -> 2000 over 1 s (1000 requests), hold 2000 for 1 s (2000), 2000 -> 0 over 1 s (1000).
    p.stages = vec![s(1, 2000), s(1, 2000), s(1, 0)];
    let r = run(&p);
    srv.shutdown();
    let per_second: Vec<u64> = r.timeline.iter().map(|s| s.responses).collect();
    assert!(per_second.len() >= 3, "{per_second:?}");
    for (got, want) in per_second.iter().zip([1000u64, 2000, 1000]) {
        assert!(
            got.abs_diff(want) <= want / 10,
            "per-second responses {per_second:?}, expected about [1000, 2000, 1000]"
        );
    }
    assert!(r.counts.requests.abs_diff(4000) <= 40, "{:?}", r.counts);
}

#[test]
fn corrected_latency_shows_a_stall_that_service_time_hides() {
    let srv = serve();
    let addr = srv.local_addr();
    let mut p = plan(&format!("http://{addr}/"), 4, 1, 2000);
    p.rate = Some(1000);
    // Half a second in, the whole server stalls for 400 ms.
    let trigger = stall_after(addr, 500, 400);
    let r = run_long(&p);
    trigger.join().unwrap();
    srv.shutdown();
    let corrected_p99 = r.latency.value_at_quantile(0.99);
    let uncorrected = r.uncorrected.as_ref().expect("rate mode");
    let uncorrected_p99 = uncorrected.value_at_quantile(0.99);
    // About 400 of 2000 requests were due during the stall: from their intended
    // time they waited up to 400 ms, so the corrected p99 is in the hundreds of
    // ms. Only the 4 in flight when it began waited on the wire, so service-time
    // p99 stays small.
    assert!(
        corrected_p99 >= 200_000,
        "corrected p99 {corrected_p99} us should reflect the 400 ms stall"
    );
    assert!(
        uncorrected_p99 < 100_000,
        "uncorrected p99 {uncorrected_p99} us should hide it"
    );
    assert!(
        uncorrected.max() >= 200_000,
        "the requests caught in the stall still show it"
    );
    assert!(
        r.counts.late > 100,
        "requests sent after their time are counted late: {:?}",
        r.counts
    );
}

/// After `after_ms`, stall the whole built-in server for `stall_ms`.
fn stall_after(
    addr: std::net::SocketAddr,
    after_ms: u64,
    stall_ms: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(after_ms));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /stall/{stall_ms} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    })
}

/// A run whose timeout is longer than the stall, so stalled requests are not reset.
fn run_long(p: &api::plan::LoadPlan) -> api::report::Report {
    common::run_with_timeout(p, Duration::from_secs(2))
}

#[test]
fn a_rate_the_connections_cannot_carry_is_reported_not_shrunk() {
    let srv = serve();
    let base = format!("http://{}", srv.local_addr());
    // 2 connections, each request takes 50 ms: at most 40 req/s can be carried.
    let mut p = plan(&format!("{base}/delay/50"), 2, 1, 1000);
    p.rate = Some(400);
    let r = common::run_with_timeout(&p, Duration::from_secs(2));
    srv.shutdown();
    let c = r.counts;
    assert!(c.responses <= 60, "{c:?}");
    assert!(
        c.unsent >= 300,
        "the requests that could not be sent are reported: {c:?}"
    );
    assert!(c.late > 0, "{c:?}");
}

#[test]
fn the_warm_ups_backlog_stays_out_of_the_measured_window() {
    let srv = serve();
    let addr = srv.local_addr();
    let mut p = plan(&format!("http://{addr}/"), 4, 16, 1000);
    p.rate = Some(1000);
    p.warmup = HumanDuration(Duration::from_millis(600));
    // The server stalls from 300 ms to 900 ms: the 64 requests in flight and
    // the ~300 queued behind them were due in the warm-up but are answered or
    // sent in the measured second.
    let trigger = stall_after(addr, 300, 600);
    let r = run_long(&p);
    trigger.join().unwrap();
    srv.shutdown();
    let c = r.counts;
    let st = c.status;
    let classes = st.s2xx + st.s3xx + st.s4xx + st.s5xx + st.other;
    assert_eq!(
        classes, c.responses,
        "status classes count measured responses only: {c:?}"
    );
    let per_second: u64 = r.timeline.iter().map(|s| s.responses).sum();
    assert_eq!(
        per_second, c.responses,
        "the timeline adds up: {:?}",
        r.timeline
    );
    assert_eq!(
        r.timeline.len(),
        1,
        "a 1 s run has one second: {:?}",
        r.timeline
    );
    // 1000 due in the measured second (±1 for the float schedule's edges):
    // each one was either sent or is unsent, never both, never a warm-up one.
    assert!(
        (c.requests + c.unsent).abs_diff(1000) <= 1,
        "requests + unsent = due in the window: {c:?}"
    );
    assert!(c.late <= c.requests, "{c:?}");
    // What was sent was answered, except what is still in flight at the end.
    assert!(c.responses <= c.requests, "{c:?}");
    assert!(c.requests - c.responses <= 64, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
}
