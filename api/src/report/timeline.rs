//! Per-second samples of a run, grouped into at most N rows for display, so a
//! ramp's knee shows in a short table or chart whatever the run's length.

use super::Second;

/// Consecutive seconds shown as one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineRow {
    /// First second of the row (0-based, from the start of the measured part).
    pub from_sec: usize,
    /// One past the last second of the row.
    pub to_sec: usize,
    /// Responses per second over the row.
    pub rps: f64,
    /// Highest per-second p99 in the row, microseconds (an upper bound).
    pub p99_us: u64,
}

/// Group `timeline` into at most `max_rows` rows of equal length.
pub fn rows(timeline: &[Second], max_rows: usize) -> Vec<TimelineRow> {
    if timeline.is_empty() || max_rows == 0 {
        return Vec::new();
    }
    let per_row = timeline.len().div_ceil(max_rows);
    timeline
        .chunks(per_row)
        .enumerate()
        .map(|(i, chunk)| TimelineRow {
            from_sec: i * per_row,
            to_sec: i * per_row + chunk.len(),
            rps: chunk.iter().map(|s| s.responses).sum::<u64>() as f64 / chunk.len() as f64,
            p99_us: chunk.iter().map(|s| s.p99_us).max().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(responses: u64, p99_us: u64) -> Second {
        Second { responses, p99_us }
    }

    #[test]
    fn short_runs_keep_one_row_per_second() {
        let r = rows(&[sec(10, 5), sec(20, 7)], 60);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].from_sec, r[1].to_sec, r[1].rps, r[1].p99_us),
            (1, 2, 20.0, 7)
        );
    }

    #[test]
    fn long_runs_are_grouped_and_keep_totals() {
        let t: Vec<Second> = (0..125).map(|i| sec(i, i)).collect();
        let r = rows(&t, 60);
        assert!(r.len() <= 60);
        let total: f64 = r
            .iter()
            .map(|row| row.rps * (row.to_sec - row.from_sec) as f64)
            .sum();
        assert_eq!(total as u64, (0..125).sum::<u64>());
        assert_eq!(r.last().unwrap().to_sec, 125);
        assert_eq!(r[0].p99_us, 2, "a row's p99 is the worst of its seconds");
    }
}
