//! Rendering a run's result for people (text) and for scripts (`--json`).

pub mod baseline;
pub mod compare;
pub mod format;
pub mod hlog;
pub mod json;
pub mod junit;
pub mod text;

pub use json::{render_json, render_json_ended};
pub use text::{render_banner, render_result, render_verdicts};

/// How a run ended, beside its numbers: complete, cut short by a signal, or
/// failed as a whole (a runner died), and by how many runner processes.
/// Printed in one line each, and in JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ending {
    /// The stop signal (or `"runner …"` reason) that cut the run short.
    pub interrupted: Option<String>,
    /// Why the run failed as a whole, when it did.
    pub failure: Option<String>,
    /// `gcannon run`: the runner processes whose results were merged (or
    /// should have been, when one died).
    pub runners: Option<u32>,
}

impl Ending {
    /// The one-line notes the text output appends (none for a complete run).
    pub fn lines(&self, report: &api::report::Report, planned_sec: f64) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = &self.interrupted {
            out.push(format!(
                "Interrupted ({why}) after {:.2}s of {planned_sec:.2}s: partial results, thresholds are not a verdict",
                report.elapsed_sec
            ));
        }
        if let Some(why) = &self.failure {
            out.push(format!("Failed: {why}"));
        }
        out
    }
}
