//! `gcannon agent`: the runner inside a LoadTest's pod. It reads its LoadTest,
//! takes its share of the plan, reports ready in its RunnerResult
//! (`<loadtest>-<index>`), waits for `status.startAt`, runs the engine with
//! progress updates and applies its final report (or its failure) there for
//! the operator to merge. It never writes the LoadTest.

pub mod client;
pub mod config;
pub mod result;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::plan::LoadPlan;
use api::report::Report;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use tokio::sync::watch;

pub use client::{Agent, Timing};
pub use config::{AgentConfig, ConfigError};
pub use result::{apply_body, build_status, ShardState};

use crate::engine::{Run, RunOptions};
use crate::observe::metrics::{Labels, MetricsServer};
use crate::observe::{Live, Observer};
use crate::progress::Progress;

/// The failure message of a shard stopped by SIGTERM mid-run.
pub const INTERRUPTED: &str =
    "interrupted by SIGTERM before the run finished; partial results kept";

/// Why the agent stopped without a final result.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The environment does not describe a runner.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An API call failed for good.
    #[error("{context}: {source}")]
    Kube {
        /// What the agent was doing.
        context: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The LoadTest is gone.
    #[error("LoadTest {0} was deleted")]
    Deleted(String),
    /// The operator marked the test failed before it started.
    #[error("the LoadTest failed before it started: {0}")]
    TestFailed(String),
    /// `startAt` never came.
    #[error("status.startAt was not set within {0:?}; is the operator running and were all runner pods scheduled?")]
    StartTimeout(Duration),
    /// The spec cannot be turned into this runner's plan.
    #[error("invalid load plan: {0}")]
    Plan(String),
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(String),
    /// SIGTERM arrived while running; the results gathered so far are kept.
    #[error("{}", INTERRUPTED)]
    Interrupted(Box<Report>),
    /// SIGTERM arrived before the load started (the pod was deleted while waiting).
    #[error("interrupted by SIGTERM while waiting for status.startAt; no load was sent")]
    InterruptedBeforeStart,
    /// The API server refused the result as too large, even with its timeline at one point.
    #[error("the API server refused RunnerResult {name} as too large even with its timeline reduced to one point ({why}); its counts and histograms alone are more than it stores")]
    TooLarge {
        /// The RunnerResult.
        name: String,
        /// The server's words.
        why: String,
    },
    /// The async runtime could not be set up.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

impl AgentError {
    fn kube(context: String, source: kube::Error) -> Self {
        Self::Kube { context, source }
    }
}

/// Entry point of `gcannon agent`: 0 after the final shard is applied, an error otherwise.
pub fn main() -> Result<i32, String> {
    let cfg = AgentConfig::from_env().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| AgentError::Runtime(e.to_string()).to_string())?;
    rt.block_on(async move {
        let client = Client::try_default()
            .await
            .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
        let interrupt = Arc::new(AtomicBool::new(false));
        watch_sigterm(interrupt.clone());
        run(client, cfg, Timing::default(), interrupt)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Flip `interrupt` on SIGTERM so the engine stops early when the pod is deleted.
fn watch_sigterm(interrupt: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                interrupt.store(true, Ordering::Relaxed);
            }
        });
    }
}

/// The agent's whole life against `client`; returns 0 once the final shard is applied.
/// Every failure after the LoadTest was read is also applied as a `Failed` shard.
pub async fn run(
    client: Client,
    cfg: AgentConfig,
    timing: Timing,
    interrupt: Arc<AtomicBool>,
) -> Result<i32, AgentError> {
    let metrics = start_metrics(&cfg);
    let agent = Agent::new(client, cfg, timing);
    let lt = agent.get_loadtest().await?;
    let outcome = async {
        let runners = lt.spec.runners;
        let share = my_share(
            &agent.resolve_plan(&lt).await?,
            runners,
            agent.config().index,
        )?;
        let opts = RunOptions {
            runner_index: agent.config().index,
            runners,
        };
        // Built once (DNS, templates) before reporting ready: a bad plan should
        // not hold the others at startAt.
        let rate_mode = share.rate_mode().is_open();
        let run = Run::new(&share, &opts).map_err(|e| AgentError::Plan(e.to_string()))?;
        agent.apply(&status_now(&agent, ShardState::Ready)).await?;
        eprintln!(
            "gcannon agent: runner {} of {runners} ready, waiting for startAt",
            agent.config().index
        );
        // A deleted pod must stop at once, not sit out the start timeout.
        let wait = async {
            let start = agent.wait_for_start().await?;
            sleep_until(start, agent.config().start_timeout).await;
            Ok::<(), AgentError>(())
        };
        tokio::select! {
            waited = wait => waited?,
            _ = interrupted(&interrupt) => return Err(AgentError::InterruptedBeforeStart),
        }
        let live = metrics.as_ref().map(|(live, _)| live.clone());
        execute(&agent, run, rate_mode, interrupt.clone(), live).await
    }
    .await;
    let outcome = match outcome {
        Ok(report) => agent
            .apply_reducing(status_now(&agent, ShardState::Done(&report)))
            .await
            .map(|_| report),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(report) => {
            eprintln!(
                "gcannon agent: done, {} responses in {:.2}s",
                report.counts.responses, report.elapsed_sec
            );
            if metrics.is_some() {
                // Let Prometheus take a last scrape of the final numbers.
                tokio::time::sleep(agent.config().metrics_linger).await;
            }
            Ok(0)
        }
        Err(e) => {
            if !matches!(e, AgentError::Deleted(_)) {
                let state = match &e {
                    AgentError::Interrupted(partial) => ShardState::Interrupted(partial),
                    other => ShardState::Failed(other.to_string()),
                };
                // Best effort: the operator also notices the pod's failure.
                if let Err(apply) = agent.apply_reducing(status_now(&agent, state)).await {
                    eprintln!("gcannon agent: could not report the failure: {apply}");
                }
            }
            Err(e)
        }
    }
}

/// The always-on metrics endpoint of a runner pod, labelled with its LoadTest.
/// Metrics are informative: when the port cannot be had, the run goes on without.
fn start_metrics(cfg: &AgentConfig) -> Option<(Arc<Live>, MetricsServer)> {
    let addr = cfg.metrics_listen?;
    let labels = Labels {
        loadtest: cfg.loadtest.clone(),
        namespace: cfg.namespace.clone(),
        runner: cfg.index,
    };
    let live = Arc::new(Live::default());
    match MetricsServer::start(addr, &labels, live.clone()) {
        Ok(server) => {
            eprintln!(
                "gcannon agent: metrics on http://{}/metrics",
                server.local_addr()
            );
            Some((live, server))
        }
        Err(e) => {
            eprintln!("gcannon agent: warning: no metrics endpoint: {e}");
            None
        }
    }
}

/// Share `index` of `plan` split over `runners`.
pub fn my_share(plan: &LoadPlan, runners: u32, index: u32) -> Result<LoadPlan, AgentError> {
    let mut shares = plan
        .validate_for(runners)
        .map_err(|e| AgentError::Plan(e.to_string()))?;
    if index >= runners {
        return Err(AgentError::Plan(format!(
            "runner index {index} is out of range for {runners} runners"
        )));
    }
    Ok(shares.swap_remove(index as usize))
}

fn status_now(agent: &Agent, state: ShardState<'_>) -> api::loadtest::RunnerResultStatus {
    build_status(agent.config(), state, Timestamp::now())
}

/// Resolves once `flag` is set (by the SIGTERM handler).
async fn interrupted(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sleep until `start` (no longer than `cap`, in case of a clock gone wild).
async fn sleep_until(start: Timestamp, cap: Duration) {
    let ahead = start.duration_since(Timestamp::now());
    if let Ok(wait) = Duration::try_from(ahead) {
        tokio::time::sleep(wait.min(cap)).await;
    }
}

/// Run the engine on a blocking thread, applying progress every `progress_every`.
async fn execute(
    agent: &Agent,
    run: Run,
    rate_mode: bool,
    interrupt: Arc<AtomicBool>,
    live: Option<Arc<Live>>,
) -> Result<Report, AgentError> {
    let (tx, mut rx) = watch::channel(None::<Progress>);
    let engine_interrupt = interrupt.clone();
    let mut job = tokio::task::spawn_blocking(move || {
        let observer = live.map(|l| Observer::start(run.snapshots(), Some(l), None, rate_mode));
        let result = run.execute(&engine_interrupt, |p| {
            tx.send_replace(Some(*p));
        });
        if let Some(o) = observer {
            // Metrics are informative: their failure never fails the run.
            if let Err(e) = o.finish(result.as_ref().ok()) {
                eprintln!("gcannon agent: metrics: {e}");
            }
        }
        result
    });
    let mut ticker = tokio::time::interval(agent.timing().progress_every);
    ticker.tick().await;
    let result = loop {
        tokio::select! {
            joined = &mut job => break joined,
            _ = ticker.tick() => {
                let latest = *rx.borrow_and_update();
                if let Some(p) = latest {
                    // Progress is informative only: a failed update must not stop the run.
                    if let Err(e) = agent.apply(&status_now(agent, ShardState::Progress(p))).await {
                        eprintln!("gcannon agent: progress update failed: {e}");
                    }
                }
            }
        }
    };
    let report = result
        .map_err(|e| AgentError::Engine(format!("engine thread failed: {e}")))?
        .map_err(|e| AgentError::Engine(e.to_string()))?;
    if interrupt.load(Ordering::Relaxed) {
        return Err(AgentError::Interrupted(Box::new(report)));
    }
    Ok(report)
}
