//! Pending: check what the schema cannot, then create (or adopt) the runners' Job.

use std::time::Duration;

use api::loadtest::{LoadTest, LoadTestSpec, Phase};
use api::threshold::Threshold;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{event, fail, patch_status};
use crate::controller::Context;
use crate::error::Result;
use crate::job::{build_job, job_name};

/// How often a starting test is looked at again.
pub const POLL: Duration = Duration::from_secs(2);

/// Problems the CRD schema cannot catch; a test with any of them never starts.
pub fn validate(spec: &LoadTestSpec) -> Result<(), String> {
    for t in &spec.thresholds {
        Threshold::parse(t).map_err(|e| format!("thresholds: {e}"))?;
    }
    let needed = u64::from(spec.runners) * u64::from(spec.threads);
    if u64::from(spec.connections) < needed {
        return Err(format!(
            "connections ({}) must be at least runners x threads ({needed})",
            spec.connections
        ));
    }
    if spec.target.is_empty() && spec.templates.is_empty() {
        return Err("set target, or at least one template carrying a Host header".into());
    }
    if spec.duration.get().is_zero() {
        return Err("duration must be greater than zero".into());
    }
    if let Some(rate) = spec.rate {
        if rate < u64::from(spec.runners) {
            return Err(format!(
                "rate ({rate}/s) must give every one of the {} runners at least 1/s",
                spec.runners
            ));
        }
    }
    spec.plan(|_| Ok(String::new()))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Validate, then create the Job, or adopt the one a previous operator run created.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    if let Err(msg) = validate(&lt.spec) {
        fail(ctx, lt, "InvalidSpec", format!("invalid spec: {msg}")).await?;
        return Ok(Action::await_change());
    }
    let ns = lt.namespace().unwrap_or_default();
    if let Err(msg) = check_config_maps(ctx, lt, &ns).await? {
        fail(ctx, lt, "InvalidSpec", format!("invalid spec: {msg}")).await?;
        return Ok(Action::await_change());
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let name = job_name(lt);
    let uid = lt.meta().uid.clone();
    let (reason, note) = match jobs.get_opt(&name).await? {
        Some(existing)
            if existing
                .owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref()) =>
        {
            ("JobAdopted", format!("adopted existing Job {name}"))
        }
        Some(_) => {
            let msg = format!("Job {name} already exists and is not owned by this LoadTest; delete it or rename the LoadTest");
            // No jobName in status yet, so cleanup leaves that foreign Job alone.
            fail(ctx, lt, "JobConflict", msg).await?;
            return Ok(Action::await_change());
        }
        None => match jobs
            .create(&PostParams::default(), &build_job(lt, &ctx.config)?)
            .await
        {
            Ok(_) => (
                "JobCreated",
                format!("created Job {name} with {} runner(s)", lt.spec.runners),
            ),
            // Created meanwhile (another replica, an earlier attempt): the next pass
            // adopts it or rejects it by owner.
            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(Action::requeue(POLL)),
            Err(e) => return Err(e.into()),
        },
    };
    patch_status(
        ctx,
        lt,
        json!({
            "phase": Phase::Starting,
            "jobName": name,
            "observedGeneration": lt.meta().generation,
            "message": format!("waiting for {} runner pod(s) to be ready", lt.spec.runners),
        }),
    )
    .await?;
    event(ctx, lt, false, reason, note).await;
    Ok(Action::requeue(POLL))
}

/// `Ok(Err(msg))` when a referenced ConfigMap or key is missing.
async fn check_config_maps(ctx: &Context, lt: &LoadTest, ns: &str) -> Result<Result<(), String>> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    for (i, t) in lt.spec.templates.iter().enumerate() {
        let Some(r) = &t.config_map_ref else { continue };
        let Some(cm) = cms.get_opt(&r.name).await? else {
            return Ok(Err(format!(
                "template {i}: ConfigMap {} not found in namespace {ns}",
                r.name
            )));
        };
        if !cm.data.as_ref().is_some_and(|d| d.contains_key(&r.key)) {
            return Ok(Err(format!(
                "template {i}: ConfigMap {} has no key {:?}",
                r.name, r.key
            )));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> LoadTestSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn valid_spec_passes() {
        assert_eq!(
            validate(&spec("target: http://t/\nthresholds: ['p99 < 5ms']\n")),
            Ok(())
        );
    }

    #[test]
    fn malformed_threshold_is_reported_with_position() {
        let e = validate(&spec("target: http://t/\nthresholds: ['p99 <']\n")).unwrap_err();
        assert!(e.starts_with("thresholds: at "), "{e}");
    }

    #[test]
    fn cross_field_rules_hold_even_without_cel() {
        let e = validate(&spec(
            "target: http://t/\nconnections: 3\nrunners: 2\nthreads: 2\n",
        ))
        .unwrap_err();
        assert!(e.contains("runners x threads (4)"), "{e}");
        assert!(validate(&spec("connections: 3\n"))
            .unwrap_err()
            .contains("set target"));
        assert!(validate(&spec(
            "target: http://t/\nrate: 1\nrunners: 2\nconnections: 4\n"
        ))
        .is_err());
        assert!(validate(&spec("target: http://t/\nduration: 0s\n")).is_err());
    }
}
