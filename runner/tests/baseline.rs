//! `--baseline FILE`: thresholds relative to a saved `--json` result, in
//! `gcannon` and `gcannon run`, against the built-in server on loopback.
//! Regressions are made exact (a `/delay` floor, 5xx where the baseline had
//! none), so no assertion depends on how fast this machine is.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{gcannon, json_of, serve};

/// A baseline saved the way users save one: `gcannon URL --json > FILE`.
fn save_baseline(dir: &Path, url: &str) -> PathBuf {
    let out = gcannon(&[url, "-c", "2", "-d", "500ms", "--json"]);
    let v = json_of(&out);
    assert!(v["responses"].as_u64().unwrap() > 0, "{v}");
    let path = dir.join("baseline.json");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_slower_server_fails_the_relative_threshold_and_shows_the_change() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let base = save_baseline(dir.path(), &format!("http://{}/", srv.local_addr()));
    let base_p50 = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&base).unwrap())
        .unwrap()["latency_us"]["p50"]
        .as_u64()
        .unwrap();
    // Every response of /delay/300 takes at least 300 ms.
    let slow = format!("http://{}/delay/300", srv.local_addr());
    let args = |json: bool| {
        let mut a = vec![
            slow.as_str(),
            "-c",
            "2",
            "-d",
            "1s",
            "--baseline",
            base.to_str().unwrap(),
            "--threshold",
            "p50 < baseline + 200ms",
            "--threshold",
            "status_5xx <= baseline",
        ];
        if json {
            a.push("--json");
        }
        a
    };
    let out = gcannon(&args(true));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["thresholds"];
    assert_eq!(t[0]["expr"], "p50 < baseline + 200ms", "{v}");
    assert_eq!(t[0]["passed"], false, "{v}");
    assert!(t[0]["value"].as_f64().unwrap() >= 300_000.0, "{v}");
    assert_eq!(
        t[0]["baseline"],
        api::report::format_latency_us(base_p50 as f64),
        "{v}"
    );
    assert!(t[0]["change"].as_str().unwrap().starts_with('+'), "{v}");
    assert_eq!(t[1]["passed"], true, "{v}");
    assert_eq!(t[1]["baseline"], "0", "{v}");

    let out = gcannon(&args(false));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("p50 < baseline + 200ms"))
        .unwrap_or_else(|| panic!("no verdict line in:\n{text}"));
    assert!(line.trim_start().starts_with('✗'), "{line}");
    assert!(line.contains("baseline ") && line.contains("%)"), "{line}");
}

#[test]
fn the_same_server_passes_against_its_own_baseline() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let base = save_baseline(dir.path(), &url);
    let out = gcannon(&[
        &url,
        "-c",
        "2",
        "-d",
        "500ms",
        "--baseline",
        base.to_str().unwrap(),
        "--threshold",
        "status_5xx <= baseline",
        "--threshold",
        "errors <= baseline + 1%",
        "--json",
    ]);
    let v = json_of(&out);
    for t in v["thresholds"].as_array().unwrap() {
        assert_eq!(t["passed"], true, "{v}");
        assert!(t["baseline"].is_string() && t["change"].is_string(), "{v}");
    }
}

#[test]
fn gcannon_run_gates_a_manifest_against_a_baseline() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let base = save_baseline(dir.path(), &format!("http://{}/", srv.local_addr()));
    let manifest = format!(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: gate\nspec:\n  target: http://{}/status/503\n  connections: 4\n  duration: 500ms\n  warmup: 0s\n  runners: 2\n  thresholds:\n    - \"status_5xx <= baseline\"\n",
        srv.local_addr()
    );
    let out = common::gcannon_run(&manifest, &["--baseline", base.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["thresholds"][0];
    assert_eq!(t["passed"], false, "{v}");
    assert_eq!(t["baseline"], "0", "{v}");
    assert_eq!(t["change"], "from 0", "{v}");
    assert_eq!(
        t["value"].as_f64().unwrap(),
        v["status"]["5xx"].as_f64().unwrap()
    );
}

/// A manifest's `spec.baseline` names a LoadTest in a cluster, which a local
/// run cannot read: it says what to pass instead, before any load.
#[test]
fn gcannon_run_asks_for_a_file_when_the_manifest_names_a_cluster_baseline() {
    let srv = serve();
    let manifest = format!(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: gate\nspec:\n  target: http://{}/\n  connections: 2\n  duration: 500ms\n  baseline:\n    name: v41\n  thresholds:\n    - \"p99 < baseline * 1.1\"\n",
        srv.local_addr()
    );
    let out = common::gcannon_run(&manifest, &["--json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("spec.baseline names a LoadTest in a cluster")
            && err.contains("--baseline FILE"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(srv.requests(), 0);
}

#[test]
fn baseline_mistakes_are_one_line_errors_before_any_load() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("notes.txt");
    std::fs::write(&not_json, "p99 was fine yesterday\n").unwrap();
    let missing = dir.path().join("missing.json");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["--threshold", "p99 < baseline * 1.1"],
            "compares with a baseline run: give one with --baseline FILE",
        ),
        (
            vec![
                "--baseline",
                not_json.to_str().unwrap(),
                "--threshold",
                "p99 < 5ms",
            ],
            "no threshold refers to it",
        ),
        (
            vec![
                "--baseline",
                not_json.to_str().unwrap(),
                "--threshold",
                "p99 < baseline",
            ],
            "not a gcannon --json result",
        ),
        (
            vec![
                "--baseline",
                missing.to_str().unwrap(),
                "--threshold",
                "p99 < baseline",
            ],
            "missing.json",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec![url.as_str(), "-d", "1s"];
        args.extend(extra);
        let out = gcannon(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(
        srv.requests(),
        0,
        "a bad baseline must fail before any load"
    );
}

#[test]
fn noise_aware_judging_still_catches_a_real_regression() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let fast = format!("http://{}/", srv.local_addr());
    let out = gcannon(&[&fast, "-c", "2", "-d", "6s", "--json"]);
    let v = json_of(&out);
    assert!(v["timeline"].as_array().unwrap().len() >= 6, "{v}");
    let base = dir.path().join("baseline.json");
    std::fs::write(&base, &out.stdout).unwrap();
    // Every response of /delay/50 takes at least 50 ms: each second's p99 too.
    let slow = format!("http://{}/delay/50", srv.local_addr());
    let out = gcannon(&[
        &slow,
        "-c",
        "2",
        "-d",
        "6s",
        "--baseline",
        base.to_str().unwrap(),
        "--noise-aware",
        "--threshold",
        "p99 < baseline * 1.1",
        "--threshold",
        "rps >= baseline * 0.9",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in v["thresholds"].as_array().unwrap() {
        assert_eq!(t["passed"], false, "{v}");
        let s = t["significance"].as_str().unwrap();
        assert!(s.starts_with("significant over "), "{s}");
    }
    // Without a baseline, --noise-aware has nothing to judge: bad input.
    let out = gcannon(&[
        &fast,
        "-d",
        "1s",
        "--noise-aware",
        "--threshold",
        "p99 < 1s",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--noise-aware"), "{}", stderr(&out));
}

#[test]
fn compare_shows_the_last_matching_run_from_history() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    let run =
        |c: &str| common::gcannon_with(&history, &[&url, "-c", c, "-d", "500ms", "--compare"]);
    let first = run("2");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(text.contains("Compare: no earlier run of"), "{text}");
    let other = run("3"); // a different shape does not match
    assert!(String::from_utf8_lossy(&other.stdout).contains("Compare: no earlier run"));
    let second = run("2");
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("Compared with the last matching run ("),
        "{text}"
    );
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&history).unwrap()).unwrap();
    let prev = entries[0]["responses"].as_u64().unwrap().to_string();
    let now = entries[2]["responses"].as_u64().unwrap().to_string();
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("responses"))
        .unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..3], [prev.as_str(), now.as_str()], "{row}");
    let json = gcannon(&[&url, "-d", "1s", "--compare", "--json"]);
    assert_eq!(json.status.code(), Some(2), "{}", stderr(&json));
}
