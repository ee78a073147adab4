//! Operator settings from the environment (set by the Helm chart).

use api::loadtest::SeccompChoice;

use crate::error::Error;
use crate::leader::LeaseConfig;
use crate::policy::Policy;

/// Default runner image: the release of this very build (the tag the release workflow pushes).
pub const DEFAULT_RUNNER_IMAGE: &str = concat!(
    "ghcr.io/glass-cannon/glass-cannon:",
    env!("CARGO_PKG_VERSION")
);
/// Default localhost seccomp profile path, relative to the kubelet's seccomp root.
pub const DEFAULT_LOCALHOST_PROFILE: &str = "glass-cannon/io-uring.json";
/// Default time runners get after the planned end to report.
pub const DEFAULT_REPORT_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Default Starting-phase deadline: runner pods not all running by then fail the test.
pub const DEFAULT_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Default metrics/health listen address.
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:8080";

/// Operator-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `GC_RUNNER_IMAGE`: image of runner pods unless the LoadTest names one.
    pub runner_image: String,
    /// `GC_SECCOMP_DEFAULT`: seccomp choice when the LoadTest has none.
    pub seccomp_default: SeccompChoice,
    /// `GC_SECCOMP_LOCALHOST_PROFILE`: profile used for `Localhost`.
    pub seccomp_localhost_profile: String,
    /// `GC_START_TIMEOUT` (`5m`, `90s`): how long runner pods may take to be
    /// scheduled, pulled and ready before the test fails with the reason seen last.
    pub start_timeout: std::time::Duration,
    /// `GC_METRICS_ADDR`: where `/metrics`, `/healthz`, `/readyz` listen.
    pub metrics_addr: std::net::SocketAddr,
    /// `GC_REPORT_GRACE`: how long after the planned end runners may take to write
    /// their final shard before the test fails as "never reported" (default 60s).
    pub report_grace: std::time::Duration,
    /// `GC_LEADER_ELECTION=true` with `GC_LEADER_ELECTION_NAMESPACE`, `GC_LEADER_ELECTION_LEASE`
    /// and `GC_POD_NAME`: hold this Lease before reconciling.
    pub leader_election: Option<LeaseConfig>,
    /// `GC_POLICY` (JSON, the chart's `policy` values): what LoadTests may request;
    /// `KUBERNETES_SERVICE_HOST` joins its denied targets unless `denyAPIServer` is off.
    pub policy: Policy,
    /// `GC_WATCH_NAMESPACES` (comma-separated): the only namespaces whose LoadTests
    /// it runs; empty: every namespace.
    pub watch_namespaces: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            runner_image: DEFAULT_RUNNER_IMAGE.into(),
            seccomp_default: SeccompChoice::RuntimeDefault,
            seccomp_localhost_profile: DEFAULT_LOCALHOST_PROFILE.into(),
            start_timeout: DEFAULT_START_TIMEOUT,
            metrics_addr: DEFAULT_METRICS_ADDR
                .parse()
                .expect("static address is valid"),
            leader_election: None,
            report_grace: DEFAULT_REPORT_GRACE,
            policy: Policy::default(),
            watch_namespaces: Vec::new(),
        }
    }
}

impl Config {
    /// Read the settings from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read the settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let d = Self::default();
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let seccomp_default = match non_empty("GC_SECCOMP_DEFAULT") {
            Some(v) => v
                .parse()
                .map_err(|e| Error::Config(format!("GC_SECCOMP_DEFAULT: {e}")))?,
            None => d.seccomp_default,
        };
        let metrics_addr = match non_empty("GC_METRICS_ADDR") {
            Some(v) => v.parse().map_err(|e| {
                Error::Config(format!("GC_METRICS_ADDR {v:?}: {e} (expected host:port)"))
            })?,
            None => d.metrics_addr,
        };
        // Both are deadlines: zero would fail every test at once.
        let duration = |k: &str, default: std::time::Duration| match non_empty(k) {
            Some(v) => match api::duration::HumanDuration::parse(&v) {
                Ok(d) if !d.0.is_zero() => Ok(d.0),
                Ok(_) => Err(Error::Config(format!(
                    "{k} {v:?}: must be greater than zero"
                ))),
                Err(e) => Err(Error::Config(format!(
                    "{k} {v:?}: {e} (expected e.g. 5m or 90s)"
                ))),
            },
            None => Ok(default),
        };
        let start_timeout = duration("GC_START_TIMEOUT", d.start_timeout)?;
        let report_grace = duration("GC_REPORT_GRACE", d.report_grace)?;
        let leader_election = match non_empty("GC_LEADER_ELECTION").as_deref() {
            None | Some("false") => None,
            Some("true") => {
                let need = |k: &str| {
                    non_empty(k)
                        .ok_or_else(|| Error::Config(format!("GC_LEADER_ELECTION=true needs {k}")))
                };
                Some(LeaseConfig {
                    namespace: need("GC_LEADER_ELECTION_NAMESPACE")?,
                    name: need("GC_LEADER_ELECTION_LEASE")?,
                    identity: need("GC_POD_NAME")?,
                })
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "GC_LEADER_ELECTION {other:?}: expected true or false"
                )))
            }
        };
        let mut policy = match non_empty("GC_POLICY") {
            Some(v) => {
                Policy::from_json(&v, None).map_err(|e| Error::Config(format!("GC_POLICY: {e}")))?
            }
            None => d.policy,
        };
        policy.deny_api_server(non_empty("KUBERNETES_SERVICE_HOST").as_deref());
        let mut watch_namespaces = Vec::new();
        for ns in non_empty("GC_WATCH_NAMESPACES")
            .unwrap_or_default()
            .split(',')
        {
            let ns = ns.trim();
            if ns.is_empty() || watch_namespaces.iter().any(|w| w == ns) {
                continue;
            }
            let label = ns.len() <= 63
                && ns
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !ns.starts_with('-')
                && !ns.ends_with('-');
            if !label {
                return Err(Error::Config(format!(
                    "GC_WATCH_NAMESPACES: {ns:?} is not a namespace name"
                )));
            }
            watch_namespaces.push(ns.to_string());
        }
        Ok(Self {
            watch_namespaces,
            policy,
            leader_election,
            report_grace,
            runner_image: non_empty("GC_RUNNER_IMAGE").unwrap_or(d.runner_image),
            seccomp_default,
            seccomp_localhost_profile: non_empty("GC_SECCOMP_LOCALHOST_PROFILE")
                .unwrap_or(d.seccomp_localhost_profile),
            start_timeout,
            metrics_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Config::from_lookup(|_| None).unwrap(), Config::default());
        let c = Config::from_lookup(|k| match k {
            "GC_SECCOMP_DEFAULT" => Some("Localhost".into()),
            "GC_RUNNER_IMAGE" => Some("me/gc:1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.seccomp_default, SeccompChoice::Localhost);
        assert_eq!(c.runner_image, "me/gc:1");
    }

    #[test]
    fn leader_election_needs_its_lease_and_identity() {
        let env = |k: &str| match k {
            "GC_LEADER_ELECTION" => Some("true".to_string()),
            "GC_LEADER_ELECTION_NAMESPACE" => Some("gc".into()),
            "GC_LEADER_ELECTION_LEASE" => Some("gc-operator".into()),
            "GC_POD_NAME" => Some("op-1".into()),
            _ => None,
        };
        let lease = Config::from_lookup(env).unwrap().leader_election.unwrap();
        assert_eq!(
            (
                lease.namespace.as_str(),
                lease.name.as_str(),
                lease.identity.as_str()
            ),
            ("gc", "gc-operator", "op-1")
        );
        let e = Config::from_lookup(|k| (k == "GC_LEADER_ELECTION").then(|| "true".into()))
            .unwrap_err();
        assert!(
            e.to_string().contains("GC_LEADER_ELECTION_NAMESPACE"),
            "{e}"
        );
    }

    #[test]
    fn policy_comes_from_gc_policy_and_denies_the_api_server() {
        let c = Config::from_lookup(|k| match k {
            "GC_POLICY" => Some(r#"{"allowPrivileged": true}"#.into()),
            "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".into()),
            _ => None,
        })
        .unwrap();
        assert!(c.policy.allow_privileged);
        assert_eq!(
            c.policy.targets.deny_cidrs.last().unwrap().to_string(),
            "10.96.0.1/32"
        );
        let e = Config::from_lookup(|k| (k == "GC_POLICY").then(|| "{\"max\": 3}".into()));
        assert!(e
            .unwrap_err()
            .to_string()
            .starts_with("configuration: GC_POLICY: "));
    }

    #[test]
    fn watch_namespaces_are_a_comma_separated_list_of_names() {
        let c = Config::from_lookup(|k| {
            (k == "GC_WATCH_NAMESPACES").then(|| " perf, team-b,,perf ".into())
        })
        .unwrap();
        assert_eq!(c.watch_namespaces, ["perf", "team-b"]);
        assert!(Config::default().watch_namespaces.is_empty());
        let e = Config::from_lookup(|k| (k == "GC_WATCH_NAMESPACES").then(|| "perf,Team_B".into()));
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("\"Team_B\" is not a namespace name"));
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::from_lookup(|k| (k == "GC_SECCOMP_DEFAULT").then(|| "Off".into()));
        assert!(e.unwrap_err().to_string().contains("GC_SECCOMP_DEFAULT"));
        let e = Config::from_lookup(|k| (k == "GC_METRICS_ADDR").then(|| "nope".into()));
        assert!(e.unwrap_err().to_string().contains("GC_METRICS_ADDR"));
        let c = Config::from_lookup(|k| (k == "GC_REPORT_GRACE").then(|| "5s".into())).unwrap();
        assert_eq!(c.report_grace, std::time::Duration::from_secs(5));
        for key in ["GC_START_TIMEOUT", "GC_REPORT_GRACE"] {
            for bad in ["soon", "0s"] {
                let e = Config::from_lookup(|k| (k == key).then(|| bad.into()));
                assert!(e.unwrap_err().to_string().contains(key), "{key}={bad}");
            }
        }
    }

    #[test]
    fn start_timeout_defaults_to_five_minutes_and_reads_durations() {
        assert_eq!(Config::default().start_timeout.as_secs(), 300);
        let c = Config::from_lookup(|k| (k == "GC_START_TIMEOUT").then(|| "90s".into())).unwrap();
        assert_eq!(c.start_timeout.as_secs(), 90);
    }
}
