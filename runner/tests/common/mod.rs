//! Helpers shared by the engine's end-to-end tests.
#![allow(dead_code)]

pub mod pki;
pub mod tmux;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use api::duration::HumanDuration;
use api::plan::LoadPlan;
use api::report::Report;
use runner::engine::{Run, RunOptions};

/// A plan against `url` with test-sized defaults: short, no warm-up.
pub fn plan(url: &str, connections: u32, pipeline: u32, millis: u64) -> LoadPlan {
    LoadPlan {
        target: url.to_string(),
        connections,
        pipeline,
        duration: HumanDuration(Duration::from_millis(millis)),
        warmup: HumanDuration(Duration::ZERO),
        ..LoadPlan::default()
    }
}

/// Run a plan to completion with a short request timeout.
pub fn run(plan: &LoadPlan) -> Report {
    run_with_timeout(plan, Duration::from_millis(500))
}

/// Run a plan with the given request timeout.
pub fn run_with_timeout(plan: &LoadPlan, timeout: Duration) -> Report {
    let plan = LoadPlan {
        timeout: HumanDuration(timeout),
        ..plan.clone()
    };
    Run::new(&plan, &RunOptions::default())
        .expect("plan is valid")
        .execute(&AtomicBool::new(false), |_| {})
        .expect("run completes")
}

/// The built-in server on an ephemeral loopback port.
pub fn serve() -> runner::serve::ServerHandle {
    runner::serve::start(&runner::serve::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
    })
    .unwrap()
}

/// Run the `gcannon` binary with its history file at `history`.
pub fn gcannon_with(history: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .args(args)
        .env("GCANNON_HISTORY", history)
        .stdin(Stdio::null())
        .output()
        .expect("gcannon runs")
}

/// Run the `gcannon` binary with a throwaway history file.
pub fn gcannon(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    gcannon_with(&dir.path().join("history.json"), args)
}

/// `gcannon run` on the manifest `text`, written into `dir` (which also holds
/// its history), started with piped output and not waited for.
pub fn start_gcannon_run(text: &str, extra: &[&str], dir: &Path) -> std::process::Child {
    let path = dir.join("lt.yaml");
    std::fs::write(&path, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .arg("run")
        .arg(&path)
        .args(extra)
        .env("GCANNON_HISTORY", dir.join("h.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gcannon runs")
}

/// `gcannon run` on the manifest `text`, to completion, in a throwaway directory.
pub fn gcannon_run(text: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    start_gcannon_run(text, extra, dir.path())
        .wait_with_output()
        .unwrap()
}

/// The JSON object a successful `--json` run printed.
pub fn json_of(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// True when `tool` runs; when it does not, fail under `CI=true` (CI installs
/// it, so a missing tool is a broken CI, not a skip) and otherwise print a notice.
pub fn have_tool(tool: &str, version_arg: &str) -> bool {
    have_tool_in_ci(
        tool,
        version_arg,
        std::env::var("CI").as_deref() == Ok("true"),
    )
}

/// [`have_tool`] with the CI setting given, so both branches can be tested.
pub fn have_tool_in_ci(tool: &str, version_arg: &str, ci: bool) -> bool {
    if Command::new(tool).arg(version_arg).output().is_ok() {
        return true;
    }
    assert!(
        !ci,
        "{tool} is required when CI=true (apt-get install {tool})"
    );
    eprintln!("notice: {tool} is not installed; skipping this test");
    false
}
