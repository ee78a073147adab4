//! The adaptive latency histogram of the results view: `-b` equal slices
//! between the fastest response (p0) and p99.9, so one slow outlier does not
//! squash every other bucket into the first row.

use hdrhistogram::Histogram;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::output::format;

const BARS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];

/// Buckets when `-b` is not given.
pub const DEFAULT_BUCKETS: usize = 10;
/// The most buckets `-b` accepts.
pub const MAX_BUCKETS: usize = 100;

/// A bad TUI option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TuiError {
    /// `-b` outside 1..=100.
    #[error("-b {0}: the histogram needs between 1 and {MAX_BUCKETS} buckets")]
    Buckets(usize),
}

/// Validate `-b`: 0 and anything above [`MAX_BUCKETS`] are rejected so the CLI
/// can say so; [`crate::tui::render_results`] itself clamps into range.
pub fn check_buckets(n: usize) -> Result<usize, TuiError> {
    if (1..=MAX_BUCKETS).contains(&n) {
        Ok(n)
    } else {
        Err(TuiError::Buckets(n))
    }
}

/// One row of the histogram: latencies in `[low_us, high_us)` (the last row
/// includes its upper bound).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Lower bound in microseconds.
    pub low_us: f64,
    /// Upper bound in microseconds.
    pub high_us: f64,
    /// Responses whose latency fell in this slice.
    pub count: u64,
}

/// Split p0..=p99.9 of `h` into `n` (clamped to 1..=100) equal slices and
/// count the recorded values in each; values above p99.9 are left out. An
/// empty histogram gives no buckets.
pub fn latency_buckets(h: &Histogram<u64>, n: usize) -> Vec<Bucket> {
    let n = n.clamp(1, MAX_BUCKETS);
    if h.is_empty() {
        return Vec::new();
    }
    // HDR reports each recorded value as its bucket's highest equivalent
    // value; take both ends the same way so every value lands in range.
    let lo = h.highest_equivalent(h.min());
    let hi = h.value_at_quantile(0.999).max(lo);
    // A single distinct value still gets strictly increasing bounds.
    let width = (hi - lo).max(1) as f64 / n as f64;
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            low_us: lo as f64 + i as f64 * width,
            high_us: lo as f64 + (i + 1) as f64 * width,
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        if value < lo || value > hi {
            continue;
        }
        let i = (((value - lo) as f64 / width) as usize).min(n - 1);
        buckets[i].count += v.count_at_value();
    }
    buckets
}

/// A bar of `cells` cells in eighths, so short bars still differ.
pub(super) fn bar(value: f64, max: f64, cells: usize) -> String {
    if max <= 0.0 || !value.is_finite() || value <= 0.0 {
        return String::new();
    }
    let eighths = ((value / max).min(1.0) * cells as f64 * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    let partial = eighths % 8;
    if partial > 0 {
        s.push(BARS[partial - 1]);
    }
    if s.is_empty() {
        // Anything above zero is visible.
        s.push(BARS[0]);
    }
    s
}

/// The histogram as a boxed paragraph `width` columns wide: bounds, a bar,
/// the count and its share of the responses on each row.
pub(super) fn paragraph<'a>(buckets: &[Bucket], title: &'a str, width: u16) -> Paragraph<'a> {
    let block = super::results::boxed(title);
    if buckets.is_empty() {
        return Paragraph::new("  no responses recorded").block(block);
    }
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0) as f64;
    // Borders and padding (4) + bounds (21) + counts (11) + percent (8) + gap.
    let cells = (width as usize).saturating_sub(4 + 21 + 11 + 8 + 1);
    let lines: Vec<Line> = buckets
        .iter()
        .map(|b| {
            let pct = if total > 0 {
                b.count as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            Line::from(vec![
                Span::raw(format!(
                    "{:>9} - {:<9} ",
                    format::latency_us(b.low_us),
                    format::latency_us(b.high_us)
                )),
                Span::styled(
                    format!("{:<cells$}", bar(b.count as f64, max, cells)),
                    Style::default().fg(Color::Blue),
                ),
                Span::raw(format!(" {:>10}", b.count)),
                Span::styled(
                    format!(" {pct:>6.2}%"),
                    Style::default().fg(Color::DarkGray),
                ),
            ])
        })
        .collect();
    Paragraph::new(lines).block(block)
}
