//! The controller: `reconcile` dispatching on the phase, `error_policy`, `run`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::loadtest::{LoadTest, Phase};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::phases;
use crate::results;

/// Move one LoadTest one step along `Pending -> Starting -> Running -> Succeeded | Failed`.
pub async fn reconcile(lt: Arc<LoadTest>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.start();
    if lt.namespace().is_none() {
        return Err(Error::MissingField("metadata.namespace"));
    }
    let status = lt.status.clone().unwrap_or_default();
    tracing::debug!(name = %lt.name_any(), phase = ?status.phase, "reconcile");
    let result = match status.phase {
        None | Some(Phase::Pending) => phases::pending::reconcile(&ctx, &lt).await,
        // A restart can find Starting with startAt already set: the runners are running.
        Some(Phase::Starting) if status.start_at.is_none() => {
            phases::starting::reconcile(&ctx, &lt).await
        }
        Some(Phase::Starting) | Some(Phase::Running) => phases::running::reconcile(&ctx, &lt).await,
        Some(Phase::Succeeded) | Some(Phase::Failed) => {
            return phases::finished::reconcile(&ctx, &lt).await
        }
    };
    // A write the API server refuses for its size never succeeds on a retry:
    // end the test saying so instead of requeueing forever.
    match result {
        Err(e) => match phases::finished::too_large(&e) {
            Some(why) => {
                let message = format!(
                    "the API server refused a write of this test as too large ({why}); \
                     each runner's result stays in its RunnerResult"
                );
                phases::fail(&ctx, &lt, "ObjectTooLarge", message).await?;
                Ok(Action::await_change())
            }
            None => Err(e),
        },
        ok => ok,
    }
}

/// Retry failed reconciles after a short back-off.
pub fn error_policy(lt: Arc<LoadTest>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(name = %lt.name_any(), %error, "reconcile failed");
    ctx.metrics.failure(error);
    Action::requeue(Duration::from_secs(5))
}

/// Run the controller until a shutdown signal; `ready` flips once it watches.
/// With `GC_WATCH_NAMESPACES`, one controller per namespace, each watching
/// LoadTests and Jobs there only (the chart then binds RBAC there only).
pub async fn run(ctx: Arc<Context>, ready: Arc<AtomicBool>) {
    let c = &ctx.client;
    let scopes: Vec<(Api<LoadTest>, Api<Job>)> = if ctx.config.watch_namespaces.is_empty() {
        vec![(Api::all(c.clone()), Api::all(c.clone()))]
    } else {
        ctx.config
            .watch_namespaces
            .iter()
            .map(|ns| {
                (
                    Api::namespaced(c.clone(), ns),
                    Api::namespaced(c.clone(), ns),
                )
            })
            .collect()
    };
    for (lts, _) in &scopes {
        if let Err(e) = lts.list(&kube::api::ListParams::default().limit(1)).await {
            tracing::error!(error = %e, "LoadTest CRD not queryable; is it installed (kubectl apply -f crds/loadtest.yaml), and may the operator list LoadTests where it watches?");
            std::process::exit(1);
        }
    }
    // A standby replica is healthy and ready; it only does not reconcile.
    ready.store(true, Ordering::Relaxed);
    if let Some(lease) = ctx.config.leader_election.clone() {
        crate::leader::acquire_and_keep(ctx.client.clone(), lease).await;
    }
    // RunnerResults where the operator watches LoadTests: one merged stream.
    let namespaces = ctx.config.watch_namespaces.clone();
    let (client, results) = (ctx.client.clone(), ctx.results.clone());
    tokio::spawn(async move { results::watch(client, &namespaces, results).await });
    let controllers = scopes.into_iter().map(|(lts, jobs)| {
        let controller = Controller::new(lts, watcher::Config::default().any_semantic())
            .owns(jobs, watcher::Config::default());
        ctx.metrics.loadtests.watch(controller.store());
        controller
            .shutdown_on_signal()
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "reconcile result");
                }
            })
    });
    futures::future::join_all(controllers).await;
}
