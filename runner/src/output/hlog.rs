//! `--hlog FILE`: the standard HdrHistogram interval log — one latency
//! histogram per measured second, V2 compressed (deflate) and base64, with the
//! `StartTime`/`BaseTime` headers and the legend line — so HdrHistogram's own
//! tools (HistogramLogProcessor, HistogramLogAnalyzer, the `hdrh` Python
//! package) read what a run measured second by second.
//!
//! Values are microseconds, like every histogram of ours (HistogramLogProcessor
//! wants `-outputValueUnitRatio 1000` to print milliseconds).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::report::new_histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The legend line HdrHistogram's Java `HistogramLogWriter` writes after the headers.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Writes an interval log as intervals complete.
pub struct HlogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    header_written: bool,
}

impl HlogWriter {
    /// Create (truncate) `path` now, so a bad path fails before any load is sent.
    pub fn create(path: &Path) -> Result<Self, String> {
        let file = File::create(path).map_err(|e| format!("--hlog {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
            header_written: false,
        })
    }

    /// Write the headers once: `start` is when measuring began (StartTime and BaseTime).
    pub fn begin(&mut self, start: SystemTime) -> Result<(), String> {
        if self.header_written {
            return Ok(());
        }
        self.header_written = true;
        let comment = "gcannon latency, one interval per second; values in microseconds";
        IntervalLogWriterBuilder::new()
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(comment)
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map(drop)
            .map_err(|e| format!("--hlog {}: {e}", self.path.display()))?;
        writeln!(self.out, "{LEGEND}").map_err(|e| self.err(e))
    }

    /// Append one interval: `offset` after BaseTime, lasting `length`.
    pub fn interval(
        &mut self,
        h: &Histogram<u64>,
        offset: Duration,
        length: Duration,
    ) -> Result<(), String> {
        // The builder writes no headers here: it only wraps our writer and serializer.
        let mut w = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(|e| format!("--hlog {}: {e}", self.path.display()))?;
        w.write_histogram(h, offset, length, None)
            .map_err(|e| format!("--hlog {}: {e:?}", self.path.display()))
    }

    /// Flush everything to the file.
    pub fn finish(mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| self.err(e))
    }

    fn err(&self, e: impl std::fmt::Display) -> String {
        format!("--hlog {}: {e}", self.path.display())
    }
}

/// One log read back: when it started and its intervals by index (0 = first second).
pub struct ReadLog {
    /// StartTime of the log.
    pub start: SystemTime,
    /// Interval histograms, keyed by whole seconds after BaseTime.
    pub intervals: BTreeMap<u64, (Histogram<u64>, Duration)>,
}

/// Read an interval log written by [`HlogWriter`].
pub fn read(path: &Path) -> Result<ReadLog, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |what: String| format!("{}: not an interval log: {what}", path.display());
    let mut start = None;
    let mut base = Duration::ZERO;
    let mut intervals = BTreeMap::new();
    let mut decoder = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| bad(format!("{e:?}")))? {
            LogEntry::StartTime(t) => start = Some(t),
            LogEntry::BaseTime(t) => base = t,
            LogEntry::Interval(i) => {
                let compressed = base64_decode(i.encoded_histogram()).map_err(bad)?;
                let h: Histogram<u64> = decoder
                    .deserialize(&mut compressed.as_slice())
                    .map_err(|e| bad(format!("{e:?}")))?;
                let at = (base + i.start_timestamp()).saturating_sub(start.unwrap_or(base));
                let index = at.as_secs_f64().round() as u64;
                let slot = intervals
                    .entry(index)
                    .or_insert_with(|| (new_histogram(), Duration::ZERO));
                slot.0.add(&h).map_err(|e| bad(format!("{e:?}")))?;
                slot.1 = slot.1.max(i.duration());
            }
        }
    }
    let start = UNIX_EPOCH + start.unwrap_or(base);
    Ok(ReadLog { start, intervals })
}

/// Merge the logs of several runners second by second into one log at `out`:
/// interval k of the result is the sum of every runner's interval k.
pub fn merge(logs: &[ReadLog], out: &Path) -> Result<u64, String> {
    let start = logs
        .iter()
        .map(|l| l.start)
        .min()
        .unwrap_or_else(SystemTime::now);
    let mut merged: BTreeMap<u64, (Histogram<u64>, Duration)> = BTreeMap::new();
    for log in logs {
        for (k, (h, len)) in &log.intervals {
            let slot = merged
                .entry(*k)
                .or_insert_with(|| (new_histogram(), Duration::ZERO));
            slot.0
                .add(h)
                .map_err(|e| format!("merging interval logs: {e:?}"))?;
            slot.1 = slot.1.max(*len);
        }
    }
    let mut w = HlogWriter::create(out)?;
    w.begin(start)?;
    let mut total = 0;
    for (k, (h, len)) in &merged {
        total += h.len();
        w.interval(h, Duration::from_secs(*k), *len)?;
    }
    w.finish()?;
    Ok(total)
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("bad base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_intervals_read_back_exactly_and_merge_by_second() {
        let dir = tempfile::tempdir().unwrap();
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let write = |name: &str, values: &[&[u64]]| {
            let path = dir.path().join(name);
            let mut w = HlogWriter::create(&path).unwrap();
            w.begin(start).unwrap();
            for (k, vs) in values.iter().enumerate() {
                let mut h = new_histogram();
                vs.iter().for_each(|&v| h.record(v).unwrap());
                w.interval(&h, Duration::from_secs(k as u64), Duration::from_secs(1))
                    .unwrap();
            }
            w.finish().unwrap();
            path
        };
        let a = write("a.hlog", &[&[100, 200], &[300]]);
        let b = write("b.hlog", &[&[1000], &[], &[5]]);
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        assert!(text.contains(LEGEND), "{text}");
        let logs = [read(&a).unwrap(), read(&b).unwrap()];
        assert_eq!(logs[0].start, start);
        assert_eq!(logs[0].intervals[&1].0.len(), 1);
        let out = dir.path().join("merged.hlog");
        assert_eq!(merge(&logs, &out).unwrap(), 5);
        let merged = read(&out).unwrap();
        let counts: Vec<u64> = merged.intervals.values().map(|(h, _)| h.len()).collect();
        assert_eq!(counts, [3, 1, 1]);
        assert_eq!(
            merged.intervals[&0].0.max(),
            merged.intervals[&0].0.highest_equivalent(1000)
        );
    }
}
