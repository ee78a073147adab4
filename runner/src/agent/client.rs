//! The agent's few API calls: read its LoadTest and ConfigMaps, apply its
//! RunnerResult's status, poll for `startAt`. Transient failures
//! (connection errors, 429, 5xx) are retried with exponential back-off.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use api::loadtest::{
    runner_result_name, ConfigMapKeyRef, LoadTest, Phase, RunnerResult, RunnerResultStatus,
    TemplateRef,
};
use api::plan::LoadPlan;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::config::AgentConfig;
use super::result::apply_body;
use super::AgentError;

/// How often and how patiently the agent talks to the API server.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Interval between reads while waiting for `startAt`.
    pub poll: Duration,
    /// Interval between progress applies while the engine runs.
    pub progress_every: Duration,
    /// First retry delay; doubled per attempt.
    pub retry_base: Duration,
    /// Attempts per call before giving up (at least 1).
    pub attempts: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            progress_every: Duration::from_secs(5),
            retry_base: Duration::from_millis(250),
            attempts: 5,
        }
    }
}

/// A runner's handle on its LoadTest.
pub struct Agent {
    cfg: AgentConfig,
    timing: Timing,
    loadtests: Api<LoadTest>,
    results: Api<RunnerResult>,
    configmaps: Api<ConfigMap>,
}

/// Whether retrying may help: the server or the network hiccuped, not the request.
/// An object too large for etcd comes back as a 500 but never succeeds on retry.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) if s.message.contains(TOO_LARGE) => false,
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// What kube-apiserver answers (as a 500) when etcd refuses an object over its size limit.
pub const TOO_LARGE: &str = "request is too large";

/// The server's words when it refused a write as too large (etcd's limit, as a
/// 500, or the request body limit, as a 413).
pub fn too_large(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) if s.code == 413 || s.message.contains(TOO_LARGE) => {
            Some(s.message.clone())
        }
        _ => None,
    }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Agent {
    /// An agent for `cfg`'s LoadTest through `client`.
    pub fn new(client: Client, cfg: AgentConfig, timing: Timing) -> Self {
        Self {
            loadtests: Api::namespaced(client.clone(), &cfg.namespace),
            results: Api::namespaced(client.clone(), &cfg.namespace),
            configmaps: Api::namespaced(client, &cfg.namespace),
            cfg,
            timing,
        }
    }

    /// This agent's settings.
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    /// This agent's timing.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = self.timing.retry_base;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if transient(&e) && attempt < self.timing.attempts.max(1) => {
                    eprintln!("gcannon agent: {what} failed (attempt {attempt}), retrying: {e}");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Read the LoadTest; a missing one is [`AgentError::Deleted`].
    pub async fn get_loadtest(&self) -> Result<LoadTest, AgentError> {
        let name = &self.cfg.loadtest;
        self.retry("reading the LoadTest", || self.loadtests.get(name))
            .await
            .map_err(|e| {
                if not_found(&e) {
                    AgentError::Deleted(name.clone())
                } else {
                    AgentError::kube(format!("reading LoadTest {name}"), e)
                }
            })
    }

    /// The whole test's plan, with ConfigMap templates read from the namespace and
    /// Secret templates from their mount.
    pub async fn resolve_plan(&self, lt: &LoadTest) -> Result<LoadPlan, AgentError> {
        let mut texts: BTreeMap<(String, String), Result<String, String>> = BTreeMap::new();
        for r in lt
            .spec
            .templates
            .iter()
            .filter_map(|t| t.config_map_ref.as_ref())
        {
            if let Entry::Vacant(slot) = texts.entry((r.name.clone(), r.key.clone())) {
                slot.insert(self.configmap_key(r).await?);
            }
        }
        lt.spec
            .plan(|r| match r {
                TemplateRef::ConfigMap(c) => texts
                    .get(&(c.name.clone(), c.key.clone()))
                    .cloned()
                    .unwrap_or_else(|| Err(format!("{r} was not read"))),
                // Mounted by the operator (job.rs): the kubelet reads the Secret, not us.
                TemplateRef::Secret(s) => std::fs::read_to_string(s.path())
                    .map_err(|e| format!("{r}: cannot read {}: {e}", s.path())),
            })
            .map_err(|e| AgentError::Plan(e.to_string()))
    }

    /// One ConfigMap key; the inner error explains a missing map or key.
    async fn configmap_key(
        &self,
        r: &ConfigMapKeyRef,
    ) -> Result<Result<String, String>, AgentError> {
        match self
            .retry("reading a ConfigMap", || self.configmaps.get(&r.name))
            .await
        {
            Ok(cm) => Ok(cm
                .data
                .and_then(|mut d| d.remove(&r.key))
                .ok_or_else(|| format!("ConfigMap {} has no key {:?}", r.name, r.key))),
            Err(e) if not_found(&e) => Ok(Err(format!(
                "ConfigMap {} not found in namespace {}",
                r.name, self.cfg.namespace
            ))),
            Err(e) => Err(AgentError::kube(format!("reading ConfigMap {}", r.name), e)),
        }
    }

    /// Server-side-apply this runner's RunnerResult status (the operator created the object).
    pub async fn apply(&self, status: &RunnerResultStatus) -> Result<(), AgentError> {
        let (lt, index) = (&self.cfg.loadtest, self.cfg.index);
        let name = runner_result_name(lt, index);
        let params = PatchParams::apply(&self.cfg.field_manager()).force();
        let body = Patch::Apply(apply_body(lt, index, status));
        self.retry("applying the result", || {
            self.results.patch_status(&name, &params, &body)
        })
        .await
        .map(drop)
        .map_err(|e| {
            if not_found(&e) {
                // The operator creates every result before the Job: gone means deleted.
                AgentError::Deleted(lt.clone())
            } else {
                AgentError::kube(format!("applying RunnerResult {name} of LoadTest {lt}"), e)
            }
        })
    }

    /// Apply a result with measurements; when the API server refuses it as
    /// too large, coarsen its timeline and apply again rather than lose it.
    /// Returns what was stored; [`AgentError::TooLarge`] when even one
    /// timeline point is refused.
    pub async fn apply_reducing(
        &self,
        mut status: RunnerResultStatus,
    ) -> Result<RunnerResultStatus, AgentError> {
        loop {
            let refused = match self.apply(&status).await {
                Ok(()) => return Ok(status),
                Err(AgentError::Kube { source, context }) => match too_large(&source) {
                    Some(why) => why,
                    None => return Err(AgentError::Kube { source, context }),
                },
                Err(other) => return Err(other),
            };
            if !status.reduce_after_refusal(&refused) {
                return Err(AgentError::TooLarge {
                    name: runner_result_name(&self.cfg.loadtest, self.cfg.index),
                    why: refused,
                });
            }
            eprintln!(
                "gcannon agent: {}",
                status.reduced.as_deref().unwrap_or_default()
            );
        }
    }

    /// Poll until the operator sets `status.startAt`; give up after the
    /// configured timeout, when the LoadTest is deleted or when it failed.
    pub async fn wait_for_start(&self) -> Result<Timestamp, AgentError> {
        let give_up = tokio::time::Instant::now() + self.cfg.start_timeout;
        loop {
            let lt = self.get_loadtest().await?;
            let status = lt.status.unwrap_or_default();
            if let Some(at) = status.start_at {
                return Ok(at.0);
            }
            if status.phase == Some(Phase::Failed) {
                return Err(AgentError::TestFailed(
                    status.message.unwrap_or_else(|| "no message".into()),
                ));
            }
            if tokio::time::Instant::now() + self.timing.poll > give_up {
                return Err(AgentError::StartTimeout(self.cfg.start_timeout));
            }
            tokio::time::sleep(self.timing.poll).await;
        }
    }
}
