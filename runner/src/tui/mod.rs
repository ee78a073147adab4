//! `--tui`: the live view while the run goes on (full screen, keys, resizes)
//! and the coloured results view printed after it. Plain output stays the
//! fallback when stdout is not a terminal.

pub mod ansi;
pub mod histogram;
pub mod live;
mod live_view;
pub mod results;
pub mod screen;

pub use histogram::{
    check_buckets, latency_buckets, Bucket, TuiError, DEFAULT_BUCKETS, MAX_BUCKETS,
};
pub use live::{LiveFrame, LiveState, RunnerLine};
pub use results::render_results;
pub use screen::{LiveView, StopKey};
