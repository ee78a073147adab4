//! `gcannon run loadtest.yaml`: the manifest a cluster would run, run here by
//! N runner processes whose reports merge exactly as the operator merges pods'.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use api::loadtest::LoadTest;
use api::plan::LoadPlan;
use api::report::Report;
use api::report::Summary;
use api::report::WireReport;
use api::threshold::evaluate;

use super::args::{RunArgs, ShardArgs};
use super::observe::ObserveArgs;
use super::{exit_code, parse_thresholds, print_result, Mode, INTERRUPTED};
use crate::engine::{Run, RunOptions};
use crate::observe::metrics::Labels;
use crate::output::hlog;

/// Read a LoadTest manifest, run it with `--runners` processes, print, and
/// return 0 (all thresholds passed), 1 (a threshold failed) or an error (bad input).
pub fn run_manifest(a: &RunArgs) -> Result<i32, String> {
    let text = std::fs::read_to_string(&a.manifest)
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    let lt: LoadTest = serde_yaml::from_str(&text)
        .map_err(|e| format!("{}: not a LoadTest manifest: {e}", a.manifest.display()))?;
    let plan = lt
        .spec
        .plan(|r| {
            Err(format!(
                "configMapRef {}/{} needs a cluster; inline the template text for gcannon run",
                r.name, r.key
            ))
        })
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    let thresholds = parse_thresholds(&lt.spec.thresholds)?;
    let runners = a.runners.unwrap_or(lt.spec.runners).max(1);
    let shares = api::split::split(&plan, runners).map_err(|e| e.to_string())?;
    // Validate every share here so bad input fails before any process starts.
    for share in &shares {
        Run::new(share, &RunOptions::default()).map_err(|e| e.to_string())?;
    }
    let name = lt.metadata.name.clone().unwrap_or_default();
    let children = ChildOutputs::new(&a.observe, &name, lt.metadata.namespace.as_deref())?;
    // The parent keeps only the JUnit file; the children log and serve metrics.
    let mut outputs = ObserveArgs {
        junit: a.observe.junit.clone(),
        ..ObserveArgs::default()
    }
    .prepare(&Default::default())?;
    let mode = if a.json { Mode::Json } else { Mode::Text };
    if mode == Mode::Text {
        print!("{}", crate::output::text::render_banner(&plan));
        println!("  Runners:   {runners} processes");
    }
    let report = run_processes(&plan, runners, &children)?;
    let verdicts = evaluate(&thresholds, &Summary::from_report(&report));
    children.merge_hlogs(runners)?;
    outputs.complete(&name, &report, &verdicts)?;
    print_result(&plan, &report, &verdicts, mode, 10, &[]);
    Ok(exit_code(&report, &verdicts))
}

/// What each runner process is asked to write or serve besides its report.
struct ChildOutputs {
    /// Where the merged interval log goes, and the scratch directory of the runners' logs.
    hlog: Option<(PathBuf, tempfile::TempDir)>,
    metrics: Option<SocketAddr>,
    linger: String,
    loadtest: String,
    namespace: String,
}

impl ChildOutputs {
    fn new(o: &ObserveArgs, loadtest: &str, namespace: Option<&str>) -> Result<Self, String> {
        let hlog = match &o.hlog {
            Some(path) => {
                std::fs::File::create(path)
                    .map_err(|e| format!("--hlog {}: {e}", path.display()))?;
                let dir =
                    tempfile::tempdir().map_err(|e| format!("--hlog: scratch directory: {e}"))?;
                Some((path.clone(), dir))
            }
            None => None,
        };
        Ok(Self {
            hlog,
            metrics: o.metrics_listen,
            linger: o.metrics_linger.to_string(),
            loadtest: loadtest.to_string(),
            namespace: namespace.unwrap_or_default().to_string(),
        })
    }

    /// Extra arguments of runner `index`.
    fn args(&self, index: u32) -> Result<Vec<String>, String> {
        let mut args = vec![
            "--loadtest".into(),
            self.loadtest.clone(),
            "--namespace".into(),
            self.namespace.clone(),
        ];
        if let Some((_, dir)) = &self.hlog {
            args.push("--hlog".into());
            args.push(
                dir.path()
                    .join(format!("runner-{index}.hlog"))
                    .display()
                    .to_string(),
            );
        }
        if let Some(addr) = self.metrics {
            let mut addr = addr;
            if addr.port() != 0 {
                let port = u16::try_from(u32::from(addr.port()) + index).map_err(|_| {
                    format!("--metrics-listen {addr}: port + runner index {index} is past 65535")
                })?;
                addr.set_port(port);
            }
            args.extend(["--metrics-listen".into(), addr.to_string()]);
            args.extend(["--metrics-linger".into(), self.linger.clone()]);
        }
        Ok(args)
    }

    /// Merge the runners' interval logs second by second into the one asked for.
    fn merge_hlogs(&self, runners: u32) -> Result<(), String> {
        let Some((out, dir)) = &self.hlog else {
            return Ok(());
        };
        let logs = (0..runners)
            .map(|i| hlog::read(&dir.path().join(format!("runner-{i}.hlog"))))
            .collect::<Result<Vec<_>, _>>()?;
        hlog::merge(&logs, out).map(drop)
    }
}

/// Start one `gcannon shard` child per runner, feed each the plan, merge their reports.
fn run_processes(plan: &LoadPlan, runners: u32, outputs: &ChildOutputs) -> Result<Report, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the gcannon executable: {e}"))?;
    let plan_json = serde_json::to_vec(plan).map_err(|e| e.to_string())?;
    let mut children = Vec::with_capacity(runners as usize);
    for index in 0..runners {
        let mut child = Command::new(&exe)
            .args([
                "shard",
                "--index",
                &index.to_string(),
                "--runners",
                &runners.to_string(),
            ])
            .args(outputs.args(index)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start runner {index}: {e}"))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(&plan_json)
            .map_err(|e| format!("runner {index}: {e}"))?;
        children.push(child);
    }
    let mut merged: Option<Report> = None;
    let mut failures = Vec::new();
    for (index, mut child) in children.into_iter().enumerate() {
        if INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            // Children got the same SIGINT from the terminal and finish early.
        }
        let mut out = String::new();
        let _ = child.stdout.take().expect("piped").read_to_string(&mut out);
        let status = child.wait().map_err(|e| format!("runner {index}: {e}"))?;
        let parsed = serde_json::from_str::<WireReport>(&out)
            .map_err(|e| e.to_string())
            .and_then(|w| Report::from_wire(&w).map_err(|e| e.to_string()));
        match parsed {
            Ok(r) => match merged.as_mut() {
                Some(m) => m.merge(&r),
                None => merged = Some(r),
            },
            Err(e) => failures.push(format!("runner {index} ({status}): {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    merged.ok_or_else(|| "no runner reported".into())
}

/// The child side: read the whole plan on stdin, run share `index`, print its wire report.
pub fn run_shard(a: &ShardArgs) -> Result<i32, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| e.to_string())?;
    let plan: LoadPlan =
        serde_json::from_str(&input).map_err(|e| format!("bad plan on stdin: {e}"))?;
    let shares = api::split::split(&plan, a.runners).map_err(|e| e.to_string())?;
    let share = shares
        .get(a.index as usize)
        .ok_or_else(|| format!("runner index {} out of range", a.index))?;
    let opts = RunOptions {
        runner_index: a.index,
        runners: a.runners,
        ..RunOptions::default()
    };
    let run = Run::new(share, &opts).map_err(|e| e.to_string())?;
    let labels = Labels {
        loadtest: a.loadtest.clone(),
        namespace: a.namespace.clone(),
        runner: a.index,
    };
    let mut outputs = a.observe.prepare(&labels)?;
    outputs.watch(&run, crate::output::is_rate_mode(share));
    let report = run
        .execute(&INTERRUPTED, |_| {})
        .map_err(|e| e.to_string())?;
    outputs.complete(&a.loadtest, &report, &[])?;
    println!(
        "{}",
        serde_json::to_string(&report.to_wire()).map_err(|e| e.to_string())?
    );
    let _ = std::io::stdout().flush();
    outputs.linger();
    Ok(0)
}
