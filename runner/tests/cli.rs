//! The `gcannon` binary: bad input exits 2 with one clear line before any load;
//! runs print the original's text and JSON shapes; Ctrl-C prints what was gathered.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{gcannon, json_of, serve};

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["not a url"], "invalid URL"),
        (&["ftp://127.0.0.1/"], "https://"),
        (
            &["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"],
            "/nonexistent/ca.pem",
        ),
        (&["https://127.0.0.1:1/", "--cert", "/dev/null"], "--key"),
        (&["http://127.0.0.1:1/", "--bogus"], "--bogus"),
        (&["http://127.0.0.1:1/", "-c", "0"], "connections"),
        (&["http://127.0.0.1:1/", "-p", "65"], "pipeline"),
        (&["http://127.0.0.1:1/", "-c", "2", "-t", "3"], "threads"),
        (&["http://127.0.0.1:1/", "-d", "0s"], "duration"),
        (&["http://127.0.0.1:1/", "-d", "ten"], "duration"),
        (&["http://127.0.0.1:1/", "--recv-buf", "100"], "512"),
        (&["http://127.0.0.1:1/", "--recv-buf", "100000000"], "65536"),
        (
            &["http://127.0.0.1:1/", "-t", "5000", "-c", "5000"],
            "threads",
        ),
        (&["http://no-such-host.invalid/"], "resolve"),
        (
            &["http://127.0.0.1:1/", "--threshold", "p99 <"],
            "threshold",
        ),
        (&["--raw", "/no/such/file.raw"], "/no/such/file.raw"),
        (&[], "URL"),
    ];
    for (args, needle) in cases {
        let out = gcannon(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed to stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn json_output_has_the_originals_fields() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[&url, "-c", "4", "-d", "400ms", "-p", "2", "--json"]);
    srv.shutdown();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object");
    for key in runner::output::json::ORIGINAL_FIELDS {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in ["avg", "p50", "p90", "p99", "p999", "samples"] {
        assert!(
            v["latency_us"].get(key).is_some(),
            "missing latency_us.{key}"
        );
    }
    for key in ["2xx", "3xx", "4xx", "5xx", "other"] {
        assert!(v["status"].get(key).is_some(), "missing status.{key}");
    }
    for key in ["connect", "read", "timeout"] {
        assert!(v["errors"].get(key).is_some(), "missing errors.{key}");
    }
    assert_eq!(v["mode"], "http");
    assert_eq!(v["connections"], 4);
    assert_eq!(v["pipeline_depth"], 2);
    assert!(v["responses"].as_u64().unwrap() > 0);
    assert_eq!(v["status"]["2xx"], v["responses"]);
}

#[test]
fn text_output_has_banner_latency_and_counts() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[&url, "-c", "4", "-t", "2", "-d", "300ms"]);
    srv.shutdown();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "Target:",
        "Threads:   2",
        "Conns:     4 (2/thread)",
        "Pipeline:  1",
        "Latency",
        "requests in",
        "req/s",
        "Bandwidth",
        "2xx=",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
}

#[test]
fn no_successful_response_exits_1_on_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = gcannon(&[&url, "-c", "2", "-d", "300ms", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["errors"]["connect"].as_u64().unwrap() > 0);
}

#[test]
fn thresholds_decide_the_exit_code() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let pass = gcannon(&[
        &url,
        "-c",
        "2",
        "-d",
        "300ms",
        "--threshold",
        "responses > 10",
        "--threshold",
        "errors == 0",
    ]);
    let fail = gcannon(&[&url, "-c", "2", "-d", "300ms", "--threshold", "p99 < 1ns"]);
    srv.shutdown();
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pass.stdout)
    );
    assert_eq!(
        fail.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&fail.stdout)
    );
}

#[test]
fn ctrl_c_prints_the_results_gathered_so_far() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let history = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args([url.as_str(), "-c", "2", "-d", "30s", "--json"])
        .env("GCANNON_HISTORY", history.path().join("h.json"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    srv.shutdown();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("results printed after Ctrl-C");
    assert!(v["responses"].as_u64().unwrap() > 0);
    assert!(
        v["elapsed_sec"].as_f64().unwrap() < 10.0,
        "stopped early: {v}"
    );
}

#[test]
fn demo_runs_against_the_embedded_server() {
    let out = gcannon(&["demo", "-d", "300ms", "--json"]);
    let v = json_of(&out);
    assert!(v["responses"].as_u64().unwrap() > 0);
}

/// `gcannon URL ARGS --json` with one engine switch set in its environment
/// (and a scratch run history): the JSON report of a run that exited 0.
fn json_run_with(url: &str, args: &[&str], switch: (&str, &str)) -> serde_json::Value {
    let history = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .arg(url)
        .args(args)
        .arg("--json")
        .env(switch.0, switch.1)
        .env("GCANNON_HISTORY", history.path().join("h.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}={}", switch.0, switch.1);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn older_kernel_ring_set_ups_work_too() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    for fallback in ["1", "2"] {
        let v = json_run_with(
            &url,
            &["-c", "4", "-p", "4", "-d", "300ms"],
            ("GCANNON_RING_FALLBACK", fallback),
        );
        assert!(
            v["responses"].as_u64().unwrap() > 0,
            "fallback {fallback}: {v}"
        );
        assert_eq!(v["errors"]["parse"], 0);
    }
    srv.shutdown();
}

/// Sockets in the ring's file table (the default) and as plain descriptors
/// (`GCANNON_FIXED_FILES=off`) both carry load, and `-r 3` makes every slot
/// take a new socket again and again, so a slot's table entry is replaced
/// under load without losing a response.
#[test]
fn sockets_in_and_out_of_the_file_table_reconnect_cleanly() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    for fixed in ["on", "off"] {
        let v = json_run_with(
            &url,
            &["-c", "4", "-p", "2", "-r", "3", "-d", "300ms"],
            ("GCANNON_FIXED_FILES", fixed),
        );
        assert!(
            v["reconnects"].as_u64().unwrap() > 10,
            "fixed files {fixed}: {v}"
        );
        assert!(
            v["responses"].as_u64().unwrap() > 30,
            "fixed files {fixed}: {v}"
        );
        for kind in ["connect", "read", "timeout", "parse"] {
            assert_eq!(v["errors"][kind], 0, "fixed files {fixed}: {v}");
        }
    }
    srv.shutdown();
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let history = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args([url.as_str(), "-c", "2", "-d", "300ms"])
        .env("GCANNON_HISTORY", history.path().join("h.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing and close the pipe, as `gcannon … | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    srv.shutdown();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "ends by SIGPIPE like other filters: {:?}",
        out.status
    );
}
