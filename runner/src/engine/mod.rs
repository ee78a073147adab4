//! The io_uring engine: one worker thread per ring, nothing shared on the hot
//! path. The main thread only starts workers, reports progress once a second,
//! relays a stop request, and merges the workers' reports exactly.

pub mod config;
mod conn;
pub mod ring;
pub mod schedule;
pub mod snapshot;
pub mod user_data;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::plan::LoadPlan;
use api::report::Report;
use api::split::share;

use self::config::{FDS_PER_WORKER, FDS_RESERVED, PROGRESS_LAG, SHUTDOWN_GRACE};
use self::schedule::Schedule;
use self::snapshot::Snapshots;
use crate::http::request::{get_request, Prepared};
use crate::http::template;
use crate::http::url::Target;
use crate::progress::Progress;

/// Why a run could not start or went wrong as a whole (faults of single
/// requests are counted in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// io_uring refused or unavailable.
    #[error(transparent)]
    Ring(ring::RingError),
    /// The plan cannot be run.
    #[error("{0}")]
    Plan(String),
    /// A system call failed in a way that ends the run.
    #[error("{0}")]
    Io(String),
}

/// Process-level settings that are not part of the load plan.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// This process's index among `runners` (spreads `{SEQ}` values).
    pub runner_index: u32,
    /// Runner processes taking part in the same test.
    pub runners: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            runner_index: 0,
            runners: 1,
        }
    }
}

/// Monotonic nanoseconds since the run's start, shared by all workers so their
/// clocks agree.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    /// Nanoseconds since the base instant.
    #[inline]
    pub fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// Per-worker progress counters, each on its own cache line.
#[derive(Default)]
#[repr(align(64))]
pub struct WorkerProgress {
    responses: AtomicU64,
    bytes_read: AtomicU64,
}

/// What the main thread and workers share: a stop flag and progress counters.
pub struct Shared {
    stop: AtomicBool,
    progress: Vec<WorkerProgress>,
    snapshots: Arc<Snapshots>,
}

/// One worker's share of the plan, with everything resolved and pre-built.
pub struct WorkerPlan {
    index: u32,
    connections: u32,
    first_conn: u32,
    pipeline: u32,
    requests_per_connection: Option<u64>,
    expected_status: u16,
    recv_buf: usize,
    timeout: Duration,
    cqe_latency: bool,
    per_template_latency: bool,
    addr: SocketAddr,
    requests: Vec<Prepared>,
    schedule: Option<Schedule>,
    warmup: Duration,
    duration: Duration,
    seq_stride: u64,
    seq_offset: u64,
    ws: Option<WsSetup>,
    /// TLS targets: this worker's client (own session cache).
    tls: Option<crate::tls::ClientSetup>,
}

/// WebSocket mode: the upgrade request, the accept value it must get back,
/// and the message every echo must equal.
#[derive(Clone)]
pub struct WsSetup {
    upgrade: Vec<u8>,
    accept: String,
    message: Vec<u8>,
}

impl WorkerPlan {
    /// The WebSocket message every echo must equal (empty outside WebSocket mode).
    pub fn ws_message(&self) -> &[u8] {
        self.ws.as_ref().map_or(&[], |w| &w.message)
    }
}

/// A run ready to start: target resolved, requests built, shares computed.
pub struct Run {
    workers: Vec<WorkerPlan>,
    shared: Arc<Shared>,
    duration: Duration,
    warmup: Duration,
}

impl Run {
    /// Validate and prepare a plan. Everything that can be wrong with the input is
    /// reported here, before any load is sent.
    pub fn new(plan: &LoadPlan, opts: &RunOptions) -> Result<Self, EngineError> {
        plan.validate()
            .map_err(|e| EngineError::Plan(e.to_string()))?;
        let plan_err = |e: String| EngineError::Plan(e);
        let ws_url = plan
            .target
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("ws://"));
        if ws_url && plan.websocket.is_none() {
            return Err(plan_err(
                "a ws:// target needs WebSocket mode: add --ws (spec.websocket in a manifest)"
                    .into(),
            ));
        }
        if plan.websocket.is_some() && !plan.templates.is_empty() {
            return Err(plan_err(
                "WebSocket mode sends the --ws-msg frame and cannot use request templates; drop one of them".into(),
            ));
        }
        let target = if plan.target.is_empty() {
            None
        } else {
            Some(Target::parse(&plan.target).map_err(|e| plan_err(e.to_string()))?)
        };
        let default_host = target.as_ref().map(|t| t.host_header());
        let compiled = plan
            .templates
            .iter()
            .map(|t| template::compile(t, default_host.as_deref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| plan_err(e.to_string()))?;
        let addr = match (&target, compiled.first()) {
            (Some(t), _) => t.resolve().map_err(|e| plan_err(e.to_string()))?,
            (None, Some(first)) => {
                // Without a URL every template must say where it goes.
                if let Some(t) = compiled.iter().find(|t| t.host().is_none()) {
                    return Err(plan_err(format!(
                        "{}: no Host header and no target URL; add a Host header or give a URL",
                        t.name
                    )));
                }
                resolve_host_header(first.host().unwrap_or_default())?
            }
            (None, None) => return Err(plan_err(api::plan::PlanError::NoTarget.to_string())),
        };
        let tls = tls_setup(plan, target.as_ref(), addr)?;
        let ws = plan
            .websocket
            .as_ref()
            .map(|w| ws_setup(target.as_ref(), w.message.as_bytes()))
            .transpose()?;
        let requests: Vec<Prepared> = if let Some(w) = &plan.websocket {
            let mut frame = Vec::new();
            crate::ws::frame::encode_client_frame(
                crate::ws::frame::Opcode::Text,
                w.message.as_bytes(),
                WS_MASK,
                &mut frame,
            );
            vec![Prepared::new(frame, plan.pipeline, false, None)]
        } else if compiled.is_empty() {
            vec![Prepared::new(
                get_request(target.as_ref().expect("checked above")),
                plan.pipeline,
                false,
                None,
            )]
        } else {
            compiled
                .iter()
                .map(|t| Prepared::from_template(t, plan.pipeline))
                .collect()
        };
        let duration = plan.measured_duration();
        let warmup = plan.warmup.get();
        let threads = plan.threads;
        let mut first_conn = 0;
        let workers = (0..threads)
            .map(|w| {
                let connections = share(plan.connections as u64, threads, w) as u32;
                let wp = WorkerPlan {
                    index: w,
                    connections,
                    first_conn,
                    pipeline: plan.pipeline,
                    requests_per_connection: plan.requests_per_connection,
                    expected_status: plan.expected_status,
                    recv_buf: plan.recv_buf as usize,
                    timeout: plan.timeout.get(),
                    cqe_latency: plan.cqe_latency,
                    per_template_latency: plan.per_template_latency,
                    addr,
                    requests: requests.clone(),
                    schedule: worker_schedule(plan, threads, w, warmup),
                    warmup,
                    duration,
                    seq_stride: (threads * opts.runners.max(1)) as u64,
                    seq_offset: (opts.runner_index * threads + w) as u64,
                    ws: ws.clone(),
                    tls: tls.as_ref().map(crate::tls::ClientSetup::for_worker),
                };
                first_conn += connections;
                wp
            })
            .collect();
        check_fd_limit(plan.connections, threads)?;
        // Fail as bad input, before any load is sent, when this process may not
        // use io_uring (a seccomp profile, an old kernel, a sandbox).
        drop(ring::new_ring().map_err(EngineError::Ring)?);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            progress: (0..threads).map(|_| WorkerProgress::default()).collect(),
            snapshots: Arc::new(Snapshots::new(threads)),
        });
        Ok(Self {
            workers,
            shared,
            duration,
            warmup,
        })
    }

    /// Length of the measured part.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The workers' live snapshots, for metrics and the interval log.
    pub fn snapshots(&self) -> Arc<Snapshots> {
        self.shared.snapshots.clone()
    }

    /// Start the workers, report progress about once a second, stop early when
    /// `interrupt` becomes true, and return the merged report.
    pub fn execute(
        self,
        interrupt: &AtomicBool,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Report, EngineError> {
        let clock = Clock {
            base: Instant::now(),
        };
        self.shared
            .snapshots
            .set_measure_start(std::time::SystemTime::now() + self.warmup);
        let handles: Vec<_> = self
            .workers
            .into_iter()
            .map(|wp| {
                let shared = self.shared.clone();
                std::thread::Builder::new()
                    .name(format!("gcannon-w{}", wp.index))
                    .spawn(move || worker::Worker::new(wp, shared, clock)?.run())
                    .map_err(|e| EngineError::Io(format!("cannot start a worker thread: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let deadline = self.warmup + self.duration + SHUTDOWN_GRACE;
        let mut next_report = self.warmup + Duration::from_secs(1) + PROGRESS_LAG;
        loop {
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            let elapsed = clock.base.elapsed();
            if interrupt.load(Relaxed) {
                self.shared.stop.store(true, Relaxed);
            }
            if elapsed >= deadline {
                // Workers check the clock every few milliseconds; one that has not
                // ended by now is stuck in the kernel. Do not hang with it.
                self.shared.stop.store(true, Relaxed);
                return Err(EngineError::Io(
                    "a worker did not stop within the grace period".into(),
                ));
            }
            if elapsed >= next_report {
                on_progress(&Progress {
                    elapsed: (elapsed - self.warmup).min(self.duration),
                    total: self.duration,
                    responses: self
                        .shared
                        .progress
                        .iter()
                        .map(|p| p.responses.load(Relaxed))
                        .sum(),
                    bytes_read: self
                        .shared
                        .progress
                        .iter()
                        .map(|p| p.bytes_read.load(Relaxed))
                        .sum(),
                });
                next_report += Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut merged: Option<Report> = None;
        for h in handles {
            let report = h
                .join()
                .map_err(|_| EngineError::Io("a worker thread panicked".into()))??;
            match merged.as_mut() {
                Some(m) => m.merge(&report),
                None => merged = Some(report),
            }
        }
        Ok(merged.unwrap_or_default())
    }
}

/// Lift the soft open-files limit to the hard one (thousands of connections
/// should not fail on a 1024 default the administrator already allows past),
/// then refuse a plan whose connections cannot all be open at once: counting
/// thousands of "connect errors" that are really EMFILE would mislead.
fn check_fd_limit(connections: u32, threads: u32) -> Result<(), EngineError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    let limit = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Ok(());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        lim.rlim_cur
    };
    let needed = u64::from(connections) + u64::from(threads) * FDS_PER_WORKER + FDS_RESERVED;
    if limit != libc::RLIM_INFINITY && needed > limit {
        return Err(EngineError::Plan(format!(
            "{connections} connections need about {needed} open files, but this process may open only {limit} (ulimit -n); raise the limit or use fewer connections"
        )));
    }
    Ok(())
}

/// Worker `w`'s open-model schedule, with the warm-up run at the starting rate.
fn worker_schedule(plan: &LoadPlan, threads: u32, w: u32, warmup: Duration) -> Option<Schedule> {
    let part = |total: u64| share(total, threads, w) as f64;
    if !plan.stages.is_empty() {
        let initial = part(plan.rate.unwrap_or(0));
        let mut stages = vec![(warmup, initial)];
        stages.extend(
            plan.stages
                .iter()
                .map(|s| (s.duration.get(), part(s.target))),
        );
        return Some(Schedule::new(initial, &stages));
    }
    let rate = part(plan.rate?);
    Some(Schedule::constant(rate, warmup + plan.duration.get()))
}

/// Mask of the pre-built data frames. RFC 6455 wants unpredictable masks to
/// protect proxies from cache poisoning; an echo load test opts out of that
/// for zero per-frame work, as the original does.
const WS_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn ws_setup(target: Option<&Target>, message: &[u8]) -> Result<WsSetup, EngineError> {
    let t = target.ok_or_else(|| EngineError::Plan("WebSocket mode needs a target URL".into()))?;
    let key: [u8; 16] = *b"gcannon-ws-key16";
    let upgrade = crate::ws::handshake::upgrade_request(&t.host_header(), &t.path, &key);
    let accept = crate::ws::handshake::expected_accept(crate::ws::handshake::key_base64(&key));
    Ok(WsSetup {
        upgrade,
        accept,
        message: message.to_vec(),
    })
}

/// The TLS client for an `https://`/`wss://` target, checked by one handshake
/// before any load; TLS settings on a plaintext target are an error.
fn tls_setup(
    plan: &LoadPlan,
    target: Option<&Target>,
    addr: SocketAddr,
) -> Result<Option<crate::tls::ClientSetup>, EngineError> {
    let Some(t) = target.filter(|t| t.tls) else {
        if plan.tls.is_set() {
            let what = match plan.tls.origin {
                api::plan::TlsOrigin::Flags => {
                    "TLS settings (--insecure, --cacert, --cert, --key, --sni, --tls-resume)"
                }
                _ => "spec.tls",
            };
            return Err(EngineError::Plan(format!(
                "{what} need an https:// or wss:// URL"
            )));
        }
        return Ok(None);
    };
    let plan_err = |e: crate::tls::TlsError| EngineError::Plan(e.to_string());
    let setup = crate::tls::ClientSetup::new(&plan.tls, &t.host).map_err(plan_err)?;
    crate::tls::probe(&setup, addr).map_err(plan_err)?;
    Ok(Some(setup))
}

/// The reason of the first TLS failure counted during the run, if any.
pub fn first_tls_error() -> Option<&'static str> {
    worker::first_error()
}

fn resolve_host_header(host: &str) -> Result<SocketAddr, EngineError> {
    let url = format!("http://{host}/");
    let t =
        Target::parse(&url).map_err(|e| EngineError::Plan(format!("template Host header: {e}")))?;
    t.resolve().map_err(|e| EngineError::Plan(e.to_string()))
}
