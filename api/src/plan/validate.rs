//! The rules a load plan must satisfy before the engine runs it, one clear
//! message per rule, shared by the CLI, `gcannon run` and the operator.

use super::LoadPlan;

/// Most requests in flight per connection (the original's limit).
pub const MAX_PIPELINE: u32 = 64;
/// Smallest receive buffer that holds a status line and typical headers.
pub const MIN_RECV_BUF: u32 = 512;
/// Largest receive buffer: each worker keeps 4096 of them, so 64 KiB is 256 MiB.
pub const MAX_RECV_BUF: u32 = 65_536;
/// Most worker threads in one process (each owns a ring and its buffers).
pub const MAX_THREADS: u32 = 256;
/// Most templates one plan may carry.
pub const MAX_TEMPLATES: usize = 64;
/// Most connections one worker thread may own.
pub const MAX_CONNECTIONS_PER_THREAD: u64 = 16_384;

/// Why a load plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No connections.
    #[error("connections must be at least 1, got {0}")]
    NoConnections(u32),
    /// Pipeline depth out of range.
    #[error("pipeline must be between 1 and {MAX_PIPELINE}, got {0}")]
    Pipeline(u32),
    /// No threads.
    #[error("threads must be at least 1, got 0")]
    NoThreads,
    /// More threads than connections leaves threads idle.
    #[error("threads ({threads}) must not exceed connections ({connections})")]
    MoreThreadsThanConnections {
        /// Threads asked for.
        threads: u32,
        /// Connections asked for.
        connections: u32,
    },
    /// Too many connections for the threads given.
    #[error("{connections} connections need at least {needed} threads (at most {MAX_CONNECTIONS_PER_THREAD} connections per thread), got {threads}")]
    TooManyConnectionsPerThread {
        /// Connections asked for.
        connections: u32,
        /// Threads asked for.
        threads: u32,
        /// Threads needed.
        needed: u64,
    },
    /// A zero-length run.
    #[error("duration must be greater than 0")]
    ZeroDuration,
    /// Receive buffer out of range.
    #[error("recvBuf must be between {MIN_RECV_BUF} and {MAX_RECV_BUF} bytes, got {0}")]
    RecvBuf(u32),
    /// More threads than one process should run.
    #[error("threads must be at most {MAX_THREADS}, got {0} (use more runners instead)")]
    TooManyThreads(u32),
    /// Expected status is not a three-digit code.
    #[error("expectedStatus must be a status code between 100 and 999, got {0}")]
    ExpectedStatus(u16),
    /// A per-connection budget of zero sends nothing.
    #[error("requestsPerConnection (-r) must be at least 1 when set; leave it out to keep connections open")]
    ZeroRequestsPerConnection,
    /// A rate of zero sends nothing.
    #[error("rate must be greater than 0 requests per second when set")]
    ZeroRate,
    /// A stage with no length.
    #[error("stages[{0}]: duration must be greater than 0")]
    ZeroStage(usize),
    /// Too many templates.
    #[error("at most {MAX_TEMPLATES} templates are supported, got {0}")]
    TooManyTemplates(usize),
    /// Nothing to send to.
    #[error("a target URL or at least one request template is required")]
    NoTarget,
}

impl LoadPlan {
    /// Check every rule; the first broken one is reported.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.target.trim().is_empty() && self.templates.is_empty() {
            return Err(PlanError::NoTarget);
        }
        if self.connections < 1 {
            return Err(PlanError::NoConnections(self.connections));
        }
        if self.threads < 1 {
            return Err(PlanError::NoThreads);
        }
        if self.threads > MAX_THREADS {
            return Err(PlanError::TooManyThreads(self.threads));
        }
        if self.threads > self.connections {
            return Err(PlanError::MoreThreadsThanConnections {
                threads: self.threads,
                connections: self.connections,
            });
        }
        let connections = u64::from(self.connections);
        if connections > MAX_CONNECTIONS_PER_THREAD * u64::from(self.threads) {
            return Err(PlanError::TooManyConnectionsPerThread {
                connections: self.connections,
                threads: self.threads,
                needed: connections.div_ceil(MAX_CONNECTIONS_PER_THREAD),
            });
        }
        if !(1..=MAX_PIPELINE).contains(&self.pipeline) {
            return Err(PlanError::Pipeline(self.pipeline));
        }
        if self.duration.get().is_zero() {
            return Err(PlanError::ZeroDuration);
        }
        if !(MIN_RECV_BUF..=MAX_RECV_BUF).contains(&self.recv_buf) {
            return Err(PlanError::RecvBuf(self.recv_buf));
        }
        if !(100..=999).contains(&self.expected_status) {
            return Err(PlanError::ExpectedStatus(self.expected_status));
        }
        if self.requests_per_connection == Some(0) {
            return Err(PlanError::ZeroRequestsPerConnection);
        }
        if self.rate == Some(0) {
            return Err(PlanError::ZeroRate);
        }
        if let Some(i) = self.stages.iter().position(|s| s.duration.get().is_zero()) {
            return Err(PlanError::ZeroStage(i));
        }
        if self.templates.len() > MAX_TEMPLATES {
            return Err(PlanError::TooManyTemplates(self.templates.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;
    use crate::plan::{RequestTemplate, Stage};
    use std::time::Duration;

    fn ok() -> LoadPlan {
        LoadPlan {
            target: "http://127.0.0.1:8080/".into(),
            ..LoadPlan::default()
        }
    }

    fn fails(p: LoadPlan) -> PlanError {
        p.validate().expect_err("plan accepted")
    }

    #[test]
    fn default_plan_with_a_target_is_valid() {
        ok().validate().unwrap();
        let templated = LoadPlan {
            templates: vec![RequestTemplate {
                name: "a.raw".into(),
                text: "GET / HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            }],
            ..LoadPlan::default()
        };
        templated.validate().unwrap();
    }

    #[test]
    fn each_rule_has_its_own_error() {
        let tpl = RequestTemplate {
            name: "t".into(),
            text: String::new(),
        };
        let zero = HumanDuration(Duration::ZERO);
        let cases = [
            (LoadPlan::default(), PlanError::NoTarget),
            (
                LoadPlan {
                    connections: 0,
                    threads: 0,
                    ..ok()
                },
                PlanError::NoConnections(0),
            ),
            (LoadPlan { threads: 0, ..ok() }, PlanError::NoThreads),
            (
                LoadPlan {
                    connections: 2,
                    threads: 3,
                    ..ok()
                },
                PlanError::MoreThreadsThanConnections {
                    threads: 3,
                    connections: 2,
                },
            ),
            (
                LoadPlan {
                    connections: 40_000,
                    threads: 2,
                    ..ok()
                },
                PlanError::TooManyConnectionsPerThread {
                    connections: 40_000,
                    threads: 2,
                    needed: 3,
                },
            ),
            (
                LoadPlan {
                    pipeline: 0,
                    ..ok()
                },
                PlanError::Pipeline(0),
            ),
            (
                LoadPlan {
                    pipeline: 65,
                    ..ok()
                },
                PlanError::Pipeline(65),
            ),
            (
                LoadPlan {
                    duration: zero,
                    ..ok()
                },
                PlanError::ZeroDuration,
            ),
            (
                LoadPlan {
                    recv_buf: 511,
                    ..ok()
                },
                PlanError::RecvBuf(511),
            ),
            (
                LoadPlan {
                    recv_buf: MAX_RECV_BUF + 1,
                    ..ok()
                },
                PlanError::RecvBuf(MAX_RECV_BUF + 1),
            ),
            (
                LoadPlan {
                    threads: MAX_THREADS + 1,
                    connections: 10_000,
                    ..ok()
                },
                PlanError::TooManyThreads(MAX_THREADS + 1),
            ),
            (
                LoadPlan {
                    expected_status: 99,
                    ..ok()
                },
                PlanError::ExpectedStatus(99),
            ),
            (
                LoadPlan {
                    expected_status: 1000,
                    ..ok()
                },
                PlanError::ExpectedStatus(1000),
            ),
            (
                LoadPlan {
                    rate: Some(0),
                    ..ok()
                },
                PlanError::ZeroRate,
            ),
            (
                LoadPlan {
                    stages: vec![
                        Stage {
                            duration: HumanDuration(Duration::from_secs(1)),
                            target: 5,
                        },
                        Stage {
                            duration: zero,
                            target: 5,
                        },
                    ],
                    ..ok()
                },
                PlanError::ZeroStage(1),
            ),
            (
                LoadPlan {
                    templates: vec![tpl; 65],
                    ..ok()
                },
                PlanError::TooManyTemplates(65),
            ),
        ];
        for (plan, want) in cases {
            assert_eq!(fails(plan), want);
        }
    }

    #[test]
    fn limits_themselves_are_allowed() {
        let p = LoadPlan {
            connections: 32_768,
            threads: 2,
            pipeline: 64,
            recv_buf: 512,
            expected_status: 999,
            rate: Some(1),
            ..ok()
        };
        p.validate().unwrap();
    }

    #[test]
    fn messages_name_the_field_and_value() {
        let e = fails(LoadPlan {
            pipeline: 65,
            ..ok()
        });
        assert_eq!(e.to_string(), "pipeline must be between 1 and 64, got 65");
        let e = fails(LoadPlan {
            connections: 40_000,
            threads: 2,
            ..ok()
        });
        assert!(e.to_string().contains("need at least 3 threads"), "{e}");
    }
}
