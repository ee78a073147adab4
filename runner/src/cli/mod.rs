//! The `gcannon` command line: parse flags, run, print, choose the exit code.
//!
//! Exit codes: 0 success (and every threshold passed), 1 the run failed (no
//! successful response, a threshold failed, a runner died, the results could
//! not be written), 2 bad input before any load, 3 interrupted by a signal
//! (partial results printed).

pub mod args;
mod demo;
pub mod gate;
pub mod live;
pub mod local;
mod local_live;
mod manifest;
pub mod observe;
pub mod signals;
mod start;

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;

use api::plan::LoadPlan;
use api::report::Report;
use api::threshold::Evaluation;
use clap::Parser;

use self::args::{Cli, Command, LoadArgs};
use crate::engine::{Run, RunOptions};
use crate::output::{json, text, Ending};
use crate::progress::Progress;

pub use self::signals::INTERRUPTED;

/// Exit status for bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for a run that failed or missed a threshold.
pub const EXIT_FAILED: i32 = 1;
/// Exit status for a run stopped early by SIGINT, SIGTERM or SIGHUP; its
/// partial results were printed and no threshold counts as passed.
pub const EXIT_INTERRUPTED: i32 = 3;

/// Parse the command line, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if matches!(cli.command, Some(Command::Agent)) {
        // The agent watches SIGTERM itself (it must report a Failed shard).
        signals::install(&[libc::SIGINT]);
    } else {
        signals::install(&signals::STOP_SIGNALS);
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
        Some(Command::Watch(a)) => crate::watch::main(&a),
        Some(Command::Shard(a)) => local::run_shard(&a),
        Some(Command::Agent) => crate::agent::main(),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            warn(&msg);
            EXIT_USAGE
        }
    }
}

/// Print a flag error in one line (clap's first line, without its usage block
/// and tips), or help and version as clap prints them.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("bad arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    warn(&format!("{first}; see --help"));
    EXIT_USAGE
}

/// One line on stderr, `gcannon: …`; a failing stderr is ignored, never a panic.
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "gcannon: {msg}");
}

/// Write to stdout and flush, reporting a full disk or closed pipe instead of
/// panicking like `print!`.
pub fn emit(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the results to stdout: {e}"))
}

/// `gcannon serve`: answer until Ctrl-C, then say how many requests were served.
fn serve(a: &args::ServeArgs) -> Result<i32, String> {
    let cfg = crate::serve::ServeConfig {
        listen: a.listen,
        threads: a.threads.max(1),
    };
    let server = match tls_cert(a) {
        None => crate::serve::start(&cfg),
        Some(cert) => {
            let tls = crate::tls::server_config(&cert).map_err(|e| e.to_string())?;
            crate::serve::start_tls(&cfg, tls)
        }
    }
    .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    eprintln!(
        "gcannon serve: listening on {}://{} with {} thread(s){}; Ctrl-C stops",
        if a.tls { "https" } else { "http" },
        server.local_addr(),
        cfg.threads,
        match (a.tls, &a.cert) {
            (true, None) => " (self-signed certificate for localhost, 127.0.0.1, ::1)",
            _ => "",
        }
    );
    while !INTERRUPTED.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!("gcannon serve: {} requests served", server.requests());
    server.shutdown();
    Ok(0)
}

/// The certificate `serve --tls` uses, if TLS is on.
fn tls_cert(a: &args::ServeArgs) -> Option<crate::tls::ServerCert> {
    if !a.tls {
        return None;
    }
    Some(match (&a.cert, &a.key) {
        (Some(cert), Some(key)) => crate::tls::ServerCert::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => crate::tls::ServerCert::SelfSigned,
    })
}

/// A plain `gcannon URL …` run.
fn load_test(a: &LoadArgs) -> Result<i32, String> {
    if a.clear_history {
        let path = crate::history::path();
        crate::history::clear(&path).map_err(|e| e.to_string())?;
        return Ok(
            match emit(&format!("history cleared: {}\n", path.display())) {
                Ok(()) => 0,
                Err(e) => {
                    warn(&e);
                    EXIT_FAILED
                }
            },
        );
    }
    crate::tui::check_buckets(a.buckets).map_err(|e| e.to_string())?;
    if a.compare && a.json {
        return Err("--compare prints a table beside the text results; for --json, compare with --baseline FILE instead".into());
    }
    let plan = a.to_plan()?;
    let gate = gate::Gate::new(a.thresholds.clone(), a.baseline.as_deref(), a.noise_aware)?;
    let run = Run::new(&plan, &RunOptions::default()).map_err(|e| e.to_string())?;
    let mut outputs = a.observe.prepare(&Default::default())?;
    outputs.watch(&run, plan.rate_mode().is_open());
    let mode = if a.json {
        Mode::Json
    } else if a.tui {
        Mode::Tui
    } else {
        Mode::Text
    };
    let (report, mode) = match execute(run, &plan, mode) {
        Ok(r) => r,
        Err(e) => {
            // Load was sent: this is a failed run, not bad input.
            warn(&e);
            return Ok(EXIT_FAILED);
        }
    };
    let verdicts = gate.verdicts(&report);
    let history = record_history(&plan, &report);
    let ending = Ending {
        interrupted: signals::interrupted_by().map(String::from),
        ..Ending::default()
    };
    outputs.complete(&plan.target, &report, &verdicts)?;
    let code = finish(
        &plan, &report, &verdicts, &ending, mode, a.buckets, &history,
    );
    if a.compare {
        if let Err(e) = emit(&crate::output::compare::render(&history)) {
            warn(&e);
        }
    }
    outputs.linger();
    Ok(code)
}

/// Print the result, say in one line why a run failed, and choose the exit code.
pub fn finish(
    plan: &LoadPlan,
    report: &Report,
    verdicts: &[Evaluation],
    ending: &Ending,
    mode: Mode,
    buckets: usize,
    history: &[crate::history::Entry],
) -> i32 {
    if report.counts.seq_repeats > 0 {
        warn(&format!(
            "warning: {{SEQ}} wrapped: {} requests repeated a value already sent; give the placeholder a start with more digits",
            report.counts.seq_repeats
        ));
    }
    if let Err(e) = print_result(plan, report, verdicts, ending, mode, buckets, history) {
        warn(&e);
        // A closed terminal both stops the run and swallows its output: the
        // stop is the cause to report.
        return match ending.interrupted {
            Some(_) => EXIT_INTERRUPTED,
            None => EXIT_FAILED,
        };
    }
    let code = exit_code(report, verdicts, ending);
    if code == EXIT_FAILED {
        if let Some(why) = failure_reason(report, verdicts, ending) {
            warn(&why);
        }
    }
    code
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

/// Run with the progress display that `mode` asks for. Returns the report
/// and the mode to print it in: `--tui` without a terminal prints text.
pub fn execute(run: Run, plan: &LoadPlan, mode: Mode) -> Result<(Report, Mode), String> {
    let result = match mode {
        Mode::Json => run.execute(&INTERRUPTED, |_| {}),
        Mode::Text => {
            emit(&text::render_banner(plan))?;
            let tty = std::io::stderr().is_terminal();
            let r = run.execute(&INTERRUPTED, |p| {
                if tty {
                    let _ = write!(
                        std::io::stderr(),
                        "\r  {:>3.0}%  {} responses ",
                        percent(p),
                        p.responses
                    );
                }
            });
            if tty {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
            r
        }
        Mode::Tui => {
            let (report, drawn) = live::execute_live(run, plan)?;
            return Ok((report, if drawn { Mode::Tui } else { Mode::Text }));
        }
    };
    result.map(|r| (r, mode)).map_err(|e| e.to_string())
}

fn percent(p: &Progress) -> f64 {
    100.0 * p.elapsed.as_secs_f64() / p.total.as_secs_f64().max(1e-9)
}

/// Print the results in the chosen mode; an error when stdout refuses them.
pub fn print_result(
    plan: &LoadPlan,
    report: &Report,
    verdicts: &[Evaluation],
    ending: &Ending,
    mode: Mode,
    buckets: usize,
    history: &[crate::history::Entry],
) -> Result<(), String> {
    let mut out = match mode {
        Mode::Json => {
            return emit(&format!(
                "{}\n",
                json::render_json_ended(plan, report, verdicts, ending)
            ))
        }
        Mode::Text => text::render_result(plan, report, verdicts),
        Mode::Tui => {
            let mut s = crate::tui::render_results(plan, report, buckets, history);
            for v in verdicts {
                s.push_str(&text::render_verdict(v));
                s.push('\n');
            }
            s
        }
    };
    let planned = plan.measured_duration().as_secs_f64();
    for line in ending.lines(report, planned) {
        out.push_str(&format!("  {line}\n"));
    }
    emit(&out)
}

/// Append this run to the history and return the runs recorded so far.
fn record_history(plan: &LoadPlan, report: &Report) -> Vec<crate::history::Entry> {
    let entry = crate::history::Entry {
        connections: plan.connections,
        pipeline: plan.pipeline,
        ..crate::history::Entry::from_report(&plan.target, report, crate::history::now_unix())
    };
    let (history, warning) = crate::history::record(&crate::history::path(), entry);
    if let Some(w) = warning {
        warn(&format!("warning: {w}"));
    }
    history
}

/// 3 when interrupted (whatever the thresholds say: the run is partial), 1
/// when a runner failed, nothing succeeded or a threshold failed, else 0.
pub fn exit_code(report: &Report, verdicts: &[Evaluation], ending: &Ending) -> i32 {
    if ending.interrupted.is_some() {
        return EXIT_INTERRUPTED;
    }
    if failure_reason(report, verdicts, ending).is_some() {
        EXIT_FAILED
    } else {
        0
    }
}

/// Why a complete run failed, in one line; `None` when it passed.
pub fn failure_reason(report: &Report, verdicts: &[Evaluation], ending: &Ending) -> Option<String> {
    if let Some(why) = &ending.failure {
        return Some(format!("run failed: {why}"));
    }
    let c = &report.counts;
    if c.responses <= c.unexpected_status {
        return Some(format!("run failed: {}", no_success_reason(report)));
    }
    let missed: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.threshold.as_str())
        .collect();
    (!missed.is_empty()).then(|| format!("run failed: threshold missed: {}", missed.join(", ")))
}

/// Why no response with the expected status came back: the most common fault.
fn no_success_reason(report: &Report) -> String {
    let c = &report.counts;
    let e = &c.errors;
    let st = &c.status;
    let unexpected = format!(
        "responses had an unexpected status (2xx={}, 3xx={}, 4xx={}, 5xx={}, other={}; a refused WebSocket upgrade counts here)",
        st.s2xx, st.s3xx, st.s4xx, st.s5xx, st.other
    );
    let tls = format!(
        "TLS failures (first: {})",
        crate::engine::first_tls_error().unwrap_or("not kept")
    );
    let faults = [
        (c.unexpected_status, unexpected.as_str()),
        (e.tls, tls.as_str()),
        (e.connect, "connect errors (is the target up?)"),
        (e.timeout, "timeouts"),
        (
            e.read,
            "read errors (the server closed or reset connections)",
        ),
        (
            e.parse,
            "responses that were not valid HTTP/1.1 (or not the WebSocket echo)",
        ),
    ];
    // The first of the most common kinds: `max_by_key` would take the last.
    let most = faults.iter().map(|(n, _)| *n).max().unwrap_or(0);
    if let Some((n, what)) = faults.iter().find(|(n, _)| *n == most && most > 0) {
        return format!("no successful response; {n} {what}");
    }
    if c.requests == 0 {
        return "no request was sent".into();
    }
    format!(
        "no response to {} requests sent (the server never answered)",
        c.requests
    )
}
