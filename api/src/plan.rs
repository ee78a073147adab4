//! The load plan: everything one run of the engine needs, as the CLI, a
//! `gcannon run` manifest and a `LoadTest` spec all express it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

mod tls;
mod validate;

pub use tls::{TlsField, TlsOrigin, TlsPlan};

pub use validate::{
    rule, PlanError, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_THREAD, MAX_PIPELINE, MAX_RECV_BUF,
    MAX_RUNNERS, MAX_STAGES, MAX_TEMPLATES, MAX_THREADS, MIN_RECV_BUF,
};

/// What to send, how hard, and for how long. Field names are the manifest's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadPlan {
    /// `http://host:port/path`; may be empty when every template carries `Host`.
    pub target: String,
    /// Total TCP connections, split evenly over threads (and runners).
    pub connections: u32,
    /// Worker threads, one io_uring each (per runner).
    pub threads: u32,
    /// Requests (or WebSocket frames) in flight per connection.
    pub pipeline: u32,
    /// Close and reconnect after this many responses; `None` keeps connections open.
    pub requests_per_connection: Option<u64>,
    /// How long the measured part of the run lasts.
    pub duration: HumanDuration,
    /// Excluded from the results, before the measured part.
    pub warmup: HumanDuration,
    /// Status code counted as success.
    pub expected_status: u16,
    /// Receive buffer size in bytes.
    pub recv_buf: u32,
    /// Raw request templates; connections rotate through them on reconnect.
    pub templates: Vec<RequestTemplate>,
    /// WebSocket echo mode when set.
    pub websocket: Option<WebSocketPlan>,
    /// Open model: total requests per second (constant), when set.
    pub rate: Option<u64>,
    /// Open model: ramping stages of target rate; overrides `rate` when non-empty.
    pub stages: Vec<Stage>,
    /// A request with no response for this long counts as a timeout.
    pub timeout: HumanDuration,
    /// Take latency when the completion arrives rather than after parsing.
    pub cqe_latency: bool,
    /// Keep one latency histogram per template.
    pub per_template_latency: bool,
    /// TLS settings, used when the target is `https://` or `wss://`.
    pub tls: TlsPlan,
}

/// One raw HTTP/1.1 request as given by the user, before validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestTemplate {
    /// Where it came from (file name or `inline[0]`), for error messages.
    pub name: String,
    /// The request text: request line, headers, blank line, body.
    pub text: String,
}

/// WebSocket echo settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketPlan {
    /// Text payload of every frame.
    pub message: String,
}

/// One ramp stage: move linearly to `target` req/s over `duration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// How long this stage lasts.
    pub duration: HumanDuration,
    /// Rate reached at the end of the stage, requests per second.
    pub target: u64,
}

/// How long the measured part of a run lasts: the sum of the stages when
/// ramping, else `duration`. The engine, the reports and the operator's
/// deadline all take the run's length from here.
pub fn measured_duration(duration: HumanDuration, stages: &[Stage]) -> Duration {
    if stages.is_empty() {
        duration.get()
    } else {
        stages.iter().map(|s| s.duration.get()).sum()
    }
}

/// Warm-up plus the measured part: how long the engine sends load.
pub fn run_length(warmup: HumanDuration, duration: HumanDuration, stages: &[Stage]) -> Duration {
    warmup
        .get()
        .saturating_add(measured_duration(duration, stages))
}

/// How long a request may wait for its response unless the plan says otherwise.
pub const DEFAULT_TIMEOUT: HumanDuration = HumanDuration(Duration::from_secs(2));

/// What a connection speaks: the original tool's `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 requests.
    Http,
    /// WebSocket echo frames after an upgrade.
    WebSocket,
}

impl Protocol {
    /// `"http"` or `"ws"`, the original's `mode` values.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::WebSocket => "ws",
        }
    }
}

/// How the sending is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateMode {
    /// Closed model: every connection sends as fast as responses come back.
    Closed,
    /// Open model at a constant total rate, requests per second.
    Constant(u64),
    /// Open model ramping through `stages`, starting from `rate` (or 0).
    Ramp,
}

impl RateMode {
    /// Open model (constant or ramping): requests are sent on a schedule.
    pub fn is_open(self) -> bool {
        self != Self::Closed
    }
}

impl LoadPlan {
    /// What the connections speak.
    pub fn protocol(&self) -> Protocol {
        if self.websocket.is_some() {
            Protocol::WebSocket
        } else {
            Protocol::Http
        }
    }

    /// How sending is paced: stages win over `rate`, which wins over the closed model.
    pub fn rate_mode(&self) -> RateMode {
        match (self.stages.is_empty(), self.rate) {
            (false, _) => RateMode::Ramp,
            (true, Some(r)) => RateMode::Constant(r),
            (true, None) => RateMode::Closed,
        }
    }

    /// The measured part's length (see [`measured_duration`]).
    pub fn measured_duration(&self) -> Duration {
        measured_duration(self.duration, &self.stages)
    }

    /// Warm-up plus the measured part (see [`run_length`]).
    pub fn run_length(&self) -> Duration {
        run_length(self.warmup, self.duration, &self.stages)
    }
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            target: String::new(),
            connections: 100,
            threads: 1,
            pipeline: 1,
            requests_per_connection: None,
            duration: HumanDuration(std::time::Duration::from_secs(10)),
            warmup: HumanDuration(std::time::Duration::from_millis(100)),
            expected_status: 200,
            recv_buf: 4096,
            templates: Vec::new(),
            websocket: None,
            rate: None,
            stages: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            cqe_latency: false,
            per_template_latency: false,
            tls: TlsPlan::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    #[test]
    fn stages_replace_duration_and_warmup_adds_to_the_run() {
        let plan = LoadPlan {
            duration: secs(10),
            warmup: secs(2),
            ..LoadPlan::default()
        };
        assert_eq!(plan.measured_duration(), Duration::from_secs(10));
        assert_eq!(plan.run_length(), Duration::from_secs(12));
        let ramp = LoadPlan {
            stages: vec![
                Stage {
                    duration: secs(3),
                    target: 10,
                },
                Stage {
                    duration: secs(4),
                    target: 0,
                },
            ],
            ..plan
        };
        assert_eq!(ramp.measured_duration(), Duration::from_secs(7));
        assert_eq!(ramp.run_length(), Duration::from_secs(9));
    }

    #[test]
    fn stages_win_over_rate_and_websocket_sets_the_protocol() {
        let mut p = LoadPlan::default();
        assert_eq!(
            (p.rate_mode(), p.protocol()),
            (RateMode::Closed, Protocol::Http)
        );
        assert!(!p.rate_mode().is_open());
        p.rate = Some(50);
        assert_eq!(p.rate_mode(), RateMode::Constant(50));
        p.stages.push(Stage {
            duration: secs(1),
            target: 5,
        });
        assert_eq!(p.rate_mode(), RateMode::Ramp);
        assert!(p.rate_mode().is_open());
        p.websocket = Some(WebSocketPlan {
            message: "hi".into(),
        });
        assert_eq!(p.protocol().as_str(), "ws");
    }
}
