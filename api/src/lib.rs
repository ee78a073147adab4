//! What a load test *is* and what its result *is*: the load plan, reports with
//! exact HDR histograms, and thresholds. Shared by the CLI, the agent and the
//! operator so all three give the same numbers and the same verdict. No I/O.

#![forbid(unsafe_code)]

pub mod contract;
pub mod duration;
pub mod loadtest;
pub mod plan;
pub mod report;
pub mod significance;
pub mod split;
pub mod threshold;
