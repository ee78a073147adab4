//! Human-readable numbers, one definition for the text output and the TUI.

pub use api::report::format_latency_us as latency_us;

/// A count or rate with a decimal suffix: `523`, `850.50`, `964.78K`, `1.20M`.
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

/// A byte count with a binary (IEC) suffix: `72.36MiB`, `512.00B`. wrk
/// prints the same numbers as `MB`; they are 1024-based, so say so.
pub fn bytes(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "-".into();
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut i) = (v, 0);
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", UNITS[i])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_the_originals() {
        assert_eq!(si(964_780.0), "964.78K");
        assert_eq!(si(1_200_000.0), "1.20M");
        assert_eq!(si(850.0), "850");
        assert_eq!(si(850.5), "850.50");
        assert_eq!(si(3e9), "3.00G");
        assert_eq!(si(f64::NAN), "-");
        assert_eq!(bytes(75_874_877.0), "72.36MiB");
        assert_eq!(bytes(512.0), "512.00B");
        assert_eq!(bytes(2048.0), "2.00KiB");
        assert_eq!(seconds(3.04), "3.0s");
        assert_eq!(seconds(65.0), "1m05s");
        assert_eq!(latency_us(1820.0), "1.82ms");
    }
}
