//! The run history file: round trip, bound, clear, and damage handling.

use std::ffi::OsString;
use std::path::PathBuf;

use runner::history::{self, Entry, HistoryError, MAX_ENTRIES};

fn entry(i: u64) -> Entry {
    Entry {
        timestamp: 1_700_000_000 + i,
        target: format!("http://127.0.0.1:8080/{i}"),
        rps: 1000.0 + i as f64,
        avg_us: 250.5,
        p50_us: 200,
        p99_us: 900 + i,
        responses: 10_000 + i,
        errors: i % 3,
        duration_sec: 5.0,
        connections: 8,
        pipeline: 1,
    }
}

fn hist_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("sub").join("history.json")
}

#[test]
fn round_trip_keeps_every_field_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    assert!(
        history::load(&p).unwrap().is_empty(),
        "missing file is an empty history"
    );
    for i in 0..3 {
        history::append(&p, entry(i)).unwrap();
    }
    let got = history::load(&p).unwrap();
    assert_eq!(got, vec![entry(0), entry(1), entry(2)]);
}

#[test]
fn keeps_only_the_last_hundred() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    for i in 0..(MAX_ENTRIES as u64 + 7) {
        history::append(&p, entry(i)).unwrap();
    }
    let got = history::load(&p).unwrap();
    assert_eq!(got.len(), MAX_ENTRIES);
    assert_eq!(got.first().unwrap(), &entry(7));
    assert_eq!(got.last().unwrap(), &entry(MAX_ENTRIES as u64 + 6));
}

#[test]
fn clear_empties_and_tolerates_missing() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    history::clear(&p).unwrap();
    history::append(&p, entry(1)).unwrap();
    history::clear(&p).unwrap();
    assert!(history::load(&p).unwrap().is_empty());
    history::append(&p, entry(2)).unwrap();
    assert_eq!(history::load(&p).unwrap(), vec![entry(2)]);
}

fn corrupt_files(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("history.json.corrupt-")
        })
        .collect()
}

#[test]
fn corrupt_file_is_set_aside_with_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("history.json");
    let garbage = b"{ this is not [ a history";
    std::fs::write(&p, garbage).unwrap();
    let err = history::load(&p).unwrap_err();
    assert!(err.is_warning(), "{err}");
    let HistoryError::SetAside { moved_to, .. } = &err else {
        panic!("{err:?}")
    };
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one-line warning: {msg}");
    assert!(msg.contains("corrupt-"), "{msg}");
    assert_eq!(std::fs::read(moved_to).unwrap(), garbage);
    assert_eq!(corrupt_files(dir.path()), vec![moved_to.clone()]);
    assert!(!p.exists());
    assert!(history::load(&p).unwrap().is_empty(), "starts afresh");
}

#[test]
fn append_over_corrupt_file_writes_entry_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("history.json");
    std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
    let err = history::append(&p, entry(5)).unwrap_err();
    assert!(err.is_warning(), "{err}");
    assert_eq!(history::load(&p).unwrap(), vec![entry(5)]);
    let aside = corrupt_files(dir.path());
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), [0xff, 0xfe, 0x00]);
}

#[test]
fn setting_aside_twice_keeps_both_copies() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("history.json");
    std::fs::write(&p, "first").unwrap();
    history::load(&p).unwrap_err();
    std::fs::write(&p, "second").unwrap();
    history::load(&p).unwrap_err();
    let mut contents: Vec<String> = corrupt_files(dir.path())
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    contents.sort();
    assert_eq!(contents, vec!["first", "second"]);
}

#[test]
fn unusable_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the directory should be: fails even for root.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let p = blocker.join("history.json");
    let err = history::append(&p, entry(1)).unwrap_err();
    assert!(matches!(err, HistoryError::Io { .. }), "{err:?}");
    assert!(!err.is_warning());
    assert!(history::load(&p).is_err());
    // A directory where the file should be is reported and left alone.
    let d = dir.path().join("history.json");
    std::fs::create_dir(&d).unwrap();
    let err = history::load(&d).unwrap_err();
    assert!(matches!(err, HistoryError::NotRegular { .. }), "{err:?}");
    assert!(d.is_dir());
    assert!(history::clear(&d).is_err());
}

#[test]
fn path_follows_the_environment_in_order() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    };
    static ALL: [(&str, &str); 3] = [
        ("GCANNON_HISTORY", "/x/h.json"),
        ("XDG_DATA_HOME", "/xdg"),
        ("HOME", "/home/u"),
    ];
    assert_eq!(history::path_with(env(&ALL)), PathBuf::from("/x/h.json"));
    assert_eq!(
        history::path_with(env(&ALL[1..])),
        PathBuf::from("/xdg/gcannon/history.json")
    );
    assert_eq!(
        history::path_with(env(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/u")])),
        PathBuf::from("/home/u/.local/share/gcannon/history.json")
    );
    assert_eq!(
        history::path_with(env(&[("GCANNON_HISTORY", ""), ("HOME", "/home/u")])),
        PathBuf::from("/home/u/.local/share/gcannon/history.json")
    );
}

#[test]
fn entry_from_report_summarises_latency_and_rate() {
    let mut report = api::report::Report::default();
    for v in [100u64, 200, 300, 400] {
        report.latency.record(v).unwrap();
    }
    report.counts.responses = 4000;
    report.counts.errors.timeout = 2;
    report.counts.errors.connect = 1;
    report.elapsed_sec = 2.0;
    let e = Entry::from_report("http://127.0.0.1:1/", &report, 42);
    assert_eq!(e.rps, 2000.0);
    assert_eq!(e.errors, 3);
    assert_eq!(e.timestamp, 42);
    assert!((e.avg_us - 250.0).abs() < 1.0, "{}", e.avg_us);
    assert!((199..=201).contains(&e.p50_us), "{}", e.p50_us);
    assert!((399..=401).contains(&e.p99_us), "{}", e.p99_us);
}

#[test]
fn non_finite_numbers_do_not_break_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    let mut e = entry(1);
    e.rps = f64::NAN;
    e.avg_us = f64::INFINITY;
    history::append(&p, e).unwrap();
    let got = history::load(&p).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rps, 0.0);
}

#[test]
fn record_returns_the_history_with_this_run_last() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    history::append(&p, entry(1)).unwrap();
    let (got, warning) = history::record(&p, entry(2));
    assert!(warning.is_none());
    assert_eq!(got, vec![entry(1), entry(2)]);
    assert_eq!(history::load(&p).unwrap(), got);
}

#[test]
fn record_over_damage_warns_and_still_charts_this_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("history.json");
    std::fs::write(&p, "[{").unwrap();
    let (got, warning) = history::record(&p, entry(3));
    assert!(warning.unwrap().is_warning());
    assert_eq!(got, vec![entry(3)]);
    assert_eq!(history::load(&p).unwrap(), vec![entry(3)]);

    // Unwritable location: the run is still returned, with the error as warning.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let (got, warning) = history::record(&blocker.join("h.json"), entry(4));
    assert_eq!(got, vec![entry(4)]);
    assert!(matches!(warning, Some(HistoryError::Io { .. })));
}

/// Make a special file at `p` with mknod(2); false when not allowed (not root).
fn mknod(p: &std::path::Path, mode: libc::mode_t, dev: libc::dev_t) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::mknod(c.as_ptr(), mode, dev) == 0 }
}

/// Run `f` on a thread and fail instead of hanging when it blocks (a FIFO open).
fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .expect("history blocked on a special file")
}

#[test]
fn special_files_are_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        mknod(&fifo, libc::S_IFIFO | 0o600, 0),
        "mkfifo works unprivileged"
    );
    let mut specials = vec![fifo];
    // A copy of /dev/null needs root; as root (CI here) it must be covered.
    let null = dir.path().join("null");
    if mknod(&null, libc::S_IFCHR | 0o666, libc::makedev(1, 3)) {
        specials.push(null);
    } else {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(!root, "root could not mknod a character device");
    }
    for p in specials {
        let q = p.clone();
        let (got, warning) = within_5s(move || history::record(&q, entry(1)));
        assert_eq!(got, vec![entry(1)], "this run is still charted");
        let w = warning.expect("a warning");
        assert!(matches!(w, HistoryError::NotRegular { .. }), "{w:?}");
        let msg = w.to_string();
        assert!(
            !msg.contains('\n') && msg.contains("not a regular file"),
            "{msg}"
        );
        let q = p.clone();
        let err = within_5s(move || history::append(&q, entry(2))).unwrap_err();
        assert!(matches!(err, HistoryError::NotRegular { .. }), "{err:?}");
        assert!(history::clear(&p).is_err());
        let t = std::fs::symlink_metadata(&p).unwrap().file_type();
        assert!(
            t.is_fifo() || t.is_char_device(),
            "{} replaced",
            p.display()
        );
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.retain(|n| n != "fifo" && n != "null");
    assert!(
        names.is_empty(),
        "nothing renamed aside or created: {names:?}"
    );
}

#[test]
fn concurrent_runs_lose_no_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = hist_path(&dir);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let (_, warning) = history::record(&p, entry(t * 10 + i));
                    assert!(warning.is_none(), "{warning:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut got: Vec<u64> = history::load(&p)
        .unwrap()
        .iter()
        .map(|e| e.timestamp - 1_700_000_000)
        .collect();
    got.sort();
    assert_eq!(got, (0..80).collect::<Vec<_>>());
}
