//! The `gcannon` command line: parse flags, run, print, choose the exit code.
//!
//! Exit codes: 0 success (and every threshold passed), 1 the run failed (no
//! successful response, or a threshold failed), 2 bad input before any load.

pub mod args;
mod demo;
pub mod local;
pub mod observe;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use api::plan::LoadPlan;
use api::report::Report;
use api::threshold::{evaluate, Threshold, Verdict};
use clap::Parser;

use self::args::{Cli, Command, LoadArgs};
use crate::engine::{Run, RunOptions};
use crate::output::{json, text};
use crate::progress::Progress;

/// Exit status for bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for a run that failed or missed a threshold.
pub const EXIT_FAILED: i32 = 1;

/// Set by SIGINT; the engine stops and the results so far are printed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Route Ctrl-C to `INTERRUPTED` once; a second Ctrl-C kills the process as usual.
pub fn install_interrupt_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as usize;
        sa.sa_flags = libc::SA_RESETHAND;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// Parse the command line, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    install_interrupt_handler();
    if !matches!(cli.command, Some(Command::Agent)) {
        // `gcannon … | head` should end quietly like any Unix filter instead of
        // panicking on a closed stdout. Every socket write of ours passes
        // MSG_NOSIGNAL; the agent keeps Rust's default because its HTTP client may not.
        // SAFETY: setting a signal disposition to its default is always sound.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        None => load_test(&cli.load),
        Some(Command::Serve(a)) => serve(&a),
        Some(Command::Demo(a)) => demo::run(&a),
        Some(Command::Run(a)) => local::run_manifest(&a),
        Some(Command::Shard(a)) => local::run_shard(&a),
        Some(Command::Agent) => crate::agent::main(),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("gcannon: {msg}");
            EXIT_USAGE
        }
    }
}

/// `gcannon serve`: answer until Ctrl-C, then say how many requests were served.
fn serve(a: &args::ServeArgs) -> Result<i32, String> {
    let cfg = crate::serve::ServeConfig {
        listen: a.listen,
        threads: a.threads.max(1),
    };
    let server =
        crate::serve::start(&cfg).map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    eprintln!(
        "gcannon serve: listening on http://{} with {} thread(s); Ctrl-C stops",
        server.local_addr(),
        cfg.threads
    );
    while !INTERRUPTED.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!("gcannon serve: {} requests served", server.requests());
    server.shutdown();
    Ok(0)
}

/// A plain `gcannon URL …` run.
fn load_test(a: &LoadArgs) -> Result<i32, String> {
    if a.clear_history {
        let path = crate::history::path();
        crate::history::clear(&path).map_err(|e| e.to_string())?;
        println!("history cleared: {}", path.display());
        return Ok(0);
    }
    if a.url.is_none() && a.raw.is_empty() {
        return Err(
            "a target URL is required (or --raw templates with a Host header); see --help".into(),
        );
    }
    crate::tui::check_buckets(a.buckets).map_err(|e| format!("-b {}: {e}", a.buckets))?;
    let plan = a.to_plan()?;
    let thresholds = parse_thresholds(&a.thresholds)?;
    let opts = RunOptions {
        timeout: a.timeout(),
        ..RunOptions::default()
    };
    let run = Run::new(&plan, &opts).map_err(|e| e.to_string())?;
    let mut outputs = a.observe.prepare(&Default::default())?;
    outputs.watch(&run, crate::output::is_rate_mode(&plan));
    let mode = if a.json {
        Mode::Json
    } else if a.tui && std::io::stdout().is_terminal() {
        Mode::Tui
    } else {
        Mode::Text
    };
    let report = execute(run, &plan, mode, a.buckets)?;
    let verdicts = evaluate(&thresholds, &api::report::Summary::from_report(&report));
    let history = record_history(&plan, &report);
    outputs.complete(&plan.target, &report, &verdicts)?;
    print_result(&plan, &report, &verdicts, mode, a.buckets, &history);
    let _ = std::io::stdout().flush();
    outputs.linger();
    Ok(exit_code(&report, &verdicts))
}

/// How results are shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Banner, progress on a terminal, text results.
    Text,
    /// One JSON object.
    Json,
    /// Live view and rich results.
    Tui,
}

/// Run with the progress display that `mode` asks for.
pub fn execute(run: Run, plan: &LoadPlan, mode: Mode, _buckets: usize) -> Result<Report, String> {
    let result = match mode {
        Mode::Json => run.execute(&INTERRUPTED, |_| {}),
        Mode::Text => {
            print!("{}", text::render_banner(plan));
            let _ = std::io::stdout().flush();
            let tty = std::io::stderr().is_terminal();
            let r = run.execute(&INTERRUPTED, |p| {
                if tty {
                    eprint!("\r  {:>3.0}%  {} responses ", percent(p), p.responses);
                }
            });
            if tty {
                eprint!("\r\x1b[2K");
            }
            r
        }
        Mode::Tui => {
            let total = run.duration();
            let mut view =
                crate::tui::LiveView::start(&plan.target, total).map_err(|e| e.to_string())?;
            let r = run.execute(&INTERRUPTED, |p| {
                if let Some(v) = view.as_mut() {
                    let _ = v.update(p);
                }
            });
            if let Some(mut v) = view {
                if let Ok(report) = &r {
                    // Progress comes once a second, so the last one can be nearly a
                    // second old: draw where the run really ended.
                    let elapsed = if INTERRUPTED.load(Ordering::Relaxed) {
                        Duration::from_secs_f64(report.elapsed_sec.max(0.0)).min(total)
                    } else {
                        total
                    };
                    let _ = v.update(&Progress {
                        elapsed,
                        total,
                        responses: report.counts.responses,
                        bytes_read: report.counts.bytes_read,
                    });
                }
                let _ = v.finish();
            }
            r
        }
    };
    result.map_err(|e| e.to_string())
}

fn percent(p: &Progress) -> f64 {
    100.0 * p.elapsed.as_secs_f64() / p.total.as_secs_f64().max(1e-9)
}

/// Print the results in the chosen mode.
pub fn print_result(
    plan: &LoadPlan,
    report: &Report,
    verdicts: &[Verdict],
    mode: Mode,
    buckets: usize,
    history: &[crate::history::Entry],
) {
    match mode {
        Mode::Json => println!("{}", json::render_json(plan, report, verdicts)),
        Mode::Text => print!("{}", text::render_result(plan, report, verdicts)),
        Mode::Tui => {
            print!(
                "{}",
                crate::tui::render_results(plan, report, buckets, history)
            );
            verdicts
                .iter()
                .for_each(|v| println!("{}", text::render_verdict(v)));
        }
    }
}

/// Append this run to the history and return the runs recorded so far.
fn record_history(plan: &LoadPlan, report: &Report) -> Vec<crate::history::Entry> {
    let entry =
        crate::history::Entry::from_report(&plan.target, report, crate::history::now_unix());
    let (history, warning) = crate::history::record(&crate::history::path(), entry);
    if let Some(w) = warning {
        eprintln!("gcannon: warning: {w}");
    }
    history
}

/// Parse `--threshold` expressions, naming the bad one.
pub fn parse_thresholds(exprs: &[String]) -> Result<Vec<Threshold>, String> {
    exprs
        .iter()
        .map(|e| Threshold::parse(e).map_err(|err| format!("threshold {e:?}: {err}")))
        .collect()
}

/// 1 when nothing succeeded or a threshold failed, else 0.
pub fn exit_code(report: &Report, verdicts: &[Verdict]) -> i32 {
    let ok = report.counts.responses > report.counts.unexpected_status
        && verdicts.iter().all(|v| v.passed);
    if ok {
        0
    } else {
        EXIT_FAILED
    }
}
