//! Finding the LoadTest that `spec.baseline` names: pinned once, before the
//! Job, so a newer run finishing meanwhile cannot change what is compared.

use api::loadtest::baseline::BaselineRef;
use api::loadtest::{LoadTest, Phase, Verdict};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::error::Result;

/// The LoadTest `r` picks for `me` among `candidates` (same namespace), or why none.
pub fn pick<'a>(
    me: &LoadTest,
    candidates: &'a [LoadTest],
    r: &BaselineRef,
) -> Result<&'a LoadTest, String> {
    if let Some(name) = &r.name {
        let lt = candidates
            .iter()
            .find(|c| c.name_any() == *name)
            .ok_or_else(|| format!("baseline LoadTest {name} not found"))?;
        return usable(lt).map(|()| lt);
    }
    let key = r.series_label.as_deref().unwrap_or_default();
    let value = me
        .labels()
        .get(key)
        .ok_or_else(|| format!("this LoadTest has no label {key} to find its series by"))?;
    candidates
        .iter()
        .filter(|c| c.uid() != me.uid() && c.labels().get(key) == Some(value))
        .filter(|c| usable(c).is_ok() && verdict(c) == Some(Verdict::Passed))
        .max_by_key(|c| c.creation_timestamp())
        .ok_or_else(|| format!("no Passed LoadTest with label {key}={value} to compare with"))
}

/// A baseline must have finished with a merged result.
fn usable(lt: &LoadTest) -> Result<(), String> {
    let name = lt.name_any();
    let st = lt.status.as_ref();
    if st.and_then(|s| s.phase) != Some(Phase::Succeeded) {
        return Err(format!("baseline LoadTest {name} has not succeeded"));
    }
    match st.and_then(|s| s.summary.as_ref()) {
        Some(s) if !s.histogram.is_empty() => Ok(()),
        _ => Err(format!("baseline LoadTest {name} keeps no merged result")),
    }
}

fn verdict(lt: &LoadTest) -> Option<Verdict> {
    lt.status.as_ref().and_then(|s| s.verdict)
}

/// Look the baseline up in `lt`'s namespace: its name, or why there is none.
pub async fn resolve(
    ctx: &Context,
    lt: &LoadTest,
    r: &BaselineRef,
) -> Result<Result<String, String>> {
    let api: Api<LoadTest> =
        Api::namespaced(ctx.client.clone(), &lt.namespace().unwrap_or_default());
    let candidates = match (&r.name, &r.series_label) {
        (Some(name), _) => api.get_opt(name).await?.into_iter().collect(),
        (None, Some(key)) => match lt.labels().get(key) {
            Some(v) => {
                api.list(&ListParams::default().labels(&format!("{key}={v}")))
                    .await?
                    .items
            }
            None => Vec::new(),
        },
        (None, None) => Vec::new(),
    };
    Ok(pick(lt, &candidates, r).map(|b| b.name_any()))
}

#[cfg(test)]
mod tests {
    use api::loadtest::{LoadTestSpec, LoadTestStatus, MergedSummary};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    /// A LoadTest of series `s` created at second `t`, finished as given.
    fn lt(name: &str, series: &str, t: i64, phase: Phase, verdict: Verdict) -> LoadTest {
        let mut lt = LoadTest::new(name, serde_yaml::from_str::<LoadTestSpec>("{}").unwrap());
        lt.metadata.uid = Some(name.into());
        lt.metadata.labels = Some([("series".to_string(), series.to_string())].into());
        lt.metadata.creation_timestamp =
            Some(Time(k8s_openapi::jiff::Timestamp::from_second(t).unwrap()));
        lt.status = Some(LoadTestStatus {
            phase: Some(phase),
            verdict: Some(verdict),
            summary: Some(MergedSummary {
                histogram: "HISTFAAAA".into(),
                ..MergedSummary::default()
            }),
            ..LoadTestStatus::default()
        });
        lt
    }

    fn by_series() -> BaselineRef {
        BaselineRef {
            series_label: Some("series".into()),
            ..BaselineRef::default()
        }
    }

    #[test]
    fn a_series_compares_with_its_newest_passed_run() {
        use Phase::*;
        use Verdict::Passed;
        let failed = Verdict::Failed;
        let me = lt("v5", "checkout", 50, Pending, Passed);
        let all = [
            lt("v1", "checkout", 10, Succeeded, Passed),
            lt("v3", "checkout", 30, Succeeded, Passed),
            lt("v4", "checkout", 40, Succeeded, failed), // a regression is no baseline
            lt("other", "search", 45, Succeeded, Passed),
            lt("v2", "checkout", 20, Failed, failed),
            me.clone(),
        ];
        assert_eq!(pick(&me, &all, &by_series()).unwrap().name_any(), "v3");
        let lonely = lt("x", "new-series", 60, Pending, Passed);
        let e = pick(&lonely, &all, &by_series()).unwrap_err();
        assert_eq!(
            e,
            "no Passed LoadTest with label series=new-series to compare with"
        );
        let mut unlabelled = me.clone();
        unlabelled.metadata.labels = None;
        let e = pick(&unlabelled, &all, &by_series()).unwrap_err();
        assert!(e.contains("has no label series"), "{e}");
    }

    #[test]
    fn a_named_baseline_must_have_succeeded_with_a_result() {
        use Phase::*;
        use Verdict::Passed;
        let failed = Verdict::Failed;
        let me = lt("v5", "s", 50, Pending, Passed);
        let named = |n: &str| BaselineRef {
            name: Some(n.into()),
            ..BaselineRef::default()
        };
        let all = [
            lt("failed-run", "s", 10, Succeeded, failed),
            lt("running", "s", 20, Running, Passed),
        ];
        // A named baseline may have failed its own thresholds: it is what the user chose.
        assert_eq!(
            pick(&me, &all, &named("failed-run")).unwrap().name_any(),
            "failed-run"
        );
        assert_eq!(
            pick(&me, &all, &named("running")).unwrap_err(),
            "baseline LoadTest running has not succeeded"
        );
        assert_eq!(
            pick(&me, &all, &named("nope")).unwrap_err(),
            "baseline LoadTest nope not found"
        );
    }
}
