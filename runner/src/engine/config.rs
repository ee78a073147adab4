//! Every engine tunable in one place, as in the original's `constants.h`.

use std::time::Duration;

/// The main thread's once-a-second progress report comes this long after
/// each measured second's boundary, so every worker has published that
/// second's snapshot (workers look at the clock at least every `MAX_WAIT`).
pub const PROGRESS_LAG: Duration = Duration::from_millis(60);
/// Submission queue entries per worker ring.
pub const RING_ENTRIES: u32 = 4096;
/// Most provided receive buffers per worker (a power of two, at most 32768).
pub const RECV_BUFFERS: u16 = 4096;
/// Fewest provided receive buffers per worker.
pub const RECV_BUFFERS_MIN: u16 = 128;
/// Provided receive buffers per connection, below `RECV_BUFFERS`.
pub const RECV_BUFFERS_PER_CONN: u32 = 2;

/// Provided receive buffers for a worker with `connections` sockets.
///
/// The kernel takes buffers from the ring's head and we return them at its tail,
/// so every receive lands in the least recently used buffer: the ring is the
/// working set. Sized to the connections it stays in cache (64 connections: 128
/// buffers, 512 KiB, the kernel's copy into them a third cheaper than into 4096);
/// a pass that needs more gets `ENOBUFS` and re-arms, which is slower, never wrong.
pub fn recv_buffers(connections: u32) -> u16 {
    let want = connections
        .saturating_mul(RECV_BUFFERS_PER_CONN)
        .checked_next_power_of_two()
        .unwrap_or(u32::MAX);
    want.clamp(u32::from(RECV_BUFFERS_MIN), u32::from(RECV_BUFFERS)) as u16
}
/// Buffer group id of the provided-buffer ring (one ring per worker, so always 0).
pub const BUF_GROUP: u16 = 0;
/// Completions copied out of the ring per pass before they are processed.
pub const CQE_BATCH: usize = 2048;
// The limits a plan must respect (connections per worker, pipeline depth,
// receive buffer size, threads, templates) are checked before the engine runs:
// see `api::plan::validate`.
/// How long a worker may block in the kernel before it looks at the clock again.
pub const MAX_WAIT: Duration = Duration::from_millis(20);
/// How often connections are scanned for timeouts and due reconnects.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(20);
/// First pause before reconnecting after a failed connect; doubles up to `RETRY_MAX`.
pub const RETRY_MIN: Duration = Duration::from_millis(5);
/// Longest pause between connect attempts.
pub const RETRY_MAX: Duration = Duration::from_millis(250);
/// After the run's end, how long workers may take to close up before the main
/// thread stops waiting for them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// File descriptors each worker holds beside its sockets (its ring).
pub const FDS_PER_WORKER: u64 = 1;
/// File descriptors a process needs beside its workers: stdio, the history
/// file and its lock, the check ring, a reconnect's socket opened before the
/// old one is closed.
pub const FDS_RESERVED: u64 = 32;
/// Open model: a request written more than this (ns) after its intended time is late.
pub const LATE_NS: u64 = 1_000_000;
/// Environment variable that, set to `off`, stops workers keeping each
/// second's p99 (the timeline then has none), so bench/second_p99.sh can
/// measure what keeping it costs.
pub const SECOND_P99_ENV: &str = "GCANNON_SECOND_P99";
/// Environment variable that, set to `off`, keeps sockets out of the ring's
/// file table (operations then name plain descriptors), so bench/original.sh
/// can measure what the table saves.
pub const FIXED_FILES_ENV: &str = "GCANNON_FIXED_FILES";
/// Environment variable that skips the first N ring set-ups (1: no
/// `DEFER_TASKRUN`, 2: plain ring) so the fallbacks can be tested and compared.
pub const RING_FALLBACK_ENV: &str = "GCANNON_RING_FALLBACK";

/// True when the measurement switch `var` (one of the `*_ENV` names above) is
/// set to `off`; every switch is on by default.
pub fn switched_off(var: &str) -> bool {
    std::env::var_os(var).as_deref() == Some("off".as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_buffers_follow_the_connections_within_bounds() {
        assert_eq!(recv_buffers(1), RECV_BUFFERS_MIN);
        assert_eq!(recv_buffers(64), 128);
        assert_eq!(recv_buffers(100), 256);
        assert_eq!(recv_buffers(1024), 2048);
        assert_eq!(recv_buffers(10_000), RECV_BUFFERS);
        assert_eq!(recv_buffers(u32::MAX), RECV_BUFFERS);
        assert!((1..5000).all(|c| recv_buffers(c).is_power_of_two()));
    }
}
