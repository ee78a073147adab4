//! `gcannon run loadtest.yaml`: several real runner processes against the
//! built-in server, merged exactly, with threshold verdicts as exit codes.

use std::process::Command;

mod common;
use common::{gcannon_run, json_of, serve};

fn manifest(url: &str, runners: u32, thresholds: &[&str]) -> String {
    let th: String = thresholds
        .iter()
        .map(|t| format!("    - \"{t}\"\n"))
        .collect();
    format!(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: local\nspec:\n  target: {url}\n  connections: 6\n  pipeline: 2\n  duration: 500ms\n  warmup: 0s\n  runners: {runners}\n  thresholds:\n{th}"
    )
}

#[test]
fn three_runner_processes_merge_to_the_servers_count() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon_run(&manifest(&url, 3, &["errors == 0"]), &["--json"]);
    let served = srv.requests();
    srv.shutdown();
    let v = json_of(&out);
    let (requests, responses) = (
        v["requests"].as_u64().unwrap(),
        v["responses"].as_u64().unwrap(),
    );
    assert!(responses > 100, "{v}");
    assert!(
        responses <= served && served <= requests,
        "client {requests}/{responses}, server {served}"
    );
    assert!(requests - responses <= 6 * 2, "{v}");
    assert_eq!(
        v["latency_us"]["samples"].as_u64().unwrap(),
        responses,
        "one merged histogram holds every sample"
    );
    assert_eq!(v["thresholds"][0]["passed"], true, "{v}");
}

#[test]
fn failing_and_passing_thresholds_set_the_exit_code() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let pass = gcannon_run(
        &manifest(&url, 2, &["responses > 10", "status_5xx == 0"]),
        &[],
    );
    let fail = gcannon_run(&manifest(&url, 2, &["p99 < 1ns"]), &[]);
    let override_runners = gcannon_run(
        &manifest(&url, 2, &["responses > 10"]),
        &["--runners", "1", "--json"],
    );
    srv.shutdown();
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pass.stdout)
    );
    assert!(String::from_utf8_lossy(&pass.stdout).contains("Runners:   2"));
    assert_eq!(
        fail.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&fail.stdout)
    );
    assert!(String::from_utf8_lossy(&fail.stdout).contains("p99"));
    assert_eq!(override_runners.status.code(), Some(0));
}

#[test]
fn bad_manifests_exit_2_before_any_load() {
    let cases = [
        ("kind: LoadTest\nspec: [not, a, map]\n", "LoadTest"),
        (
            &*manifest("http://127.0.0.1:9/", 1, &["p99 <<< 5ms"]),
            "threshold",
        ),
        (&*manifest("ftp://127.0.0.1:9/", 1, &[]), "https://"),
        (&*manifest("http://127.0.0.1:9/", 7, &[]), "runner"),
        (
            "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {name: t}\nspec:\n  templates:\n  - secretRef: {name: auth, key: get.raw}\n",
            "template 0: secretRef auth/get.raw needs a cluster; inline the template text",
        ),
        (
            "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {name: t}\nspec:\n  templates:\n  - configMapRef: {name: reqs, key: get}\n",
            "template 0: configMapRef reqs/get needs a cluster",
        ),
    ];
    for (text, needle) in cases {
        let out = gcannon_run(text, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "expected {needle:?} in {err}"
        );
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args(["run", "/no/such/lt.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_local_gate_example_passes_against_the_built_in_server() {
    let srv = serve();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/local-gate.yaml"
    ))
    .unwrap();
    assert!(example.contains("http://127.0.0.1:8080/json"));
    assert!(example.contains("\"p99 < 50ms\""));
    // Same manifest, pointed at this test's server and shortened. The p99
    // bound is widened: this checks the example's verdicts, not this
    // machine's speed under a debug build and other jobs.
    let manifest = example
        .replace(
            "http://127.0.0.1:8080/json",
            &format!("http://{}/json", srv.local_addr()),
        )
        .replace("duration: 5s", "duration: 500ms")
        .replace("\"p99 < 50ms\"", "\"p99 < 60s\"");
    let out = gcannon_run(&manifest, &["--json"]);
    srv.shutdown();
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v["thresholds"][0]["expr"], "p99 < 60s", "{v}");
    assert!(v["latency_us"]["samples"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["passed"] == true),
        "{v}"
    );
}

#[test]
fn spec_timeout_reaches_every_runner_process() {
    let srv = serve();
    let url = format!("http://{}/delay/400", srv.local_addr());
    let text = manifest(&url, 2, &[]).replace("  thresholds:\n", "  timeout: 100ms\n");
    let out = gcannon_run(&text, &["--json"]);
    srv.shutdown();
    // Every request outlives a 100ms timeout; with the default 2s none would.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no successful response") && err.contains("timeouts"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["errors"]["timeout"].as_u64().unwrap() >= 6, "{v}");
    assert_eq!(v["responses"].as_u64().unwrap(), 0, "{v}");
}

/// A runner process as `gcannon run` starts it, the plan line already sent.
fn shard_process(url: &str) -> std::process::Child {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args(["shard", "--index", "0", "--runners", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let plan = serde_json::to_string(&common::plan(url, 2, 1, 300)).unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{plan}").unwrap();
    child
}

#[test]
fn a_runner_sends_nothing_before_the_common_start_and_runs_from_it() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let mut child = shard_process(&url);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n", "the runner says it is ready first");
    // Ready and waiting: however long the others take, it sends nothing.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.requests(), 0, "load before the start");
    let start = SystemTime::now() + Duration::from_millis(200);
    let nanos = start.duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "start {nanos}").unwrap();
    drop(stdin);
    let mut report = String::new();
    out.read_to_string(&mut report).unwrap();
    assert!(child.wait().unwrap().success());
    let wire: api::report::WireReport = serde_json::from_str(&report).unwrap();
    assert!(wire.counts.responses > 0, "{report}");
    assert!(srv.requests() >= wire.counts.responses);
    srv.shutdown();

    // The parent stopped before the start (its stdin closes): no load, exit 3.
    let srv = serve();
    let mut child = shard_process(&format!("http://{}/", srv.local_addr()));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    drop(child.stdin.take());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert_eq!((rest.as_str(), srv.requests()), ("", 0));
    srv.shutdown();
}
