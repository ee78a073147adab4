//! Human durations as users write them: `500ms`, `5s`, `1m`, `2h`, `1m30s`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration that reads and writes as `10s`, `500ms`, `1m30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

/// Why a duration string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (examples: 500ms, 5s, 1m, 1m30s)")]
pub struct DurationError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl HumanDuration {
    /// Parse `500ms`, `5s`, `1m`, `2h`, `1m30s`, `250us`; a bare number means seconds.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        if t.starts_with('-') {
            return Err(err("must not be negative"));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = t.parse().map_err(|_| err("number too large"))?;
            return Ok(Self(Duration::from_secs(n)));
        }
        let mut total = Duration::ZERO;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count();
            if digits == 0 {
                return Err(err("expected a number before the unit"));
            }
            let value: f64 = rest[..digits].parse().map_err(|_| err("bad number"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let nanos_per_unit: f64 = match unit {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit (use ns, us, ms, s, m, h)")),
            };
            let nanos = value * nanos_per_unit;
            if !nanos.is_finite() || nanos > 1e18 {
                return Err(err("too large"));
            }
            total += Duration::from_nanos(nanos as u64);
        }
        Ok(Self(total))
    }

    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let ms = d.as_millis();
        if !d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}us", d.as_micros())
        } else if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Pattern accepted by [`HumanDuration::parse`], for schema validation at `kubectl apply`.
pub const DURATION_PATTERN: &str = r"^([0-9]+|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$";

/// The durations of [`DURATION_PATTERN`] that are zero (every number made of
/// zeros), for the CRD's "greater than 0" rules.
pub const ZERO_DURATION_PATTERN: &str = r"^(0+|(0+(\.0+)?(ns|us|µs|ms|s|m|h))+)$";

/// Longest duration text the CRD accepts; bounds the cost of its CEL rules.
pub const MAX_DURATION_LEN: usize = 64;

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HumanDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": MAX_DURATION_LEN,
            "description": "A duration such as 500ms, 5s, 1m or 1m30s; a bare number means seconds."
        })
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let p = |s| HumanDuration::parse(s).unwrap().get();
        assert_eq!(p("500ms"), Duration::from_millis(500));
        assert_eq!(p("5s"), Duration::from_secs(5));
        assert_eq!(p("1m"), Duration::from_secs(60));
        assert_eq!(p("1m30s"), Duration::from_secs(90));
        assert_eq!(p("7"), Duration::from_secs(7));
        assert_eq!(p("1.5s"), Duration::from_millis(1500));
        assert_eq!(p("250us"), Duration::from_micros(250));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for bad in ["", "s", "5x", "ms5", "5 s"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["500ms", "5s", "1m", "2h", "90s", "250us"] {
            let d = HumanDuration::parse(s).unwrap();
            assert_eq!(HumanDuration::parse(&d.to_string()).unwrap(), d);
        }
    }
}
