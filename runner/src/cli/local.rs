//! `gcannon run loadtest.yaml`: the manifest a cluster would run, run here by
//! N runner processes whose reports merge exactly as the operator merges pods'.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::SystemTime;

use api::plan::LoadPlan;
use api::report::Report;
use api::report::WireReport;

use super::args::{RunArgs, ShardArgs};
use super::live::PlainProgress;
use super::local_live::{LiveLine, LiveMerge};
use super::observe::ObserveArgs;
use super::{finish, gate::Gate, start, Mode, EXIT_INTERRUPTED, INTERRUPTED};
use crate::engine::{Run, RunOptions};
use crate::observe::metrics::Labels;
use crate::output::hlog;
use crate::output::Ending;
use crate::tui::{LiveFrame, LiveState, LiveView};

/// Read a LoadTest manifest, run it with `--runners` processes, print, and
/// return 0 (all thresholds passed), 1 (a threshold failed, a runner died), 3
/// (interrupted) or an error (bad input).
pub fn run_manifest(a: &RunArgs) -> Result<i32, String> {
    let text = std::fs::read_to_string(&a.manifest)
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    let lt = super::manifest::parse(&text).map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    if let Some(name) = lt.spec.tls.as_ref().and_then(|t| t.secret_name.as_ref()) {
        return Err(format!(
            "{}: spec.tls.secretName {name} needs a cluster; give spec.tls.ca, spec.tls.cert and spec.tls.key as file paths for gcannon run",
            a.manifest.display()
        ));
    }
    let mut plan = lt
        .spec
        .plan(|r| {
            Err(format!(
                "{r} needs a cluster; inline the template text for gcannon run"
            ))
        })
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    // Certificate files are next to the manifest, wherever it is run from.
    let manifest =
        std::path::absolute(&a.manifest).map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    if let Some(dir) = manifest.parent() {
        plan.tls.resolve_paths(dir);
    }
    if lt.spec.baseline.is_some() && a.baseline.is_none() {
        return Err(format!(
            "{}: spec.baseline names a LoadTest in a cluster; gcannon run compares with a saved \
             result instead: pass --baseline FILE (a --json result of the baseline run)",
            a.manifest.display()
        ));
    }
    let thresholds = lt
        .spec
        .thresholds()
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    let gate = Gate::new(thresholds, a.baseline.as_deref(), a.noise_aware)?;
    let runners = a.runners.unwrap_or(lt.spec.runners);
    let shares = plan
        .validate_for(runners)
        .map_err(|e| format!("{}: {e}", a.manifest.display()))?;
    // Shares differ only in the counts `validate_for` judged; preparing the
    // first (the largest) catches a bad template, an unknown host or too few
    // file descriptors before any process starts.
    Run::new(&shares[0], &RunOptions::default()).map_err(|e| e.to_string())?;
    if a.dry_run {
        super::emit(&format!(
            "{}: valid: {runners} runner(s) x {} thread(s), {} connections, {:?} measured after {:?} warm-up\n",
            a.manifest.display(),
            plan.threads,
            plan.connections,
            plan.measured_duration(),
            plan.warmup.get(),
        ))?;
        return Ok(0);
    }
    let name = lt.metadata.name.clone().unwrap_or_default();
    let children = ChildOutputs::new(&a.observe, &name, lt.metadata.namespace.as_deref())?;
    // The parent keeps only the JUnit file; the children log and serve metrics.
    let mut outputs = ObserveArgs {
        junit: a.observe.junit.clone(),
        ..ObserveArgs::default()
    }
    .prepare(&Default::default())?;
    // What is printed describes the whole test: every runner's threads.
    let whole = LoadPlan {
        threads: plan.threads * runners,
        ..plan.clone()
    };
    let view = if a.tui {
        let state = LiveState::new(&whole.target, plan.measured_duration(), plan.warmup.get());
        LiveView::start(state, super::signals::stop_by_key).map_err(|e| e.to_string())?
    } else {
        None
    };
    let mode = match (a.json, &view) {
        (true, _) => Mode::Json,
        (false, Some(_)) => Mode::Tui,
        (false, None) => Mode::Text,
    };
    if mode == Mode::Text {
        let mut banner = crate::output::text::render_banner(&whole);
        banner.push_str(&format!(
            "  Runners:   {runners} processes ({} threads each)\n",
            plan.threads
        ));
        super::emit(&banner)?;
    }
    // --tui: the live view, or without a terminal a progress line on stderr.
    let mut merge = a
        .tui
        .then(|| LiveMerge::new(runners as usize, plan.rate_mode().is_open()));
    let mut plain = PlainProgress::default();
    let result = run_processes(
        &plan,
        runners,
        &children,
        merge.as_mut(),
        |frame| match &view {
            Some(v) => v.update(frame),
            None => plain.show(&frame),
        },
    );
    plain.end();
    if let Some(v) = view {
        v.finish()
            .map_err(|e| format!("the live view failed: {e}"))?;
    }
    let (report, ending) = result?;
    let verdicts = gate.verdicts(&report);
    if let Err(e) = children.merge_hlogs(runners) {
        // A dead runner leaves no log; the results still count.
        super::warn(&format!("warning: --hlog: {e}"));
    }
    outputs.complete(&name, &report, &verdicts)?;
    Ok(finish(
        &whole,
        &report,
        &verdicts,
        &ending,
        mode,
        crate::tui::DEFAULT_BUCKETS,
        &[],
    ))
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

/// One runner process and its pipes.
struct Runner {
    index: u32,
    child: std::process::Child,
    /// Open until the start line is written (`start.rs`).
    stdin: Option<ChildStdin>,
    /// Its report, once it ends.
    stdout: std::thread::JoinHandle<String>,
}

/// A live line from runner `.0`.
type Heard = (usize, LiveLine);

/// Start one `gcannon shard` child per runner, feed each the plan, start them
/// all at one time once every one is ready (`start.rs`), and merge the
/// reports of every runner that produced one. A runner that died or was
/// interrupted is named in the returned [`Ending`]; the survivors' results
/// are kept. A stop signal to this process is passed on to every runner, and
/// each runner dies with this process (`PR_SET_PDEATHSIG`), so none is left
/// loading the target. With `live`, runners print a line a second and
/// `on_frame` gets their merge.
fn run_processes(
    plan: &LoadPlan,
    runners: u32,
    outputs: &ChildOutputs,
    mut live: Option<&mut LiveMerge>,
    mut on_frame: impl FnMut(LiveFrame),
) -> Result<(Report, Ending), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the gcannon executable: {e}"))?;
    let mut plan_line = serde_json::to_vec(plan).map_err(|e| e.to_string())?;
    plan_line.push(b'\n');
    // Two pipes per runner stay open until the start: past a 1024 soft limit at scale.
    raise_open_files_limit();
    let (settled_tx, settled) = mpsc::channel();
    let (heard_tx, heard) = mpsc::channel::<Heard>();
    let mut started: Vec<Runner> = Vec::with_capacity(runners as usize);
    for index in 0..runners {
        let tx = live.is_some().then(|| heard_tx.clone());
        let spawned = outputs.args(index).and_then(|mut extra| {
            if tx.is_some() {
                extra.push("--live".into());
            }
            let pipes = (settled_tx.clone(), tx);
            spawn_runner(&exe, index, runners, &extra, &plan_line, pipes)
        });
        match spawned {
            Ok(r) => started.push(r),
            Err(e) => {
                for r in &mut started {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                }
                return Err(e);
            }
        }
    }
    drop((settled_tx, heard_tx));
    start_together(&mut started, &settled);
    // Wait for every runner, passing a stop signal on once.
    let mut forwarded = false;
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; started.len()];
    let mut last_frame = std::time::Instant::now();
    while statuses.iter().any(Option::is_none) {
        if let Some(merge) = live.as_deref_mut() {
            for (i, line) in heard.try_iter() {
                merge.take(i, line);
            }
            // A runner lagging more than a second and a half is not waited for.
            let force = last_frame.elapsed() > std::time::Duration::from_millis(1500);
            if let Some(frame) = merge.frame(force) {
                on_frame(frame);
                last_frame = std::time::Instant::now();
            }
        }
        if !forwarded && INTERRUPTED.load(Ordering::Relaxed) {
            forwarded = true;
            for (r, s) in started.iter().zip(&statuses) {
                if s.is_none() {
                    // SAFETY: kill(2) on our own child's pid, not yet reaped.
                    unsafe { libc::kill(r.child.id() as libc::pid_t, libc::SIGTERM) };
                }
            }
        }
        for (r, s) in started.iter_mut().zip(statuses.iter_mut()) {
            if s.is_none() {
                *s = r
                    .child
                    .try_wait()
                    .map_err(|e| format!("runner {}: {e}", r.index))?;
                if let (Some(status), Some(merge)) = (s, live.as_deref_mut()) {
                    let how = match status.code() {
                        Some(0) => "done".to_string(),
                        Some(EXIT_INTERRUPTED) => "interrupted".to_string(),
                        _ => describe(*status),
                    };
                    merge.ended(r.index as usize, how);
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut merged: Option<Report> = None;
    let (mut failures, mut interrupted) = (Vec::new(), Vec::new());
    for (r, status) in started.into_iter().zip(statuses) {
        let status = status.expect("waited above");
        let out = r.stdout.join().unwrap_or_default();
        let parsed = serde_json::from_str::<WireReport>(&out)
            .map_err(|e| e.to_string())
            .and_then(|w| Report::from_wire(&w).map_err(|e| e.to_string()));
        match (parsed, status.code()) {
            (Ok(rep), code) => {
                if code == Some(EXIT_INTERRUPTED) {
                    interrupted.push(format!(
                        "runner {} interrupted after {:.2}s",
                        r.index, rep.elapsed_sec
                    ));
                } else if code != Some(0) {
                    failures.push(format!("runner {} {}", r.index, describe(status)));
                }
                match merged.as_mut() {
                    Some(m) => m.merge(&rep),
                    None => merged = Some(rep),
                }
            }
            (Err(_), _) if status.success() => {
                failures.push(format!("runner {} printed no report", r.index))
            }
            (Err(_), _) => failures.push(format!(
                "runner {} {} without a report; its share is missing",
                r.index,
                describe(status)
            )),
        }
    }
    let ending = Ending {
        interrupted: super::signals::interrupted_by()
            .map(String::from)
            .or_else(|| (!interrupted.is_empty()).then(|| interrupted.join(", "))),
        failure: (!failures.is_empty()).then(|| failures.join("; ")),
        runners: Some(runners),
    };
    Ok((merged.unwrap_or_default(), ending))
}

/// Wait until every runner is ready or gone, then write one start time to
/// all of them; when a stop signal comes first, close their stdin instead, so
/// each ends without sending load.
fn start_together(started: &mut [Runner], settled: &mpsc::Receiver<u32>) {
    let mut waiting = started.len();
    while waiting > 0 && !INTERRUPTED.load(Ordering::Relaxed) {
        match settled.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(_) => waiting -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let line = (!INTERRUPTED.load(Ordering::Relaxed))
        .then(|| start::start_line(SystemTime::now() + start::START_LEAD));
    for r in started {
        if let (Some(mut stdin), Some(line)) = (r.stdin.take(), line.as_ref()) {
            // A runner that already died has its report (or absence) said below.
            let _ = stdin.write_all(line.as_bytes());
        }
    }
}

/// Lift the soft open-files limit to the hard one, as the engine does.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Start runner `index`, hand it the plan, and read its stdout on a thread:
/// its `ready` line is announced on `settled` (so is its end without one),
/// the rest is its report.
fn spawn_runner(
    exe: &std::path::Path,
    index: u32,
    runners: u32,
    extra: &[String],
    plan_line: &[u8],
    (settled, live): (mpsc::Sender<u32>, Option<mpsc::Sender<Heard>>),
) -> Result<Runner, String> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "shard",
        "--index",
        &index.to_string(),
        "--runners",
        &runners.to_string(),
    ])
    .args(extra)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Die with the parent even when it is SIGKILLed, so no runner is
            // left loading the target.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: nobody would stop us.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("gcannon run ended"));
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start runner {index}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    if let Err(e) = stdin.write_all(plan_line) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("runner {index}: cannot send the plan: {e}"));
    }
    let reader = std::thread::Builder::new()
        .name(format!("gcannon-runner-{index}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = settled.send(index);
            let mut report = if first.trim_end() == start::READY {
                String::new()
            } else {
                first
            };
            let Some(tx) = live else {
                let _ = out.read_to_string(&mut report);
                return report;
            };
            // Live lines go to the parent's view; everything else is the report.
            for line in out.lines() {
                let Ok(line) = line else { break };
                match LiveLine::parse(&line) {
                    Some(l) => {
                        let _ = tx.send((index as usize, l));
                    }
                    None => {
                        report.push_str(&line);
                        report.push('\n');
                    }
                }
            }
            report
        });
    let stdout = match reader {
        Ok(handle) => handle,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "runner {index}: cannot start its reader thread: {e}"
            ));
        }
    };
    Ok(Runner {
        index,
        child,
        stdin: Some(stdin),
        stdout,
    })
}

/// `exited with status 2`, `was killed by SIGKILL`.
fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by {}", super::signals::signal_name(sig)),
        _ => format!("ended ({status})"),
    }
}

/// The child side: read the plan line on stdin, check share `index`, say
/// `ready`, wait for the common start, run, print its wire report.
pub fn run_shard(a: &ShardArgs) -> Result<i32, String> {
    let mut input = std::io::stdin().lock();
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("reading the plan: {e}"))?;
    let plan: LoadPlan =
        serde_json::from_str(&line).map_err(|e| format!("bad plan on stdin: {e}"))?;
    let shares = plan.validate_for(a.runners).map_err(|e| e.to_string())?;
    let share = shares
        .get(a.index as usize)
        .ok_or_else(|| format!("runner index {} out of range", a.index))?;
    let opts = RunOptions {
        runner_index: a.index,
        runners: a.runners,
    };
    let run = Run::new(share, &opts).map_err(|e| e.to_string())?;
    let labels = Labels {
        loadtest: a.loadtest.clone(),
        namespace: a.namespace.clone(),
        runner: a.index,
    };
    let mut outputs = a.observe.prepare(&labels)?;
    super::emit(&format!("{}\n", start::READY))?;
    let started = match start::read_start(&mut input)? {
        Some(at) => start::sleep_until(at, &INTERRUPTED),
        None => false,
    };
    if !started {
        // Stopped before the start: no load sent, nothing to report.
        return Ok(EXIT_INTERRUPTED);
    }
    outputs.watch(&run, share.rate_mode().is_open());
    let snapshots = run.snapshots();
    let report = run
        .execute(&INTERRUPTED, |p| {
            if a.live {
                let line = LiveLine::from_engine(p, &snapshots.merged()).to_line();
                // A parent gone away ends the run through PR_SET_PDEATHSIG.
                let _ = super::emit(&format!("{line}\n"));
            }
        })
        .map_err(|e| e.to_string())?;
    outputs.complete(&a.loadtest, &report, &[])?;
    let wire = serde_json::to_string(&report.to_wire()).map_err(|e| e.to_string())?;
    super::emit(&format!("{wire}\n"))?;
    outputs.linger();
    // The parent tells a partial share from a full one by this code.
    Ok(if INTERRUPTED.load(Ordering::Relaxed) {
        EXIT_INTERRUPTED
    } else {
        0
    })
}
