//! The rules a load plan must satisfy before the engine runs it, one clear
//! message per rule, shared by the CLI, `gcannon run`, the agent and the
//! operator (through [`LoadPlan::validate_for`]); the CRD's CEL rules word the
//! cross-field ones with the same [`rule`] texts.

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
/// Most connections one test may open (over all runners).
pub const MAX_CONNECTIONS: u32 = 10_000_000;
/// Most runners (processes or pods) one test may be split over: the design
/// point of the bounded LoadTest status (docs/kubernetes.md, Limits).
pub const MAX_RUNNERS: u32 = 1000;
/// Most ramp stages one plan may carry.
pub const MAX_STAGES: usize = 1000;

/// The rules that span several fields, worded once: the errors below and the
/// CRD's CEL rules (`api::loadtest`) both use these texts.
pub mod rule {
    /// Something to send to.
    pub const TARGET: &str =
        "set a target URL, or at least one request template carrying a Host header";
    /// Every thread of every runner needs a connection.
    pub const CONNECTIONS_PER_THREAD_MIN: &str =
        "connections must be at least runners x threads: every thread needs a connection";
    /// No thread owns more than `MAX_CONNECTIONS_PER_THREAD` connections.
    pub const CONNECTIONS_PER_THREAD_MAX: &str =
        "connections must be at most runners x threads x 16384: at most 16384 connections per thread";
    /// A constant rate is split over the runners.
    pub const RATE_PER_RUNNER: &str =
        "rate must be at least runners when there are no stages: every runner needs at least 1 request per second";
    /// A zero-length measured part.
    pub const DURATION: &str = "duration must be greater than 0";
    /// A zero request timeout.
    pub const TIMEOUT: &str = "timeout must be greater than 0: it bounds each request's whole life";
    /// A zero-length stage.
    pub const STAGE_DURATION: &str = "every stage's duration must be greater than 0";
    /// Both run lengths given (as k6, which refuses the two shortcuts together).
    pub const DURATION_WITH_STAGES: &str =
        "set duration or stages, not both: the stages' durations add up to the run's";
}

/// Why a load plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Nothing to send to.
    #[error("{}", rule::TARGET)]
    NoTarget,
    /// No runners, or more than one test may be split over.
    #[error("runners must be between 1 and {MAX_RUNNERS}, got {0}")]
    Runners(u32),
    /// No connections, or more than one test may open.
    #[error("connections must be between 1 and {MAX_CONNECTIONS}, got {0}")]
    Connections(u32),
    /// No threads.
    #[error("threads must be at least 1, got 0")]
    NoThreads,
    /// More threads than one process should run.
    #[error("threads must be at most {MAX_THREADS}, got {0} (use more runners instead)")]
    TooManyThreads(u32),
    /// Some thread would have no connection.
    #[error("connections ({connections}) must be at least runners x threads ({needed}): every thread needs a connection")]
    FewerConnectionsThanThreads {
        /// Connections asked for.
        connections: u32,
        /// Runners x threads.
        needed: u64,
    },
    /// Some thread would own too many connections.
    #[error("{connections} connections over {runners} runner(s) need at least {needed} threads per runner (at most {MAX_CONNECTIONS_PER_THREAD} connections per thread), got {threads}")]
    TooManyConnectionsPerThread {
        /// Connections asked for.
        connections: u32,
        /// Runners asked for.
        runners: u32,
        /// Threads per runner asked for.
        threads: u32,
        /// Threads per runner needed.
        needed: u64,
    },
    /// Pipeline depth out of range.
    #[error("pipeline must be between 1 and {MAX_PIPELINE}, got {0}")]
    Pipeline(u32),
    /// A per-connection budget of zero sends nothing.
    #[error("requestsPerConnection (-r) must be at least 1 when set; leave it out to keep connections open")]
    ZeroRequestsPerConnection,
    /// A zero-length run.
    #[error("{}", rule::DURATION)]
    ZeroDuration,
    /// A zero request timeout.
    #[error("{}", rule::TIMEOUT)]
    ZeroTimeout,
    /// Receive buffer out of range.
    #[error("recvBuf must be between {MIN_RECV_BUF} and {MAX_RECV_BUF} bytes, got {0}")]
    RecvBuf(u32),
    /// Expected status is not a three-digit code.
    #[error("expectedStatus must be a status code between 100 and 999, got {0}")]
    ExpectedStatus(u16),
    /// A rate of zero sends nothing.
    #[error("rate must be greater than 0 requests per second when set")]
    ZeroRate,
    /// A constant rate too low to give every runner a request per second.
    #[error("rate ({rate}/s) must be at least runners ({runners}) when there are no stages: every runner needs at least 1 request per second")]
    RateBelowRunners {
        /// Rate asked for.
        rate: u64,
        /// Runners asked for.
        runners: u32,
    },
    /// A stage with no length.
    #[error("stages[{0}]: duration must be greater than 0")]
    ZeroStage(usize),
    /// Too many stages.
    #[error("at most {MAX_STAGES} stages are supported, got {0}")]
    TooManyStages(usize),
    /// Too many templates.
    #[error("at most {MAX_TEMPLATES} templates are supported, got {0}")]
    TooManyTemplates(usize),
}

impl LoadPlan {
    /// Check every rule for one runner; the first broken one is reported.
    pub fn validate(&self) -> Result<(), PlanError> {
        self.check(1)
    }

    /// Check every rule for `runners` runners, split the plan, and check every
    /// share too: the shares to run, or the first broken rule. The operator's
    /// pending phase, `gcannon run` (parent and runner processes) and the
    /// agent all decide here; nothing is clamped.
    pub fn validate_for(&self, runners: u32) -> Result<Vec<LoadPlan>, PlanError> {
        self.check(runners)?;
        let shares = crate::split::split(self, runners);
        for share in &shares {
            share.check(1)?;
        }
        Ok(shares)
    }

    fn check(&self, runners: u32) -> Result<(), PlanError> {
        if self.target.trim().is_empty() && self.templates.is_empty() {
            return Err(PlanError::NoTarget);
        }
        if !(1..=MAX_RUNNERS).contains(&runners) {
            return Err(PlanError::Runners(runners));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return Err(PlanError::Connections(self.connections));
        }
        if self.threads < 1 {
            return Err(PlanError::NoThreads);
        }
        if self.threads > MAX_THREADS {
            return Err(PlanError::TooManyThreads(self.threads));
        }
        let connections = u64::from(self.connections);
        let threads = u64::from(runners) * u64::from(self.threads);
        if connections < threads {
            return Err(PlanError::FewerConnectionsThanThreads {
                connections: self.connections,
                needed: threads,
            });
        }
        if connections > MAX_CONNECTIONS_PER_THREAD * threads {
            let per_runner = connections.div_ceil(u64::from(runners));
            return Err(PlanError::TooManyConnectionsPerThread {
                connections: self.connections,
                runners,
                threads: self.threads,
                needed: per_runner.div_ceil(MAX_CONNECTIONS_PER_THREAD),
            });
        }
        if !(1..=MAX_PIPELINE).contains(&self.pipeline) {
            return Err(PlanError::Pipeline(self.pipeline));
        }
        if self.requests_per_connection == Some(0) {
            return Err(PlanError::ZeroRequestsPerConnection);
        }
        if self.duration.get().is_zero() {
            return Err(PlanError::ZeroDuration);
        }
        if self.timeout.get().is_zero() {
            return Err(PlanError::ZeroTimeout);
        }
        if !(MIN_RECV_BUF..=MAX_RECV_BUF).contains(&self.recv_buf) {
            return Err(PlanError::RecvBuf(self.recv_buf));
        }
        if !(100..=999).contains(&self.expected_status) {
            return Err(PlanError::ExpectedStatus(self.expected_status));
        }
        if self.rate == Some(0) {
            return Err(PlanError::ZeroRate);
        }
        if let Some(rate) = self.rate {
            if self.stages.is_empty() && rate < u64::from(runners) {
                return Err(PlanError::RateBelowRunners { rate, runners });
            }
        }
        if self.stages.len() > MAX_STAGES {
            return Err(PlanError::TooManyStages(self.stages.len()));
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
                PlanError::Connections(0),
            ),
            (LoadPlan { threads: 0, ..ok() }, PlanError::NoThreads),
            (
                LoadPlan {
                    connections: 2,
                    threads: 3,
                    ..ok()
                },
                PlanError::FewerConnectionsThanThreads {
                    connections: 2,
                    needed: 3,
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
                    runners: 1,
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
    #[test]
    fn runner_rules_hold_for_the_whole_plan_before_the_split() {
        let plan = LoadPlan {
            connections: 6,
            threads: 4,
            ..ok()
        };
        plan.validate_for(1).unwrap();
        // Two runners of four threads need eight connections: rejected, never clamped.
        assert_eq!(
            plan.validate_for(2).unwrap_err(),
            PlanError::FewerConnectionsThanThreads {
                connections: 6,
                needed: 8
            }
        );
        assert_eq!(plan.validate_for(0).unwrap_err(), PlanError::Runners(0));
        assert_eq!(
            plan.validate_for(MAX_RUNNERS + 1).unwrap_err(),
            PlanError::Runners(MAX_RUNNERS + 1)
        );
        let many = LoadPlan {
            connections: 40_000,
            threads: 1,
            ..ok()
        };
        assert!(matches!(
            many.validate_for(2),
            Err(PlanError::TooManyConnectionsPerThread { needed: 2, .. })
        ));
        let shares = many.validate_for(3).unwrap();
        assert_eq!(
            shares.iter().map(|s| s.connections).collect::<Vec<_>>(),
            vec![13_334, 13_333, 13_333]
        );
    }

    #[test]
    fn a_constant_rate_must_cover_every_runner_a_ramp_need_not() {
        let constant = LoadPlan {
            rate: Some(1),
            connections: 4,
            ..ok()
        };
        assert_eq!(
            constant.validate_for(2).unwrap_err(),
            PlanError::RateBelowRunners {
                rate: 1,
                runners: 2
            }
        );
        let ramp = LoadPlan {
            stages: vec![Stage {
                duration: HumanDuration(Duration::from_secs(1)),
                target: 10,
            }],
            ..constant
        };
        let shares = ramp.validate_for(2).unwrap();
        // The runner whose starting rate rounds to zero starts from zero.
        assert_eq!(
            shares.iter().map(|s| s.rate).collect::<Vec<_>>(),
            vec![Some(1), None]
        );
    }
}
