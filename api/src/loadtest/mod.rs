//! The `LoadTest` custom resource (`glasscannon.dev/v1alpha1`): a load plan
//! plus how to run it on a cluster. `gcannon run` reads the same manifest.

pub mod baseline;
mod result;
mod status;
mod thresholds;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::duration::{HumanDuration, ZERO_DURATION_PATTERN};
use crate::plan::{
    rule, LoadPlan, RequestTemplate, Stage, TlsOrigin, TlsPlan, WebSocketPlan, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_THREAD, MAX_RUNNERS, MAX_STAGES, MAX_TEMPLATES,
};
use crate::threshold::{Threshold, ThresholdError};

use baseline::BaselineRef;

pub use result::{
    runner_result_name, RunnerResult, RunnerResultSpec, RunnerResultStatus, MAX_RESULT_BYTES,
};
pub use status::{
    LatencyPercentiles, LoadTestStatus, MergedSummary, Phase, Shard, ShardPhase, SummaryErrors,
    SummaryStatus, ThresholdResult, Verdict,
};
pub use thresholds::ThresholdExpr;

/// A distributed load test: the plan, the runner pods and the pass/fail thresholds.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "glasscannon.dev",
    version = "v1alpha1",
    kind = "LoadTest",
    plural = "loadtests",
    shortname = "lt",
    namespaced,
    status = "LoadTestStatus",
    doc = "A Glass Cannon load test run by N runner pods; results and the verdict land in status.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Runners","type":"integer","jsonPath":".spec.runners"}"#,
    printcolumn = r#"{"name":"Start","type":"string","description":"Why runners are not running yet (RunnersReady reason)","jsonPath":".status.conditions[?(@.type==\"RunnersReady\")].reason"}"#,
    printcolumn = r#"{"name":"RPS","type":"number","jsonPath":".status.summary.rps"}"#,
    printcolumn = r#"{"name":"p99","type":"string","jsonPath":".status.summary.latency.p99Text"}"#,
    printcolumn = r#"{"name":"Verdict","type":"string","jsonPath":".status.verdict"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.message"}"#
)]
#[x_kube(validation = Rule::new("self.target != '' || (has(self.templates) && size(self.templates) > 0)").message(rule::TARGET))]
#[x_kube(validation = Rule::new("self.connections >= self.runners * self.threads").message(rule::CONNECTIONS_PER_THREAD_MIN))]
#[x_kube(validation = Rule::new(format!("self.connections <= self.runners * self.threads * {MAX_CONNECTIONS_PER_THREAD}")).message(rule::CONNECTIONS_PER_THREAD_MAX))]
#[x_kube(validation = Rule::new("!has(self.rate) || (has(self.stages) && size(self.stages) > 0) || self.rate >= self.runners").message(rule::RATE_PER_RUNNER))]
#[x_kube(validation = Rule::new(format!("!has(self.duration) || !self.duration.matches('{}')", cel_pattern(ZERO_DURATION_PATTERN))).message(rule::DURATION))]
#[x_kube(validation = Rule::new("!has(self.duration) || !has(self.stages) || size(self.stages) == 0").message(rule::DURATION_WITH_STAGES))]
#[x_kube(validation = Rule::new(format!("!self.timeout.matches('{}')", cel_pattern(ZERO_DURATION_PATTERN))).message(rule::TIMEOUT))]
#[x_kube(validation = Rule::new(format!("!has(self.stages) || self.stages.all(s, !s.duration.matches('{}'))", cel_pattern(ZERO_DURATION_PATTERN))).message(rule::STAGE_DURATION))]
#[serde(rename_all = "camelCase")]
pub struct LoadTestSpec {
    /// `http://host:port/path`; may be empty when every template carries `Host`.
    #[serde(default)]
    pub target: String,
    /// Raw HTTP/1.1 request templates, inline or from a ConfigMap key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_TEMPLATES))]
    pub templates: Vec<TemplateSource>,
    /// WebSocket echo mode when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketPlan>,
    /// TLS client settings of an `https://` or `wss://` target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Total TCP connections over all runners and threads.
    #[serde(default = "default_connections")]
    #[schemars(range(min = 1, max = MAX_CONNECTIONS))]
    pub connections: u32,
    /// Worker threads per runner, one io_uring each.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = crate::plan::MAX_THREADS))]
    pub threads: u32,
    /// Requests in flight per connection.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = crate::plan::MAX_PIPELINE))]
    pub pipeline: u32,
    /// Close and reconnect after this many responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub requests_per_connection: Option<u64>,
    /// Measured duration, e.g. `30s` (10s when absent); not with `stages`, which set their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// Warm-up excluded from the results, e.g. `1s`.
    #[serde(default = "default_warmup")]
    pub warmup: HumanDuration,
    /// A request with no response for this long counts as a timeout (`--timeout`).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Take latency when the completion arrives rather than after parsing (`--cqe-latency`).
    #[serde(default)]
    pub cqe_latency: bool,
    /// Keep one latency histogram per template (`--per-tpl-latency`).
    #[serde(default)]
    pub per_template_latency: bool,
    /// Status code counted as success.
    #[serde(default = "default_expected_status")]
    #[schemars(range(min = 100, max = 999))]
    pub expected_status: u16,
    /// Receive buffer size in bytes.
    #[serde(default = "default_recv_buf")]
    #[schemars(range(min = crate::plan::MIN_RECV_BUF, max = crate::plan::MAX_RECV_BUF))]
    pub recv_buf: u32,
    /// Open model: total requests per second over all runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rate: Option<u64>,
    /// Open model: ramping stages; override `rate` when present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_STAGES))]
    pub stages: Vec<Stage>,
    /// Runner pods; connections and rate are split exactly between them.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_RUNNERS))]
    pub runners: u32,
    /// Pass/fail gates such as `p99 < 5ms` or `errors < 0.1%`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub thresholds: Vec<ThresholdExpr>,
    /// The earlier LoadTest that relative thresholds (`p99 < baseline * 1.10`) compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRef>,
    /// Runner pod template.
    #[serde(default)]
    pub runner: RunnerTemplate,
    /// Seccomp profile of runner pods; the operator's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompChoice>,
    /// Run runner containers privileged (explicit opt-in, rarely needed).
    #[serde(default)]
    pub privileged: bool,
    /// What happens to runner pods once the test finished.
    #[serde(default)]
    pub cleanup: CleanupPolicy,
}

/// One request template: inline `text`, a `configMapRef`, or a `secretRef`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("(has(self.text) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1").message("set exactly one of text, configMapRef or secretRef"))]
#[serde(rename_all = "camelCase")]
pub struct TemplateSource {
    /// Label for error messages; defaults to `inline[i]` or the ConfigMap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The raw request: request line, headers, blank line, body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A ConfigMap key holding the raw request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyRef>,
    /// A Secret key holding the raw request (credentials in headers): the operator
    /// mounts it read-only into runner pods, so runners need no Secret permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// Where runner pods find `secretRef` templates: `<this>/<secret>/<key>`.
pub const SECRET_TEMPLATES_MOUNT: &str = "/etc/gcannon/templates";

/// A key of a Secret in the LoadTest's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
}

impl SecretKeyRef {
    /// The file a runner pod reads it from.
    pub fn path(&self) -> String {
        format!("{SECRET_TEMPLATES_MOUNT}/{}/{}", self.name, self.key)
    }
}

/// Where a template's text comes from when it is not inline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TemplateRef<'a> {
    /// `configMapRef`.
    ConfigMap(&'a ConfigMapKeyRef),
    /// `secretRef`.
    Secret(&'a SecretKeyRef),
}

impl std::fmt::Display for TemplateRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConfigMap(r) => write!(f, "configMapRef {}/{}", r.name, r.key),
            Self::Secret(r) => write!(f, "secretRef {}/{}", r.name, r.key),
        }
    }
}

/// Where runner pods find the files of `tls.secretName`.
pub const TLS_MOUNT: &str = "/etc/gcannon/tls";

/// TLS client settings. In a cluster `ca`, `cert` and `key` are keys of the
/// Secret `secretName`, which the operator mounts read-only into runner pods
/// (the kubelet reads it, so runners need no Secret permission); `gcannon run`
/// reads them as file paths when `secretName` is unset.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.cert) == has(self.key)").message("set both cert and key (mTLS), or neither"))]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Skip verification of the server's certificate.
    #[serde(default)]
    pub insecure: bool,
    /// Server name sent in SNI and verified; the target's host when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Resume TLS sessions on reconnect instead of a full handshake each time.
    #[serde(default)]
    pub resume: bool,
    /// A Secret in the LoadTest's namespace holding `ca`, `cert` and `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// CA certificates (PEM) to trust instead of the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Client certificate chain (PEM) for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Private key (PEM) of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl TlsSpec {
    /// The engine's TLS settings: with `secretName`, files of its mount in the
    /// runner pod; without, the fields are file paths as given.
    pub fn plan(&self) -> Result<TlsPlan, SpecError> {
        let file = |field: &'static str, v: &Option<String>| -> Result<Option<String>, SpecError> {
            let (Some(v), Some(_)) = (v, &self.secret_name) else {
                return Ok(v.clone());
            };
            if v.is_empty() || v.contains('/') || v == "." || v == ".." {
                return Err(SpecError::TlsKey {
                    field,
                    key: v.clone(),
                });
            }
            Ok(Some(format!("{TLS_MOUNT}/{v}")))
        };
        Ok(TlsPlan {
            insecure: self.insecure,
            ca_file: file("ca", &self.ca)?,
            cert_file: file("cert", &self.cert)?,
            key_file: file("key", &self.key)?,
            sni: self.sni.clone(),
            resume: self.resume,
            origin: match &self.secret_name {
                Some(name) => TlsOrigin::Secret(name.clone()),
                None => TlsOrigin::Manifest,
            },
        })
    }
}

/// A key of a ConfigMap in the LoadTest's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfigMapKeyRef {
    /// ConfigMap name.
    pub name: String,
    /// Key inside the ConfigMap.
    pub key: String,
}

/// How runner pods look, beyond what the operator fixes for safety.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerTemplate {
    /// Runner image; the operator's `GC_RUNNER_IMAGE` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Container resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node selector of runner pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of runner pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Affinity of runner pods (spread adds its own anti-affinity term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Put each runner on its own node.
    #[serde(default)]
    pub spread: bool,
    /// Extra environment variables of the runner container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra pod labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
}

/// Image pull policy of the runner container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull when missing.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Seccomp profile of runner pods. io_uring needs `Localhost` (the chart's profile) or `Unconfined`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SeccompChoice {
    /// The chart's profile: the runtime default plus the io_uring syscalls.
    Localhost,
    /// The container runtime's default (blocks io_uring on most runtimes).
    RuntimeDefault,
    /// No seccomp filtering.
    Unconfined,
}

impl std::str::FromStr for SeccompChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "Localhost" => Ok(Self::Localhost),
            "RuntimeDefault" => Ok(Self::RuntimeDefault),
            "Unconfined" => Ok(Self::Unconfined),
            other => Err(format!(
                "unknown seccomp choice {other:?} (use Localhost, RuntimeDefault or Unconfined)"
            )),
        }
    }
}

/// What happens to runner pods after the test.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum CleanupPolicy {
    /// Delete the Job and its pods; status stays.
    #[default]
    Delete,
    /// Keep the Job and pods for inspection.
    Keep,
}

/// Why a spec cannot be turned into a runnable plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// A template has not exactly one of `text`, `configMapRef` and `secretRef`.
    #[error("template {index}: set exactly one of text, configMapRef or secretRef")]
    TemplateSource {
        /// Position in `spec.templates`.
        index: usize,
    },
    /// A `tls` field names no plain key of the Secret.
    #[error("spec.tls.{field}: {key:?} is not a key of spec.tls.secretName (a name without '/')")]
    TlsKey {
        /// `ca`, `cert` or `key`.
        field: &'static str,
        /// What was given.
        key: String,
    },
    /// A threshold does not parse.
    #[error("thresholds: {0}")]
    Threshold(ThresholdError),
    /// Both `duration` and `stages` are set.
    #[error("{}", rule::DURATION_WITH_STAGES)]
    DurationWithStages,
    /// A ConfigMap template could not be resolved.
    #[error("template {index}: {reason}")]
    Unresolved {
        /// Position in `spec.templates`.
        index: usize,
        /// What went wrong resolving it.
        reason: String,
    },
}

impl LoadTestSpec {
    /// The thresholds, as parsed when the manifest was read; the first bad one is the error.
    pub fn thresholds(&self) -> Result<Vec<Threshold>, SpecError> {
        self.thresholds
            .iter()
            .map(|t| {
                t.threshold()
                    .cloned()
                    .map_err(|e| SpecError::Threshold(e.clone()))
            })
            .collect()
    }

    /// Warm-up plus the measured part, stages included (see [`crate::plan::run_length`]).
    pub fn run_length(&self) -> std::time::Duration {
        crate::plan::run_length(self.warmup, self.duration(), &self.stages)
    }

    /// The measured duration as written, or the default when absent.
    pub fn duration(&self) -> HumanDuration {
        self.duration.unwrap_or(LoadPlan::default().duration)
    }

    /// The engine's plan for the whole test; `resolve` reads ConfigMap and Secret templates.
    pub fn plan(
        &self,
        mut resolve: impl FnMut(TemplateRef<'_>) -> Result<String, String>,
    ) -> Result<LoadPlan, SpecError> {
        if self.duration.is_some() && !self.stages.is_empty() {
            return Err(SpecError::DurationWithStages);
        }
        let mut templates = Vec::with_capacity(self.templates.len());
        for (index, t) in self.templates.iter().enumerate() {
            let unresolved = |reason| SpecError::Unresolved { index, reason };
            let (name, text) = match (&t.text, &t.config_map_ref, &t.secret_ref) {
                (Some(text), None, None) => (format!("inline[{index}]"), text.clone()),
                (None, Some(r), None) => {
                    let text = resolve(TemplateRef::ConfigMap(r)).map_err(unresolved)?;
                    (format!("configmap/{}/{}", r.name, r.key), text)
                }
                (None, None, Some(r)) => {
                    // A file name under the Secret's mount: no path, no dot segment.
                    if r.key.is_empty() || r.key.contains('/') || r.key == "." || r.key == ".." {
                        return Err(unresolved(format!(
                            "secretRef key {:?} is not a key",
                            r.key
                        )));
                    }
                    let text = resolve(TemplateRef::Secret(r)).map_err(unresolved)?;
                    (format!("secret/{}/{}", r.name, r.key), text)
                }
                _ => return Err(SpecError::TemplateSource { index }),
            };
            templates.push(RequestTemplate {
                name: t.name.clone().unwrap_or(name),
                text,
            });
        }
        // Every field named, no `..default()`: a new plan field fails to
        // compile here until the manifest can set it.
        Ok(LoadPlan {
            target: self.target.clone(),
            connections: self.connections,
            threads: self.threads,
            pipeline: self.pipeline,
            requests_per_connection: self.requests_per_connection,
            duration: self.duration(),
            warmup: self.warmup,
            expected_status: self.expected_status,
            recv_buf: self.recv_buf,
            templates,
            websocket: self.websocket.clone(),
            rate: self.rate,
            stages: self.stages.clone(),
            timeout: self.timeout,
            cqe_latency: self.cqe_latency,
            per_template_latency: self.per_template_latency,
            tls: self
                .tls
                .as_ref()
                .map(TlsSpec::plan)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// A regular expression as a single-quoted CEL string literal's body.
fn cel_pattern(re: &str) -> String {
    re.replace('\\', "\\\\").replace('\'', "\\'")
}

fn one() -> u32 {
    1
}
fn default_connections() -> u32 {
    LoadPlan::default().connections
}
fn default_warmup() -> HumanDuration {
    LoadPlan::default().warmup
}
fn default_timeout() -> HumanDuration {
    crate::plan::DEFAULT_TIMEOUT
}

fn default_expected_status() -> u16 {
    LoadPlan::default().expected_status
}
fn default_recv_buf() -> u32 {
    LoadPlan::default().recv_buf
}

#[cfg(test)]
mod tests;
