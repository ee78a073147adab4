//! Command-line flags, compatible with the original C `gcannon`.

use std::path::PathBuf;

use api::duration::HumanDuration;
use api::plan::{LoadPlan, Stage, TlsOrigin, TlsPlan, WebSocketPlan};
use api::threshold::Threshold;
use clap::{Args, Parser, Subcommand};

/// io_uring HTTP/1.1 and WebSocket load generator.
#[derive(Debug, Parser)]
#[command(name = "gcannon", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; without one, run a load test against URL.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The load test flags.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Subcommands beside the plain load test.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in HTTP/1.1 target server.
    Serve(ServeArgs),
    /// Start the built-in server in-process and run a short load test against it.
    Demo(DemoArgs),
    /// Run a LoadTest manifest on this machine with one or more runner processes.
    Run(RunArgs),
    /// Follow a LoadTest in the cluster live, then print its result; exits with its verdict.
    Watch(WatchArgs),
    /// In-cluster runner: run this pod's shard of a LoadTest (used by the operator).
    Agent,
    /// Internal: run one shard of a plan read from stdin, print its wire report.
    #[command(hide = true)]
    Shard(ShardArgs),
}

/// Flags of a load test (the original's, plus ours).
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Target URL, http[s]://host[:port]/path (may be omitted when --raw templates carry Host).
    pub url: Option<String>,
    /// Total connections, split evenly over threads.
    #[arg(short = 'c', long = "connections", default_value_t = 100, value_parser = whole::<u32>, allow_hyphen_values = true)]
    pub connections: u32,
    /// Worker threads, one io_uring each.
    #[arg(short = 't', long = "threads", default_value_t = 1, value_parser = whole::<u32>, allow_hyphen_values = true)]
    pub threads: u32,
    /// Test duration: 500ms, 5s, 1m (not with --stages, whose durations add up to the run's).
    #[arg(
        short = 'd',
        long = "duration",
        default_value = "10s",
        allow_hyphen_values = true,
        conflicts_with = "stages"
    )]
    pub duration: HumanDuration,
    /// Requests in flight per connection (max 64).
    #[arg(short = 'p', long = "pipeline", default_value_t = 1, value_parser = whole::<u32>, allow_hyphen_values = true)]
    pub pipeline: u32,
    /// Requests per connection before it is closed and reopened.
    #[arg(short = 'r', long = "requests-per-conn", value_parser = whole::<u64>, allow_hyphen_values = true)]
    pub requests_per_conn: Option<u64>,
    /// Expected status code.
    #[arg(short = 's', long = "status", default_value_t = 200, value_parser = whole::<u16>, allow_hyphen_values = true)]
    pub status: u16,
    /// Raw HTTP request files, comma separated; connections rotate through them.
    #[arg(long = "raw", value_delimiter = ',')]
    pub raw: Vec<PathBuf>,
    /// WebSocket echo mode (not with --raw: it sends --ws-msg frames).
    #[arg(long, conflicts_with = "raw")]
    pub ws: bool,
    /// WebSocket message payload.
    #[arg(long = "ws-msg", default_value = "hello")]
    pub ws_msg: String,
    /// Live terminal view and rich results.
    #[arg(long)]
    pub tui: bool,
    /// One JSON object on stdout, nothing else.
    #[arg(long)]
    pub json: bool,
    /// Latency histogram buckets in --tui mode (1..=100).
    #[arg(short = 'b', long = "buckets", default_value_t = 10, value_parser = whole::<usize>, allow_hyphen_values = true)]
    pub buckets: usize,
    /// Receive buffer size in bytes (512 to 65536).
    #[arg(long = "recv-buf", default_value_t = 4096, value_parser = whole::<u32>, allow_hyphen_values = true)]
    pub recv_buf: u32,
    /// Take latency when the completion arrives rather than after parsing.
    #[arg(long = "cqe-latency")]
    pub cqe_latency: bool,
    /// A latency histogram per template.
    #[arg(long = "per-tpl-latency")]
    pub per_tpl_latency: bool,
    /// Empty the run history and exit.
    #[arg(long = "clear-history")]
    pub clear_history: bool,
    /// Warm-up before measuring, excluded from results.
    #[arg(long, default_value = "100ms", allow_hyphen_values = true)]
    pub warmup: HumanDuration,
    /// A request with no response for this long counts as a timeout.
    #[arg(long, default_value = "2s", allow_hyphen_values = true)]
    pub timeout: HumanDuration,
    /// Open model: total requests per second, on a fixed schedule.
    #[arg(long, value_parser = whole::<u64>, allow_hyphen_values = true)]
    pub rate: Option<u64>,
    /// Open model ramp: DURATION:RATE stages, comma separated (10s:1000,30s:20000); the run lasts their sum.
    #[arg(long, value_delimiter = ',', value_parser = parse_stage, allow_hyphen_values = true)]
    pub stages: Vec<Stage>,
    /// Pass/fail threshold, repeatable: 'p99 < 5ms', 'errors < 0.1%', 'p99 < baseline * 1.1'.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub thresholds: Vec<Threshold>,
    /// A previous --json result that `baseline` in thresholds refers to.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Fail a relative p99/rps threshold only when the per-second samples show the regression is significant.
    #[arg(long)]
    pub noise_aware: bool,
    /// After the results, show this run beside the last run of the same target, connections and depth from the history.
    #[arg(long)]
    pub compare: bool,
    /// JUnit, interval-log and live-metrics outputs.
    #[command(flatten)]
    pub observe: super::observe::ObserveArgs,
    /// TLS settings for https:// and wss:// targets.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS client flags (https:// and wss:// targets).
#[derive(Debug, Args, Clone, Default)]
pub struct TlsArgs {
    /// TLS: skip server certificate verification (shown in the banner).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// TLS: trust the CA certificates in this PEM file instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<String>,
    /// TLS: client certificate chain (PEM) for mTLS; needs --key.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<String>,
    /// TLS: private key (PEM) of --cert.
    #[arg(long, value_name = "FILE")]
    pub key: Option<String>,
    /// TLS: server name to send (SNI) and verify, instead of the URL's host.
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// TLS: resume sessions on reconnect (-r) instead of a full handshake each time.
    #[arg(long = "tls-resume")]
    pub tls_resume: bool,
}

impl TlsArgs {
    /// The plan's TLS settings.
    pub fn to_plan(&self) -> TlsPlan {
        TlsPlan {
            insecure: self.insecure,
            ca_file: self.cacert.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            sni: self.sni.clone(),
            resume: self.tls_resume,
            origin: TlsOrigin::Flags,
        }
    }
}

/// `gcannon serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Serve HTTPS: a self-signed certificate for localhost, 127.0.0.1 and ::1
    /// generated at start, unless --cert and --key are given.
    #[arg(long)]
    pub tls: bool,
    /// Certificate chain (PEM) for --tls.
    #[arg(long, value_name = "FILE", requires = "tls", requires = "key")]
    pub cert: Option<String>,
    /// Private key (PEM) for --tls.
    #[arg(long, value_name = "FILE", requires = "tls", requires = "cert")]
    pub key: Option<String>,
}

/// `gcannon demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the demo load test runs.
    #[arg(short = 'd', long, default_value = "3s")]
    pub duration: HumanDuration,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    pub connections: u32,
    /// Pipeline depth.
    #[arg(short = 'p', long, default_value_t = 16)]
    pub pipeline: u32,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Serve and load over TLS (self-signed certificate, verification skipped).
    #[arg(long)]
    pub tls: bool,
}

/// `gcannon run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A LoadTest manifest (YAML).
    pub manifest: PathBuf,
    /// Runner processes, at most 1000 (default: the manifest's spec.runners);
    /// they start together once every one is ready.
    #[arg(long)]
    pub runners: Option<u32>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Live view of the merged runners (one line per runner), then rich results.
    #[arg(long, conflicts_with = "json")]
    pub tui: bool,
    /// A previous --json result that `baseline` in the manifest's thresholds refers to.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Fail a relative p99/rps threshold only when the per-second samples show the regression is significant.
    #[arg(long)]
    pub noise_aware: bool,
    /// Check the manifest as a run would (every rule, templates, the target's
    /// address), print what would run, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// JUnit, merged interval-log and live-metrics outputs (runner i serves
    /// metrics on the --metrics-listen port + i).
    #[command(flatten)]
    pub observe: super::observe::ObserveArgs,
}

/// `gcannon watch` flags.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// NAMESPACE/LOADTEST, or LOADTEST in the kubeconfig's current namespace.
    pub loadtest: String,
}

/// `gcannon shard` flags (internal).
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// This runner's index.
    #[arg(long)]
    pub index: u32,
    /// Runners in total.
    #[arg(long)]
    pub runners: u32,
    /// Print a live line (JSON) each second before the report.
    #[arg(long)]
    pub live: bool,
    /// The LoadTest's name, for metric labels.
    #[arg(long, default_value = "")]
    pub loadtest: String,
    /// The LoadTest's namespace, for metric labels.
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// This runner's interval log and metrics endpoint.
    #[command(flatten)]
    pub observe: super::observe::ObserveArgs,
}

/// A whole-number flag value, with one clear line for a negative or non-numeric one.
fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    if s.trim().starts_with('-') {
        return Err("must not be negative".into());
    }
    s.trim()
        .parse()
        .map_err(|_| "expected a whole number (or it is too large)".into())
}

/// Parsed here, at the edge: the gate and the output only see typed thresholds.
fn parse_threshold(s: &str) -> Result<Threshold, String> {
    Threshold::parse(s).map_err(|e| e.to_string())
}

fn parse_stage(s: &str) -> Result<Stage, String> {
    let (d, r) = s
        .split_once(':')
        .ok_or_else(|| format!("stage {s:?}: expected DURATION:RATE, e.g. 10s:1000"))?;
    let duration = HumanDuration::parse(d).map_err(|e| format!("stage {s:?}: {e}"))?;
    let target = whole(r).map_err(|e| format!("stage {s:?}: rate {r:?}: {e}"))?;
    Ok(Stage { duration, target })
}

impl LoadArgs {
    /// The load plan these flags describe (templates are read from disk here).
    pub fn to_plan(&self) -> Result<LoadPlan, String> {
        let templates = crate::http::template::load(&self.raw).map_err(|e| e.to_string())?;
        Ok(LoadPlan {
            target: self.url.clone().unwrap_or_default(),
            connections: self.connections,
            threads: self.threads,
            pipeline: self.pipeline,
            requests_per_connection: self.requests_per_conn,
            duration: self.duration,
            warmup: self.warmup,
            expected_status: self.status,
            recv_buf: self.recv_buf,
            templates,
            // A ws:// URL means WebSocket mode, with or without --ws.
            websocket: (self.ws || self.ws_url()).then(|| WebSocketPlan {
                message: self.ws_msg.clone(),
            }),
            rate: self.rate,
            stages: self.stages.clone(),
            timeout: self.timeout,
            cqe_latency: self.cqe_latency,
            per_template_latency: self.per_tpl_latency,
            tls: self.tls.to_plan(),
        })
    }

    /// True when the URL is `ws://…`.
    fn ws_url(&self) -> bool {
        self.url
            .as_deref()
            .and_then(|u| u.get(..5))
            .is_some_and(|p| p.eq_ignore_ascii_case("ws://"))
    }
}
