"""End-to-end scenarios: the real operator and real `gcannon agent` processes
against the API server stand-in, `gcannon serve` as the target. Each scenario
asserts on the final objects. Run all with `python scenarios.py`, or some with
`python scenarios.py 1 4`; one line per scenario, then `N passed, N failed`."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import traceback
import urllib.request

import yaml

import hdr
from standin import Client, Cluster, wait_until
from standin.errors import ApiError, forbidden

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCENARIOS: list[tuple[str, str, object]] = []
LT_LABEL = "glasscannon.dev/loadtest"


def scenario(number: str, title: str):
    def register(fn):
        SCENARIOS.append((number, title, fn))
        return fn
    return register


# ----- helpers ----------------------------------------------------------------------------------------

def chart_policy() -> dict:
    """The chart's default `policy` values, as the operator gets them (GC_POLICY)."""
    with open(os.path.join(REPO, "charts", "glass-cannon", "values.yaml")) as f:
        policy = yaml.safe_load(f)["policy"]
    del policy["admission"]
    return policy


def loadtest(name: str, target: str, **spec) -> dict:
    return {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "metadata": {"name": name},
            "spec": {"target": target, "warmup": "0s", "duration": "2s", **spec}}


def phase(o: dict | None) -> str | None:
    return ((o or {}).get("status") or {}).get("phase")


ORDER = [None, "Pending", "Starting", "Running", "Succeeded", "Failed"]


def reached(name: str):
    """The phase is `name` or a later one (a short phase can pass between two polls)."""
    return lambda o: ORDER.index(phase(o)) >= ORDER.index(name)


def finished(o: dict | None) -> bool:
    return phase(o) in ("Succeeded", "Failed")


def condition(o: dict, type_: str) -> dict:
    found = [c for c in o["status"].get("conditions", []) if c["type"] == type_]
    assert found, f"no {type_} condition in {o['status'].get('conditions')}"
    return found[0]


def json_path(o: dict, path: str):
    """A printer column's JSONPath: `.a.b` and `.a[?(@.k=="v")].b` (the first match)."""
    cur = o
    for key, fkey, fval in re.findall(r'\.([A-Za-z0-9_]+)(?:\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\])?', path):
        cur = cur.get(key) if isinstance(cur, dict) else None
        if fkey:
            cur = next((i for i in cur or [] if isinstance(i, dict) and i.get(fkey) == fval), None)
    return cur


def printer_columns(c: Cluster, o: dict) -> dict:
    res = c.client.resource("loadtests")
    return {col["name"]: json_path(o, col["jsonPath"]) for col in res.printer_columns}


def assert_cleaned_up(c: Cluster, name: str, timeout: float = 30) -> None:
    """The Job is gone and so are its pods (garbage-collected, processes ended)."""
    c.wait_for("jobs", name, lambda j: j is None, timeout, f"Job {name} to be deleted")
    wait_until(lambda: not c.pods(f"{LT_LABEL}={name}"), timeout, f"the pods of {name} to be deleted")


def runner_reports(c: Cluster, name: str) -> list[dict]:
    """Each runner's final report, from its RunnerResult."""
    return [r["status"]["report"] for r in c.client.list("runnerresults", c.namespace, f"{LT_LABEL}={name}")]


# ----- scenarios ------------------------------------------------------------------------------------------

@scenario("1", "closed model on 2 and 8 runners: Succeeded, Passed, counts add up, Job cleaned up")
def closed_model(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    for runners in (2, 8):
        name = f"closed-{runners}"
        before = target.served()
        c.client.create("loadtests", c.namespace, loadtest(
            name, target.url, runners=runners, connections=2 * runners, pipeline=2,
            thresholds=["errors == 0", "status_2xx > 0"]))
        o = c.wait_for("loadtests", name, finished, 90, f"{name} to finish")
        served = target.served() - before
        st = o["status"]
        assert phase(o) == "Succeeded" and st["verdict"] == "Passed", st.get("message")
        assert sorted(s["index"] for s in st["shards"]) == list(range(runners))
        assert all(s["phase"] == "Done" for s in st["shards"])
        reports = runner_reports(c, name)
        assert len(reports) == runners, "one RunnerResult per runner"
        summary = st["summary"]
        assert summary["requests"] == sum(r["requests"] for r in reports) == sum(s["requests"] for s in st["shards"])
        assert summary["responses"] == sum(r["responses"] for r in reports) > 0
        assert sum(st["timeline"]["responses"]) == summary["responses"], "the merged timeline keeps every response"
        in_flight = 2 * runners * 2  # connections x pipeline
        assert summary["responses"] <= served <= summary["requests"], (summary, served)
        assert summary["requests"] - summary["responses"] <= in_flight
        assert condition(o, "Complete")["status"] == "True"
        assert condition(o, "Failed")["status"] == "False"
        assert condition(o, "ThresholdsPassed")["status"] == "True"
        assert all(r["passed"] for r in st["thresholdResults"]) and len(st["thresholdResults"]) == 2
        cols = printer_columns(c, o)
        assert cols["Phase"] == "Succeeded" and cols["Runners"] == runners and cols["Verdict"] == "Passed"
        assert cols["RPS"] > 0 and cols["p99"] and cols["Age"], cols
        assert st["observedGeneration"] == o["metadata"]["generation"]
        assert_cleaned_up(c, name)


@scenario("2", "a failing threshold: verdict Failed with measured values, kubectl-wait semantics")
def failing_threshold(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    c.client.create("loadtests", c.namespace, loadtest(
        "gate", target.url, runners=2, connections=4, thresholds=["rps > 1000000000", "errors == 0"]))
    # kubectl wait --for=condition=Complete: a list then a watch from its resourceVersion.
    o = c.client.wait_condition("loadtests", c.namespace, "gate", "Complete", 90)
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Failed", st.get("message")
    assert condition(o, "ThresholdsPassed")["status"] == "False"
    assert condition(o, "ThresholdsPassed")["reason"] == "ThresholdsFailed"
    assert condition(o, "Failed")["status"] == "False", "a missed threshold is a verdict, not a failed run"
    rps, errs = st["thresholdResults"]
    assert rps["expr"] == "rps > 1000000000" and rps["passed"] is False, rps
    assert float(rps["measured"].split()[0]) > 0, rps
    assert errs["expr"] == "errors == 0" and errs["passed"] is True and errs["measured"] == "0", errs
    assert "rps > 1000000000" in st["message"]
    assert printer_columns(c, o)["Verdict"] == "Failed"
    assert_cleaned_up(c, "gate")


@scenario("3", "open model: the stages set the run's length and the deadline; `duration` with them is refused")
def stages_set_the_run_length(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    stages = [{"duration": "2s", "target": 400}, {"duration": "3s", "target": 200}]
    both = loadtest("both", target.url, runners=2, connections=4, duration="1s", stages=stages)
    try:
        c.client.create("loadtests", c.namespace, both)
        raise AssertionError("a LoadTest with both duration and stages was admitted")
    except ApiError as e:
        assert e.code == 422 and "set duration or stages, not both" in e.message, (e.code, e.message)
    ramp = loadtest("ramp", target.url, runners=2, connections=4, stages=stages)
    del ramp["spec"]["duration"]
    c.client.create("loadtests", c.namespace, ramp)
    o = c.wait_for("loadtests", "ramp", finished, 90, "ramp to finish")
    st = o["status"]
    assert phase(o) == "Succeeded", st.get("message")
    summary = st["summary"]
    assert summary["elapsedSec"] >= 4.9, f"the run lasted the stages' 5s: {summary['elapsedSec']}"
    # Ramp 0->400/s over 2s, then 400->200/s over 3s: 400 + 900 requests scheduled in all.
    scheduled = sum(r["requests"] + r.get("unsent", 0) for r in runner_reports(c, "ramp"))
    assert 1200 <= scheduled <= 1400, scheduled
    assert st["verdict"] == "Passed"
    assert_cleaned_up(c, "ramp")


def running_under_load(c: Cluster, name: str, runners: int, connections: int, duration: str):
    """Start the operator and a target, and return the target once `name` runs and load flows."""
    c.start_operator()
    target = c.start_target()
    c.client.create("loadtests", c.namespace, loadtest(name, target.url, runners=runners,
                                                       connections=connections, duration=duration))
    c.wait_for("loadtests", name, lambda o: phase(o) == "Running", 60, f"{name} to run")
    wait_until(lambda: target.served() > 1000, 30, "load to flow")
    return target


@scenario("4", "a runner SIGKILLed mid-run: Failed naming the pod and reason, other shards kept")
def runner_killed(c: Cluster) -> None:
    running_under_load(c, "kill", runners=3, connections=6, duration="30s")
    victim = [p for p in c.pods(f"{LT_LABEL}=kill") if p["metadata"]["annotations"][
        "batch.kubernetes.io/job-completion-index"] == "1"][0]["metadata"]["name"]
    c.kubelet.kill(c.namespace, victim)
    o = c.wait_for("loadtests", "kill", finished, 60, "kill to fail")
    st = o["status"]
    assert phase(o) == "Failed" and st["verdict"] == "Failed", st.get("message")
    assert victim in st["message"] and "137" in st["message"], st["message"]
    assert condition(o, "Failed")["status"] == "True" and condition(o, "Failed")["reason"] == "RunnerFailed"
    assert condition(o, "Complete")["status"] == "False"
    assert_cleaned_up(c, "kill")
    o = c.get("loadtests", "kill")
    assert sorted(s["index"] for s in o["status"]["shards"]) == [0, 1, 2], o["status"]["shards"]
    # The survivors, stopped by the failure, kept their partial results in
    # their RunnerResults (the LoadTest's shards show the state at failure).
    results = {r["spec"]["index"]: r for r in c.client.list("runnerresults", c.namespace, f"{LT_LABEL}=kill")}
    for i in (0, 2):
        report = ((results.get(i) or {}).get("status") or {}).get("report") or {}
        assert report.get("responses", 0) > 0, f"runner {i} lost its data: {results.get(i)}"
    assert all(exit_code != "0" for pod, what, exit_code in c.kubelet.history if what == "exited"), \
        "no runner of a failed test reports success"


@scenario("5", "the operator killed and restarted at each phase: one Job, one completion")
def operator_restarts(c: Cluster) -> None:
    target = c.start_target()
    # Pending: the LoadTest arrives while no operator runs.
    c.client.create("loadtests", c.namespace, loadtest("again", target.url, runners=2, connections=4,
                                                       duration="4s"))
    # Killed between creating the Job and recording it in status: the restart adopts it.
    def die_before_starting(req):
        if (req.verb == "patch" and req.res.plural == "loadtests" and req.sub == "status"
                and b'"Starting"' in (req.body or b"") and c.operator_runs == 1):
            c.kill_operator()
            from standin import ApiError
            raise ApiError(503, "ServiceUnavailable", "the operator died mid-request")
    c.server.admission.append(die_before_starting)
    c.start_operator(wait_ready=False)
    wait_until(lambda: not c.operator.alive(), 30, "the first operator to die")
    assert c.get("jobs", "again") is not None and phase(c.get("loadtests", "again")) is None
    c.start_operator()
    c.wait_for("loadtests", "again", reached("Starting"), 60, "Starting")
    c.kill_operator()
    c.start_operator()
    c.wait_for("loadtests", "again", reached("Running"), 60, "Running")
    c.kill_operator()
    c.start_operator()
    o = c.wait_for("loadtests", "again", finished, 60, "again to finish")
    assert phase(o) == "Succeeded" and o["status"]["verdict"] == "Passed", o["status"].get("message")
    assert_cleaned_up(c, "again")
    before = c.get("loadtests", "again")
    c.kill_operator()
    c.start_operator()  # and once more after the end: nothing runs again
    time.sleep(3)
    after = c.get("loadtests", "again")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "a finished test was touched"
    jobs = [e for e in c.store.history if e.res == ("batch", "jobs") and e.type == "ADDED"]
    assert len(jobs) == 1, f"{len(jobs)} Jobs were created"
    pods = [e for e in c.store.history if e.res == ("", "pods") and e.type == "ADDED"]
    assert len(pods) == 2, f"{len(pods)} runner pods were created"
    events = c.client.request("GET", f"/apis/events.k8s.io/v1/namespaces/{c.namespace}/events")["items"]
    reasons = [e.get("reason") for e in events]
    # Events are best effort (a killed operator may not have sent its own); one verdict is.
    assert reasons.count("Passed") == 1, reasons


@scenario("6", "the LoadTest deleted mid-run: Job and pods removed, agents stop sending load")
def deleted_mid_run(c: Cluster) -> None:
    target = running_under_load(c, "gone", runners=2, connections=4, duration="60s")
    c.client.delete("loadtests", c.namespace, "gone")
    c.wait_for("loadtests", "gone", lambda o: o is None, 10, "the LoadTest to be deleted")
    assert_cleaned_up(c, "gone")
    wait_until(lambda: not c.kubelet.running(), 30, "every agent process to exit")
    signals = [(pod, what) for pod, kind, what in c.kubelet.history if kind == "signal"]
    assert signals and all(s == "SIGTERM" for _, s in signals), f"agents needed more than SIGTERM: {signals}"
    settled = target.served()
    time.sleep(1.0)
    assert target.served() == settled, "load still arrives after the agents were stopped"


@scenario("7", "a pod deleted while its agent waits for startAt: it stops on SIGTERM at once")
def deleted_while_waiting(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    # Runner 1 never becomes ready, so the operator never sets startAt and runner 0 waits.
    c.kubelet.inject("NeverReady", lambda pod: pod["metadata"]["annotations"].get(
        "batch.kubernetes.io/job-completion-index") == "1")
    c.client.create("loadtests", c.namespace, loadtest("wait", target.url, runners=2, connections=4))
    o = c.wait_for("loadtests", "wait", lambda o: any(s["index"] == 0 for s in (o or {}).get("status", {}).get("shards", [])),
                   60, "runner 0 to announce itself")
    assert not o["status"].get("startAt")
    pod0 = [p for p in c.pods(f"{LT_LABEL}=wait") if p["metadata"]["annotations"][
        "batch.kubernetes.io/job-completion-index"] == "0"][0]["metadata"]["name"]
    c.client.delete("pods", c.namespace, pod0)
    wait_until(lambda: (c.namespace, pod0) not in c.kubelet.running(), 60, f"{pod0} to exit")
    mine = [(what, detail) for pod, what, detail in c.kubelet.history if pod == pod0]
    assert ("signal", "SIGKILL") not in mine, f"the agent ignored SIGTERM and was killed: {mine}"
    o = c.wait_for("loadtests", "wait", finished, 30, "wait to fail")
    shard0 = [s for s in o["status"]["shards"] if s["index"] == 0][0]
    assert shard0["phase"] == "Failed" and "SIGTERM" in shard0["message"] and "startAt" in shard0["message"], shard0
    assert shard0.get("responses", 0) == 0
    assert phase(o) == "Failed" and "SIGTERM" in o["status"]["message"], o["status"]["message"]
    assert target.served() == 0, "no load was sent"
    assert_cleaned_up(c, "wait")


@scenario("8", "templates from a ConfigMap; a missing ConfigMap fails clearly with no pods")
def configmap_templates(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    host = target.url.split("/")[2]
    c.client.create("configmaps", c.namespace, {"metadata": {"name": "reqs"}, "data": {
        "created": f"GET /status/201 HTTP/1.1\r\nHost: {host}\r\n\r\n"}})
    c.client.create("loadtests", c.namespace, loadtest(
        "tpl", "", runners=2, connections=4, expectedStatus=201,
        templates=[{"configMapRef": {"name": "reqs", "key": "created"}}],
        thresholds=["unexpected_status == 0", "status_2xx > 0"]))
    c.client.create("loadtests", c.namespace, loadtest(
        "nocm", target.url, runners=2, connections=4,
        templates=[{"configMapRef": {"name": "absent", "key": "get"}}]))
    o = c.wait_for("loadtests", "nocm", finished, 30, "nocm to fail")
    assert phase(o) == "Failed"
    failed = condition(o, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "InvalidSpec"
    assert "ConfigMap absent not found" in failed["message"], failed["message"]
    assert c.get("jobs", "nocm") is None and not c.pods(f"{LT_LABEL}=nocm")
    o = c.wait_for("loadtests", "tpl", finished, 90, "tpl to finish")
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", (st.get("message"), st.get("thresholdResults"))
    assert st["summary"]["responses"] > 0
    assert all(r["passed"] for r in st["thresholdResults"]), "every response came from the ConfigMap's template"
    assert_cleaned_up(c, "tpl")
    assert not [e for e in c.store.history if e.res == ("batch", "jobs") and e.obj["metadata"]["name"] == "nocm"]


@scenario("9", "a final status too large for etcd: Failed saying so, never stuck in Running")
def status_too_large(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    # The final write repeats each failed threshold five times (results, message,
    # three conditions): 64 of 8 kB fit in the spec but not in the result.
    pad = " " * 8000
    thresholds = [f"requests <{pad}1" for _ in range(64)]
    c.client.create("loadtests", c.namespace, loadtest("huge", target.url, runners=2, connections=4,
                                                       thresholds=thresholds))
    o = c.wait_for("loadtests", "huge", finished, 90, "huge to finish")
    st = o["status"]
    assert phase(o) == "Failed" and st["verdict"] == "Failed", st.get("message", "")[:300]
    assert "too large" in st["message"] and "request is too large" in st["message"], st["message"][:300]
    failed = condition(o, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "StatusTooLarge"
    assert sorted(s["index"] for s in st["shards"] if s["phase"] == "Done") == [0, 1], "the runners' data stays"
    too_large = [r for r in c.server.request_log if r[2] == 500 and "/loadtests/huge/status" in r[1]]
    assert too_large, "the operator's final write was refused by the stand-in"
    assert_cleaned_up(c, "huge")


@scenario("10", "a runner pod's /metrics: its LoadTest, namespace and index; final counters equal its shard")
def runner_metrics(c: Cluster) -> None:
    # The pod spec gives every runner GC_METRICS_LISTEN=0.0.0.0:9464; here pods
    # share the host's network, so one runner, scraped on loopback.
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    def scrape() -> dict:
        with urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for smp in family.samples:
                ident = {k: smp.labels.pop(k, None) for k in ("loadtest", "namespace", "runner")}
                assert ident == {"loadtest": "metrics", "namespace": c.namespace, "runner": "0"}, (smp.name, ident)
                out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
        return out

    def v(samples: dict, name: str, **labels) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    c.start_operator()
    target = c.start_target()
    c.client.create("loadtests", c.namespace, loadtest(
        "metrics", target.url, runners=1, connections=4, duration="3s",
        runner={"env": [{"name": "GC_METRICS_LINGER_SECONDS", "value": "20"}]}))
    c.wait_for("loadtests", "metrics", lambda o: phase(o) == "Running", 60, "metrics to run")
    def live() -> dict | None:
        s = _quiet(scrape)
        running = s and v(s, "gcannon_running") == 1 and v(s, "gcannon_responses_total", **{"class": "2xx"}) > 0
        return s if running else None

    during = wait_until(live, 30, "live numbers on the runner's /metrics")
    assert v(during, "gcannon_open_connections") == 4
    rr = c.wait_for("runnerresults", "metrics-0", lambda r: ((r or {}).get("status") or {}).get("phase") == "Done",
                    60, "the runner's final result")
    report = rr["status"]["report"]
    after = scrape()  # the agent lingers, serving its final numbers
    assert v(after, "gcannon_running") == 0
    assert v(after, "gcannon_requests_total") == report["requests"]
    for cls in ("2xx", "3xx", "4xx", "5xx", "other"):
        assert v(after, "gcannon_responses_total", **{"class": cls}) == report["status"][cls], cls
    assert v(after, "gcannon_latency_seconds_count") == report["responses"] > v(during, "gcannon_latency_seconds_count")
    c.wait_for("loadtests", "metrics", finished, 60, "metrics to finish")


def _quiet(fn):
    """fn(), or None while the endpoint is not up yet."""
    try:
        return fn()
    except (OSError, KeyError):
        return None


def quickstart_docs() -> tuple[dict, list[str]]:
    """examples/quickstart/: the LoadTest, and the target Deployment's `gcannon` args."""
    qs = os.path.join(REPO, "examples", "quickstart")
    with open(os.path.join(qs, "loadtest.yaml")) as f:
        lt = yaml.safe_load(f)
    with open(os.path.join(qs, "target.yaml")) as f:
        deploy = next(d for d in yaml.safe_load_all(f) if d["kind"] == "Deployment")
    return lt, deploy["spec"]["template"]["spec"]["containers"][0]["args"]


def shortened(o):
    """The status as `kubectl get -o yaml` shows it, with each base64 histogram
    replaced by its size, for the docs' sample."""
    if isinstance(o, dict):
        return {k: f"<{len(v)} characters of base64 HdrHistogram>" if k == "histogram" and isinstance(v, str)
                else shortened(v) for k, v in o.items()}
    if isinstance(o, list):
        return [shortened(i) for i in o]
    return o


class _SampleDumper(yaml.SafeDumper):
    """Lists of numbers (the timeline's) on one line each."""


_SampleDumper.add_representer(list, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=bool(v) and all(isinstance(i, (int, float)) for i in v)))


@scenario("11", "the quick start (examples/quickstart/): a Passed verdict, kubectl-wait semantics")
def quickstart(c: Cluster) -> None:
    c.start_operator()
    lt, serve_args = quickstart_docs()
    # The target Deployment's own `gcannon serve` arguments, on a loopback port (no
    # Service DNS here): the LoadTest's target becomes that port, the rest is as shipped.
    target = c.start_target(serve_args)
    spec = dict(lt["spec"], target=target.url)
    c.client.create("loadtests", c.namespace, {**lt, "spec": spec})
    name = lt["metadata"]["name"]
    o = c.client.wait_condition("loadtests", c.namespace, name, "Complete", 120)
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", (st.get("message"), st.get("thresholdResults"))
    assert [r["expr"] for r in st["thresholdResults"]] == lt["spec"]["thresholds"]
    assert all(r["passed"] for r in st["thresholdResults"])
    assert st["summary"]["responses"] > 0 and st["summary"]["errors"]["total"] == 0, st["summary"]
    assert len(st["shards"]) == lt["spec"]["runners"]
    cols = printer_columns(c, o)
    assert cols["Verdict"] == "Passed" and cols["Start"] == "Started", cols
    assert_cleaned_up(c, name)
    sample = os.environ.get("STANDIN_SAMPLE")
    if sample:  # docs/kubernetes.md's sample: `kubectl get lt quickstart -o yaml`, status only
        with open(sample, "w") as f:
            yaml.dump({"status": shortened(c.get("loadtests", name)["status"])}, f, Dumper=_SampleDumper,
                      sort_keys=False, width=100)


@scenario("12", "a LoadTest in a second namespace: its own runner ServiceAccount, Role and RoleBinding")
def second_namespace(c: Cluster) -> None:
    ns = "team-b"
    c.client.create("namespaces", None, {"metadata": {"name": ns}})
    c.start_operator()
    target = c.start_target()
    host = target.url.split("/")[2]
    c.client.create("configmaps", ns, {"metadata": {"name": "reqs"}, "data": {
        "get": f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"}})
    c.client.create("loadtests", ns, {**loadtest("elsewhere", "", runners=2, connections=4,
                                                 templates=[{"configMapRef": {"name": "reqs", "key": "get"}}]),
                                      "metadata": {"name": "elsewhere", "namespace": ns}})
    o = c.wait_for("loadtests", "elsewhere", finished, 90, "elsewhere to finish", ns=ns)
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", st.get("message")
    uid = o["metadata"]["uid"]
    sa_name = "elsewhere-runner"
    for plural in ("serviceaccounts", "roles", "rolebindings"):
        obj = c.get(plural, sa_name, ns)
        assert obj is not None, f"no {plural} {sa_name} in {ns}"
        owner = obj["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner.get("controller")) == ("LoadTest", uid, True), owner
    rules = c.get("roles", sa_name, ns)["rules"]
    assert all(r.get("resourceNames") for r in rules), f"the Role reaches beyond this LoadTest: {rules}"
    assert c.get("serviceaccounts", sa_name, "e2e") is None, "nothing lands in the operator's namespace"
    # The runners' own requests, authorized by that Role: the agents' result writes came
    # from the ServiceAccount's token, only to their RunnerResults, and nobody was refused anything.
    user = f"system:serviceaccount:{ns}:{sa_name}"
    writes = [r for r in c.server.request_log if r[3] == user and r[0] == "PATCH"]
    assert writes and all(r[2] == 200 and re.search(r"/runnerresults/elsewhere-[01]/status", r[1]) for r in writes), \
        writes
    assert {re.search(r"elsewhere-\d", r[1])[0] for r in writes} == {"elsewhere-0", "elsewhere-1"}
    refused = [r for r in c.server.request_log if r[2] in (401, 403)]
    assert not refused, refused
    failed_creates = c.client.request("GET", c.client.path("events", ns), query="fieldSelector=reason%3DFailedCreate")
    assert not failed_creates["items"], "the ServiceAccount existed before the Job's pods"
    assert_cleaned_up_in(c, "elsewhere", ns)
    c.client.delete("loadtests", ns, "elsewhere")
    for plural in ("serviceaccounts", "roles", "rolebindings"):
        c.wait_for(plural, sa_name, lambda x: x is None, 30, f"{plural} {sa_name} to be collected", ns=ns)


def assert_cleaned_up_in(c: Cluster, name: str, ns: str) -> None:
    c.wait_for("jobs", name, lambda j: j is None, 30, f"Job {name} to be deleted", ns=ns)
    wait_until(lambda: not c.pods(f"{LT_LABEL}={name}", ns=ns), 30, f"the pods of {name} to be deleted")


QUOTA = "exceeded quota: compute, requested: cpu=100m, used: cpu=4, limited: cpu=4"


SERIES = "glasscannon.dev/series"


@scenario("15", "spec.baseline: a series gates against its newest Passed run; a missing baseline fails or warns")
def baseline(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()

    def run(name: str, path: str, thresholds: list[str], **spec) -> dict:
        lt = loadtest(name, target.url + path, connections=2, duration="1s", thresholds=thresholds, **spec)
        lt["metadata"]["labels"] = {SERIES: "checkout"}
        c.client.create("loadtests", c.namespace, lt)
        o = c.wait_for("loadtests", name, finished, 60, f"{name} to finish")
        return o["status"]

    by_series = {"seriesLabel": SERIES}
    st = run("v1", "", ["status_5xx == 0"])
    assert st["verdict"] == "Passed" and "baseline" not in st, st
    # The same server again: compared with v1, the only Passed run of the series.
    st = run("v2", "", ["rps >= baseline * 0.1", "status_5xx <= baseline"], baseline=by_series)
    assert st["verdict"] == "Passed", st.get("thresholdResults")
    assert st["baseline"] == "v1", st
    found = condition(c.get("loadtests", "v2"), "Baseline")
    assert found["status"] == "True" and found["reason"] == "Found" and "LoadTest v1" in found["message"], found
    assert "baseline" in st["thresholdResults"][0]["measured"], st["thresholdResults"]
    # A regression: every answer now waits 30 ms. The newest Passed run (v2) is the baseline.
    st = run("v3", "delay/30", ["p50 < baseline + 10ms"], baseline=by_series)
    assert st["baseline"] == "v2", st
    r = st["thresholdResults"][0]
    assert st["verdict"] == "Failed" and not r["passed"], r
    assert "baseline" in r["measured"] and "+" in r["measured"], r
    # No such baseline: fails before any load, or (Warn) runs with the relative gate unjudged.
    st = run("v4", "", ["p99 < baseline * 2"], baseline={"name": "v0"})
    assert st["verdict"] == "Failed" and "jobName" not in st, st
    failed = condition(c.get("loadtests", "v4"), "Failed")
    assert failed["reason"] == "BaselineMissing" and "baseline LoadTest v0 not found" in failed["message"], failed
    st = run("v5", "", ["p99 < baseline * 2", "status_5xx == 0"], baseline={"name": "v0", "onMissing": "Warn"})
    assert st["phase"] == "Succeeded" and st["verdict"] == "Passed", st
    missing = condition(c.get("loadtests", "v5"), "Baseline")
    assert missing["status"] == "False" and missing["reason"] == "BaselineMissing", missing
    assert st["thresholdResults"][0]["measured"].startswith("not judged"), st["thresholdResults"]
    assert st["summary"]["responses"] > 0


@scenario("13", "runners that cannot start: the API's reason on the LoadTest, Failed past the deadline")
def cannot_start(c: Cluster) -> None:
    c.start_operator({"GC_START_TIMEOUT": "6s"})
    target = c.start_target()
    of = lambda name: lambda pod: pod["metadata"]["labels"].get(LT_LABEL) == name  # noqa: E731
    c.kubelet.inject("ImagePullBackOff", of("nopull"))
    c.kubelet.inject("Unschedulable", of("nosched"))
    c.kubelet.inject("CreateContainerConfigError", of("noconfig"), 'secret "creds" not found')
    c.kubelet.inject("CrashLoopBackOff", of("crashloop"))

    def quota(req):  # a ResourceQuota the runner pods of `quota` do not fit in
        if req.verb == "create" and req.res.plural == "pods" and of("quota")(req.body):
            raise forbidden(req.res, req.body["metadata"]["generateName"], QUOTA)
    c.server.admission.append(quota)
    expect = {"nopull": ("ImagePullBackOff", "Back-off pulling image"),
              "nosched": ("Unschedulable", "0/1 nodes are available"),
              "noconfig": ("CreateContainerConfigError", 'secret "creds" not found'),
              "crashloop": ("CrashLoopBackOff", "back-off 10s restarting failed container"),
              "quota": ("FailedCreate", QUOTA)}
    for name in expect:
        c.client.create("loadtests", c.namespace, loadtest(name, target.url, runners=2, connections=4))
    for name, (reason, words) in expect.items():
        o = c.wait_for("loadtests", name, finished, 60, f"{name} to fail")
        st = o["status"]
        assert phase(o) == "Failed" and st["verdict"] == "Failed", st.get("message")
        failed = condition(o, "Failed")
        assert failed["status"] == "True" and failed["reason"] == reason, failed
        assert "runners not running within 6s" in failed["message"] and words in failed["message"], failed["message"]
        assert printer_columns(c, o)["Start"] == reason
        # While it waited, the reason was on the LoadTest already (kubectl get lt / describe).
        waiting = [e.obj for e in c.store.history if e.res == ("glasscannon.dev", "loadtests")
                   and e.obj["metadata"]["name"] == name and phase(e.obj) == "Starting"
                   and (json_path(e.obj, '.status.conditions[?(@.type=="RunnersReady")].reason') == reason)]
        assert waiting, f"{name}: {reason} never showed while Starting"
        ready = condition(waiting[-1], "RunnersReady")
        assert ready["status"] == "False" and words in ready["message"] and "the test fails at" in ready["message"]
        assert_cleaned_up(c, name)
    assert target.served() == 0, "no load was sent"
    assert not c.kubelet.running()


def gcannon_watch(c: Cluster, what: str) -> subprocess.CompletedProcess:
    """`gcannon watch` with the kubeconfig as kubectl finds it ($KUBECONFIG), output piped."""
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": c.kubeconfig, "HOME": c.dir}
    return subprocess.run([c.gcannon, "watch", what], env=env, capture_output=True, text=True, timeout=120)


class Tmux:
    """A private tmux server with one 120x40 pane, killed on exit; None without tmux (required in CI)."""

    def __init__(self, command: str):
        self.name = f"gcannon-watch-{os.getpid()}"
        subprocess.run(["tmux", "-L", self.name, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                        command], check=True, env={k: v for k, v in os.environ.items() if k != "TMUX"})

    def capture(self) -> str:
        return subprocess.run(["tmux", "-L", self.name, "capture-pane", "-p", "-J", "-S", "-300"],
                              capture_output=True, text=True).stdout

    def until(self, pred, what: str) -> str:
        screen = [""]

        def check():
            screen[0] = self.capture()
            return pred(screen[0])
        try:
            wait_until(check, 90, what, every=0.2)
        except TimeoutError as e:
            raise AssertionError(f"{e}:\n{screen[0]}") from None
        return screen[0]

    def __enter__(self) -> "Tmux":
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


def have_tmux() -> bool:
    if shutil.which("tmux"):
        return True
    assert os.environ.get("CI") != "true", "tmux is required when CI=true (apt-get install tmux)"
    print("notice: tmux is not installed; skipping the live view part", file=sys.stderr)
    return False


@scenario("14", "gcannon watch: phase, runners and live req/s from the status, then result and verdict's exit code")
def watch(c: Cluster) -> None:
    c.start_operator()
    target = c.start_target()
    c.client.create("loadtests", c.namespace, loadtest(
        # Long enough for a progress report (every 5 s) to reach the status while running.
        "watched", target.url, runners=2, connections=4, duration="8s", thresholds=["errors == 0"]))
    p = gcannon_watch(c, f"{c.namespace}/watched")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    # Without a terminal: one progress line a second on stderr, the phase first.
    lines = p.stderr.splitlines()
    running = [ln for ln in lines if "Running · runners 2/2 ready" in ln]
    assert running, p.stderr
    assert any(int(re.search(r"responses (\d+)", ln).group(1)) > 0 for ln in running), p.stderr
    assert all("req/s" in ln for ln in running), p.stderr
    # Then the merged result as text, the verdict, and the exit code it implies.
    o = c.get("loadtests", "watched")
    summary = o["status"]["summary"]
    assert f"{summary['requests']} requests" in p.stdout or str(summary["responses"]) in p.stdout, p.stdout
    assert "✓ errors == 0" in p.stdout, p.stdout
    assert f"LoadTest {c.namespace}/watched: Succeeded, verdict Passed" in p.stdout, p.stdout

    # A missed threshold: verdict Failed, exit 1, the threshold and its measured value.
    c.client.create("loadtests", c.namespace, loadtest(
        "gated", target.url, runners=1, connections=2, thresholds=["rps > 1000000000"]))
    p = gcannon_watch(c, "gated")  # the kubeconfig's namespace
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "✗ rps > 1000000000" in p.stdout and "verdict Failed" in p.stdout, p.stdout

    # Bad input: one line, exit 2.
    p = gcannon_watch(c, f"{c.namespace}/nope")
    assert p.returncode == 2 and f"loadtest {c.namespace}/nope not found" in p.stderr, (p.returncode, p.stderr)

    # On a terminal: the live view, one line per runner, then the rich results.
    if not have_tmux():
        return
    c.client.create("loadtests", c.namespace, loadtest(
        "onscreen", target.url, runners=2, connections=4, duration="10s", thresholds=["errors == 0"]))
    cmd = (f"env KUBECONFIG='{c.kubeconfig}' HOME='{c.dir}' '{c.gcannon}' watch {c.namespace}/onscreen; "
           "echo WATCH-EXIT=$?; sleep 120")
    with Tmux(cmd) as t:
        wait_until(lambda: len(c.pods(f"{LT_LABEL}=onscreen")) == 2, 60, "the runner pods")
        pods = [p["metadata"]["name"] for p in c.pods(f"{LT_LABEL}=onscreen")]

        def runners_running(s: str) -> bool:
            """Each runner's line says running, with the responses it reported (every 5 s)."""
            return all(any(pod in ln and "running" in ln and int(re.search(r"responses\s+(\d+)", ln).group(1)) > 0
                           for ln in s.splitlines()) for pod in pods)
        live = t.until(lambda s: "Running · runners 2/2 ready" in s and runners_running(s) or "WATCH-EXIT" in s,
                       "the live view of a running LoadTest")
        assert "Runners" in live and runners_running(live) and "req/s" in live, live
        merged = int(re.search(r"responses (\d+)", live).group(1))
        assert merged > 0, live
        if os.environ.get("STANDIN_WATCH_SAMPLE"):
            with open(os.environ["STANDIN_WATCH_SAMPLE"], "w") as f:
                f.write(live)
        done = t.until(lambda s: "WATCH-EXIT" in s, "the watch to end")
        assert "WATCH-EXIT=0" in done and "gcannon results" in done, done
        assert f"LoadTest {c.namespace}/onscreen: Succeeded, verdict Passed" in done, done
        if os.environ.get("STANDIN_WATCH_SAMPLE"):
            with open(os.environ["STANDIN_WATCH_SAMPLE"] + ".done", "w") as f:
                f.write(done)


@scenario("18", "the admin policy: a LoadTest breaking each rule is Rejected naming it, with no runner objects or pods; "
              "watchNamespaces: RoleBindings and LoadTests there only; a template from a Secret key")
def admin_policy(c: Cluster) -> None:
    policy = chart_policy()
    policy["max"]["runners"] = 3
    # The API server as the operator finds it in a pod: KUBERNETES_SERVICE_HOST.
    c.start_operator({"GC_POLICY": json.dumps(policy), "KUBERNETES_SERVICE_HOST": "127.0.0.2"})
    target = c.start_target()
    port = target.url.split(":")[2].split("/")[0]
    bad = {
        "privileged": ({"privileged": True}, "PrivilegedForbidden", "policy.allowPrivileged"),
        "unconfined": ({"seccomp": "Unconfined"}, "SeccompNotAllowed", "policy.seccomp"),
        "image": ({"runner": {"image": "docker.io/evil/steal:1"}}, "ImageNotAllowed", "policy.images"),
        "secret-env": ({"runner": {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}},
                       "SecretEnvForbidden", "policy.allowSecretEnv"),
        "tolerate-all": ({"runner": {"tolerations": [{"operator": "Exists"}]}}, "TolerationNotAllowed",
                         "policy.tolerationKeys"),
        "apparmor-off": ({"runner": {"podAnnotations": {"container.apparmor.security.beta.kubernetes.io/runner":
                                                        "unconfined"}}}, "PodAnnotationNotAllowed", "policy.podAnnotationKeys"),
        "metadata": ({"target": "http://169.254.169.254/latest/meta-data/"}, "TargetNotAllowed", "policy.targets"),
        "apiserver": ({"target": f"http://127.0.0.2:{port}/"}, "TargetNotAllowed", "policy.targets"),
        "runners": ({"runners": 4, "connections": 4}, "TooManyRunners", "policy.max.runners"),
        "rate": ({"rate": 10000001}, "RateTooHigh", "policy.max.rate"),
        "long": ({"duration": "2h"}, "DurationTooLong", "policy.max.duration"),
    }
    for name, (spec, _, _) in bad.items():
        spec = {"target": target.url, **spec}
        c.client.create("loadtests", c.namespace, loadtest(name, **spec))
    c.client.create("loadtests", c.namespace, loadtest("allowed", target.url, runners=3, connections=3,
                                                       seccomp="Localhost", thresholds=["status_2xx > 0"]))
    for name, (_, reason, rule) in bad.items():
        o = c.wait_for("loadtests", name, finished, 30, f"{name} to be rejected")
        st = o["status"]
        assert phase(o) == "Failed" and st["verdict"] == "Failed", st
        assert st["message"].startswith(f"rejected by the admin policy: {rule}: "), st["message"]
        assert "\n" not in st["message"]
        rejected = condition(o, "Rejected")
        assert (rejected["status"], rejected["reason"]) == ("True", reason), rejected
        assert condition(o, "Failed")["reason"] == "Rejected"
        assert printer_columns(c, o)["Phase"] == "Failed"
    o = c.wait_for("loadtests", "allowed", finished, 90, "the allowed LoadTest to finish")
    assert phase(o) == "Succeeded" and o["status"]["verdict"] == "Passed", o["status"].get("message")
    assert not [x for x in o["status"].get("conditions", []) if x["type"] == "Rejected"]
    # Nothing was made for a rejected test: no Job, pod or runner ServiceAccount, ever.
    for name in bad:
        made = [(e.res[1], e.obj["metadata"].get("name")) for e in c.store.history
                if e.res[1] not in ("loadtests", "events")
                and (e.obj["metadata"].get("name") in (name, f"{name}-runner")
                     or (e.obj["metadata"].get("labels") or {}).get(LT_LABEL) == name)]
        assert not made, (name, made)
    events = c.client.request("GET", f"/apis/events.k8s.io/v1/namespaces/{c.namespace}/events")["items"]
    rejected_events = {e["regarding"]["name"] for e in events if e.get("reason") == "Rejected" and e["type"] == "Warning"}
    assert rejected_events == set(bad), rejected_events
    watch_namespaces(target)
    secret_templates(c, target)


def secret_templates(c: Cluster, target) -> None:
    """A template from a Secret key: mounted by the kubelet (only that key), sent as the
    request; the runner's Role reads no Secret and the runners never asked for one."""
    host = target.url.split("/")[2]
    text = f"GET /status/201 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer s3cr3t\r\n\r\n"
    c.client.create("secrets", c.namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-token"},
                                             "data": {"get.raw": base64.b64encode(text.encode()).decode(),
                                                      "unused": base64.b64encode(b"x").decode()}})
    c.client.create("loadtests", c.namespace, loadtest(
        "from-secret", "", runners=2, connections=2, expectedStatus=201,
        templates=[{"secretRef": {"name": "api-token", "key": "get.raw"}}],
        thresholds=["unexpected_status == 0", "status_2xx > 0"]))
    o = c.wait_for("loadtests", "from-secret", finished, 90, "the Secret template's LoadTest")
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", (st.get("message"), st.get("thresholdResults"))
    assert all(r["passed"] for r in st["thresholdResults"]), "every response came from the Secret's template"
    assert "s3cr3t" not in json.dumps(o), "the credential is nowhere in the LoadTest"
    job = next(e.obj for e in c.store.history if e.res == ("batch", "jobs") and e.obj["metadata"]["name"] == "from-secret")
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "tpl-secret-0", "secret": {"secretName": "api-token", "items": [
        {"key": "get.raw", "path": "get.raw"}]}} in volumes, volumes
    assert "secrets" not in json.dumps(c.get("roles", "from-secret-runner")), "runners read no Secret"
    asked = [r for r in c.server.request_log if "/secrets" in r[1] and r[3] != "system:admin"]
    assert not asked, asked


def watch_namespaces(target) -> None:
    """operator.watchNamespaces: the chart binds the operator's ClusterRole by a RoleBinding in
    each listed namespace only; the operator (GC_WATCH_NAMESPACES) runs LoadTests there and
    leaves the others alone, never needing (or trying) anything cluster-wide."""
    values = {"operator": {"watchNamespaces": ["e2e", "team-b"]}}
    with Cluster(REPO, bin_dir=os.environ.get("STANDIN_BIN_DIR"), chart_values=values) as c:
        assert c.client.list("clusterrolebindings") == []
        assert sorted(b["metadata"]["namespace"] for b in c.client.list("rolebindings")) == ["e2e", "team-b"]
        c.client.create("namespaces", None, {"metadata": {"name": "elsewhere"}})
        c.start_operator({"GC_WATCH_NAMESPACES": "e2e,team-b"})
        for ns in ("team-b", "elsewhere"):
            c.client.create("loadtests", ns, {**loadtest("w", target.url, runners=1, connections=1),
                                              "metadata": {"name": "w", "namespace": ns}})
        o = c.wait_for("loadtests", "w", finished, 60, "the watched namespace's LoadTest", ns="team-b")
        assert phase(o) == "Succeeded" and o["status"]["verdict"] == "Passed", o["status"].get("message")
        assert phase(c.get("loadtests", "w", "elsewhere")) is None, "a LoadTest outside the watched namespaces"
        assert c.get("jobs", "w", "elsewhere") is None and c.get("serviceaccounts", "w-runner", "elsewhere") is None
        refused = [r for r in c.server.request_log if r[3] == c.operator_user and r[2] in (401, 403)]
        assert not refused, refused


def rbac_is_what_the_operator_calls(calls: set[tuple[str, str, str]],
                                    delegated: set[tuple[str, str, str]]) -> tuple[bool, str]:
    """Every scenario ran with the operator held to the chart's ClusterRole (a missing
    grant is a 403 there); over all of them, no grant may go unused either. A grant
    the operator passes on in the runner Roles counts as used: RBAC's escalation
    check refuses a Role granting what its creator does not hold."""
    from standin.cluster import chart_operator_rbac
    (role,) = [o for o in chart_operator_rbac(REPO) if o["kind"] == "ClusterRole"]
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    unused, missing = sorted(granted - calls - delegated), sorted(calls - granted)
    if unused or missing:
        return False, f": granted but never called {unused}; called but not granted {missing}"
    return True, ""


# Scenarios run only when named (run.sh 16): none today; the 1000-runner one
# takes about ten minutes on two cores and runs in CI.
ONLY_WHEN_NAMED: set[str] = set()
SCALE_RUNNERS = 1000
DAY = 86_400
OBJECT_LIMIT = 256 * 1024  # the design's bound on a LoadTest or RunnerResult (README, Kubernetes section)


def wide_result(index: int, pod: str) -> tuple[dict, dict[int, int]]:
    """A runner's final RunnerResult status for a 24 h run: a wide histogram
    (100 us to 3.5 s, ~23 kB encoded) and the day's timeline at the 8 s step a
    runner coarsens it to (api::loadtest::MAX_RESULT_BYTES); and its counts by index."""
    rnd = random.Random(index)
    counts = {i: rnd.randint(1, 400) for i in range(100, 13_000) if rnd.random() < 0.97}
    responses = sum(counts.values())
    step, points = 8, DAY // 8
    per, extra = divmod(responses, points)
    timeline = {"stepSec": step, "responses": [per + (1 if i < extra else 0) for i in range(points)],
                "p99Us": [rnd.randint(2_000, 90_000) for _ in range(points)]}
    report = {"requests": responses + index % 3, "responses": responses, "bytesRead": responses * 120,
              "status": {"2xx": responses}, "elapsedSec": float(DAY), "histogram": hdr.encode(counts)}
    return ({"phase": "Done", "pod": pod, "report": report, "timeline": timeline,
             "reduced": "timeline coarsened from 1 s to 8 s steps to keep this result under 245760 bytes"},
            counts)


@scenario("16", "1000 runners x 24 h injected into RunnerResults: Succeeded, exact merge, bounded LoadTest")
def thousand_runners_a_day_each(c: Cluster) -> None:
    n, name = SCALE_RUNNERS, "scale"
    c.kubelet.fake = lambda pod: pod["metadata"].get("labels", {}).get(LT_LABEL) == name
    # The chart's default policy caps runners at 100 and runs at 1 h; an admin
    # running tests this size lifts both.
    policy = chart_policy()
    policy["max"].update({"runners": n, "duration": "25h"})
    # The stand-in (Python, one lock) brings 1000 pods up in minutes, not seconds.
    c.start_operator({"GC_POLICY": json.dumps(policy), "GC_START_TIMEOUT": "30m"})
    c.client.create("loadtests", c.namespace, loadtest(
        name, "http://127.0.0.1:9/", runners=n, connections=n, duration="24h",
        thresholds=["errors == 0", "status_2xx > 0"]))
    c.wait_for("loadtests", name, reached("Starting"), 300, "the Job and the results to be created")
    assert len(c.client.list("runnerresults", c.namespace, f"{LT_LABEL}={name}")) == n
    wait_until(lambda: len(c.pods(f"{LT_LABEL}={name}")) == n, 1200, f"{n} runner pods")
    pods = {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]): p["metadata"]["name"]
            for p in c.pods(f"{LT_LABEL}={name}")}
    for i in range(n):  # each runner announces itself, as the agent does once its plan is resolved
        c.client.patch("runnerresults", c.namespace, f"{name}-{i}", {"status": {"phase": "Ready", "pod": pods[i]}},
                       "merge", "status")
    c.wait_for("loadtests", name, reached("Running"), 120, "startAt")
    total: dict[int, int] = {}
    responses = requests = 0
    for i in range(n):
        status, counts = wide_result(i, pods[i])
        c.client.patch("runnerresults", c.namespace, f"{name}-{i}", {"status": status}, "merge", "status")
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        responses += status["report"]["responses"]
        requests += status["report"]["requests"]
    for i in range(n):
        c.kubelet.finish(c.namespace, pods[i], 0)
    o = c.wait_for("loadtests", name, finished, 300, f"{name} to finish")
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", st.get("message")
    summary = st["summary"]
    assert (summary["responses"], summary["requests"]) == (responses, requests), "merged counts are exact sums"
    assert hdr.decode(summary["histogram"]) == total, "the merged histogram is the bucket-by-bucket sum"
    assert summary["elapsedSec"] == DAY
    t = st["timeline"]
    assert sum(t["responses"]) == responses and t["stepSec"] == 256 and len(t["responses"]) == 338, \
        (t["stepSec"], len(t["responses"]))
    assert [(s["index"], s["phase"]) for s in st["shards"]] == [(i, "Done") for i in range(n)]
    sizes = {res: c.store.largest.get(("glasscannon.dev", res), 0) for res in ("loadtests", "runnerresults")}
    print(f"largest object: {max(sizes.values())} bytes "
          f"(LoadTest {sizes['loadtests']}, RunnerResult {sizes['runnerresults']})", flush=True)
    assert max(sizes.values()) <= OBJECT_LIMIT, sizes
    # The stand-in's garbage collector takes minutes, not seconds, over 1000 pods.
    assert_cleaned_up(c, name, timeout=600)


def small_result(pod: str, latencies: dict[int, int]) -> dict:
    """A runner's final RunnerResult status: these latency counts (by histogram index), 1 s."""
    n = sum(latencies.values())
    report = {"requests": n, "responses": n, "bytesRead": n * 100, "status": {"2xx": n}, "elapsedSec": 1.0,
              "histogram": hdr.encode(latencies)}
    return {"phase": "Done", "pod": pod, "report": report,
            "timeline": {"stepSec": 1, "responses": [n], "p99Us": [max(latencies)]}}


@scenario("19", "a runner's token: another LoadTest's results and every LoadTest status refused (403); "
              "a result one runner writes for another is not merged")
def runner_cannot_forge(c: Cluster) -> None:
    names = ("victim", "forger")
    c.kubelet.fake = lambda pod: pod["metadata"].get("labels", {}).get(LT_LABEL) in names
    c.start_operator()
    for name in names:
        c.client.create("loadtests", c.namespace, loadtest(name, "http://127.0.0.1:9/", runners=2, connections=2,
                                                           thresholds=["errors == 0"]))
    pods: dict[str, dict[int, str]] = {}
    for name in names:
        wait_until(lambda: len(c.pods(f"{LT_LABEL}={name}")) == 2, 60, f"{name}'s runner pods")
        pods[name] = {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]):
                      p["metadata"]["name"] for p in c.pods(f"{LT_LABEL}={name}")}
    # The forger's runners' token, as the kubelet mounts it into their pods.
    runner = Client(c.server.url, c.store, token=c.server.tokens.issue(c.namespace, "forger-runner"))
    refused = [("loadtests", "victim", {"status": {"phase": "Succeeded", "verdict": "Passed"}}),
               ("loadtests", "forger", {"status": {"verdict": "Passed"}}),
               ("runnerresults", "victim-0", {"status": small_result(pods["victim"][0], {100: 10**6})})]
    for plural, target, body in refused:
        try:
            runner.patch(plural, c.namespace, target, body, "merge", "status")
            raise AssertionError(f"a runner's token wrote {plural}/{target}")
        except ApiError as e:
            assert e.code == 403, (plural, target, e.code, e.message)
    for name in names:  # each runner announces itself, as the agent does
        for i, pod in pods[name].items():
            c.client.patch("runnerresults", c.namespace, f"{name}-{i}", {"status": {"phase": "Ready", "pod": pod}},
                           "merge", "status")
        c.wait_for("loadtests", name, reached("Running"), 60, f"{name}'s startAt")
    # Runner 0 writes a huge result into runner 1's object (its token may; only
    # the admission policy, which the stand-in lacks, would refuse it), naming itself.
    forged = small_result(pods["forger"][0], {100: 10**6})
    runner.patch("runnerresults", c.namespace, "forger-1", {"status": forged}, "merge", "status")
    time.sleep(1)  # the operator's watch sees the forged result before the real one replaces it
    honest = {name: {i: {200 + i: 5 + i} for i in range(2)} for name in names}
    for name in names:
        for i, pod in pods[name].items():
            c.client.patch("runnerresults", c.namespace, f"{name}-{i}", {"status": small_result(pod, honest[name][i])},
                           "merge", "status")
            c.kubelet.finish(c.namespace, pod, 0)
    for name in names:
        o = c.wait_for("loadtests", name, finished, 60, f"{name} to finish")
        st = o["status"]
        assert phase(o) == "Succeeded" and st["verdict"] == "Passed", st.get("message")
        want = {k: v for part in honest[name].values() for k, v in part.items()}
        assert st["summary"]["responses"] == sum(want.values()), (name, st["summary"]["responses"])
        assert hdr.decode(st["summary"]["histogram"]) == want, name
        assert_cleaned_up(c, name)


# ----- runner -------------------------------------------------------------------------------------------------

def tls_pki(d: str) -> dict[str, str]:
    """A CA, a server certificate it signed for 127.0.0.1, and another CA of the
    same name (the wrong one): P-256 keys by `openssl`, as an operator of a
    gateway would make them."""
    files = {n: os.path.join(d, n) for n in ("ca.crt", "ca.key", "other-ca.crt", "other-ca.key",
                                             "server.crt", "server.key", "server.csr", "ext")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=glass cannon e2e CA",
                "-keyout", files[f"{ca}.key"], "-out", files[f"{ca}.crt"])
    openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", files["server.key"], "-out", files["server.csr"])
    with open(files["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", files["server.csr"], "-CA", files["ca.crt"], "-CAkey", files["ca.key"],
            "-CAcreateserial", "-days", "2", "-extfile", files["ext"], "-out", files["server.crt"])
    return files


def secret(c: Cluster, name: str, files: dict[str, str]) -> None:
    data = {key: base64.b64encode(open(path, "rb").read()).decode() for key, path in files.items()}
    c.client.create("secrets", c.namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                                             "type": "Opaque", "data": data})


@scenario("17", "spec.tls against serve --tls: CA from a Secret and insecure Succeed with handshakes "
                "counted; a wrong CA fails naming spec.tls.ca and the Secret")
def tls(c: Cluster) -> None:
    if shutil.which("openssl") is None:
        raise AssertionError("openssl is needed to make the certificates (apt-get install openssl)")
    pki = tls_pki(c.dir)
    c.start_operator()
    target = c.start_target(["serve", "--listen", "", "--threads", "1", "--tls",
                             "--cert", pki["server.crt"], "--key", pki["server.key"]])
    assert target.url.startswith("https://"), target.url
    secret(c, "gateway-ca", {"ca.crt": pki["ca.crt"]})
    secret(c, "other-ca", {"ca.crt": pki["other-ca.crt"]})
    gate = ["errors == 0", "status_2xx > 0"]
    c.client.create("loadtests", c.namespace, loadtest(
        "tls-ca", target.url, runners=2, connections=4, pipeline=4, thresholds=gate,
        tls={"secretName": "gateway-ca", "ca": "ca.crt"}))
    c.client.create("loadtests", c.namespace, loadtest(
        "tls-insecure", target.url, runners=2, connections=2, requestsPerConnection=20, thresholds=gate,
        tls={"insecure": True, "resume": True}))
    c.client.create("loadtests", c.namespace, loadtest(
        "tls-wrong-ca", target.url, runners=2, connections=2, tls={"secretName": "other-ca", "ca": "ca.crt"}))

    o = c.wait_for("loadtests", "tls-ca", finished, 90, "tls-ca to finish")
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", (st.get("message"), st.get("thresholdResults"))
    summary = st["summary"]
    assert summary["responses"] > 0 and summary["errors"]["tls"] == 0, summary
    # One full handshake per connection, on both runners, verified against the Secret's CA.
    tls = summary["tls"]
    assert tls["handshakes"] == 4 and tls["resumed"] == 0, tls
    assert 0 < tls["handshakeLatency"]["p50Us"] <= tls["handshakeLatency"]["maxUs"], tls
    job = next(e.obj for e in c.store.history
               if e.res == ("batch", "jobs") and e.obj["metadata"]["name"] == "tls-ca")
    pod = job["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "gateway-ca"}} in pod["volumes"], pod["volumes"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "tls")
    assert mount["mountPath"] == "/etc/gcannon/tls" and mount["readOnly"] is True, mount
    assert "secrets" not in json.dumps(c.client.list("roles", c.namespace)), "runners read no Secret"

    o = c.wait_for("loadtests", "tls-insecure", finished, 90, "tls-insecure to finish")
    st = o["status"]
    assert phase(o) == "Succeeded" and st["verdict"] == "Passed", (st.get("message"), st.get("thresholdResults"))
    summary = st["summary"]
    # A reconnect every 20 responses: many handshakes, most of them resumed.
    assert summary["tls"]["handshakes"] > 4 and summary["tls"]["resumed"] > 0, summary["tls"]
    assert summary["errors"]["tls"] == 0, summary

    o = c.wait_for("loadtests", "tls-wrong-ca", finished, 90, "tls-wrong-ca to fail")
    assert phase(o) == "Failed", o["status"]
    failed = condition(o, "Failed")
    msg = failed["message"]
    assert failed["status"] == "True", failed
    assert f"TLS handshake with 127.0.0.1:{target.port} failed" in msg, msg
    assert "not signed by a CA of spec.tls.ca (key ca.crt of Secret other-ca)" in msg, msg
    assert "--cacert" not in msg and "--insecure" not in msg, msg
    assert_cleaned_up(c, "tls-wrong-ca")


def main(argv: list[str]) -> int:
    wanted = set(argv)
    default = [s for s in SCENARIOS if s[0] not in ONLY_WHEN_NAMED]
    chosen = [s for s in SCENARIOS if s[0] in wanted] if wanted else default
    passed = failed = 0
    began = time.monotonic()
    logdir = os.environ.get("STANDIN_LOGS")
    calls: set[tuple[str, str, str]] = set()
    runner_calls: set[tuple[str, str, str]] = set()
    runner_grants: set[tuple[str, str, str]] = set()
    for number, title, fn in chosen:
        t0 = time.monotonic()
        c = Cluster(REPO, bin_dir=os.environ.get("STANDIN_BIN_DIR"))
        try:
            fn(c)
            calls |= c.operator_calls()
            runner_calls |= c.runner_calls()
            runner_grants |= c.runner_grants()
            ok, why = True, ""
        except Exception as e:  # an assertion or anything else: the scenario failed
            ok, why = False, f"{type(e).__name__}: {e}"
            detail = traceback.format_exc() + "\n" + c.logs()
            if logdir:
                os.makedirs(logdir, exist_ok=True)
                with open(os.path.join(logdir, f"scenario-{number}.log"), "w") as f:
                    f.write(detail)
            else:
                sys.stderr.write(detail + "\n")
        finally:
            c.close()
        dt = time.monotonic() - t0
        if ok:
            passed += 1
            print(f"ok     {number} {title} ({dt:.1f}s)", flush=True)
        else:
            failed += 1
            print(f"FAILED {number} {title} ({dt:.1f}s): {why.splitlines()[0][:400]}", flush=True)
    if chosen == default and not failed:
        ok, why = rbac_is_what_the_operator_calls(calls, runner_grants)
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'ok    ' if ok else 'FAILED'} rbac the chart's operator ClusterRole grants exactly what the operator "
              f"called over all scenarios{why}", flush=True)
        unused, missing = sorted(runner_grants - runner_calls), sorted(runner_calls - runner_grants)
        ok = bool(runner_calls) and not unused and not missing
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'ok    ' if ok else 'FAILED'} rbac the runner Roles the operator makes grant exactly what the agents "
              f"called{'' if ok else f': granted but never called {unused}; called but not granted {missing}'}",
              flush=True)
    print(f"all scenarios took {time.monotonic() - began:.0f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not chosen else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
