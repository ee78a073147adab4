//! `gcannon watch NAMESPACE/LOADTEST`: follow a LoadTest in a cluster (the
//! kubeconfig found as kubectl finds it) with the live view a local run has,
//! fed from its status as the runners report, then print the merged result
//! and the verdict and exit with the verdict's code.

pub mod status;

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use api::loadtest::LoadTest;
use api::plan::LoadPlan;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher::watch_object;
use kube::Api;

use crate::cli::args::WatchArgs;
use crate::cli::{self, Mode, EXIT_FAILED, EXIT_INTERRUPTED, INTERRUPTED};
use crate::output::Ending;
use crate::tui::{LiveFrame, LiveState, LiveView};

/// How often the view is refreshed when the status does not change.
const REFRESH: Duration = Duration::from_secs(1);

/// Follow the LoadTest; returns 0 (Passed), 1 (Failed), 3 (stopped watching).
pub fn main(a: &WatchArgs) -> Result<i32, String> {
    let (namespace, name) = match a.loadtest.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => (Some(ns), name),
        None if !a.loadtest.is_empty() => (None, a.loadtest.as_str()),
        _ => {
            return Err(format!(
                "watch {}: give NAMESPACE/LOADTEST (or LOADTEST in the kubeconfig's namespace)",
                a.loadtest
            ))
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the watch: {e}"))?;
    rt.block_on(follow(namespace, name))
}

async fn follow(namespace: Option<&str>, name: &str) -> Result<i32, String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the cluster (kubeconfig): {e}"))?;
    let ns = namespace.map_or_else(|| client.default_namespace().to_string(), String::from);
    let api: Api<LoadTest> = Api::namespaced(client, &ns);
    let first = api
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read loadtest {ns}/{name}: {e}"))?
        .ok_or_else(|| format!("loadtest {ns}/{name} not found"))?;
    let plan = whole_plan(&first);
    let title = format!("{ns}/{name} → {}", first.spec.target);
    let state = LiveState::new(&title, plan.measured_duration(), plan.warmup.get());
    let view = LiveView::start(state, cli::signals::stop_by_key).map_err(|e| e.to_string())?;
    let mut plain = cli::live::PlainProgress::default();
    let mut show = |f: LiveFrame| match &view {
        Some(v) => v.update(f),
        None => plain.show(&f),
    };

    let mut events = pin!(watch_object(api, name));
    let mut latest = first;
    let mut previous = Vec::new();
    let mut trouble: Option<String> = None;
    let mut next_refresh = tokio::time::Instant::now();
    let ended = loop {
        if status::outcome(&latest).is_some() {
            break Ok(());
        }
        if INTERRUPTED.load(Ordering::Relaxed) {
            break Ok(());
        }
        if tokio::time::Instant::now() >= next_refresh {
            let mut f = status::frame(&latest, Timestamp::now(), &mut previous);
            if let Some(t) = &trouble {
                f.phase = Some(format!("{} · {t}", f.phase.unwrap_or_default()));
            }
            show(f);
            next_refresh += REFRESH;
        }
        let tick = tokio::time::sleep(Duration::from_millis(50));
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Some(lt))) => {
                    latest = lt;
                    trouble = None;
                    // Show what changed now, not at the next refresh.
                    next_refresh = tokio::time::Instant::now();
                }
                Some(Ok(None)) => break Err(format!("loadtest {ns}/{name} was deleted")),
                Some(Err(e)) => {
                    // The watcher reconnects on the next poll; say so meanwhile.
                    trouble = Some(format!("watch interrupted, retrying: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                None => break Err("the watch ended".to_string()),
            },
            _ = tick => {}
        }
    };
    if status::outcome(&latest).is_some() {
        show(status::frame(&latest, Timestamp::now(), &mut previous));
    }
    plain.end();
    let drawn = view.is_some();
    if let Some(v) = view {
        v.finish()
            .map_err(|e| format!("the live view failed: {e}"))?;
    }
    if let Err(why) = ended {
        cli::warn(&why);
        return Ok(EXIT_FAILED);
    }
    let Some(passed) = status::outcome(&latest) else {
        let why = cli::signals::interrupted_by().unwrap_or("interrupted");
        cli::warn(&format!(
            "stopped watching {ns}/{name} ({why}); the LoadTest goes on in the cluster"
        ));
        return Ok(EXIT_INTERRUPTED);
    };
    print_outcome(&latest, &plan, &format!("{ns}/{name}"), drawn)?;
    Ok(if passed { 0 } else { EXIT_FAILED })
}

/// The plan of the whole test, as printed: every runner's threads.
fn whole_plan(lt: &LoadTest) -> LoadPlan {
    let s = &lt.spec;
    LoadPlan {
        target: s.target.clone(),
        connections: s.connections,
        threads: s.threads * s.runners.max(1),
        pipeline: s.pipeline,
        duration: s.duration(),
        warmup: s.warmup,
        rate: s.rate,
        stages: s.stages.clone(),
        ..LoadPlan::default()
    }
}

/// The merged result and the verdicts (rich on a terminal, text otherwise),
/// then one line: the phase, the verdict and why.
fn print_outcome(lt: &LoadTest, plan: &LoadPlan, id: &str, rich: bool) -> Result<(), String> {
    let st = lt.status.clone().unwrap_or_default();
    let verdicts = status::verdicts(lt);
    if let Some(report) = status::report(lt) {
        let mode = if rich { Mode::Tui } else { Mode::Text };
        let ending = Ending {
            runners: Some(lt.spec.runners),
            ..Ending::default()
        };
        let buckets = crate::tui::DEFAULT_BUCKETS;
        cli::print_result(plan, &report, &verdicts, &ending, mode, buckets, &[])?;
    }
    let phase = st.phase.map_or("-".to_string(), |p| format!("{p:?}"));
    let verdict = st.verdict.map_or("-".to_string(), |v| format!("{v:?}"));
    let mut line = format!("\nLoadTest {id}: {phase}, verdict {verdict}");
    if let Some(m) = st.message.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(&format!(" ({m})"));
    }
    cli::emit(&format!("{line}\n"))
}
