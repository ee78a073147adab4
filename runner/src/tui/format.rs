//! Human-readable numbers for the TUI: latencies, rates, byte rates.

/// A latency in microseconds as `850us`, `1.82ms` or `2.40s`.
pub fn latency_us(us: f64) -> String {
    if !us.is_finite() || us < 0.0 {
        return "-".into();
    }
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// A count or rate with a K/M/G suffix: `523`, `964.78K`, `1.20M`.
pub fn si(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "-".into();
    }
    const UNITS: [(f64, &str); 3] = [(1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (scale, unit) in UNITS {
        if v >= scale {
            return format!("{:.2}{unit}", v / scale);
        }
    }
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Bytes per second as `72.36MB/s` (binary multiples, as wrk prints them).
pub fn bandwidth(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec < 0.0 {
        return "-".into();
    }
    const UNITS: [(f64, &str); 3] = [(1073741824.0, "GB"), (1048576.0, "MB"), (1024.0, "KB")];
    for (scale, unit) in UNITS {
        if bytes_per_sec >= scale {
            return format!("{:.2}{unit}/s", bytes_per_sec / scale);
        }
    }
    format!("{bytes_per_sec:.0}B/s")
}

/// A duration in seconds as `3.0s`, or `1m05s` past a minute.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".into();
    }
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = s as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}
