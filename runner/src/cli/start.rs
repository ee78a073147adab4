//! The common start of local runners, as `status.startAt` is in a cluster:
//! `gcannon run` starts every runner process, waits until each has resolved
//! its share and says `ready` (or has died), then hands all of them one start
//! time a little ahead, so the shares load the target together instead of one
//! after another as the processes come up.
//!
//! The line protocol on the runner's pipes:
//! - parent → runner (stdin): the plan as one JSON line, then `start <unix nanoseconds>`;
//!   EOF instead of the start line means the run was stopped before it began.
//! - runner → parent (stdout): `ready` once its share is valid, then its report as JSON.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far ahead of "everyone is ready" the common start is set: time for the
/// parent to write every start line and for each runner to wake.
pub const START_LEAD: Duration = Duration::from_millis(100);

/// What a runner prints once its share is valid and it waits for the start.
pub const READY: &str = "ready";

/// The start line for `at`.
pub fn start_line(at: SystemTime) -> String {
    let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("start {nanos}\n")
}

/// Read the start line: `Ok(None)` on EOF (the parent stopped before the start).
pub fn read_start(input: &mut impl BufRead) -> Result<Option<SystemTime>, String> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .map_err(|e| format!("reading the start time: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    let nanos: u64 = line
        .trim()
        .strip_prefix("start ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad start line from gcannon run: {:?}", line.trim()))?;
    Ok(Some(UNIX_EPOCH + Duration::from_nanos(nanos)))
}

/// Sleep until `at` (the clock every local runner shares); false if `stop` was
/// set first. A start already past returns at once.
pub fn sleep_until(at: SystemTime, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(left) = at.duration_since(SystemTime::now()) else {
            return true;
        };
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_line_round_trips_and_eof_means_no_start() {
        let at = UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789);
        let line = start_line(at);
        assert_eq!(line, "start 1764000000123456789\n");
        assert_eq!(read_start(&mut line.as_bytes()).unwrap(), Some(at));
        assert_eq!(read_start(&mut &b""[..]).unwrap(), None);
        let bad = read_start(&mut &b"go\n"[..]).unwrap_err();
        assert!(bad.contains("bad start line"), "{bad}");
    }

    #[test]
    fn waiting_for_a_start_stops_on_a_signal_and_not_for_a_past_one() {
        let stop = AtomicBool::new(true);
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(!sleep_until(later, &stop));
        assert!(sleep_until(UNIX_EPOCH, &AtomicBool::new(false)));
    }
}
