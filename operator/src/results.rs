//! Runner results, merged as they arrive. The operator creates one empty
//! `RunnerResult` per runner (a pure builder, below); one watch on all
//! RunnerResults feeds a per-LoadTest accumulator (by the LoadTest's uid), so
//! each runner's final report is decoded and merged exactly once, however many
//! runners finish at the same moment, and no reconcile re-reads them. The
//! accumulator keeps one merged report, one merged timeline and a compact entry
//! per runner, never the runners' objects. After a restart the watch's initial
//! list rebuilds every accumulator.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use api::loadtest::{
    runner_result_name, LoadTest, RunnerResult, RunnerResultSpec, Shard, ShardPhase,
};
use api::report::{Report, Timeline};
use futures::StreamExt;
use kube::api::ObjectMeta;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};

use crate::error::Error;
use crate::job::runner_labels;

/// Objects per page of the watch's (re)list, so a restart never holds more
/// than this many full runner results in memory at once.
pub const LIST_PAGE: u32 = 50;

/// The empty result object of runner `index`, owned by the LoadTest.
pub fn runner_result(lt: &LoadTest, index: u32) -> Result<RunnerResult, Error> {
    let (owner, namespace) = crate::job::owner_and_namespace(lt)?;
    Ok(RunnerResult {
        metadata: ObjectMeta {
            name: Some(runner_result_name(&lt.name_any(), index)),
            namespace: Some(namespace),
            labels: Some(runner_labels(lt)),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: RunnerResultSpec {
            load_test: lt.name_any(),
            index,
        },
        status: None,
    })
}

/// The names of every runner result of a LoadTest.
pub fn runner_result_names(lt: &LoadTest) -> Vec<String> {
    (0..lt.spec.runners)
        .map(|i| runner_result_name(&lt.name_any(), i))
        .collect()
}

/// What is known of one LoadTest's runners.
#[derive(Debug, Default, Clone)]
pub struct Accumulator {
    /// The latest compact entry of every runner that wrote its result, by index.
    pub shards: BTreeMap<u32, Shard>,
    /// Exact merge (counts add, histograms add) of the `merged` runners' final reports.
    pub report: Report,
    /// Their timelines, merged at the coarsest step among them.
    pub timeline: Timeline,
    /// Runners whose final report is in `report`.
    pub merged: BTreeSet<u32>,
    /// Final reports that could not be read, one line each.
    pub bad: Vec<String>,
}

impl Accumulator {
    /// The compact entries, by index.
    pub fn shard_list(&self) -> Vec<Shard> {
        self.shards.values().cloned().collect()
    }

    /// Take in one runner's result; a final report is merged once, later copies are ignored.
    pub fn observe(&mut self, rr: &RunnerResult) {
        let Some(st) = &rr.status else { return };
        let index = rr.spec.index;
        let counts = st.report.as_ref().map(|r| r.counts).unwrap_or_default();
        let elapsed_sec = st
            .report
            .as_ref()
            .map(|r| (r.elapsed_sec * 1000.0).round() / 1000.0);
        self.shards.insert(
            index,
            Shard {
                index,
                pod: st.pod.clone(),
                phase: st.phase,
                requests: counts.requests,
                responses: counts.responses,
                errors: counts.errors.total(),
                elapsed_sec,
                message: st.message.clone(),
            },
        );
        if st.phase != ShardPhase::Done || self.merged.contains(&index) {
            return;
        }
        self.merged.insert(index);
        let Some(wire) = &st.report else {
            self.bad
                .push(format!("runner {index} is Done but has no report"));
            return;
        };
        let report = match Report::from_wire(wire) {
            Ok(r) => r,
            Err(e) => return self.bad.push(format!("runner {index}: {e}")),
        };
        let timeline = st.timeline.clone().unwrap_or_else(|| {
            // A runner that sent its timeline inside the report (older agents).
            Timeline::from_seconds(&report.timeline)
        });
        if let Err(e) = timeline.validate() {
            return self.bad.push(format!("runner {index}: {e}"));
        }
        self.report.merge(&Report {
            timeline: Vec::new(),
            ..report
        });
        self.timeline.add(&timeline);
    }
}

/// Every LoadTest's accumulator, fed by [`watch`].
#[derive(Default)]
pub struct Results {
    by_uid: Mutex<HashMap<String, Accumulator>>,
    /// LoadTests already finished: their results are no longer accumulated.
    finished: Mutex<HashSet<String>>,
    synced: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not stop the results from being read.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The LoadTest controlling a runner result: `(uid, name)`.
fn owner(rr: &RunnerResult) -> Option<(String, String)> {
    rr.owner_references()
        .iter()
        .find(|o| o.kind == "LoadTest" && o.controller == Some(true))
        .map(|o| (o.uid.clone(), o.name.clone()))
}

/// Why `rr` is not runner `spec.index`'s own result of the LoadTest `loadtest`,
/// if it is not: its name, its spec and the pod it names must all be that
/// runner's (a runner token may write every result object of its test; the
/// runner-status admission policy holds it to its own, this check is the
/// operator's side of that rule).
pub fn impostor(rr: &RunnerResult, loadtest: &str) -> Option<String> {
    let index = rr.spec.index;
    let name = rr.name_any();
    if name != runner_result_name(loadtest, index) || rr.spec.load_test != loadtest {
        return Some(format!(
            "RunnerResult {name} claims runner {index} of LoadTest {}, but LoadTest {loadtest} owns it",
            rr.spec.load_test
        ));
    }
    let pod = rr.status.as_ref()?.pod.as_deref()?;
    let prefix = format!("{}-{index}-", crate::job::job_name_of(loadtest));
    (!pod.starts_with(&prefix)).then(|| {
        format!("RunnerResult {name} was written for pod {pod}, which is not runner {index}'s ({prefix}*)")
    })
}

impl Results {
    /// Take in one runner result (from the watch, or a test).
    pub fn observe(&self, rr: &RunnerResult) {
        let Some((uid, loadtest)) = owner(rr) else {
            return;
        };
        if rr.status.is_none() || lock(&self.finished).contains(&uid) {
            return;
        }
        if let Some(why) = impostor(rr, &loadtest) {
            tracing::warn!(namespace = rr.namespace(), "ignored: {why}");
            return;
        }
        lock(&self.by_uid).entry(uid).or_default().observe(rr);
    }

    /// True once the watch has listed every existing result (after a start or restart).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Mark the initial list complete.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    /// Run `f` on a LoadTest's accumulator (an empty one when nothing arrived yet).
    pub fn with<R>(&self, lt: &LoadTest, f: impl FnOnce(&Accumulator) -> R) -> R {
        let uid = lt.uid().unwrap_or_default();
        match lock(&self.by_uid).get(&uid) {
            Some(acc) => f(acc),
            None => f(&Accumulator::default()),
        }
    }

    /// The compact runner entries of a LoadTest.
    pub fn shards(&self, lt: &LoadTest) -> Vec<Shard> {
        self.with(lt, Accumulator::shard_list)
    }

    /// Drop a finished LoadTest's accumulator and ignore its results from now on.
    pub fn forget(&self, lt: &LoadTest) {
        let Some(uid) = lt.uid() else { return };
        lock(&self.by_uid).remove(&uid);
        lock(&self.finished).insert(uid);
    }

    /// Accumulators held (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.by_uid).len()
    }

    /// True when no accumulator is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Watch every RunnerResult and feed `results` until the stream ends.
pub async fn watch(client: Client, namespaces: &[String], results: Arc<Results>) {
    let apis: Vec<Api<RunnerResult>> = if namespaces.is_empty() {
        vec![Api::all(client)]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    // Synced once every namespace's first list is in.
    let mut lists_left = apis.len();
    let cfg = watcher::Config::default().page_size(LIST_PAGE);
    let streams = apis
        .into_iter()
        .map(|api| watcher(api, cfg.clone()).default_backoff().boxed());
    let mut stream = futures::stream::select_all(streams);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(rr) | watcher::Event::InitApply(rr)) => results.observe(&rr),
            Ok(watcher::Event::InitDone) => {
                lists_left = lists_left.saturating_sub(1);
                if lists_left == 0 {
                    results.set_synced();
                }
            }
            Ok(watcher::Event::Init | watcher::Event::Delete(_)) => {}
            Err(e) => tracing::warn!(error = %e, "watching RunnerResults"),
        }
    }
}

#[cfg(test)]
mod tests {
    use api::loadtest::RunnerResultStatus;
    use api::report::{new_histogram, Second};

    use super::*;
    use crate::job::tests::sample;

    fn done(lt: &LoadTest, index: u32, lat: &[u64]) -> RunnerResult {
        let mut r = Report {
            elapsed_sec: 2.0,
            latency: new_histogram(),
            ..Report::default()
        };
        for v in lat {
            r.latency.record(*v).unwrap();
        }
        r.counts.responses = lat.len() as u64;
        r.counts.requests = lat.len() as u64;
        let mut rr = runner_result(lt, index).unwrap();
        rr.status = Some(RunnerResultStatus {
            phase: ShardPhase::Done,
            pod: Some(format!("smoke-{index}-x")),
            report: Some(r.to_wire()),
            timeline: Some(Timeline::from_seconds(&[Second {
                responses: lat.len() as u64,
                p99_us: 10,
            }])),
            ..Default::default()
        });
        rr
    }

    #[test]
    fn result_object_is_named_labelled_and_owned() {
        let lt = sample("target: http://t/\nrunners: 3\nconnections: 3\n");
        let rr = runner_result(&lt, 2).unwrap();
        assert_eq!(rr.name_any(), "smoke-2");
        assert_eq!(rr.namespace().as_deref(), Some("perf"));
        assert_eq!(rr.owner_references()[0].uid, "uid-1");
        assert_eq!(rr.labels()["glasscannon.dev/loadtest"], "smoke");
        assert_eq!((rr.spec.load_test.as_str(), rr.spec.index), ("smoke", 2));
        assert!(rr.status.is_none());
        assert_eq!(runner_result_names(&lt), ["smoke-0", "smoke-1", "smoke-2"]);
    }

    #[test]
    fn each_final_report_is_merged_once_and_exactly() {
        let lt = sample("target: http://t/\nrunners: 2\nconnections: 2\n");
        let results = Results::default();
        let (a, b) = (done(&lt, 0, &[100, 200]), done(&lt, 1, &[300]));
        for rr in [&a, &b, &a, &b, &a] {
            results.observe(rr);
        }
        results.with(&lt, |acc| {
            assert_eq!(acc.merged, BTreeSet::from([0, 1]));
            assert_eq!(acc.report.counts.responses, 3);
            assert_eq!(acc.report.latency.len(), 3);
            assert_eq!(acc.timeline.total_responses(), 3);
            assert!(acc.bad.is_empty());
        });
        let shards = results.shards(&lt);
        assert_eq!(shards.len(), 2);
        assert_eq!(
            (shards[0].responses, shards[0].phase),
            (2, ShardPhase::Done)
        );
        // Finished: dropped, and later copies (a relist) are not accumulated again.
        results.forget(&lt);
        results.observe(&a);
        assert!(results.is_empty());
    }

    #[test]
    fn unreadable_reports_and_foreign_objects_are_not_merged() {
        let lt = sample("target: http://t/\nrunners: 2\nconnections: 2\n");
        let results = Results::default();
        let mut bad = done(&lt, 0, &[100]);
        bad.status
            .as_mut()
            .unwrap()
            .report
            .as_mut()
            .unwrap()
            .histogram = "%%".into();
        results.observe(&bad);
        let mut orphan = done(&lt, 1, &[100]);
        orphan.metadata.owner_references = None;
        results.observe(&orphan);
        results.observe(&runner_result(&lt, 1).unwrap());
        results.with(&lt, |acc| {
            assert_eq!(acc.report.counts.responses, 0);
            assert_eq!(acc.bad.len(), 1);
            assert!(
                acc.bad[0].starts_with("runner 0: histogram"),
                "{:?}",
                acc.bad
            );
            assert_eq!(
                acc.shards.len(),
                1,
                "empty and ownerless results are not runners"
            );
        });
    }

    /// A runner's token may write every result object of its test; what one
    /// runner writes into another's, or names another pod in, is not merged.
    #[test]
    fn results_written_for_another_runner_are_ignored() {
        let lt = sample("target: http://t/\nrunners: 3\nconnections: 3\n");
        let results = Results::default();
        // Runner 0's pod writing a Done result into runner 1's object.
        let mut forged = done(&lt, 1, &[1, 1, 1]);
        forged.status.as_mut().unwrap().pod = Some("smoke-0-x".into());
        // An object renamed to pass as runner 2's, and one claiming another test.
        let mut renamed = done(&lt, 2, &[1]);
        renamed.metadata.name = Some("smoke-9".into());
        let mut other = done(&lt, 0, &[1]);
        other.spec.load_test = "victim".into();
        for rr in [&forged, &renamed, &other] {
            assert!(impostor(rr, "smoke").is_some(), "{rr:?}");
            results.observe(rr);
        }
        assert!(results.shards(&lt).is_empty(), "nothing forged is shown");
        let honest = done(&lt, 1, &[100]);
        assert_eq!(impostor(&honest, "smoke"), None);
        results.observe(&honest);
        results.with(&lt, |acc| {
            assert_eq!(acc.merged, BTreeSet::from([1]));
            assert_eq!(
                acc.report.counts.responses, 1,
                "only the real runner's result"
            );
        });
    }
}
