//! The run history: one summary per run, kept as a JSON array in the user's
//! data directory so `--tui` can chart the last runs. A damaged file is set
//! aside (never deleted, never a crash) so the user can still inspect it.
//! Only a regular file is ever read, renamed or replaced: a device, FIFO or
//! directory at the path is refused with a warning and left alone. Concurrent
//! runs update the file one at a time under an advisory lock on `<path>.lock`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use api::report::Report;
use serde::{Deserialize, Serialize};

/// Runs kept in the file; older ones are dropped on append.
pub const MAX_ENTRIES: usize = 100;

/// The summary of one run as the history keeps it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// When the run finished, seconds since the Unix epoch.
    pub timestamp: u64,
    /// What was loaded (URL, or the template names).
    pub target: String,
    /// Responses per second over the measured part.
    pub rps: f64,
    /// Mean latency in microseconds.
    pub avg_us: f64,
    /// Median latency in microseconds.
    pub p50_us: u64,
    /// 99th percentile latency in microseconds.
    pub p99_us: u64,
    /// Responses completed.
    pub responses: u64,
    /// Faults of every kind.
    pub errors: u64,
    /// Measured wall time in seconds.
    pub duration_sec: f64,
    /// Connections (0 in entries written before it was kept).
    pub connections: u32,
    /// Pipeline depth (0 in entries written before it was kept).
    pub pipeline: u32,
}

impl Entry {
    /// Summarise a finished run for the history, stamped with `timestamp` (Unix seconds).
    pub fn from_report(target: &str, report: &Report, timestamp: u64) -> Entry {
        let lat = &report.latency;
        let empty = lat.is_empty();
        let rps = if report.elapsed_sec > 0.0 {
            report.counts.responses as f64 / report.elapsed_sec
        } else {
            0.0
        };
        Entry {
            timestamp,
            target: target.to_string(),
            rps,
            avg_us: if empty { 0.0 } else { lat.mean() },
            p50_us: if empty { 0 } else { lat.value_at_quantile(0.5) },
            p99_us: if empty {
                0
            } else {
                lat.value_at_quantile(0.99)
            },
            responses: report.counts.responses,
            errors: report.counts.errors.total(),
            duration_sec: report.elapsed_sec,
            connections: 0,
            pipeline: 0,
        }
    }
}

impl Entry {
    /// JSON has no NaN or infinity; zero them so the file stays loadable.
    fn finite(mut self) -> Entry {
        for v in [&mut self.rps, &mut self.avg_us, &mut self.duration_sec] {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        self
    }
}

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A file system operation failed; the history was left as it was.
    #[error("run history {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was damaged and has been renamed aside; a warning, not a failure:
    /// the history starts afresh (and `append` has already written its entry).
    #[error("run history {path} was unreadable ({reason}); moved it to {moved_to} and started a new one")]
    SetAside {
        /// Where the history lives.
        path: PathBuf,
        /// Where the damaged file now is.
        moved_to: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Something other than a regular file is at the path; it was not touched.
    #[error("run history {path} is a {kind}, not a regular file; left it alone and kept no history (point GCANNON_HISTORY at a file)")]
    NotRegular {
        /// Where the history lives.
        path: PathBuf,
        /// What is there instead (`character device`, `FIFO`, …).
        kind: &'static str,
    },
    /// The history could not be encoded (should not happen with finite numbers).
    #[error("run history {path}: cannot encode: {source}")]
    Encode {
        /// Where the history lives.
        path: PathBuf,
        /// The encoder's complaint.
        source: serde_json::Error,
    },
}

impl HistoryError {
    /// True for [`HistoryError::SetAside`]: print it as a warning and go on.
    pub fn is_warning(&self) -> bool {
        matches!(self, HistoryError::SetAside { .. })
    }
}

/// The history file: `$GCANNON_HISTORY`, else `$XDG_DATA_HOME/gcannon/history.json`,
/// else `~/.local/share/gcannon/history.json` (`./.gcannon-history.json` without a home).
pub fn path() -> PathBuf {
    path_with(|k| std::env::var_os(k))
}

/// [`path`] with the environment given as a lookup function, so it can be tested.
pub fn path_with(env: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = set("GCANNON_HISTORY") {
        return PathBuf::from(p);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(d) = set("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
    {
        return d.join("gcannon").join("history.json");
    }
    if let Some(h) = set("HOME") {
        return PathBuf::from(h).join(".local/share/gcannon/history.json");
    }
    PathBuf::from(".gcannon-history.json")
}

/// Seconds since the Unix epoch, for [`Entry::timestamp`].
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The runs in the file, oldest first. A missing file is an empty history; a
/// damaged one is renamed to `<name>.corrupt-<unix-ts>` and reported as
/// [`HistoryError::SetAside`]; anything but a regular file is
/// [`HistoryError::NotRegular`] and left as it is.
pub fn load(path: &Path) -> Result<Vec<Entry>, HistoryError> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the file type is
    // then checked on the open descriptor, so nothing can be swapped in between.
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            // A regular file we cannot read is set aside; anything else (a
            // directory in the way, a dead mount) is the user's to sort out.
            check_regular(path)?;
            return Err(set_aside(path, e.to_string()));
        }
    };
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.read_to_end(&mut bytes) {
        return Err(set_aside(path, e.to_string()));
    }
    match serde_json::from_slice::<Vec<Entry>>(&bytes) {
        Ok(entries) => Ok(entries),
        Err(e) => Err(set_aside(path, e.to_string())),
    }
}

/// `Ok` when the path is missing or a regular file, else why it may not be touched.
fn check_regular(path: &Path) -> Result<(), HistoryError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(not_regular(path, &m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, e)),
    }
}

fn not_regular(path: &Path, meta: &std::fs::Metadata) -> HistoryError {
    let t = meta.file_type();
    let kind = if t.is_dir() {
        "directory"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    };
    HistoryError::NotRegular {
        path: path.to_path_buf(),
        kind,
    }
}

/// An exclusive advisory lock on `<path>.lock`, held while the history is read
/// and replaced so that concurrent runs append one after another. The lock
/// file stays (removing it would race with the next locker).
struct Lock(#[allow(dead_code)] File);

fn lock(path: &Path) -> Result<Lock, HistoryError> {
    // Refuse before creating anything beside a device (`/dev/null.lock`).
    check_regular(path)?;
    let mut name = path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("history.json"));
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    let meta = file.metadata().map_err(|e| io_err(&lock_path, e))?;
    if !meta.is_file() {
        return Err(not_regular(&lock_path, &meta));
    }
    loop {
        // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } == 0 {
            return Ok(Lock(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(io_err(&lock_path, e));
        }
    }
}

/// What the CLI does after a run: add `entry` and return the history to chart
/// (this run last), plus a warning to print if the file had to be set aside or
/// could not be written. Never fails: without a usable file the chart shows
/// just this run.
pub fn record(path: &Path, entry: Entry) -> (Vec<Entry>, Option<HistoryError>) {
    let _lock = match lock(path) {
        Ok(l) => l,
        Err(e) => return (vec![entry.finite()], Some(e)),
    };
    let (mut entries, mut warning) = match load(path) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let readable = warning.as_ref().is_none_or(HistoryError::is_warning);
    entries.push(entry.finite());
    if entries.len() > MAX_ENTRIES {
        entries.drain(..entries.len() - MAX_ENTRIES);
    }
    // Writing over a file we could not read would lose the runs in it.
    if readable {
        if let Err(e) = write_atomic(path, &entries) {
            warning.get_or_insert(e);
        }
    }
    (entries, warning)
}

/// Add one run, keeping the last [`MAX_ENTRIES`]; the file is replaced atomically.
/// A damaged file is set aside first and the entry starts a new history; that is
/// reported as [`HistoryError::SetAside`] after the entry has been written.
pub fn append(path: &Path, entry: Entry) -> Result<(), HistoryError> {
    let _lock = lock(path)?;
    let (mut entries, warning) = match load(path) {
        Ok(v) => (v, None),
        Err(e @ HistoryError::SetAside { .. }) => (Vec::new(), Some(e)),
        Err(e) => return Err(e),
    };
    entries.push(entry.finite());
    if entries.len() > MAX_ENTRIES {
        entries.drain(..entries.len() - MAX_ENTRIES);
    }
    write_atomic(path, &entries)?;
    match warning {
        Some(w) => Err(w),
        None => Ok(()),
    }
}

/// Empty the history (`--clear-history`). Clearing a missing history succeeds.
pub fn clear(path: &Path) -> Result<(), HistoryError> {
    let _lock = lock(path)?;
    check_regular(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, e)),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> HistoryError {
    HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Rename a damaged history aside; the rename failing is reported as I/O.
fn set_aside(path: &Path, reason: String) -> HistoryError {
    if let Err(e) = check_regular(path) {
        return e;
    }
    let mut name = path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("history.json"));
    name.push(format!(".corrupt-{}", now_unix()));
    let mut moved_to = path.with_file_name(&name);
    // Never overwrite an earlier casualty from the same second.
    let mut n = 1;
    while moved_to.exists() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        moved_to = path.with_file_name(numbered);
        n += 1;
    }
    match std::fs::rename(path, &moved_to) {
        Ok(()) => HistoryError::SetAside {
            path: path.to_path_buf(),
            moved_to,
            reason,
        },
        Err(e) => io_err(path, e),
    }
}

/// Write to a temporary file beside the target and rename it over, so a crash
/// or a concurrent reader never sees half a file.
fn write_atomic(path: &Path, entries: &[Entry]) -> Result<(), HistoryError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    check_regular(path)?;
    let json = serde_json::to_vec_pretty(entries).map_err(|source| HistoryError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io_err(&dir, e))?;
    tmp.write_all(&json).map_err(|e| io_err(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| io_err(path, e))?;
    tmp.persist(path).map_err(|e| io_err(path, e.error))?;
    Ok(())
}
