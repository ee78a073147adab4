//! The serialized form of a report, used between processes and in the
//! Kubernetes status: counts as plain fields, histograms as base64 of
//! HdrHistogram's V2+DEFLATE encoding (compact and readable by every
//! HdrHistogram implementation).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{new_histogram, Counts, Report, Second, MAX_LATENCY_US};

/// A report as it travels between processes and sits in `status.shards`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WireReport {
    /// Counters, flattened into this object.
    #[serde(flatten)]
    pub counts: Counts,
    /// Measured wall time in seconds.
    pub elapsed_sec: f64,
    /// Latency histogram (microseconds), base64 of V2+DEFLATE.
    pub histogram: String,
    /// Open model: uncorrected latency histogram, same encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncorrected: Option<String>,
    /// Per-template latency histograms, same encoding, by template index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_template: Vec<String>,
    /// TLS handshake latency histogram, same encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<String>,
    /// Per-second samples.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Second>,
}

/// Why a serialized report could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The text is not valid base64.
    #[error("{field}: not valid base64: {source}")]
    Base64 {
        /// Which histogram field.
        field: String,
        /// The decoder's complaint.
        source: base64::DecodeError,
    },
    /// The bytes are not a valid V2 (DEFLATE) HdrHistogram.
    #[error("{field}: not a valid HdrHistogram V2+DEFLATE encoding: {reason}")]
    Histogram {
        /// Which histogram field.
        field: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The histogram holds values beyond the project's range (one hour).
    #[error("{field}: latency {value}us is beyond the supported maximum of {MAX_LATENCY_US}us")]
    OutOfRange {
        /// Which histogram field.
        field: String,
        /// The offending value.
        value: u64,
    },
    /// The elapsed time is negative or not a number.
    #[error("elapsedSec must be a finite number >= 0, got {0}")]
    Elapsed(f64),
}

/// Encode one histogram as base64 of its V2+DEFLATE serialization.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail on I/O, and project histograms stay
    // within the serializer's limits; an empty string would only decode as an error.
    if V2DeflateSerializer::new().serialize(h, &mut buf).is_err() {
        buf.clear();
    }
    STANDARD.encode(buf)
}

/// Decode a histogram written by [`encode_histogram`] into the project's bounds.
pub fn decode_histogram(field: &str, text: &str) -> Result<Histogram<u64>, CodecError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|source| CodecError::Base64 {
            field: field.to_string(),
            source,
        })?;
    // The V2+DEFLATE envelope is a 4-byte cookie, a 4-byte big-endian payload
    // length and the payload; the decoder tolerates a short payload, so check.
    if bytes.len() >= 8 {
        let declared = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if bytes.len() - 8 != declared {
            return Err(CodecError::Histogram {
                field: field.to_string(),
                reason: format!(
                    "payload is {} bytes but its header declares {declared}",
                    bytes.len() - 8
                ),
            });
        }
    }
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| CodecError::Histogram {
            field: field.to_string(),
            reason: e.to_string(),
        })?;
    let mut h = new_histogram();
    if (decoded.low(), decoded.high(), decoded.sigfig()) == (h.low(), h.high(), h.sigfig()) {
        // Same layout as ours: buckets line up, so this is exact.
        return Ok(decoded);
    }
    // A foreign layout: re-record each bucket at its lowest value so the top
    // bucket's upper edge does not read as out of range.
    for v in decoded.iter_recorded() {
        let value = decoded.lowest_equivalent(v.value_iterated_to());
        h.record_n(value, v.count_at_value())
            .map_err(|_| CodecError::OutOfRange {
                field: field.to_string(),
                value,
            })?;
    }
    Ok(h)
}

impl Report {
    /// The serialized form of this report.
    pub fn to_wire(&self) -> WireReport {
        WireReport {
            counts: self.counts,
            elapsed_sec: self.elapsed_sec,
            histogram: encode_histogram(&self.latency),
            uncorrected: self.uncorrected.as_ref().map(encode_histogram),
            per_template: self.per_template.iter().map(encode_histogram).collect(),
            handshake: self.handshake.as_ref().map(encode_histogram),
            timeline: self.timeline.clone(),
        }
    }

    /// Read a serialized report back; every histogram is checked.
    pub fn from_wire(w: &WireReport) -> Result<Report, CodecError> {
        if !w.elapsed_sec.is_finite() || w.elapsed_sec < 0.0 {
            return Err(CodecError::Elapsed(w.elapsed_sec));
        }
        let latency = if w.histogram.is_empty() {
            new_histogram()
        } else {
            decode_histogram("histogram", &w.histogram)?
        };
        let uncorrected = w
            .uncorrected
            .as_deref()
            .map(|t| decode_histogram("uncorrected", t))
            .transpose()?;
        let handshake = w
            .handshake
            .as_deref()
            .map(|t| decode_histogram("handshake", t))
            .transpose()?;
        let per_template = w
            .per_template
            .iter()
            .enumerate()
            .map(|(i, t)| decode_histogram(&format!("perTemplate[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Report {
            counts: w.counts,
            elapsed_sec: w.elapsed_sec,
            latency,
            uncorrected,
            per_template,
            handshake,
            timeline: w.timeline.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::default();
        for v in [1u64, 5, 90, 850, 1_820, 4_900, 7_100, 1_200_000] {
            r.latency.record_n(v, v % 7 + 1).unwrap();
        }
        r.counts.requests = 1000;
        r.counts.responses = 990;
        r.counts.status.s2xx = 980;
        r.counts.status.s5xx = 10;
        r.counts.errors.read = 3;
        r.counts.late = 2;
        r.counts.errors.tls = 4;
        r.counts.tls_handshakes = 12;
        r.elapsed_sec = 5.01;
        let mut u = new_histogram();
        u.record(77).unwrap();
        r.uncorrected = Some(u.clone());
        r.per_template = vec![u.clone(), new_histogram()];
        r.handshake = Some(u);
        r.timeline = vec![Second {
            responses: 400,
            p99_us: 900,
        }];
        r
    }

    fn same(a: &Report, b: &Report) {
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.elapsed_sec, b.elapsed_sec);
        assert_eq!(a.latency, b.latency);
        assert_eq!(a.uncorrected, b.uncorrected);
        assert_eq!(a.per_template, b.per_template);
        assert_eq!(a.handshake, b.handshake);
        assert_eq!(a.timeline, b.timeline);
    }

    #[test]
    fn round_trips_through_the_wire_and_json() {
        let r = sample();
        let back = Report::from_wire(&r.to_wire()).unwrap();
        same(&r, &back);
        let json = serde_json::to_string(&r.to_wire()).unwrap();
        assert!(json.contains("\"bytesRead\""), "{json}");
        assert!(json.contains("\"elapsedSec\""), "{json}");
        assert!(json.contains("\"perTemplate\""), "{json}");
        let w: WireReport = serde_json::from_str(&json).unwrap();
        same(&r, &Report::from_wire(&w).unwrap());
    }

    proptest::proptest! {
        #[test]
        fn any_histogram_round_trips(samples in proptest::collection::vec(1u64..MAX_LATENCY_US, 0..300)) {
            let mut h = new_histogram();
            for v in &samples {
                h.record(*v).unwrap();
            }
            let back = decode_histogram("histogram", &encode_histogram(&h)).unwrap();
            proptest::prop_assert_eq!(back, h);
        }
    }

    #[test]
    fn empty_report_round_trips() {
        let r = Report::default();
        let back = Report::from_wire(&r.to_wire()).unwrap();
        same(&r, &back);
        assert!(back.uncorrected.is_none());
    }

    #[test]
    fn corrupt_base64_is_a_clear_error() {
        let mut w = sample().to_wire();
        w.histogram = "%%% not base64 %%%".into();
        let e = Report::from_wire(&w).unwrap_err();
        assert!(matches!(e, CodecError::Base64 { .. }));
        assert!(
            e.to_string().starts_with("histogram: not valid base64"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_histogram_bytes_are_a_clear_error() {
        let mut w = sample().to_wire();
        w.per_template[1] = STANDARD.encode(b"definitely not a histogram");
        let e = Report::from_wire(&w).unwrap_err();
        assert!(matches!(e, CodecError::Histogram { .. }), "{e}");
        assert!(e.to_string().starts_with("perTemplate[1]:"), "{e}");

        // A real encoding, truncated.
        let good = STANDARD.decode(sample().to_wire().histogram).unwrap();
        for cut in [1, 8, good.len() / 2, good.len() - 1] {
            let mut w = sample().to_wire();
            w.histogram = STANDARD.encode(&good[..cut]);
            assert!(
                Report::from_wire(&w).is_err(),
                "truncated at {cut} accepted"
            );
        }
        // Flipped bytes must never panic (an error or a different histogram).
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xA5;
            let mut w = sample().to_wire();
            w.histogram = STANDARD.encode(&bad);
            let _ = Report::from_wire(&w);
        }
    }

    #[test]
    fn out_of_range_histograms_are_rejected() {
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 3).unwrap();
        wide.record(MAX_LATENCY_US * 100).unwrap();
        let w = WireReport {
            histogram: encode_histogram(&wide),
            ..Default::default()
        };
        assert!(matches!(
            Report::from_wire(&w),
            Err(CodecError::OutOfRange { .. })
        ));
    }

    #[test]
    fn bad_elapsed_is_rejected() {
        let w = WireReport {
            elapsed_sec: -1.0,
            ..Default::default()
        };
        assert!(matches!(Report::from_wire(&w), Err(CodecError::Elapsed(_))));
    }
}
