//! The `gcannon` output and mode flags end to end: `--clear-history`, `--tui`
//! without a terminal (the terminal itself: `live_tui.rs`), `--cqe-latency`
//! and `--ws`, each against the built-in server on loopback.

mod common;
use common::{gcannon, gcannon_with, json_of, serve};

#[test]
fn clear_history_empties_the_history_file() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    for _ in 0..2 {
        let out = gcannon_with(&history, &[&url, "-c", "2", "-d", "200ms", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    srv.shutdown();
    let runs = runner::history::load(&history).unwrap();
    assert_eq!(runs.len(), 2, "each run is appended");
    assert!(
        runs.iter().all(|r| r.target == url && r.responses > 0),
        "{runs:?}"
    );

    // No URL needed: it only clears and exits.
    let out = gcannon_with(&history, &["--clear-history"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("history cleared"));
    assert!(
        runner::history::load(&history).unwrap().is_empty(),
        "history is empty after --clear-history"
    );
    // Clearing an already empty history is not an error.
    assert_eq!(
        gcannon_with(&history, &["--clear-history"]).status.code(),
        Some(0)
    );
}

#[test]
fn tui_without_a_terminal_falls_back_to_plain_text() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[&url, "-c", "2", "-d", "300ms", "--tui"]);
    srv.shutdown();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["Target:", "Latency", "requests in", "2xx="] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    assert!(
        !text.contains('\x1b'),
        "escape sequences written to a pipe:\n{text:?}"
    );
    assert!(
        !text.contains('│') && !text.contains('█'),
        "TUI drawing written to a pipe:\n{text}"
    );
}

#[test]
fn bucket_count_outside_1_to_100_is_rejected() {
    for b in ["0", "101"] {
        let out = gcannon(&["http://127.0.0.1:1/", "-b", b, "-d", "200ms"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "-b {b}: {err}");
        assert!(err.contains(&format!("-b {b}")), "-b {b}: {err}");
        assert!(out.stdout.is_empty(), "-b {b} started a run");
    }
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[&url, "-b", "100", "-c", "1", "-d", "200ms", "--json"]);
    srv.shutdown();
    assert!(json_of(&out)["responses"].as_u64().unwrap() > 0);
}

#[test]
fn cqe_latency_runs_and_reports_latency() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[
        &url,
        "-c",
        "4",
        "-p",
        "4",
        "-d",
        "300ms",
        "--cqe-latency",
        "--json",
    ]);
    srv.shutdown();
    let v = json_of(&out);
    let responses = v["responses"].as_u64().unwrap();
    let l = &v["latency_us"];
    assert!(responses > 0, "{v}");
    assert_eq!(
        l["samples"].as_u64().unwrap(),
        responses,
        "one sample per response: {v}"
    );
    assert!(
        l["p50"].as_u64().unwrap() > 0 && l["avg"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert!(l["p50"].as_u64() <= l["p99"].as_u64(), "{v}");
}

#[test]
fn ws_mode_from_the_cli_against_serve() {
    let srv = serve();
    let url = format!("http://{}/ws", srv.local_addr());
    let out = gcannon(&[
        &url,
        "--ws",
        "--ws-msg",
        "ping from the test",
        "-c",
        "3",
        "-p",
        "4",
        "-d",
        "300ms",
        "--json",
    ]);
    srv.shutdown();
    let v = json_of(&out);
    assert_eq!(v["mode"], "ws", "{v}");
    assert_eq!(
        v["ws_upgrades"].as_u64(),
        Some(3),
        "one upgrade per connection: {v}"
    );
    let frames = v["ws_frames"].as_u64().expect("ws_frames");
    assert!(frames > 0, "{v}");
    assert_eq!(
        v["latency_us"]["samples"].as_u64(),
        Some(frames),
        "latency per echoed frame: {v}"
    );

    // Plain HTTP runs do not carry the WebSocket fields.
    let srv = serve();
    let v = json_of(&gcannon(&[
        &format!("http://{}/", srv.local_addr()),
        "-c",
        "1",
        "-d",
        "200ms",
        "--json",
    ]));
    srv.shutdown();
    assert!(
        v.get("ws_upgrades").is_none() && v.get("ws_frames").is_none(),
        "{v}"
    );
}

#[test]
fn a_missing_test_tool_fails_under_ci_instead_of_skipping() {
    let missing = "gcannon-test-no-such-tool";
    assert!(
        !common::have_tool_in_ci(missing, "-V", false),
        "skips locally"
    );
    let under_ci = std::panic::catch_unwind(|| common::have_tool_in_ci(missing, "-V", true));
    assert!(under_ci.is_err(), "CI=true must fail, not skip");
}
