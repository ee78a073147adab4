//! `--compare`: this run beside the last matching run of the history (same
//! target, connections and pipeline depth), with the change of each number.

use std::fmt::Write;

use api::report::format_latency_us;

use crate::history::Entry;

/// The last earlier run of `history` (oldest first, this run last) that loaded
/// the same target with the same connections and depth.
pub fn previous_match(history: &[Entry]) -> Option<&Entry> {
    let (now, earlier) = history.split_last()?;
    earlier.iter().rev().find(|e| {
        e.target == now.target && e.connections == now.connections && e.pipeline == now.pipeline
    })
}

/// The comparison block, or one line saying there is nothing to compare with.
pub fn render(history: &[Entry]) -> String {
    let Some(now) = history.last() else {
        return String::new();
    };
    let Some(prev) = previous_match(history) else {
        return format!(
            "\n  Compare: no earlier run of {} with {} connections and depth {} in the history\n",
            now.target, now.connections, now.pipeline
        );
    };
    let ago = now.timestamp.saturating_sub(prev.timestamp);
    let mut out = format!(
        "\n  Compared with the last matching run ({} ago, {:.1}s long):\n    {:<10} {:>14} {:>14} {:>9}\n",
        ago_text(ago),
        prev.duration_sec,
        "",
        "previous",
        "this run",
        "change"
    );
    let latency = |us: f64| format_latency_us(us);
    let rows: [(&str, f64, f64, String, String); 6] = [
        (
            "req/s",
            prev.rps,
            now.rps,
            format!("{:.2}", prev.rps),
            format!("{:.2}", now.rps),
        ),
        (
            "p50",
            prev.p50_us as f64,
            now.p50_us as f64,
            latency(prev.p50_us as f64),
            latency(now.p50_us as f64),
        ),
        (
            "p99",
            prev.p99_us as f64,
            now.p99_us as f64,
            latency(prev.p99_us as f64),
            latency(now.p99_us as f64),
        ),
        (
            "avg",
            prev.avg_us,
            now.avg_us,
            latency(prev.avg_us),
            latency(now.avg_us),
        ),
        (
            "responses",
            prev.responses as f64,
            now.responses as f64,
            prev.responses.to_string(),
            now.responses.to_string(),
        ),
        (
            "errors",
            prev.errors as f64,
            now.errors as f64,
            prev.errors.to_string(),
            now.errors.to_string(),
        ),
    ];
    for (name, a, b, shown_a, shown_b) in rows {
        let _ = writeln!(
            out,
            "    {name:<10} {shown_a:>14} {shown_b:>14} {:>9}",
            change(a, b)
        );
    }
    out
}

/// `+12.5%`, `-3.0%`, or `-` when the earlier value is zero.
fn change(prev: f64, now: f64) -> String {
    if prev == 0.0 {
        return if now == 0.0 {
            "+0.0%".into()
        } else {
            "-".into()
        };
    }
    format!("{:+.1}%", (now - prev) / prev * 100.0)
}

/// `42s`, `5m`, `3h`, `2d`.
fn ago_text(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str, connections: u32, p99_us: u64, timestamp: u64) -> Entry {
        Entry {
            timestamp,
            target: target.into(),
            connections,
            pipeline: 1,
            rps: 1000.0,
            p99_us,
            responses: 500,
            ..Entry::default()
        }
    }

    #[test]
    fn compares_with_the_last_run_of_the_same_shape() {
        let history = [
            entry("http://a/", 8, 1000, 100),
            entry("http://a/", 8, 2000, 200),
            entry("http://a/", 64, 9000, 300),
            entry("http://b/", 8, 9000, 400),
            entry("http://a/", 8, 3000, 460),
        ];
        assert_eq!(previous_match(&history).unwrap().timestamp, 200);
        let text = render(&history);
        assert!(text.contains("(4m ago"), "{text}");
        let p99 = text
            .lines()
            .find(|l| l.trim_start().starts_with("p99"))
            .unwrap();
        assert!(
            p99.contains("2.00ms") && p99.contains("3.00ms") && p99.ends_with("+50.0%"),
            "{p99}"
        );
        assert!(text.contains("+0.0%"), "{text}");
    }

    #[test]
    fn says_so_when_nothing_matches() {
        let history = [
            entry("http://a/", 8, 1000, 100),
            entry("http://a/", 16, 1000, 200),
        ];
        assert!(previous_match(&history).is_none());
        assert!(render(&history).contains("no earlier run of http://a/ with 16 connections"));
        assert!(previous_match(&[]).is_none());
    }
}
