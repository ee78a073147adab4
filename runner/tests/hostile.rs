//! Hostile conditions and awkward input, end to end: stop signals, a full
//! stdout, too few file descriptors, bad flag values, servers that drip or
//! never finish, extreme rates, and the open model's bookkeeping. Each case
//! must say why in one line and lose no result.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::duration::HumanDuration;
use common::{gcannon, json_of, plan, run_with_timeout, serve};

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Start `gcannon args…` with piped output and a throwaway history.
fn spawn(args: &[&str], history: &tempfile::TempDir) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args(args)
        .env("GCANNON_HISTORY", history.path().join("h.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

#[test]
fn sigterm_and_sighup_keep_the_partial_result_and_exit_3() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        for json in [true, false] {
            let history = tempfile::tempdir().unwrap();
            let mut args = vec![url.as_str(), "-c", "2", "-d", "30s"];
            args.extend(["--threshold", "errors < 100%"]);
            if json {
                args.push("--json");
            }
            let child = spawn(&args, &history);
            std::thread::sleep(Duration::from_millis(700));
            kill(child.id(), sig);
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(3), "{name}: {}", stderr_of(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            if json {
                let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(v["interrupted"], name, "{v}");
                assert!(v["responses"].as_u64().unwrap() > 0, "{v}");
                assert!(v["elapsed_sec"].as_f64().unwrap() < 10.0, "{v}");
            } else {
                assert!(
                    stdout.contains(&format!("Interrupted ({name})")),
                    "{stdout}"
                );
                assert!(stdout.contains("thresholds are not a verdict"), "{stdout}");
            }
        }
    }
    srv.shutdown();
}

#[test]
fn a_full_stdout_is_one_clear_error_not_a_panic() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    for extra in [&[][..], &["--json"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gcannon"))
            .args([url.as_str(), "-c", "2", "-d", "200ms"])
            .args(extra)
            .env("GCANNON_HISTORY", dir.path().join("h.json"))
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("No space left on device"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    srv.shutdown();
}

#[test]
fn bad_values_are_one_clear_line_each() {
    let raw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(raw.path(), "GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n").unwrap();
    let raw = raw.path().to_str().unwrap().to_string();
    let url = "http://127.0.0.1:1/";
    let cases: &[(&[&str], &str)] = &[
        (&[url, "-c", "-5"], "must not be negative"),
        (&[url, "-t", "-1"], "must not be negative"),
        (&[url, "--rate", "-5"], "must not be negative"),
        (&[url, "-d", "-1s"], "must not be negative"),
        (&[url, "-b", "0"], "between 1 and 100 buckets"),
        (&[url, "--timeout", "0s"], "timeout must be greater than 0"),
        (
            &[url, "-r", "0"],
            "requestsPerConnection (-r) must be at least 1",
        ),
        (
            &[url, "-d", "1s", "--stages", "1s:10"],
            "cannot be used with",
        ),
        (&[url, "--ws", "--raw", &raw], "cannot be used with"),
        (
            &["ws://127.0.0.1:1/", "--raw", &raw],
            "cannot use request templates",
        ),
    ];
    for (args, want) in cases {
        let out = gcannon(args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains("tip:") && !err.contains("-- -"),
            "{args:?}: {err}"
        );
        assert!(err.matches("-b 0").count() <= 1, "{args:?}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing sent, nothing printed"
        );
    }
    let help = gcannon(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("not with --stages"), "{help}");
}

#[test]
fn a_ws_url_runs_websocket_mode() {
    let srv = serve();
    let url = format!("ws://{}/ws", srv.local_addr());
    let v = json_of(&gcannon(&[&url, "-c", "2", "-d", "300ms", "--json"]));
    srv.shutdown();
    assert_eq!(v["mode"], "ws", "{v}");
    assert!(v["ws_upgrades"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["ws_frames"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn too_few_file_descriptors_fail_before_any_load() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gcannon"));
    cmd.args([url.as_str(), "-c", "1000", "-d", "1s"])
        .env("GCANNON_HISTORY", dir.path().join("h.json"));
    // SAFETY: setrlimit is async-signal-safe; the child only execs afterwards.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let served = srv.requests();
    srv.shutdown();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ulimit -n") && err.contains("1000 connections"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(served, 0, "nothing was sent");
}

#[test]
fn a_failed_run_says_why_in_one_line() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = gcannon(&[&url, "-c", "2", "-d", "300ms"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("run failed: no successful response") && err.contains("connect errors"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn an_extreme_rate_still_ends_on_time_with_results() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[
        &url,
        "--rate",
        "300000000",
        "-c",
        "4",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--json",
    ]);
    srv.shutdown();
    let err = stderr_of(&out);
    assert!(!err.contains("grace period"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("results printed");
    let (requests, unsent) = (
        v["requests"].as_u64().unwrap(),
        v["unsent"].as_u64().unwrap(),
    );
    assert!(requests > 0, "{v}");
    // Everything due in the window is either sent or reported as never sent.
    let due = requests + unsent;
    assert!((290_000_000..=300_000_001).contains(&due), "{v}");
}

/// A server that answers nothing for its first `hold`, then answers every
/// request at once: the open model's warm-up builds a backlog.
fn slow_starter(hold: Duration) -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + hold;
    let s = stop.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let s = s.clone();
                    std::thread::spawn(move || answer_after(stream, until, &s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, stop)
}

fn answer_after(mut stream: TcpStream, until: Instant, stop: &AtomicBool) {
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 65536];
    let mut pending = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if Instant::now() < until {
            continue;
        }
        let heads = pending.windows(4).filter(|w| w == b"\r\n\r\n").count();
        if let Some(end) = pending.windows(4).rposition(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
        }
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".repeat(heads);
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn open_model_counts_only_the_measured_window_and_adds_up() {
    let (addr, stop) = slow_starter(Duration::from_millis(600));
    let mut p = plan(&format!("http://{addr}/"), 8, 4, 1000);
    p.warmup = HumanDuration(Duration::from_millis(700));
    p.rate = Some(2000);
    let r = run_with_timeout(&p, Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    let c = r.counts;
    // 2000 requests were due in the measured second; the warm-up's backlog
    // (about 1400 requests) is not part of it.
    assert!((1999..=2001).contains(&(c.requests + c.unsent)), "{c:?}");
    assert!(c.responses <= c.requests && c.late <= c.requests, "{c:?}");
    assert_eq!(
        r.timeline.len(),
        1,
        "a 1 s run has one row: {:?}",
        r.timeline
    );
    let per_second: u64 = r.timeline.iter().map(|s| s.responses).sum();
    assert_eq!(per_second, c.responses, "{:?}", r.timeline);
    assert_eq!(r.latency.len(), c.responses);
}

#[test]
fn unsent_does_not_include_the_warm_up() {
    // Nobody answers: every request due is either in flight or never sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut p = plan(
        &format!("http://{}/", listener.local_addr().unwrap()),
        2,
        1,
        1000,
    );
    p.warmup = HumanDuration(Duration::from_millis(500));
    p.rate = Some(1000);
    let r = run_with_timeout(&p, Duration::from_secs(5));
    drop(listener);
    let c = r.counts;
    assert!(c.unsent <= 1000, "{c:?}");
    assert!((999..=1001).contains(&(c.requests + c.unsent)), "{c:?}");
}

#[test]
fn seq_wraps_are_counted_and_warned_about() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("seq.raw");
    let host = srv.local_addr().to_string();
    std::fs::write(
        &raw,
        format!("GET /?id={{SEQ:90}} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    )
    .unwrap();
    let out = gcannon(&[
        "--raw",
        raw.to_str().unwrap(),
        "-c",
        "2",
        "-d",
        "300ms",
        "--warmup",
        "0s",
        "--json",
    ]);
    srv.shutdown();
    let err = stderr_of(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("results");
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests > 10, "{v}");
    // 90..=99 are the only values: everything past the tenth request repeats
    // (in-flight requests at the end were sent, and counted, too).
    let repeats = v["seq_repeats"].as_u64().expect("seq_repeats in JSON");
    assert!(
        repeats + 10 >= requests && repeats + 10 <= requests + 4,
        "{v}"
    );
    assert!(err.contains("{SEQ} wrapped"), "{err}");
}
