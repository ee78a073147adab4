//! `--tui`: the live view while the run goes on and the coloured results
//! view printed after it. Plain output stays the fallback when stdout is not
//! a terminal.

pub mod ansi;
pub mod histogram;
pub mod live;
pub mod results;

pub use histogram::{
    check_buckets, latency_buckets, Bucket, TuiError, DEFAULT_BUCKETS, MAX_BUCKETS,
};
pub use live::{LiveState, LiveView};
pub use results::render_results;
