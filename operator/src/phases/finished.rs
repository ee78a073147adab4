//! Finished: judge the merged results, report, clean up; and afterwards,
//! report (never act on) spec changes.

use api::loadtest::baseline::MissingBaseline;
use api::loadtest::{
    LoadTest, LoadTestStatus, MergedSummary, Phase, Shard, ThresholdResult, Verdict,
};
use api::report::timeline::MAX_POINTS;
use api::report::{encode_histogram, Report, Summary as ReportSummary, Timeline};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::{condition, conditions, event, fail, merge_conditions, patch_status};
use crate::context::Context;
use crate::error::Result;

/// The status fields written once every runner is done: from the exact merge
/// of their reports, their merged timeline (bounded to `MAX_POINTS`) and
/// their compact entries. `baseline` is what relative thresholds compare with
/// (see [`load_baseline`]).
pub fn outcome(
    lt: &LoadTest,
    merged: &Report,
    timeline: &Timeline,
    shards: &[Shard],
    baseline: &Result<ReportSummary, String>,
) -> LoadTestStatus {
    let summary = ReportSummary::from_report(merged);
    let warn_only = lt
        .spec
        .baseline
        .as_ref()
        .is_some_and(|b| b.on_missing == MissingBaseline::Warn);
    // Thresholds were validated before the Job was created; a bad one now fails the verdict.
    let results: Vec<ThresholdResult> = lt
        .spec
        .thresholds
        .iter()
        .map(|t| match t.threshold() {
            Ok(th) if th.is_relative() => match baseline {
                Ok(b) => {
                    let v = th.evaluate(&summary, Some(b));
                    let measured = match (&v.baseline, &v.change) {
                        (Some(b), Some(change)) => {
                            format!("{}, baseline {b}, {change}", v.measured)
                        }
                        _ => v.measured,
                    };
                    ThresholdResult {
                        expr: t.to_string(),
                        measured: Some(measured),
                        passed: v.passed,
                    }
                }
                // Not judged: a pass only when the LoadTest said a missing baseline may pass.
                Err(why) => ThresholdResult {
                    expr: t.to_string(),
                    measured: Some(format!("not judged: {why}")),
                    passed: warn_only,
                },
            },
            Ok(th) => {
                let v = th.evaluate(&summary, None);
                ThresholdResult {
                    expr: t.to_string(),
                    measured: Some(v.measured),
                    passed: v.passed,
                }
            }
            Err(e) => ThresholdResult {
                expr: t.to_string(),
                measured: Some(e.to_string()),
                passed: false,
            },
        })
        .collect();
    let passed = results.iter().all(|r| r.passed);
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.expr.as_str())
        .collect();
    let status_summary = MergedSummary::from_summary(&summary, encode_histogram(&merged.latency));
    let message = if passed {
        format!(
            "completed: {:.0} req/s, p99 {}; all thresholds passed",
            status_summary.rps, status_summary.latency.p99_text
        )
    } else {
        format!(
            "completed: {:.0} req/s, p99 {}; failed thresholds: {}",
            status_summary.rps,
            status_summary.latency.p99_text,
            failed.join(", ")
        )
    };
    let gen = lt.meta().generation;
    let existing = lt
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let th_reason = if passed {
        "ThresholdsPassed"
    } else {
        "ThresholdsFailed"
    };
    let conds = merge_conditions(
        &existing,
        vec![
            condition(conditions::COMPLETE, true, "Completed", &message, gen),
            condition(conditions::FAILED, false, "Completed", &message, gen),
            condition(
                conditions::THRESHOLDS_PASSED,
                passed,
                th_reason,
                &message,
                gen,
            ),
        ],
    );
    LoadTestStatus {
        phase: Some(Phase::Succeeded),
        summary: Some(status_summary),
        timeline: Some(timeline.clone().bounded(MAX_POINTS)),
        shards: shards.to_vec(),
        verdict: Some(if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        }),
        threshold_results: results,
        conditions: conds,
        message: Some(message),
        // The generation the Job ran with; a later spec change stays visible.
        observed_generation: ran_generation(lt),
        ..Default::default()
    }
}

/// The generation the runners were started with (the current one before the Job exists).
pub fn ran_generation(lt: &LoadTest) -> Option<i64> {
    lt.status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .or(lt.meta().generation)
}

/// Judge the merged result, write it, emit events and clean up.
pub async fn finish(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    let (merged, timeline, shards, bad) = ctx.results.with(lt, |acc| {
        (
            acc.report.clone(),
            acc.timeline.clone(),
            acc.shard_list(),
            acc.bad.clone(),
        )
    });
    if !bad.is_empty() {
        let msg = format!("could not merge runner reports: {}", bad.join("; "));
        fail(ctx, lt, "BadReport", msg).await?;
        return Ok(Action::await_change());
    }
    let baseline = load_baseline(ctx, lt).await?;
    let status = outcome(lt, &merged, &timeline, &shards, &baseline);
    let message = status.message.clone().unwrap_or_default();
    let passed = status.verdict == Some(Verdict::Passed);
    if let Err(e) = patch_status(ctx, lt, &status).await {
        // Retrying cannot make the result fit: say so instead of requeueing in Running forever.
        let Some(why) = too_large(&e) else {
            return Err(e);
        };
        let summary = ReportSummary::from_report(&merged);
        let msg = format!(
            "the result could not be stored: the API server rejected the final status as too large ({why}); \
             measured {:.0} req/s over {} runner(s), p99 {}; each runner's full result stays in its RunnerResult",
            summary.rps,
            lt.spec.runners,
            api::report::format_latency_us(summary.latency.p99 as f64),
        );
        fail(ctx, lt, "StatusTooLarge", msg).await?;
        return Ok(Action::await_change());
    }
    ctx.results.forget(lt);
    event(
        ctx,
        lt,
        !passed,
        if passed { "Passed" } else { "ThresholdsFailed" },
        message,
    )
    .await;
    cleanup(ctx, lt).await?;
    Ok(Action::await_change())
}

/// The merged result of the baseline pinned before the Job (`status.baseline`),
/// or why there is none to compare with.
pub async fn load_baseline(ctx: &Context, lt: &LoadTest) -> Result<Result<ReportSummary, String>> {
    let Some(name) = lt.status.as_ref().and_then(|s| s.baseline.clone()) else {
        return Ok(Err("no baseline was found before the test".into()));
    };
    let api: Api<LoadTest> =
        Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let Some(base) = api.get_opt(&name).await? else {
        return Ok(Err(format!(
            "baseline LoadTest {name} was deleted during the test"
        )));
    };
    Ok(base
        .status
        .and_then(|s| s.summary)
        .ok_or_else(|| format!("baseline LoadTest {name} keeps no merged result"))
        .and_then(|s| {
            api::loadtest::baseline::summary_of(&s)
                .map_err(|e| format!("baseline LoadTest {name}: {e}"))
        }))
}

/// The API server's reason when it refused a write for its size: a body over
/// its request limit (413) or an object over etcd's (a 500 saying so).
pub fn too_large(e: &crate::error::Error) -> Option<String> {
    match e {
        crate::error::Error::Kube(kube::Error::Api(s))
            if s.code == 413 || s.message.contains("request is too large") =>
        {
            Some(s.message.clone())
        }
        _ => None,
    }
}

/// Delete the Job and its pods when the policy says so; status stays.
pub async fn cleanup(ctx: &Context, lt: &LoadTest) -> Result<()> {
    let Some(job) = lt.status.as_ref().and_then(|s| s.job_name.clone()) else {
        return Ok(());
    };
    if lt.spec.cleanup == api::loadtest::CleanupPolicy::Keep {
        return Ok(());
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match jobs.delete(&job, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The message a finished test shows when its spec changed afterwards.
pub fn spec_changed_message(name: &str) -> String {
    format!(
        "spec changed after the test finished; a finished LoadTest never runs again. To re-run: kubectl delete loadtest {name} && kubectl apply -f <manifest>"
    )
}

/// A finished test never runs again; a later spec change is reported once.
pub async fn reconcile(ctx: &Context, lt: &LoadTest) -> Result<Action> {
    // Results seen again after a restart or a relist are not accumulated for a finished test.
    ctx.results.forget(lt);
    let status = lt.status.clone().unwrap_or_default();
    let gen = lt.meta().generation;
    let already = status
        .conditions
        .iter()
        .any(|c| c.type_ == conditions::SPEC_CHANGED && c.observed_generation == gen);
    if gen.is_some()
        && status.observed_generation.is_some()
        && gen > status.observed_generation
        && !already
    {
        let msg = spec_changed_message(&lt.name_any());
        let conds = merge_conditions(
            &status.conditions,
            vec![condition(
                conditions::SPEC_CHANGED,
                true,
                "SpecChangedAfterFinish",
                &msg,
                gen,
            )],
        );
        let patch = LoadTestStatus {
            conditions: conds,
            message: Some(msg.clone()),
            ..Default::default()
        };
        patch_status(ctx, lt, &patch).await?;
        event(ctx, lt, true, "SpecChangedAfterFinish", msg).await;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use api::loadtest::{LoadTestSpec, LoadTestStatus};
    use api::report::new_histogram;

    use crate::results::Accumulator;

    use super::*;

    fn merged(parts: &[(&[u64], u64)]) -> Accumulator {
        let lt = crate::job::tests::sample("target: http://t/\nrunners: 2\nconnections: 2\n");
        let mut acc = Accumulator::default();
        for (index, (lat, responses)) in parts.iter().enumerate() {
            let mut r = Report {
                elapsed_sec: 1.0,
                latency: new_histogram(),
                ..Report::default()
            };
            for v in *lat {
                r.latency.record(*v).unwrap();
            }
            r.counts.responses = *responses;
            r.counts.status.s2xx = *responses;
            r.timeline = vec![
                api::report::Second {
                    responses: *responses,
                    p99_us: 1
                };
                2
            ];
            let mut rr = crate::results::runner_result(&lt, index as u32).unwrap();
            rr.status = Some(api::loadtest::RunnerResultStatus {
                phase: api::loadtest::ShardPhase::Done,
                report: Some(r.to_wire()),
                ..Default::default()
            });
            acc.observe(&rr);
        }
        acc
    }

    #[test]
    fn merge_equals_recording_everything_in_one_histogram() {
        let acc = merged(&[(&[100, 200], 2), (&[300, 5000], 2)]);
        assert_eq!(acc.report.counts.responses, 4);
        assert_eq!(acc.report.latency.len(), 4);
        assert_eq!(
            acc.report.latency.max(),
            acc.report.latency.highest_equivalent(5000)
        );
        assert_eq!(acc.timeline.responses, [4, 4]);
    }

    #[test]
    fn only_size_rejections_count_as_too_large() {
        let api = |code: u16, message: &str| {
            crate::error::Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: message.into(),
                ..kube::core::Status::default()
            })))
        };
        let etcd = api(500, "etcdserver: request is too large");
        assert_eq!(
            too_large(&etcd).as_deref(),
            Some("etcdserver: request is too large")
        );
        assert!(too_large(&api(413, "Request entity too large: limit is 3145728")).is_some());
        assert_eq!(too_large(&api(500, "etcd leader changed")), None);
        assert_eq!(too_large(&api(409, "conflict")), None);
    }

    #[test]
    fn outcome_sets_verdict_conditions_and_measured_values() {
        let spec: LoadTestSpec = serde_yaml::from_str(
            "target: http://t/\nthresholds: ['p99 < 1ms', 'status_5xx == 0']\n",
        )
        .unwrap();
        let mut lt = LoadTest::new("smoke", spec);
        lt.metadata.generation = Some(1);
        lt.status = Some(LoadTestStatus::default());
        let acc = merged(&[(&[100, 200], 2), (&[300, 5000], 2)]);
        let v = outcome(
            &lt,
            &acc.report,
            &acc.timeline,
            &acc.shard_list(),
            &Err("no baseline".into()),
        );
        assert_eq!(v.timeline.as_ref().unwrap().responses, [4, 4]);
        assert_eq!(v.shards[1].responses, 2);
        assert_eq!(v.verdict, Some(Verdict::Failed));
        assert_eq!(v.phase, Some(Phase::Succeeded));
        assert!(!v.threshold_results[0].passed);
        assert!(v.threshold_results[1].passed);
        assert_eq!(v.summary.as_ref().unwrap().responses, 4);
        let get = |t: &str| {
            let c = v.conditions.iter().find(|c| c.type_ == t).unwrap();
            c.status.clone()
        };
        assert_eq!(
            (get("Complete").as_str(), get("ThresholdsPassed").as_str()),
            ("True", "False")
        );
    }

    /// Relative thresholds read the baseline's merged result; without one they
    /// fail, or pass unjudged when `onMissing: Warn` allows it.
    #[test]
    fn relative_thresholds_compare_with_the_baseline_or_say_why_not() {
        let manifest = |on_missing: &str| -> LoadTest {
            let spec: LoadTestSpec = serde_yaml::from_str(&format!(
                "target: http://t/\nbaseline: {{name: v41, onMissing: {on_missing}}}\n\
                 thresholds: ['p99 < baseline * 1.10', 'responses >= baseline']\n"
            ))
            .unwrap();
            LoadTest::new("v42", spec)
        };
        let now = merged(&[(&[100, 200], 2), (&[300, 5000], 2)]);
        let judge = |lt: &LoadTest, base: &Result<ReportSummary, String>| {
            outcome(lt, &now.report, &now.timeline, &now.shard_list(), base)
        };
        // The baseline as its status stores it: p99 1ms, 3 responses.
        let old = merged(&[(&[1000, 900, 800], 3)]).report;
        let stored = MergedSummary::from_summary(
            &ReportSummary::from_report(&old),
            encode_histogram(&old.latency),
        );
        let base = api::loadtest::baseline::summary_of(&stored).unwrap();
        let v = judge(&manifest("Fail"), &Ok(base));
        let results = &v.threshold_results;
        // p99 went from 1ms to 5ms: caught, with both values and the change.
        assert!(!results[0].passed, "{results:?}");
        let text = results[0].measured.as_deref().unwrap();
        assert!(
            text.contains("baseline 1.00ms") && text.contains('+'),
            "{text}"
        );
        assert!(results[1].passed, "{results:?}");
        assert_eq!(v.verdict, Some(Verdict::Failed));

        let gone = Err("baseline LoadTest v41 was deleted during the test".to_string());
        for (on_missing, verdict) in [("Fail", Verdict::Failed), ("Warn", Verdict::Passed)] {
            let v = judge(&manifest(on_missing), &gone);
            assert_eq!(v.verdict, Some(verdict), "{on_missing}");
            let text = v.threshold_results[0].measured.as_deref().unwrap();
            assert!(
                text.starts_with("not judged: baseline LoadTest v41 was deleted"),
                "{text}"
            );
        }
    }
}
