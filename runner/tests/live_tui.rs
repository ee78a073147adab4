//! `gcannon --tui` on a real terminal (a tmux pane): the live view fills the
//! screen with live percentiles, status counts and errors, follows a resize,
//! `p` freezes it, `q` stops the run early with its results, and the results
//! screen shows every measured second and no more, the warm-up apart. Each
//! check polls the captured pane until what it waits for is drawn; nothing is
//! timed.

mod common;

use common::serve;
use common::tmux::Tmux;

/// The command run in the pane: gcannon with a private history, then its
/// exit code, then a pause so the pane stays to be read.
fn command(args: &str, history: &std::path::Path) -> String {
    format!(
        "env GCANNON_HISTORY='{}' '{}' {args}; echo GCANNON-EXIT=$?; sleep 120",
        history.display(),
        env!("CARGO_BIN_EXE_gcannon"),
    )
}

/// The number after `label` on the first line that has it.
fn number_after(screen: &str, label: &str) -> Option<u64> {
    let rest = screen.lines().find_map(|l| l.split_once(label))?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// The latency after `label` (`p50     112us`), when one is drawn.
fn latency_after(screen: &str, label: &str) -> Option<String> {
    let rest = screen
        .lines()
        .find_map(|l| l.split_once(&format!("│ {label} ")))?
        .1;
    let v = rest.split_whitespace().next()?;
    (v.ends_with("us") || v.ends_with("ms") || v.ends_with('s')).then(|| v.to_string())
}

fn live_numbers_drawn(s: &str) -> bool {
    number_after(s, "2xx").is_some_and(|n| n > 0) && latency_after(s, "p99").is_some()
}

#[test]
fn live_view_shows_live_numbers_follows_a_resize_and_ends_with_the_run() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let args = format!(
        "http://{}/ -c 4 -d 4s --warmup 1s -b 7 --tui",
        srv.local_addr()
    );
    let history = dir.path().join("history.json");
    let Some(tmux) = Tmux::start("live", 120, 40, &command(&args, &history)) else {
        return;
    };

    // The warm-up counts down apart from the measured part.
    let warm = tmux.capture_until(|s| s.contains("warm-up") || s.contains("GCANNON-EXIT"));
    assert!(warm.contains("(not measured)"), "{warm}");

    // Live: percentiles from the workers' merged histograms, statuses, errors,
    // connections, the chart and the histogram, on all 40 rows.
    let live = tmux.capture_until(|s| live_numbers_drawn(s) || s.contains("GCANNON-EXIT"));
    assert!(live_numbers_drawn(&live), "no live numbers:\n{live}");
    for label in ["p50", "p90", "p99", "p99.9", "max"] {
        let v = latency_after(&live, label).unwrap_or_default();
        assert!(
            !v.is_empty() && !v.starts_with("0"),
            "{label} is {v:?}:\n{live}"
        );
    }
    for part in [
        "gcannon > http://",
        "q quit  p pause",
        "Status codes",
        "Errors",
        "open connections 4",
        "reconnects 0",
        "Req/s  now",
        "Latency histogram so far",
    ] {
        assert!(live.contains(part), "live view lacks {part:?}:\n{live}");
    }
    assert_eq!(number_after(&live, "connect "), Some(0), "{live}");
    assert_eq!(live.lines().count(), 40, "fills the pane:\n{live}");

    // A smaller terminal: redrawn to its size, the histogram left out first.
    tmux.resize(70, 20);
    let small = tmux.capture_until(|s| {
        (s.contains("Status codes") && !s.contains("Latency histogram"))
            || s.contains("GCANNON-EXIT")
    });
    if !small.contains("GCANNON-EXIT") {
        assert!(small.lines().all(|l| l.chars().count() <= 70), "{small}");
        assert!(small.contains("Req/s  now"), "{small}");
    }
    tmux.resize(120, 60);

    // The results: every measured second and no more, the warm-up apart.
    let done = tmux.capture_until(|s| s.contains("GCANNON-EXIT"));
    srv.shutdown();
    assert!(done.contains("GCANNON-EXIT=0"), "run failed:\n{done}");
    for part in [
        "gcannon results",
        "after a 1.0s warm-up, not measured",
        "Latency histogram",
        "Req/s, last runs",
        "Responses per second",
        "p99 per second",
        "warm-up ┆ 1.0s not measured",
    ] {
        assert!(done.contains(part), "results lack {part:?}:\n{done}");
    }
    let lines: Vec<&str> = done.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("Latency histogram"))
        .unwrap();
    let rows = lines[start + 1..]
        .iter()
        .take_while(|l| l.contains('%'))
        .count();
    assert_eq!(rows, 7, "-b 7 draws seven buckets:\n{done}");
    let seconds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.trim_start_matches('│').split_whitespace().next())
        .filter(|w| w.ends_with('s') && w[..w.len() - 1].parse::<u32>().is_ok())
        .collect();
    // Two charts (req/s and p99) of the seconds 1s..=4s each, no 5th second.
    assert_eq!(
        seconds,
        ["1s", "2s", "3s", "4s", "1s", "2s", "3s", "4s"],
        "{done}"
    );
    // The per-second p99 is measured in this closed-loop run.
    let p99_rows = lines
        .iter()
        .skip_while(|l| !l.contains("p99 per second"))
        .skip(1)
        .take(5)
        .filter(|l| l.contains("us") || l.contains("ms"))
        .count();
    assert_eq!(p99_rows, 4, "{done}");
}

#[test]
fn p_pauses_the_display_and_q_stops_early_with_the_results() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let args = format!("http://{}/ -c 2 -d 60s --tui", srv.local_addr());
    let history = dir.path().join("history.json");
    let Some(tmux) = Tmux::start("live-keys", 110, 40, &command(&args, &history)) else {
        return;
    };
    let live = tmux.capture_until(|s| live_numbers_drawn(s) || s.contains("GCANNON-EXIT"));
    assert!(live_numbers_drawn(&live), "{live}");

    // `p` freezes what is shown; the load goes on, and `p` again shows it.
    tmux.send_keys("p");
    let paused = tmux.capture_until(|s| s.contains("PAUSED"));
    assert!(
        paused.contains("PAUSED (p resumes; the load goes on)"),
        "{paused}"
    );
    let frozen = number_after(&paused, "responses").expect("responses drawn");
    tmux.send_keys("p");
    let resumed = tmux.capture_until(|s| {
        !s.contains("PAUSED") && number_after(s, "responses").is_some_and(|n| n > frozen)
    });
    assert!(!resumed.contains("PAUSED"), "{resumed}");

    // `q` ends the run at once: results of what ran, marked interrupted.
    tmux.send_keys("q");
    let done = tmux.capture_until(|s| s.contains("GCANNON-EXIT"));
    srv.shutdown();
    assert!(done.contains("GCANNON-EXIT=3"), "exit code 3:\n{done}");
    assert!(done.contains("gcannon results"), "{done}");
    assert!(
        done.contains("Interrupted (q pressed) after") && done.contains("of 60.00s"),
        "{done}"
    );
    let twoxx = done
        .lines()
        .skip_while(|l| !l.contains("2xx"))
        .nth(1)
        .and_then(|l| l.trim_start_matches('│').split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        twoxx.is_some_and(|n| n > 0),
        "partial results kept:\n{done}"
    );
}

fn manifest(url: &str, runners: u32, duration: &str) -> String {
    format!(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: live\nspec:\n  target: {url}\n  connections: 4\n  duration: {duration}\n  warmup: 0s\n  runners: {runners}\n  thresholds:\n  - \"p99 < 5s\"\n"
    )
}

#[test]
fn gcannon_run_tui_merges_the_runners_and_lists_each() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lt.yaml");
    let url = format!("http://{}/", srv.local_addr());
    std::fs::write(&path, manifest(&url, 2, "3s")).unwrap();
    let args = format!("run '{}' --tui", path.display());
    let history = dir.path().join("history.json");
    let Some(tmux) = Tmux::start("live-run", 120, 40, &command(&args, &history)) else {
        return;
    };
    let both_running = |s: &str| {
        ["runner 0", "runner 1"].iter().all(|r| {
            s.lines().any(|l| {
                l.contains(r) && l.contains("running") && l.contains("p99 ") && !l.contains("p99 -")
            })
        })
    };
    let live = tmux
        .capture_until(|s| both_running(s) && live_numbers_drawn(s) || s.contains("GCANNON-EXIT"));
    assert!(both_running(&live), "one line per runner:\n{live}");
    assert!(live_numbers_drawn(&live), "merged numbers:\n{live}");
    // The merged count is the sum of the runners' counts.
    let per_runner: u64 = live
        .lines()
        .filter(|l| l.contains("runner ") && l.contains("running"))
        .filter_map(|l| number_after(l, "responses"))
        .sum();
    assert_eq!(number_after(&live, "responses"), Some(per_runner), "{live}");
    let done = tmux.capture_until(|s| s.contains("GCANNON-EXIT"));
    srv.shutdown();
    assert!(done.contains("GCANNON-EXIT=0"), "{done}");
    assert!(
        done.contains("gcannon results") && done.contains("p99 < 5s"),
        "{done}"
    );
}

#[test]
fn gcannon_run_tui_without_a_terminal_prints_progress_lines_and_text() {
    let srv = serve();
    let url = format!("http://{}/", srv.local_addr());
    let out = common::gcannon_run(&manifest(&url, 2, "2s"), &["--tui"]);
    srv.shutdown();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Runners:") && stdout.contains("2xx="),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no escapes into a pipe: {stdout:?}"
    );
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains("req/s")).collect();
    assert!(
        !progress.is_empty(),
        "a progress line each second:\n{stderr}"
    );
    assert!(
        progress
            .iter()
            .all(|l| l.contains("/2.0s") && l.contains("p99 ")),
        "{stderr}"
    );
}

/// Closing the terminal mid-run (the window, or tmux itself) stops the run
/// like SIGHUP does: gcannon exits, as interrupted, and its results are kept
/// in the history. It must not be left spinning on a terminal that is gone.
#[test]
fn a_closed_terminal_ends_the_run_and_keeps_its_results() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    let exit = dir.path().join("exit");
    // The shell outlives the hang-up to write gcannon's exit code.
    let cmd = format!(
        "sh -c \"trap '' HUP; env GCANNON_HISTORY='{}' '{}' http://{}/ -c 2 -d 60s --tui; echo \\$? > '{}'\"",
        history.display(),
        env!("CARGO_BIN_EXE_gcannon"),
        srv.local_addr(),
        exit.display(),
    );
    let Some(tmux) = Tmux::start("hangup", 100, 30, &cmd) else {
        return;
    };
    let live = tmux.capture_until(live_numbers_drawn);
    assert!(live_numbers_drawn(&live), "{live}");
    drop(tmux); // kills the tmux server: the terminal is gone

    let mut code = None;
    for _ in 0..600 {
        code = std::fs::read_to_string(&exit)
            .ok()
            .filter(|c| !c.is_empty());
        if code.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    srv.shutdown();
    assert_eq!(
        code.as_deref().map(str::trim),
        Some("3"),
        "gcannon did not end as interrupted"
    );
    let saved = std::fs::read_to_string(&history).expect("the run is in the history");
    let runs: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let run = &runs[0];
    assert!(run["responses"].as_u64().unwrap() > 0, "{saved}");
    // Stopped when the terminal went, not at the end of the 60 s.
    assert!(run["duration_sec"].as_f64().unwrap() < 60.0, "{saved}");
}
