//! The flags that keep a run's results or publish them live — `--junit`,
//! `--hlog`, `--metrics-listen` — and their life around a run: checked and
//! bound before any load is sent, fed while it runs, finished after.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use api::duration::HumanDuration;
use api::report::Report;
use api::threshold::Evaluation;
use clap::Args;

use crate::engine::Run;
use crate::observe::metrics::{Labels, MetricsServer};
use crate::observe::{Live, Observer};
use crate::output::hlog::HlogWriter;
use crate::output::junit;

/// Machine-readable and live outputs of a run.
#[derive(Debug, Args, Clone, Default)]
pub struct ObserveArgs {
    /// Write the thresholds as a JUnit XML report (one test case each) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write an HdrHistogram interval log (one V2 histogram per second) to FILE.
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Serve Prometheus/OpenMetrics metrics on http://ADDR/metrics during the run.
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Keep serving the final metrics this long after the run (for a last scrape).
    #[arg(long = "metrics-linger", value_name = "DURATION", default_value = "0s")]
    pub metrics_linger: HumanDuration,
}

/// The outputs of one run, set up before it starts.
pub struct Outputs {
    junit: Option<PathBuf>,
    hlog: Option<HlogWriter>,
    live: Option<Arc<Live>>,
    server: Option<MetricsServer>,
    observer: Option<Observer>,
    linger: Duration,
}

impl ObserveArgs {
    /// Create the files and bind the endpoint now, so a bad path or a taken
    /// port is reported before any load is sent.
    pub fn prepare(&self, labels: &Labels) -> Result<Outputs, String> {
        if let Some(path) = &self.junit {
            std::fs::File::create(path).map_err(|e| format!("--junit {}: {e}", path.display()))?;
        }
        let hlog = self.hlog.as_deref().map(HlogWriter::create).transpose()?;
        let (live, server) = match self.metrics_listen {
            Some(addr) => {
                let live = Arc::new(Live::default());
                let server = MetricsServer::start(addr, labels, live.clone())?;
                (Some(live), Some(server))
            }
            None => (None, None),
        };
        Ok(Outputs {
            junit: self.junit.clone(),
            hlog,
            live,
            server,
            observer: None,
            linger: self.metrics_linger.get(),
        })
    }
}

impl Outputs {
    /// Start following `run` (call just before executing it).
    pub fn watch(&mut self, run: &Run, rate_mode: bool) {
        if self.hlog.is_none() && self.live.is_none() {
            return;
        }
        self.observer = Some(Observer::start(
            run.snapshots(),
            self.live.clone(),
            self.hlog.take(),
            rate_mode,
        ));
    }

    /// The metrics endpoint's address, when serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.local_addr())
    }

    /// The run is over: finish the interval log, publish the final totals and
    /// write the JUnit report for the suite `name`.
    pub fn complete(
        &mut self,
        name: &str,
        report: &Report,
        verdicts: &[Evaluation],
    ) -> Result<(), String> {
        if let Some(o) = self.observer.take() {
            o.finish(Some(report))?;
        }
        if let Some(path) = &self.junit {
            let suite = junit::Suite {
                name,
                timestamp: started_at(report),
            };
            junit::write(path, &suite, report, verdicts)?;
        }
        Ok(())
    }

    /// Keep the endpoint up for `--metrics-linger`, then stop it.
    pub fn linger(mut self) {
        if let Some(server) = self.server.take() {
            if !self.linger.is_zero() {
                let until = std::time::Instant::now() + self.linger;
                while std::time::Instant::now() < until
                    && !super::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            drop(server);
        }
    }
}

/// When the measured part began, RFC 3339 (now minus the measured time).
fn started_at(report: &Report) -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    let back = k8s_openapi::jiff::SignedDuration::from_secs_f64(report.elapsed_sec.max(0.0));
    now.checked_sub(back)
        .unwrap_or(now)
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(now)
        .to_string()
}
