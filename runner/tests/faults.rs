//! A misbehaving server scripted here: it splits responses byte by byte, sends
//! garbage, closes mid-response, or stalls. The engine counts each fault,
//! replaces the connection and carries on; the run always ends on time.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{plan, run, run_with_timeout};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[derive(Clone, Copy)]
enum Behaviour {
    /// Every response written one byte per write.
    ByteByByte,
    /// Garbage instead of a status line on every other connection.
    GarbageEveryOtherConnection,
    /// Half of every second response, then close.
    CloseMidResponse,
    /// Read requests, never answer.
    Stall,
    /// A response head, then one body byte every 50 ms, forever.
    Drip,
    /// `103 Early Hints` every 50 ms, forever, never the final response.
    Endless103,
    /// Read a pipeline of 4, answer the first with `Connection: close`, close.
    CloseWithThreeInFlight,
    /// Hold each connection's first 4 requests until 800 ms after the server
    /// started and answer them `503`; answer the rest `200` at once.
    SlowFirstPipeline,
}

struct Script {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Script {
    fn start(b: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        let started = Instant::now();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let n = a.fetch_add(1, Ordering::Relaxed);
                        let s = s.clone();
                        thread::spawn(move || serve_conn(stream, b, n, &s, started));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Read until a blank line ends a (bodiless) request; false when the peer left.
fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..i + 4);
            return true;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

fn serve_conn(
    mut stream: TcpStream,
    b: Behaviour,
    conn_no: u64,
    stop: &AtomicBool,
    started: Instant,
) {
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pending = Vec::new();
    let mut served = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if !read_request(&mut stream, &mut pending) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            // Read timeout: keep waiting unless the peer is gone.
            let mut probe = [0u8; 1];
            stream.set_nonblocking(true).unwrap();
            let gone = matches!(stream.peek(&mut probe), Ok(0));
            stream.set_nonblocking(false).unwrap();
            if gone {
                return;
            }
            continue;
        }
        served += 1;
        let result = match b {
            Behaviour::ByteByByte => OK.iter().try_for_each(|byte| stream.write_all(&[*byte])),
            Behaviour::GarbageEveryOtherConnection if conn_no.is_multiple_of(2) => {
                let _ = stream.write_all(b"SPDY/9 banana\r\n\r\n");
                return;
            }
            Behaviour::GarbageEveryOtherConnection => stream.write_all(OK),
            Behaviour::CloseMidResponse if served.is_multiple_of(2) => {
                let _ = stream.write_all(&OK[..OK.len() / 2]);
                return;
            }
            Behaviour::CloseMidResponse => stream.write_all(OK),
            Behaviour::Stall => Ok(()),
            Behaviour::SlowFirstPipeline if served <= 4 => {
                let until = started + Duration::from_millis(800);
                thread::sleep(until.saturating_duration_since(Instant::now()));
                stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            }
            Behaviour::SlowFirstPipeline => stream.write_all(OK),
            Behaviour::CloseWithThreeInFlight => {
                // All 4 read first, so the close is a clean FIN, not a reset.
                while served < 4 && !stop.load(Ordering::Relaxed) {
                    served += read_request(&mut stream, &mut pending) as u64;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let mut sink = [0u8; 256];
                while !stop.load(Ordering::Relaxed) && !matches!(stream.read(&mut sink), Ok(0)) {}
                return;
            }
            Behaviour::Drip | Behaviour::Endless103 => {
                let (first, each): (&[u8], &[u8]) = match b {
                    Behaviour::Drip => (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"),
                    _ => (b"", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"),
                };
                let mut r = stream.write_all(first);
                while r.is_ok() && !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(50));
                    r = stream.write_all(each);
                }
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

#[test]
fn responses_split_byte_by_byte_are_framed_right() {
    let s = Script::start(Behaviour::ByteByByte);
    let c = run(&plan(&s.url(), 2, 1, 400)).counts;
    assert!(c.responses > 0, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert_eq!(c.status.s2xx, c.responses);
}

#[test]
fn garbage_is_a_parse_error_and_the_connection_is_replaced() {
    let s = Script::start(Behaviour::GarbageEveryOtherConnection);
    let c = run(&plan(&s.url(), 2, 1, 400)).counts;
    assert!(c.errors.parse > 0, "{c:?}");
    assert!(
        c.responses > 0,
        "the well-behaved connections still count: {c:?}"
    );
    assert!(c.reconnects > 0, "{c:?}");
    assert!(s.accepted.load(Ordering::Relaxed) > 2);
}

#[test]
fn a_close_mid_response_is_a_read_error_and_recovers() {
    let s = Script::start(Behaviour::CloseMidResponse);
    let c = run(&plan(&s.url(), 2, 1, 400)).counts;
    assert!(c.errors.read > 0, "{c:?}");
    assert!(c.responses > 0, "{c:?}");
    assert_eq!(c.errors.parse, 0, "{c:?}");
}

#[test]
fn a_stalled_server_shows_up_as_timeouts_not_a_hang() {
    let s = Script::start(Behaviour::Stall);
    let c = run_with_timeout(&plan(&s.url(), 3, 2, 700), Duration::from_millis(150)).counts;
    assert_eq!(c.responses, 0, "{c:?}");
    assert!(
        c.errors.timeout >= 6,
        "every stalled request times out: {c:?}"
    );
    assert!(c.reconnects >= 3, "{c:?}");
}

#[test]
fn a_dripping_server_cannot_hold_a_request_past_the_timeout() {
    // Bytes keep arriving, but no response completes: the timeout bounds the
    // request's whole life, not the silence between bytes.
    for b in [Behaviour::Drip, Behaviour::Endless103] {
        let s = Script::start(b);
        let c = run_with_timeout(&plan(&s.url(), 2, 1, 800), Duration::from_millis(200)).counts;
        assert_eq!(c.responses, 0, "{c:?}");
        assert!(c.bytes_read > 0, "the server did drip: {c:?}");
        assert!(c.errors.timeout >= 2, "every request times out: {c:?}");
        assert!(c.reconnects >= 2, "{c:?}");
    }
}

#[test]
fn pipelined_requests_lost_to_a_connection_close_are_read_errors() {
    // Each socket: 4 requests sent, 1 answered with `Connection: close`, 3 lost.
    let s = Script::start(Behaviour::CloseWithThreeInFlight);
    let c = run(&plan(&s.url(), 1, 4, 400)).counts;
    assert!(c.responses > 0, "{c:?}");
    assert_eq!(
        c.errors.read,
        3 * c.responses,
        "each lost request counted: {c:?}"
    );
    // Whatever is neither answered nor lost is the last socket's pipeline,
    // still in flight at the end.
    let unaccounted = c.requests - c.responses - c.errors.total();
    assert!(unaccounted == 0 || unaccounted == 4, "{c:?}");
}

#[test]
fn requests_pipelined_behind_garbage_are_counted_lost() {
    let s = Script::start(Behaviour::GarbageEveryOtherConnection);
    let c = run(&plan(&s.url(), 2, 4, 400)).counts;
    assert!(c.errors.parse > 0, "{c:?}");
    // Garbage answers the first of 4 and ends the socket: the 3 behind it
    // are read errors. Only the last pipelines (2 × 4) may still be in flight.
    assert!(c.errors.read >= 3 * c.errors.parse, "{c:?}");
    let unaccounted = c.requests - c.responses - c.errors.total();
    assert!(unaccounted <= 8, "{c:?}");
}

#[test]
fn warm_up_requests_answered_in_the_measured_window_stay_in_the_warm_up() {
    // Closed model, 300 ms warm-up: each connection's first pipeline goes out
    // at once and is answered (503) only after the warm-up, 800 ms in.
    // Those answers belong to requests the warm-up sent, not to the
    // measured window, which sees only the 200s that follow.
    let s = Script::start(Behaviour::SlowFirstPipeline);
    let mut p = plan(&s.url(), 2, 4, 1000);
    p.warmup = api::duration::HumanDuration(Duration::from_millis(300));
    let c = run_with_timeout(&p, Duration::from_secs(5)).counts;
    assert_eq!(c.status.s5xx, 0, "{c:?}");
    assert!(c.responses > 0 && c.status.s2xx == c.responses, "{c:?}");
    assert_eq!(c.unexpected_status, 0, "{c:?}");
    assert!(c.responses <= c.requests, "{c:?}");
    assert!(c.requests - c.responses <= 8, "{c:?}");
}

/// Run `plan` and return the first fault the workers published for the live view.
fn first_error(plan: &api::plan::LoadPlan, timeout: Duration) -> Option<String> {
    let plan = api::plan::LoadPlan {
        timeout: api::duration::HumanDuration(timeout),
        ..plan.clone()
    };
    let run = runner::engine::Run::new(&plan, &Default::default()).expect("plan is valid");
    let snapshots = run.snapshots();
    run.execute(&AtomicBool::new(false), |_| {})
        .expect("run completes");
    snapshots.merged().first_error.map(|e| e.to_string())
}

#[test]
fn the_first_fault_of_each_kind_says_why() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = first_error(
        &plan(&format!("http://{closed}/"), 1, 1, 200),
        Duration::from_millis(500),
    );
    assert_eq!(
        refused.as_deref(),
        Some("connect: Connection refused (os error 111)")
    );

    let s = Script::start(Behaviour::GarbageEveryOtherConnection);
    let garbage = first_error(&plan(&s.url(), 2, 1, 300), Duration::from_millis(500));
    assert!(
        garbage.as_deref().is_some_and(|e| e.starts_with("parse: ")),
        "{garbage:?}"
    );

    let s = Script::start(Behaviour::Stall);
    let stalled = first_error(&plan(&s.url(), 1, 1, 500), Duration::from_millis(150));
    assert_eq!(
        stalled.as_deref(),
        Some("timeout: no response within the timeout")
    );

    let s = Script::start(Behaviour::ByteByByte);
    assert_eq!(
        first_error(&plan(&s.url(), 1, 1, 200), Duration::from_millis(500)),
        None,
        "a clean run has no first fault"
    );
}
