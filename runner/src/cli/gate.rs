//! The pass/fail gate of a run: `--threshold` expressions, the `--baseline`
//! run that relative ones compare with, and `--noise-aware` judging.

use std::path::Path;

use api::report::{Report, Summary};
use api::significance::{judge, Seconds};
use api::threshold::{evaluate, Evaluation, Threshold};

use crate::output::baseline::{self, Baseline};

/// Thresholds, and the baseline run relative ones compare with.
pub struct Gate {
    thresholds: Vec<Threshold>,
    baseline: Option<Baseline>,
    noise_aware: bool,
}

impl Gate {
    /// Take the parsed thresholds and read the baseline; every mismatch between them is bad input.
    pub fn new(
        thresholds: Vec<Threshold>,
        baseline: Option<&Path>,
        noise_aware: bool,
    ) -> Result<Self, String> {
        let relative = thresholds.iter().find(|t| t.is_relative());
        let baseline = match (relative, baseline) {
            (Some(t), None) => {
                return Err(format!(
                    "threshold \"{t}\" compares with a baseline run: give one with --baseline FILE (a saved --json result)"
                ))
            }
            (None, Some(path)) => {
                return Err(format!(
                    "--baseline {}: no threshold refers to it; write one such as --threshold 'p99 < baseline * 1.1'",
                    path.display()
                ))
            }
            (_, Some(path)) => Some(baseline::load(path)?),
            (None, None) if noise_aware => {
                return Err("--noise-aware judges thresholds against a baseline: give --baseline FILE and a threshold such as 'p99 < baseline * 1.1'".into())
            }
            (None, None) => None,
        };
        Ok(Self {
            thresholds,
            baseline,
            noise_aware,
        })
    }

    /// Every threshold's verdict on a run, in order.
    pub fn verdicts(&self, report: &Report) -> Vec<Evaluation> {
        let summary = Summary::from_report(report);
        let base = self.baseline.as_ref();
        let verdicts = evaluate(&self.thresholds, &summary, base.map(|b| &b.summary));
        let Some(base) = base.filter(|_| self.noise_aware) else {
            return verdicts;
        };
        let now = Seconds::of(&report.timeline, report.elapsed_sec);
        self.thresholds
            .iter()
            .zip(verdicts)
            .map(|(t, v)| judge(t, v, &now, &base.seconds))
            .collect()
    }
}
