//! The operator's merge, measured: N runners' RunnerResults (a wide histogram
//! and a 24 h timeline each, as a runner writes them) arrive one by one as JSON,
//! as the watch delivers them, and are decoded and merged into one accumulator;
//! then the final status is built once. Prints the time spent decoding and
//! merging, the final build, and the process's peak RSS (VmHWM). Inputs are
//! generated one at a time and dropped, so the peak is what the operator holds.
//!
//!   cargo run --release -p operator --example merge_bench -- 1000
//!   bash bench/merge.sh          # 10, 100 and 1000 runners, one process each

use std::time::{Duration, Instant};

use api::loadtest::{LoadTest, RunnerResult, RunnerResultStatus, ShardPhase, MAX_RESULT_BYTES};
use api::report::{new_histogram, Report, Second, Timeline, WireReport};
use operator::results::{runner_result, Accumulator};

const DAY: u64 = 86_400;

/// xorshift64*: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runner `index`'s final result for a day-long run, serialized as the API server sends it.
fn result_json(lt: &LoadTest, index: u32) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::from(index) + 1));
    let mut r = Report {
        elapsed_sec: DAY as f64,
        latency: new_histogram(),
        ..Report::default()
    };
    // Wide: 100 us to 3.5 s, log-spread, every bucket on the way populated.
    const STEPS: u32 = 12_900;
    for k in 0..STEPS {
        let v = 100.0 * 35_000.0f64.powf(f64::from(k) / f64::from(STEPS));
        r.latency.record_n(v as u64, rng.next() % 400 + 1).unwrap();
    }
    let responses = r.latency.len();
    r.counts.responses = responses;
    r.counts.requests = responses;
    r.counts.status.s2xx = responses;
    let seconds: Vec<Second> = (0..DAY)
        .map(|s| Second {
            responses: responses / DAY + u64::from(s < responses % DAY),
            p99_us: 2_000 + rng.next() % 90_000,
        })
        .collect();
    let mut status = RunnerResultStatus {
        phase: ShardPhase::Done,
        timeline: Some(Timeline::from_seconds(&seconds)),
        report: Some(WireReport {
            timeline: Vec::new(),
            ..r.to_wire()
        }),
        ..Default::default()
    };
    status.fit(MAX_RESULT_BYTES);
    let mut rr = runner_result(lt, index).expect("the LoadTest has a uid and a namespace");
    rr.status = Some(status);
    serde_json::to_string(&rr).expect("a RunnerResult serializes")
}

/// Peak resident set of this process, KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let runners: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let spec = format!("target: http://t/\nrunners: {runners}\nconnections: {runners}\n");
    let mut lt = LoadTest::new("bench", serde_yaml::from_str(&spec).expect("a valid spec"));
    lt.metadata.namespace = Some("perf".into());
    lt.metadata.uid = Some("uid-bench".into());
    let mut acc = Accumulator::default();
    let (mut merging, mut bytes, mut largest) = (Duration::ZERO, 0usize, 0usize);
    for i in 0..runners {
        let json = result_json(&lt, i);
        bytes += json.len();
        largest = largest.max(json.len());
        let t = Instant::now();
        let rr: RunnerResult = serde_json::from_str(&json).expect("a RunnerResult parses");
        acc.observe(&rr);
        merging += t.elapsed();
    }
    assert!(acc.bad.is_empty(), "{:?}", acc.bad);
    let t = Instant::now();
    let shards = acc.shard_list();
    let status = operator::phases::finished::outcome(
        &lt,
        &acc.report,
        &acc.timeline,
        &shards,
        &Err("no baseline".into()),
    );
    let status_bytes = serde_json::to_vec(&status).map(|v| v.len()).unwrap_or(0);
    let finishing = t.elapsed();
    println!(
        "runners {runners}: decode+merge {:.1} ms ({:.2} ms/runner), final status {:.1} ms, \
         peak RSS {} MiB; results {:.1} MB in all (largest {} B), final status {} B, responses {}",
        merging.as_secs_f64() * 1e3,
        merging.as_secs_f64() * 1e3 / f64::from(runners),
        finishing.as_secs_f64() * 1e3,
        peak_rss_kib() / 1024,
        bytes as f64 / 1e6,
        largest,
        status_bytes,
        acc.report.counts.responses,
    );
}
