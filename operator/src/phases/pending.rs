//! Pending: check what the schema cannot, then create (or adopt) the runners' Job.

use std::fmt::Debug;

use api::loadtest::baseline::MissingBaseline;
use api::loadtest::{LoadTest, LoadTestSpec, LoadTestStatus, Phase, RunnerResult};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{condition, conditions, event, fail, fail_with, patch_status, POLL};
use crate::context::Context;
use crate::error::Result;
use crate::job::{build_job, job_name};
use crate::{rbac, results};
use futures::{stream, StreamExt};

/// Every rule of the spec, as `gcannon run` and the agent check it
/// ([`api::plan::LoadPlan::validate_for`]), and the thresholds; a test with
/// any problem never starts.
pub fn validate(spec: &LoadTestSpec) -> Result<(), String> {
    for th in spec.thresholds().map_err(|e| e.to_string())? {
        if th.is_relative() && spec.baseline.is_none() {
            return Err(format!(
                "thresholds: \"{th}\" compares with a baseline run; name one in spec.baseline \
                 (a LoadTest, or a series label)"
            ));
        }
        if let Some(why) = api::loadtest::baseline::unsupported(&th) {
            return Err(format!("thresholds: {why}"));
        }
    }
    // ConfigMap and Secret templates are checked for existence separately, and
    // their text by the runners.
    spec.plan(|_| Ok(String::new()))
        .map_err(|e| e.to_string())?
        .validate_for(spec.runners)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Find `spec.baseline` before any load: its name and the `Baseline` condition
/// to record, or (`onMissing: Fail`) why the test fails.
async fn pin_baseline(
    ctx: &Context,
    lt: &LoadTest,
) -> Result<Result<(Option<String>, Option<Condition>), String>> {
    let Some(r) = &lt.spec.baseline else {
        return Ok(Ok((None, None)));
    };
    let gen = lt.meta().generation;
    Ok(match crate::baseline::resolve(ctx, lt, r).await? {
        Ok(name) => {
            let msg = format!("relative thresholds compare with LoadTest {name}");
            Ok((
                Some(name),
                Some(condition(conditions::BASELINE, true, "Found", &msg, gen)),
            ))
        }
        Err(why) => match r.on_missing {
            MissingBaseline::Fail => Err(format!("{why} (spec.baseline.onMissing: Fail)")),
            MissingBaseline::Warn => {
                let msg = format!("{why}; relative thresholds are not judged (onMissing: Warn)");
                event(ctx, lt, true, "BaselineMissing", msg.clone()).await;
                let missing = condition(conditions::BASELINE, false, "BaselineMissing", &msg, gen);
                Ok((None, Some(missing)))
            }
        },
    })
}

/// Validate, then create the Job, or adopt the one a previous operator run created.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    if let Err(msg) = validate(&lt.spec) {
        fail(ctx, lt, "InvalidSpec", format!("invalid spec: {msg}")).await?;
        return Ok(Action::await_change());
    }
    let broken = crate::policy::check(&lt.spec, &ctx.config.policy, &ctx.config.runner_image);
    if let Some(first) = broken.first() {
        let all: Vec<String> = broken.iter().map(ToString::to_string).collect();
        let msg = format!("rejected by the admin policy: {}", all.join("; "));
        let gen = lt.meta().generation;
        let rejected = condition(conditions::REJECTED, true, first.rule.reason(), &msg, gen);
        fail_with(ctx, lt, "Rejected", msg, vec![rejected]).await?;
        return Ok(Action::await_change());
    }
    let ns = lt.namespace().unwrap_or_default();
    if let Err(msg) = check_config_maps(ctx, lt, &ns).await? {
        fail(ctx, lt, "InvalidSpec", format!("invalid spec: {msg}")).await?;
        return Ok(Action::await_change());
    }
    let (baseline, baseline_cond) = match pin_baseline(ctx, lt).await? {
        Ok(pinned) => pinned,
        Err(msg) => {
            fail(ctx, lt, "BaselineMissing", msg).await?;
            return Ok(Action::await_change());
        }
    };
    if let Err(msg) = ensure_runner_rbac(ctx, lt, &ns).await? {
        fail(ctx, lt, "RunnerRBACFailed", msg).await?;
        return Ok(Action::await_change());
    }
    if let Err(msg) = ensure_runner_results(ctx, lt, &ns).await? {
        fail(ctx, lt, "RunnerResultsFailed", msg).await?;
        return Ok(Action::await_change());
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let name = job_name(lt);
    let (reason, note) = match jobs.get_opt(&name).await? {
        Some(existing) if owned_by(&existing, lt) => {
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
        &LoadTestStatus {
            phase: Some(Phase::Starting),
            job_name: Some(name),
            observed_generation: lt.meta().generation,
            message: Some(format!(
                "waiting for {} runner pod(s) to be ready",
                lt.spec.runners
            )),
            baseline,
            conditions: super::merge_conditions(
                &lt.status
                    .as_ref()
                    .map(|s| s.conditions.clone())
                    .unwrap_or_default(),
                [super::starting::waiting_condition(lt)]
                    .into_iter()
                    .chain(baseline_cond)
                    .collect(),
            ),
            ..Default::default()
        },
    )
    .await?;
    event(ctx, lt, false, reason, note).await;
    Ok(Action::requeue(POLL))
}

/// True when `lt` (this very object, by uid) owns `obj`.
fn owned_by(obj: &impl Resource, lt: &LoadTest) -> bool {
    obj.owner_references()
        .iter()
        .any(|o| Some(&o.uid) == lt.meta().uid.as_ref())
}

/// Create the ServiceAccount, Role and RoleBinding of this LoadTest's runners
/// (`rbac.rs`), or keep ours from an earlier pass. `Ok(Err(msg))` when one of
/// them belongs to someone else or the API refuses it (RBAC, admission).
async fn ensure_runner_rbac(ctx: &Context, lt: &LoadTest, ns: &str) -> Result<Result<(), String>> {
    let c = &ctx.client;
    let sa = Api::<ServiceAccount>::namespaced(c.clone(), ns);
    if let Err(msg) = create_owned(sa, rbac::service_account(lt)?, lt).await? {
        return Ok(Err(msg));
    }
    let role = Api::<Role>::namespaced(c.clone(), ns);
    if let Err(msg) = create_owned(role, rbac::role(lt)?, lt).await? {
        return Ok(Err(msg));
    }
    let binding = Api::<RoleBinding>::namespaced(c.clone(), ns);
    create_owned(binding, rbac::role_binding(lt)?, lt).await
}

/// Requests in flight while creating the runners' result objects.
const CREATE_CONCURRENCY: usize = 8;

/// Create every runner's empty RunnerResult (`results.rs`) before the Job, so
/// each runner finds its own to write; keep ours from an earlier pass.
async fn ensure_runner_results(
    ctx: &Context,
    lt: &LoadTest,
    ns: &str,
) -> Result<Result<(), String>> {
    let api = Api::<RunnerResult>::namespaced(ctx.client.clone(), ns);
    let objects = (0..lt.spec.runners)
        .map(|i| results::runner_result(lt, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut created = stream::iter(objects)
        .map(|rr| create_owned(api.clone(), rr, lt))
        .buffered(CREATE_CONCURRENCY);
    while let Some(one) = created.next().await {
        if let Err(msg) = one? {
            return Ok(Err(msg));
        }
    }
    Ok(Ok(()))
}

/// Create `obj`; when it already exists, accept it only if `lt` owns it.
async fn create_owned<K>(api: Api<K>, obj: K, lt: &LoadTest) -> Result<Result<(), String>>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let (kind, name) = (K::kind(&()), obj.name_any());
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(Ok(())),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            if owned_by(&api.get(&name).await?, lt) {
                Ok(Ok(()))
            } else {
                Ok(Err(format!(
                    "{kind} {name} already exists and is not owned by this LoadTest; delete it or rename the LoadTest"
                )))
            }
        }
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => Ok(Err(format!(
            "cannot create the runners' {kind} {name}: {}",
            e.message
        ))),
        Err(e) => Err(e.into()),
    }
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
    fn relative_thresholds_need_a_baseline_that_keeps_their_metric() {
        let e = validate(&spec(
            "target: http://t/\nthresholds: ['p99 < baseline * 1.1']\n",
        ))
        .unwrap_err();
        assert!(e.contains("name one in spec.baseline"), "{e}");
        let named = "target: http://t/\nbaseline: {name: v41}\nthresholds: ";
        assert_eq!(
            validate(&spec(&format!(
                "{named}['p99 < baseline * 1.1', 'rps >= baseline * 0.9']\n"
            ))),
            Ok(())
        );
        let e = validate(&spec(&format!("{named}['reconnects <= baseline']\n"))).unwrap_err();
        assert!(e.contains("does not keep reconnects"), "{e}");
    }

    #[test]
    fn cross_field_rules_hold_even_without_cel() {
        let e = validate(&spec(
            "target: http://t/\nconnections: 3\nrunners: 2\nthreads: 2\n",
        ))
        .unwrap_err();
        assert!(e.contains("runners x threads (4)"), "{e}");
        assert_eq!(
            validate(&spec("connections: 3\n")).unwrap_err(),
            api::plan::rule::TARGET
        );
        let e = validate(&spec(
            "target: http://t/\nrate: 1\nrunners: 2\nconnections: 4\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("every runner needs at least 1 request per second"),
            "{e}"
        );
        // A ramp may start below one request per runner: that runner starts at 0.
        validate(&spec(
            "target: http://t/\nrate: 1\nrunners: 2\nconnections: 4\nstages: [{duration: 1s, target: 10}]\n",
        ))
        .unwrap();
        assert_eq!(
            validate(&spec("target: http://t/\nduration: 0s\n")).unwrap_err(),
            api::plan::rule::DURATION
        );
        // What the operator used to leave to a failing pod.
        let e = validate(&spec("target: http://t/\nconnections: 40000\nthreads: 2\n")).unwrap_err();
        assert!(e.contains("need at least 3 threads per runner"), "{e}");
    }
}
