//! What a run measured: counts plus an exact HDR latency histogram. Reports
//! from workers, runner processes and pods merge exactly (counts add,
//! histograms add bucket by bucket), so percentiles always come from one
//! merged histogram and never from averaging percentiles.

pub mod codec;
pub mod merge;
pub mod summary;
pub mod timeline;

pub use codec::{decode_histogram, encode_histogram, CodecError, WireReport};
pub use merge::add_histogram;
pub use summary::{format_latency_us, LatencySummary, Summary};
pub use timeline::{Timeline, TimelineError};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency histograms record microseconds with 3 significant digits.
pub const SIGFIG: u8 = 3;
/// Highest trackable latency: one hour, in microseconds.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A new, empty latency histogram with the project's precision and range.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGFIG)
        .expect("static histogram bounds are valid")
}

/// Everything counted during a run. All fields add when reports merge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counts {
    /// Requests (or frames) written to the socket.
    pub requests: u64,
    /// Complete final responses (or echoed frames) received.
    pub responses: u64,
    /// Bytes received.
    pub bytes_read: u64,
    /// Responses by status class: 2xx, 3xx, 4xx, 5xx, other.
    pub status: StatusClasses,
    /// Responses whose status differed from the expected one.
    pub unexpected_status: u64,
    /// Faults, by kind.
    pub errors: Errors,
    /// Connections closed and opened again (after `-r` or a fault).
    pub reconnects: u64,
    /// WebSocket upgrades completed.
    pub ws_upgrades: u64,
    /// WebSocket frames echoed.
    pub ws_frames: u64,
    /// TLS handshakes completed (warm-up included, like upgrades).
    pub tls_handshakes: u64,
    /// Of those, handshakes that resumed a session (`--tls-resume`).
    pub tls_resumed: u64,
    /// Open model: requests sent after their intended time had passed by more than a tick.
    pub late: u64,
    /// Open model: requests scheduled but never sent before the end.
    pub unsent: u64,
    /// Requests whose `{SEQ}` value repeated an earlier one: the template's
    /// range (`start` up to its width's largest number) ran out and wrapped.
    #[serde(skip_serializing_if = "is_zero")]
    pub seq_repeats: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Responses by status class.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(default)]
pub struct StatusClasses {
    /// 200–299.
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    /// 300–399.
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    /// 400–499.
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    /// 500–599.
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    /// Anything else.
    pub other: u64,
}

/// Faults counted during a run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(default)]
pub struct Errors {
    /// Connections refused, reset or failed while connecting.
    pub connect: u64,
    /// Reads or writes that failed, and connections closed mid-response.
    pub read: u64,
    /// Requests that got no response in time.
    pub timeout: u64,
    /// Responses that were not valid HTTP/1.1 (or WebSocket).
    pub parse: u64,
    /// TLS handshakes or records that failed (bad certificate, alert, not TLS).
    pub tls: u64,
}

impl StatusClasses {
    /// Count one response with this status code.
    #[inline]
    pub fn record(&mut self, code: u16) {
        match code {
            200..=299 => self.s2xx += 1,
            300..=399 => self.s3xx += 1,
            400..=499 => self.s4xx += 1,
            500..=599 => self.s5xx += 1,
            _ => self.other += 1,
        }
    }
}

impl Errors {
    /// All faults together.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.timeout + self.parse + self.tls
    }
}

/// The result of one run (a worker's, a process's, or a merge of many).
#[derive(Clone, Debug)]
pub struct Report {
    /// Counters.
    pub counts: Counts,
    /// Measured wall time in seconds (the longest, when merged).
    pub elapsed_sec: f64,
    /// Latency in microseconds; corrected for coordinated omission in the open model.
    pub latency: Histogram<u64>,
    /// Open model only: service time from actual send, uncorrected.
    pub uncorrected: Option<Histogram<u64>>,
    /// Per-template latency, when asked for; index = template index.
    pub per_template: Vec<Histogram<u64>>,
    /// TLS only: handshake latency (TCP connected to handshake done), microseconds.
    pub handshake: Option<Histogram<u64>>,
    /// Per-second samples of the run (req/s, p99) for ramps and the TUI.
    pub timeline: Vec<Second>,
}

/// One second of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Responses completed in this second.
    pub responses: u64,
    /// p99 latency in microseconds of responses completed in this second.
    pub p99_us: u64,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            counts: Counts::default(),
            elapsed_sec: 0.0,
            latency: new_histogram(),
            uncorrected: None,
            per_template: Vec::new(),
            handshake: None,
            timeline: Vec::new(),
        }
    }
}
