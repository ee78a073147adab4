//! The admin policy: what a LoadTest may ask for, set by the chart's `policy`
//! values (`GC_POLICY`, JSON). Pure: a spec and the policy in, the broken rules
//! out. The chart's ValidatingAdmissionPolicy enforces the same rules at apply
//! time; `tests/policy/cases.yaml` holds manifests both must decide alike.

use std::net::IpAddr;

use api::duration::HumanDuration;
use api::loadtest::{LoadTestSpec, SeccompChoice};
use ipnet::IpNet;
use serde::Deserialize;

/// What LoadTests may request. The defaults are the chart's.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Policy {
    /// `spec.privileged: true` allowed.
    pub allow_privileged: bool,
    /// Values `spec.seccomp` may name (unset always takes the operator's default).
    pub seccomp: Vec<SeccompChoice>,
    /// `spec.runner.image` patterns (`*` any run of characters) besides the operator's own image.
    pub images: Vec<String>,
    /// `spec.runner.env[].valueFrom.secretKeyRef` allowed.
    pub allow_secret_env: bool,
    /// Toleration keys runner pods may carry; a toleration without a key (every taint) never.
    pub toleration_keys: Vec<String>,
    /// `spec.runner.nodeSelector` keys allowed.
    pub node_selector_keys: Vec<String>,
    /// `spec.runner.podAnnotations` keys allowed.
    pub pod_annotation_keys: Vec<String>,
    /// Where load may go.
    pub targets: TargetPolicy,
    /// Caps; zero or empty is no cap.
    pub max: Limits,
}

/// Target hosts: literal IPs against CIDRs, names against host patterns. Names
/// are not resolved here (they could resolve elsewhere by run time); a NetworkPolicy
/// on runner pods is what holds resolved addresses (docs/security.md).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TargetPolicy {
    /// Literal addresses never allowed (default: link-local, cloud metadata).
    #[serde(rename = "denyCIDRs")]
    pub deny_cidrs: Vec<IpNet>,
    /// When non-empty, literal addresses must be in one of these.
    #[serde(rename = "allowCIDRs")]
    pub allow_cidrs: Vec<IpNet>,
    /// Host name patterns never allowed (default: the API server's names).
    pub deny_hosts: Vec<String>,
    /// When non-empty, host names must match one of these.
    pub allow_hosts: Vec<String>,
    /// Also deny the API server's in-cluster address (`KUBERNETES_SERVICE_HOST`).
    #[serde(rename = "denyAPIServer")]
    pub deny_api_server: bool,
}

/// Upper bounds of a LoadTest's size.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// `spec.runners`.
    pub runners: u32,
    /// `spec.connections` (all runners together).
    pub connections: u32,
    /// `spec.rate` and every stage's target, requests per second.
    pub rate: u64,
    /// Warm-up plus the measured part (stages included), e.g. `1h`.
    #[serde(deserialize_with = "optional_duration")]
    pub duration: Option<HumanDuration>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<HumanDuration>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    if s.trim().is_empty() {
        return Ok(None);
    }
    HumanDuration::parse(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_privileged: false,
            seccomp: vec![SeccompChoice::Localhost, SeccompChoice::RuntimeDefault],
            images: Vec::new(),
            allow_secret_env: false,
            toleration_keys: Vec::new(),
            node_selector_keys: vec!["*".into()],
            pod_annotation_keys: Vec::new(),
            targets: TargetPolicy::default(),
            max: Limits {
                runners: 100,
                connections: 1_000_000,
                rate: 10_000_000,
                duration: Some(HumanDuration(std::time::Duration::from_secs(3600))),
            },
        }
    }
}

impl Default for TargetPolicy {
    fn default() -> Self {
        let net = |s: &str| s.parse().expect("static CIDR");
        Self {
            deny_cidrs: vec![net("169.254.0.0/16"), net("fe80::/10")],
            allow_cidrs: Vec::new(),
            deny_hosts: [
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.*",
                "metadata.google.internal",
            ]
            .map(String::from)
            .to_vec(),
            allow_hosts: Vec::new(),
            deny_api_server: true,
        }
    }
}

impl Policy {
    /// Parse `GC_POLICY`; with `api_server` (`KUBERNETES_SERVICE_HOST`) denied when asked.
    pub fn from_json(json: &str, api_server: Option<&str>) -> Result<Self, String> {
        let mut p: Self = serde_json::from_str(json).map_err(|e| e.to_string())?;
        p.deny_api_server(api_server);
        Ok(p)
    }

    /// Add the API server's address to the denied CIDRs when `denyAPIServer` is on.
    pub fn deny_api_server(&mut self, api_server: Option<&str>) {
        let ip = api_server.and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok());
        if let (true, Some(ip)) = (self.targets.deny_api_server, ip) {
            self.targets.deny_cidrs.push(IpNet::from(ip));
        }
    }
}

/// One rule of the policy; its name is the chart value that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// `policy.allowPrivileged`
    Privileged,
    /// `policy.seccomp`
    Seccomp,
    /// `policy.images`
    Image,
    /// `policy.allowSecretEnv`
    SecretEnv,
    /// `policy.tolerationKeys`
    Tolerations,
    /// `policy.nodeSelectorKeys`
    NodeSelector,
    /// `policy.podAnnotationKeys`
    PodAnnotations,
    /// `policy.targets`
    Target,
    /// `policy.max.runners`
    MaxRunners,
    /// `policy.max.connections`
    MaxConnections,
    /// `policy.max.rate`
    MaxRate,
    /// `policy.max.duration`
    MaxDuration,
}

impl Rule {
    /// The chart value (under `policy.`) that sets this rule.
    pub fn value(self) -> &'static str {
        match self {
            Self::Privileged => "allowPrivileged",
            Self::Seccomp => "seccomp",
            Self::Image => "images",
            Self::SecretEnv => "allowSecretEnv",
            Self::Tolerations => "tolerationKeys",
            Self::NodeSelector => "nodeSelectorKeys",
            Self::PodAnnotations => "podAnnotationKeys",
            Self::Target => "targets",
            Self::MaxRunners => "max.runners",
            Self::MaxConnections => "max.connections",
            Self::MaxRate => "max.rate",
            Self::MaxDuration => "max.duration",
        }
    }

    /// The condition reason naming the rule.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Privileged => "PrivilegedForbidden",
            Self::Seccomp => "SeccompNotAllowed",
            Self::Image => "ImageNotAllowed",
            Self::SecretEnv => "SecretEnvForbidden",
            Self::Tolerations => "TolerationNotAllowed",
            Self::NodeSelector => "NodeSelectorNotAllowed",
            Self::PodAnnotations => "PodAnnotationNotAllowed",
            Self::Target => "TargetNotAllowed",
            Self::MaxRunners => "TooManyRunners",
            Self::MaxConnections => "TooManyConnections",
            Self::MaxRate => "RateTooHigh",
            Self::MaxDuration => "DurationTooLong",
        }
    }
}

/// A broken rule and what in the spec broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What the spec asks for, in one line (never a header or env value).
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy.{}: {}", self.rule.value(), self.detail)
    }
}

/// Every rule `spec` breaks, in [`Rule`] order; `own_image` is the operator's runner image.
pub fn check(spec: &LoadTestSpec, policy: &Policy, own_image: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut broke = |rule, detail: String| out.push(Violation { rule, detail });
    if spec.privileged && !policy.allow_privileged {
        broke(Rule::Privileged, "spec.privileged is not allowed".into());
    }
    if let Some(s) = spec.seccomp.filter(|s| !policy.seccomp.contains(s)) {
        broke(
            Rule::Seccomp,
            format!("spec.seccomp {s:?} is not one of {:?}", policy.seccomp),
        );
    }
    let r = &spec.runner;
    if let Some(image) = r.image.as_deref() {
        if image != own_image && !any_glob(&policy.images, image) {
            broke(
                Rule::Image,
                format!("spec.runner.image {image:?} is not the operator's image or in the allowed list"),
            );
        }
    }
    let secret_env = r.env.iter().find(|e| {
        e.value_from
            .as_ref()
            .is_some_and(|v| v.secret_key_ref.is_some())
    });
    if let (Some(e), false) = (secret_env, policy.allow_secret_env) {
        broke(
            Rule::SecretEnv,
            format!("spec.runner.env {:?} reads a Secret (secretKeyRef)", e.name),
        );
    }
    for t in &r.tolerations {
        let key = t.key.as_deref().unwrap_or_default();
        if key.is_empty() {
            broke(
                Rule::Tolerations,
                "a toleration without a key tolerates every taint".into(),
            );
        } else if !any_glob(&policy.toleration_keys, key) {
            broke(
                Rule::Tolerations,
                format!("toleration key {key:?} is not allowed"),
            );
        }
    }
    for k in r.node_selector.keys() {
        if !any_glob(&policy.node_selector_keys, k) {
            broke(
                Rule::NodeSelector,
                format!("nodeSelector key {k:?} is not allowed"),
            );
        }
    }
    for k in r.pod_annotations.keys() {
        if !any_glob(&policy.pod_annotation_keys, k) {
            broke(
                Rule::PodAnnotations,
                format!("pod annotation {k:?} is not allowed"),
            );
        }
    }
    for (field, host) in target_hosts(spec) {
        if let Some(why) = target_refused(&host, &policy.targets) {
            broke(Rule::Target, format!("{field} host {host:?} {why}"));
        }
    }
    let max = &policy.max;
    if max.runners > 0 && spec.runners > max.runners {
        broke(
            Rule::MaxRunners,
            format!("{} runners, at most {}", spec.runners, max.runners),
        );
    }
    if max.connections > 0 && spec.connections > max.connections {
        broke(
            Rule::MaxConnections,
            format!(
                "{} connections, at most {}",
                spec.connections, max.connections
            ),
        );
    }
    let rate = spec.stages.iter().map(|s| s.target).chain(spec.rate).max();
    if let Some(rate) = rate.filter(|&r| max.rate > 0 && r > max.rate) {
        broke(
            Rule::MaxRate,
            format!("{rate} requests/s, at most {}", max.rate),
        );
    }
    if let Some(limit) = max.duration {
        let length = spec.run_length();
        if length > limit.get() {
            broke(
                Rule::MaxDuration,
                format!(
                    "runs {} (warm-up included), at most {limit}",
                    HumanDuration(length)
                ),
            );
        }
    }
    out
}

/// `(field, host)` of every place a target host is named: `spec.target` and
/// the `Host` header of each inline template.
pub fn target_hosts(spec: &LoadTestSpec) -> Vec<(String, String)> {
    let mut hosts = Vec::new();
    if let Some(h) = url_host(&spec.target) {
        hosts.push(("spec.target".to_string(), h));
    }
    for (i, t) in spec.templates.iter().enumerate() {
        if let Some(h) = t.text.as_deref().and_then(template_host) {
            hosts.push((format!("spec.templates[{i}] Host"), h));
        }
    }
    hosts
}

/// The host of `scheme://[user@]host[:port]/...`, lower-cased, IPv6 without brackets.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    host_of(authority)
}

fn host_of(authority: &str) -> Option<String> {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
}

/// The `Host` header's host in a raw request template (only its name is kept).
fn template_host(text: &str) -> Option<String> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("host")
                .then(|| host_of(value.trim()))?
        })
}

/// Why `host` may not be a target, if it may not.
pub fn target_refused(host: &str, p: &TargetPolicy) -> Option<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if let Some(net) = p.deny_cidrs.iter().find(|n| n.contains(&ip)) {
            return Some(format!("is in the denied range {net}"));
        }
        if !p.allow_cidrs.is_empty() && !p.allow_cidrs.iter().any(|n| n.contains(&ip)) {
            return Some("is in none of the allowed ranges".into());
        }
        if p.allow_cidrs.is_empty() && !p.allow_hosts.is_empty() {
            return Some("is an address; only the allowed host names may be targets".into());
        }
        return None;
    }
    if any_glob(&p.deny_hosts, host) {
        return Some("is a denied host".into());
    }
    if !p.allow_hosts.is_empty() && !any_glob(&p.allow_hosts, host) {
        return Some("matches none of the allowed hosts".into());
    }
    if p.allow_hosts.is_empty() && !p.allow_cidrs.is_empty() {
        return Some("is a name; only addresses in the allowed ranges may be targets".into());
    }
    None
}

/// True when `s` matches one of `patterns`.
pub fn any_glob(patterns: &[String], s: &str) -> bool {
    patterns.iter().any(|p| glob(p.as_bytes(), s.as_bytes()))
}

/// `*` matches any run of characters (including none); everything else itself.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
