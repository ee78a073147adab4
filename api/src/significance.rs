//! Noise-aware baseline comparison: a relative threshold on `rps` or `p99`
//! fails only when the run is worse than the baseline beyond its limit *and*
//! the per-second samples of the two runs say the shift is real.
//!
//! Method: each full second of a run is one sample (responses in that second
//! for `rps`, that second's p99 for `p99`). A one-sided Mann–Whitney U test
//! asks whether the current run's seconds are stochastically worse than the
//! baseline's (larger latency, smaller rate). It assumes the seconds of one run
//! are exchangeable (no trend within a run) and makes no assumption about their
//! distribution. U is compared with its normal approximation, with the tie
//! correction and a continuity correction; at least [`MIN_SECONDS`] seconds per
//! run are needed, below that the verdict stays the point comparison's.

use crate::report::Second;
use crate::threshold::{Evaluation, Metric, Op, Threshold};

/// Significance level: a regression passes as noise unless p < ALPHA.
pub const ALPHA: f64 = 0.01;
/// Fewest full seconds per run for the test to judge.
pub const MIN_SECONDS: usize = 5;

/// The per-second samples of a run that a noise-aware comparison uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seconds {
    /// Responses in each full second.
    pub responses: Vec<f64>,
    /// p99 in microseconds of each full second that had responses.
    pub p99_us: Vec<f64>,
}

impl Seconds {
    /// The full seconds of a timeline: a last, partial second is left out.
    pub fn of(timeline: &[Second], elapsed_sec: f64) -> Self {
        let full = (elapsed_sec.floor() as usize).min(timeline.len());
        let secs = &timeline[..full];
        Self {
            responses: secs.iter().map(|s| s.responses as f64).collect(),
            p99_us: secs
                .iter()
                .filter(|s| s.responses > 0 && s.p99_us > 0)
                .map(|s| s.p99_us as f64)
                .collect(),
        }
    }
}

/// One-sided Mann–Whitney U: the p-value of "`x` tends to be larger than `y`".
pub fn p_larger(x: &[f64], y: &[f64]) -> f64 {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mid-ranks for ties, and the tie term of the variance.
    let n = all.len();
    let (mut rank_sum_x, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_x += all[i..=j].iter().filter(|(_, is_x)| *is_x).count() as f64 * mid;
        i = j + 1;
    }
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return 1.0; // every sample equal: no evidence of a shift
    }
    let z = (u - mean - 0.5) / var.sqrt();
    1.0 - normal_cdf(z)
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Reconsider a failed relative verdict with the runs' per-second samples: it
/// stays failed only if the shift is significant; either way the verdict says
/// what the test found. Other verdicts are returned as they are.
pub fn judge(t: &Threshold, v: Evaluation, now: &Seconds, base: &Seconds) -> Evaluation {
    if !t.is_relative() || v.passed {
        return v;
    }
    let (x, y) = match t.metric {
        Metric::P99 => (&now.p99_us, &base.p99_us),
        Metric::Rps => (&now.responses, &base.responses),
        _ => return v,
    };
    let larger_is_bad = match t.op {
        Op::Lt | Op::Le => true,
        Op::Gt | Op::Ge => false,
        Op::Eq | Op::Ne => return v,
    };
    if x.len() < MIN_SECONDS || y.len() < MIN_SECONDS {
        let note = format!(
            "too few seconds to test ({} and {}, need {MIN_SECONDS})",
            x.len(),
            y.len()
        );
        return Evaluation {
            significance: Some(note),
            ..v
        };
    }
    let p = if larger_is_bad {
        p_larger(x, y)
    } else {
        p_larger(y, x)
    };
    let significant = p < ALPHA;
    Evaluation {
        passed: !significant,
        significance: Some(format!(
            "{} over {} vs {} seconds, p={p:.4}",
            if significant {
                "significant"
            } else {
                "within noise"
            },
            x.len(),
            y.len()
        )),
        ..v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(responses: &[u64], p99: &[u64]) -> Seconds {
        let tl: Vec<Second> = responses
            .iter()
            .zip(p99)
            .map(|(&responses, &p99_us)| Second { responses, p99_us })
            .collect();
        Seconds::of(&tl, tl.len() as f64 + 0.4)
    }

    #[test]
    fn mann_whitney_separates_shifted_samples_and_not_overlapping_ones() {
        let low: Vec<f64> = (0..10).map(|i| 100.0 + i as f64).collect();
        let high: Vec<f64> = (0..10).map(|i| 120.0 + i as f64).collect();
        assert!(p_larger(&high, &low) < 0.001);
        assert!(p_larger(&low, &high) > 0.99);
        let interleaved: Vec<f64> = (0..10).map(|i| 100.5 + i as f64).collect();
        let p = p_larger(&interleaved, &low);
        assert!(p > 0.2 && p < 0.6, "{p}");
        assert_eq!(p_larger(&[5.0; 6], &[5.0; 6]), 1.0);
        // Known value: U = 0 for 5 vs 5 fully separated, z = (25-12.5-0.5)/sqrt(22.9167).
        let p = p_larger(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((p - 0.00609).abs() < 1e-4, "{p}");
    }

    #[test]
    fn a_real_regression_fails_and_noise_passes() {
        let base = seconds(
            &[1000, 1010, 990, 1005, 995, 1002],
            &[500, 520, 480, 510, 490, 505],
        );
        let slower = seconds(
            &[1000, 990, 1010, 995, 1005, 1000],
            &[900, 950, 880, 910, 920, 940],
        );
        let same = seconds(
            &[1001, 989, 1011, 996, 1004, 998],
            &[510, 470, 530, 495, 515, 485],
        );
        let t = Threshold::parse("p99 < baseline * 1.02").unwrap();
        let failed = |measured: &str| Evaluation {
            threshold: t.to_string(),
            measured: measured.into(),
            value: 0.0,
            passed: false,
            baseline: Some("500us".into()),
            change: Some("+5%".into()),
            significance: None,
        };
        let v = judge(&t, failed("900us"), &slower, &base);
        assert!(!v.passed);
        assert!(v
            .significance
            .as_deref()
            .unwrap()
            .starts_with("significant over 6 vs 6"));
        let v = judge(&t, failed("530us"), &same, &base);
        assert!(v.passed, "{v:?}");
        assert!(v
            .significance
            .as_deref()
            .unwrap()
            .starts_with("within noise"));
        // rps: fewer responses per second is the bad direction.
        let t = Threshold::parse("rps >= baseline * 0.99").unwrap();
        let half = seconds(&[500, 510, 490, 505, 495, 502], &[1; 6]);
        assert!(!judge(&t, failed("500"), &half, &base).passed);
        assert!(judge(&t, failed("990"), &same, &base).passed);
        // Too few seconds: the point comparison stands, and says why.
        let short = seconds(&[900, 950], &[900, 950]);
        let v = judge(&t, failed("925"), &short, &base);
        assert!(!v.passed && v.significance.unwrap().contains("too few seconds"));
        // Other metrics are not reconsidered.
        let t = Threshold::parse("p50 < baseline").unwrap();
        assert_eq!(judge(&t, failed("1ms"), &slower, &base).significance, None);
    }

    #[test]
    fn only_full_seconds_count() {
        let tl = [
            Second {
                responses: 10,
                p99_us: 5,
            },
            Second {
                responses: 3,
                p99_us: 0,
            },
        ];
        let s = Seconds::of(&tl, 1.5);
        assert_eq!(s.responses, vec![10.0]);
        assert_eq!(s.p99_us, vec![5.0]);
    }
}
