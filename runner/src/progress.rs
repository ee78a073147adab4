//! The engine's once-a-second progress report to the main thread, shared by
//! the plain output and the `--tui` live view.

use std::time::Duration;

/// Cumulative numbers of the measured part of the run, sent about once a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Time spent in the measured part so far (warm-up excluded).
    pub elapsed: Duration,
    /// Planned length of the measured part.
    pub total: Duration,
    /// Responses completed so far.
    pub responses: u64,
    /// Bytes received so far.
    pub bytes_read: u64,
}
