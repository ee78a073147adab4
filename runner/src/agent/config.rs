//! The agent's settings, read from the environment the operator's Job sets
//! (downward API for namespace, pod and node; the Job controller for the index).

use std::time::Duration;

pub use api::contract::{
    ENV_INDEX, ENV_LOADTEST, ENV_METRICS_LINGER, ENV_METRICS_LISTEN, ENV_NAMESPACE, ENV_NODE,
    ENV_POD, ENV_START_TIMEOUT,
};

/// How long a runner waits for the operator to set `startAt` unless overridden.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(600);

/// Why the environment does not describe a runner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is not set (the runner Job sets it; `gcannon agent` only runs in a runner pod)")]
    Missing(&'static str),
    /// A variable holds something unusable.
    #[error("environment variable {var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Who this runner is and which LoadTest it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The LoadTest's name.
    pub loadtest: String,
    /// The LoadTest's namespace.
    pub namespace: String,
    /// This pod's name, reported in the shard.
    pub pod: String,
    /// The node's name, reported in the shard (absent outside a scheduled pod).
    pub node: Option<String>,
    /// This runner's shard index.
    pub index: u32,
    /// How long to wait for `status.startAt` before giving up.
    pub start_timeout: Duration,
    /// Where to serve live metrics, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long to keep serving the final metrics after the run.
    pub metrics_linger: Duration,
}

impl AgentConfig {
    /// Read the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read the settings through `get` (a pure seam for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |var: &str| {
            get(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |var: &'static str| value(var).ok_or(ConfigError::Missing(var));
        let index_text = required(ENV_INDEX)?;
        let index = index_text
            .parse::<u32>()
            .map_err(|_| ConfigError::Invalid {
                var: ENV_INDEX,
                value: index_text.clone(),
                reason: "not a non-negative integer",
            })?;
        let start_timeout = match value(ENV_START_TIMEOUT) {
            None => DEFAULT_START_TIMEOUT,
            Some(v) => match v.parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: ENV_START_TIMEOUT,
                        value: v,
                        reason: "not a positive number of seconds",
                    })
                }
            },
        };
        let metrics_listen = value(ENV_METRICS_LISTEN)
            .map(|v| {
                v.parse().map_err(|_| ConfigError::Invalid {
                    var: ENV_METRICS_LISTEN,
                    value: v,
                    reason: "not an address like 0.0.0.0:9464",
                })
            })
            .transpose()?;
        let metrics_linger = match value(ENV_METRICS_LINGER) {
            None => Duration::ZERO,
            Some(v) => Duration::from_secs(v.parse().map_err(|_| ConfigError::Invalid {
                var: ENV_METRICS_LINGER,
                value: v,
                reason: "not a whole number of seconds",
            })?),
        };
        Ok(Self {
            loadtest: required(ENV_LOADTEST)?,
            namespace: required(ENV_NAMESPACE)?,
            pod: required(ENV_POD)?,
            node: value(ENV_NODE),
            index,
            start_timeout,
            metrics_listen,
            metrics_linger,
        })
    }

    /// The server-side-apply field manager owning this runner's shard.
    pub fn field_manager(&self) -> String {
        field_manager(self.index)
    }
}

pub use api::contract::runner_field_manager as field_manager;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        (ENV_LOADTEST, "smoke"),
        (ENV_NAMESPACE, "perf"),
        (ENV_POD, "smoke-2-abcde"),
        (ENV_NODE, "node-a"),
        (ENV_INDEX, "2"),
    ];

    #[test]
    fn full_environment_is_read() {
        let c = AgentConfig::from_lookup(env(FULL)).unwrap();
        assert_eq!(c.loadtest, "smoke");
        assert_eq!(c.namespace, "perf");
        assert_eq!(c.pod, "smoke-2-abcde");
        assert_eq!(c.node.as_deref(), Some("node-a"));
        assert_eq!(c.index, 2);
        assert_eq!(c.start_timeout, DEFAULT_START_TIMEOUT);
        assert_eq!(c.field_manager(), "glass-cannon-runner-2");
    }

    #[test]
    fn each_missing_variable_is_named() {
        for var in [ENV_LOADTEST, ENV_NAMESPACE, ENV_POD, ENV_INDEX] {
            let pairs: Vec<_> = FULL.iter().copied().filter(|(k, _)| *k != var).collect();
            let err = AgentConfig::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(var));
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn empty_counts_as_missing_and_node_is_optional() {
        let mut pairs: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != ENV_NODE)
            .collect();
        assert_eq!(AgentConfig::from_lookup(env(&pairs)).unwrap().node, None);
        pairs.retain(|(k, _)| *k != ENV_LOADTEST);
        pairs.push((ENV_LOADTEST, "  "));
        assert_eq!(
            AgentConfig::from_lookup(env(&pairs)).unwrap_err(),
            ConfigError::Missing(ENV_LOADTEST)
        );
    }

    #[test]
    fn bad_index_and_timeout_are_rejected_with_the_value() {
        let mut pairs = FULL.to_vec();
        pairs.retain(|(k, _)| *k != ENV_INDEX);
        pairs.push((ENV_INDEX, "-1"));
        let err = AgentConfig::from_lookup(env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("JOB_COMPLETION_INDEX") && err.contains("-1"),
            "{err}"
        );

        let mut pairs = FULL.to_vec();
        pairs.push((ENV_START_TIMEOUT, "0"));
        assert!(matches!(
            AgentConfig::from_lookup(env(&pairs)),
            Err(ConfigError::Invalid {
                var: ENV_START_TIMEOUT,
                ..
            })
        ));
        let mut pairs = FULL.to_vec();
        pairs.push((ENV_START_TIMEOUT, "30"));
        assert_eq!(
            AgentConfig::from_lookup(env(&pairs)).unwrap().start_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn metrics_address_and_linger_are_read_and_checked() {
        let c = AgentConfig::from_lookup(env(FULL)).unwrap();
        assert_eq!((c.metrics_listen, c.metrics_linger), (None, Duration::ZERO));
        let mut pairs = FULL.to_vec();
        pairs.push((ENV_METRICS_LISTEN, "0.0.0.0:9464"));
        pairs.push((ENV_METRICS_LINGER, "15"));
        let c = AgentConfig::from_lookup(env(&pairs)).unwrap();
        assert_eq!(c.metrics_listen, Some("0.0.0.0:9464".parse().unwrap()));
        assert_eq!(c.metrics_linger, Duration::from_secs(15));
        for (var, bad) in [(ENV_METRICS_LISTEN, "9464"), (ENV_METRICS_LINGER, "soon")] {
            let mut pairs = FULL.to_vec();
            pairs.push((var, bad));
            let err = AgentConfig::from_lookup(env(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var) && err.contains(bad), "{err}");
        }
    }
}
