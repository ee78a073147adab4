//! The engine end to end against the built-in server: counts agree with the
//! server's own, and every framing the server can produce is handled.

mod common;

use common::{plan, run, serve};

#[test]
fn response_counts_agree_with_the_servers_count() {
    let srv = serve();
    let p = plan(&format!("http://{}/", srv.local_addr()), 16, 1, 700);
    let r = run(&p);
    let served = srv.requests();
    srv.shutdown();
    let c = r.counts;
    assert!(c.responses > 100, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert_eq!(c.status.s2xx, c.responses);
    // Warm-up is zero, so every request sent is counted: the server saw at most
    // what was sent and at least what was answered.
    assert!(
        c.responses <= served && served <= c.requests,
        "client {c:?}, server {served}"
    );
    assert!(
        c.requests - c.responses <= 16,
        "more in flight than connections allow: {c:?}"
    );
    assert_eq!(r.latency.len(), c.responses);
}

#[test]
fn pipelining_keeps_depth_requests_in_flight() {
    let srv = serve();
    let p = plan(&format!("http://{}/", srv.local_addr()), 4, 16, 500);
    let r = run(&p);
    srv.shutdown();
    let c = r.counts;
    assert!(c.responses > 1000, "{c:?}");
    assert!(c.requests - c.responses <= 4 * 16, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
}

#[test]
fn requests_per_connection_reconnects() {
    let srv = serve();
    let mut p = plan(&format!("http://{}/", srv.local_addr()), 4, 1, 500);
    p.requests_per_connection = Some(10);
    let r = run(&p);
    srv.shutdown();
    let c = r.counts;
    assert!(c.responses >= 100, "{c:?}");
    let expected = c.responses / 10;
    assert!(
        c.reconnects + 4 >= expected && c.reconnects <= expected + 4,
        "{c:?}"
    );
    assert_eq!(c.errors.total(), 0, "{c:?}");
}

#[test]
fn status_classes_and_expected_status() {
    let srv = serve();
    let base = format!("http://{}", srv.local_addr());
    let mut p = plan(&format!("{base}/status/404"), 2, 4, 300);
    p.expected_status = 404;
    let c = run(&p).counts;
    assert!(
        c.responses > 0 && c.status.s4xx == c.responses && c.unexpected_status == 0,
        "{c:?}"
    );

    let c = run(&plan(&format!("{base}/status/503"), 2, 4, 300)).counts;
    assert!(
        c.responses > 0 && c.status.s5xx == c.responses && c.unexpected_status == c.responses,
        "{c:?}"
    );

    let c = run(&plan(&format!("{base}/status/302"), 2, 4, 300)).counts;
    assert!(c.responses > 0 && c.status.s3xx == c.responses, "{c:?}");

    let c = run(&plan(&format!("{base}/status/204"), 2, 4, 300)).counts;
    assert!(
        c.responses > 0 && c.status.s2xx == c.responses && c.errors.total() == 0,
        "{c:?}"
    );
    srv.shutdown();
}

#[test]
fn chunked_and_large_bodies_cross_small_buffers() {
    let srv = serve();
    let base = format!("http://{}", srv.local_addr());
    let mut p = plan(&format!("{base}/chunked/100000"), 2, 2, 400);
    p.recv_buf = 512;
    let c = run(&p).counts;
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert!(c.bytes_read >= c.responses * 100_000, "{c:?}");

    let mut p = plan(&format!("{base}/bytes/1000000"), 2, 2, 400);
    p.recv_buf = 512;
    let c = run(&p).counts;
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert!(c.bytes_read >= c.responses * 1_000_000, "{c:?}");
    srv.shutdown();
}

#[test]
fn several_threads_merge_into_one_report() {
    let srv = serve();
    let mut p = plan(&format!("http://{}/json", srv.local_addr()), 6, 2, 400);
    p.threads = 3;
    let r = run(&p);
    srv.shutdown();
    let c = r.counts;
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert_eq!(r.latency.len(), c.responses);
}

#[test]
fn ipv6_loopback_works() {
    let srv = runner::serve::start(&runner::serve::ServeConfig {
        listen: "[::1]:0".parse().unwrap(),
        threads: 1,
    });
    let Ok(srv) = srv else {
        eprintln!("notice: no IPv6 loopback here; skipping");
        return;
    };
    let c = run(&plan(
        &format!("http://[::1]:{}/", srv.local_addr().port()),
        2,
        1,
        300,
    ))
    .counts;
    srv.shutdown();
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
}

#[test]
fn refused_connections_are_counted_and_the_run_ends() {
    // Bind then drop a listener to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = run(&plan(&format!("http://127.0.0.1:{port}/"), 4, 1, 300)).counts;
    assert_eq!(c.responses, 0);
    assert!(c.errors.connect >= 4, "{c:?}");
}

#[test]
fn more_connections_than_ring_entries_all_connect_and_answer() {
    // 6000 connections queue more connects than the 4096-entry submission queue
    // holds, and their first pipelined responses arrive in batches larger than
    // one pass drains. A connection sends its 5th request only after an answer
    // (pipeline 4), so once the server has seen 5 from every connection, every
    // one connected and was answered; the run stops there, whatever the load.
    let srv = runner::serve::start_recording(
        &runner::serve::ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            threads: 1,
        },
        usize::MAX,
    )
    .unwrap();
    // Client and server share this process's open-files limit (which the engine
    // lifts to the hard limit); stay inside it.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a pointer to a live rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let conns = 6000.min((lim.rlim_max.saturating_sub(500) / 2) as u32);
    if conns < 4200 {
        eprintln!(
            "notice: open-files hard limit {} only allows {conns} connections",
            lim.rlim_max
        );
    }
    // A bound for a broken engine, not a speed requirement: the run ends as
    // soon as every connection has been answered.
    let mut p = plan(&format!("http://{}/", srv.local_addr()), conns, 4, 30_000);
    p.threads = 1;
    let all_answered = std::sync::atomic::AtomicBool::new(false);
    let every_connection_answered = || {
        let mut per_conn = std::collections::HashMap::<u64, u32>::new();
        for r in srv.recorded() {
            *per_conn.entry(r.conn).or_default() += 1;
        }
        per_conn.len() == conns as usize && per_conn.values().all(|&n| n >= 5)
    };
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !all_answered.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(300));
                if srv.requests() >= u64::from(conns) * 5 && every_connection_answered() {
                    all_answered.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        p.timeout = api::duration::HumanDuration(std::time::Duration::from_secs(30));
        let r = runner::engine::Run::new(&p, &Default::default())
            .expect("plan is valid")
            .execute(&all_answered, |_| {})
            .expect("run completes");
        all_answered.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    let answered = every_connection_answered();
    srv.shutdown();
    let c = r.counts;
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert!(answered, "every connection answered: {c:?}");
    assert!(c.responses >= u64::from(conns), "{c:?}");
}
