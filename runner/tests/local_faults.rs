//! `gcannon run` when runners die or signals arrive: the survivors' results
//! are kept and merged, the run says why it failed, a stop signal reaches
//! every runner, and no runner outlives the parent.

mod common;

use std::time::{Duration, Instant};

use common::{gcannon_run, serve, start_gcannon_run};

fn manifest(url: &str, runners: u32, duration: &str) -> String {
    format!(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: local\nspec:\n  target: {url}\n  connections: 4\n  duration: {duration}\n  warmup: 0s\n  runners: {runners}\n"
    )
}

/// Live (not zombie) processes whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let mut f = rest.split(' ');
        let (state, parent) = (f.next().unwrap(), f.next().unwrap());
        if parent == ppid.to_string() && state != "Z" {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let rest = &s[s.rfind(')').unwrap() + 2..];
            !rest.starts_with('Z') && !rest.starts_with('X')
        })
        .unwrap_or(false)
}

/// Wait (bounded) until `n` runner processes have started under `parent`.
fn runners_of(parent: u32, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = children_of(parent);
        if kids.len() >= n || Instant::now() > deadline {
            assert_eq!(kids.len(), n, "runner processes of {parent}");
            return kids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started (or its runner).
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Poll (bounded) until none of `pids` is alive; false if one still is.
fn all_gone(pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_dead_runner_fails_the_run_but_the_survivors_results_are_kept() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let child = start_gcannon_run(&manifest(&url, 2, "3s"), &["--json"], dir.path());
    let runners = runners_of(child.id(), 2);
    std::thread::sleep(Duration::from_millis(500));
    signal(runners[1], libc::SIGKILL);
    let out = child.wait_with_output().unwrap();
    srv.shutdown();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("merged results printed");
    assert!(v["responses"].as_u64().unwrap() > 0, "{v}");
    let failure = v["failure"].as_str().expect("failure field");
    assert!(failure.contains("was killed by SIGKILL"), "{failure}");
    assert!(
        err.contains("run failed:") && err.contains("SIGKILL"),
        "{err}"
    );
}

#[test]
fn sigterm_to_the_parent_stops_every_runner_and_keeps_their_results() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let child = start_gcannon_run(&manifest(&url, 2, "30s"), &["--json"], dir.path());
    let runners = runners_of(child.id(), 2);
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    srv.shutdown();
    assert!(all_gone(&runners), "a runner outlived the parent");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interrupted"], "SIGTERM", "{v}");
    assert!(v["responses"].as_u64().unwrap() > 0, "{v}");
    assert!(v["elapsed_sec"].as_f64().unwrap() < 10.0, "{v}");
}

#[test]
fn a_killed_parent_leaves_no_runner_behind() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_gcannon_run(&manifest(&url, 2, "30s"), &[], dir.path());
    let runners = runners_of(child.id(), 2);
    signal(child.id(), libc::SIGKILL);
    let _ = child.wait();
    let gone = all_gone(&runners);
    srv.shutdown();
    assert!(
        gone,
        "runners {runners:?} still loading after the parent died"
    );
}

#[test]
fn a_runner_interrupted_by_sigint_is_not_merged_as_a_full_run() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let child = start_gcannon_run(&manifest(&url, 2, "3s"), &["--json"], dir.path());
    let runners = runners_of(child.id(), 2);
    std::thread::sleep(Duration::from_millis(500));
    signal(runners[0], libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    srv.shutdown();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = v["interrupted"].as_str().expect("marked interrupted");
    assert!(
        why.contains("runner") && why.contains("interrupted"),
        "{why}"
    );
}

#[test]
fn two_runners_show_the_whole_test_in_the_banner() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = gcannon_run(&manifest(&url, 1, "300ms"), &["--runners", "2"]);
    srv.shutdown();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Runners:   2 processes"), "{text}");
    assert!(text.contains("Conns:     4 (2/thread)"), "{text}");
    assert!(text.contains("Threads:   2\n"), "{text}");
    let out = gcannon_run(&manifest(&url, 1, "300ms"), &["--runners", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["runners"].as_u64(),
            v["connections"].as_u64(),
            v["threads"].as_u64()
        ),
        (Some(2), Some(4), Some(2)),
        "{v}"
    );
}

#[test]
fn manifests_are_read_strictly() {
    let good = manifest("http://127.0.0.1:1/", 1, "1s");
    let cases = [
        (
            good.replace("connections: 4", "conections: 999"),
            "unknown field spec.conections",
        ),
        (
            good.replace("  warmup: 0s", "  warmup: 0s\n  websocket:\n    mesage: hi"),
            "unknown field spec.websocket.mesage",
        ),
        (
            good.replace("spec:", "extra: 1\nspec:"),
            "unknown field extra",
        ),
        (
            good.replace("glasscannon.dev/v1alpha1", "v1"),
            "apiVersion must be glasscannon.dev/v1alpha1",
        ),
        (
            good.replace("kind: LoadTest", "kind: Pod"),
            "kind must be LoadTest",
        ),
        (
            good.replace("runners: 1", "runners: 0"),
            "runners must be between 1 and 1000, got 0",
        ),
        (
            good.replace("  warmup: 0s", "  warmup: 0s\n  requestsPerConnection: 0"),
            "requestsPerConnection (-r) must be at least 1",
        ),
        (
            good.replace(
                "  warmup: 0s",
                "  warmup: 0s\n  stages:\n    - {duration: 2s, target: 10}",
            ),
            "set duration or stages, not both",
        ),
    ];
    for (text, want) in cases {
        let out = gcannon_run(&text, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}\n{err}");
        assert!(err.contains(want), "{text}\n{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let out = gcannon_run(&good, &["--runners", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("runners must be between 1 and 1000, got 0")
    );
}

#[test]
fn more_runners_than_one_machine_runs_are_refused_in_one_line() {
    let good = manifest("http://127.0.0.1:1/", 1, "1s");
    let flag = gcannon_run(&good, &["--runners", "1001"]);
    let spec = gcannon_run(&good.replace("runners: 1", "runners: 1001"), &[]);
    for out in [flag, spec] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("gcannon: ")
                && err.contains("runners must be between 1 and 1000, got 1001"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty(), "nothing ran");
    }
}
