"""The stand-in's own Kubernetes semantics, checked over HTTP. Each test names
the behaviour of a real API server it pins down."""

import json
import os
import threading
import urllib.request

import pytest

from standin import ApiError, ApiServer, Client, Kubelet, Store, builtin_resources, crd_resources, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NS = "t"


def with_shard_list_map(resources):
    """The LoadTest CRD with `status.shards` a list-map keyed by `index` whose
    entries each runner applies on its own (as before RunnerResults): the
    stand-in's list-map apply semantics are pinned on it."""
    for r in resources:
        if r.plural == "loadtests":
            shards = r.schema["properties"]["status"]["properties"]["shards"]
            shards.update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["index"]})
            shards["items"]["properties"]["report"] = {"type": "object",
                                                       "x-kubernetes-preserve-unknown-fields": True}
    return resources


@pytest.fixture
def api():
    store = Store(builtin_resources() + with_shard_list_map(
        crd_resources(os.path.join(REPO, "crds", "loadtest.yaml"))), history_window=50)
    server = ApiServer(store).start()
    c = Client(server.url, store)
    c.create("namespaces", None, {"metadata": {"name": NS}})
    c.server = server
    yield c
    server.stop()


def lt(name="smoke", **spec):
    return {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "metadata": {"name": name},
            "spec": {"target": "http://127.0.0.1:1/", "connections": 2, "runners": 2, **spec}}


def shard_apply(index, phase="Running", report=None):
    s = {"index": index, "phase": phase, "pod": f"smoke-{index}"}
    if report is not None:
        s["report"] = report
    return {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "metadata": {"name": "smoke"},
            "status": {"shards": [s]}}


def status_error(excinfo):
    return excinfo.value.code, excinfo.value.reason


def test_create_sets_metadata_and_lists_carry_kind(api):
    o = api.create("loadtests", NS, lt())
    m = o["metadata"]
    assert m["uid"] and m["resourceVersion"] and m["generation"] == 1 and m["creationTimestamp"].endswith("Z")
    assert o["spec"]["timeout"] == "2s", "CRD defaults are applied"
    lst = api.request("GET", api.path("loadtests", NS))
    assert lst["kind"] == "LoadTestList" and lst["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in lst["items"]] == ["smoke"]


def test_standard_error_bodies(api):
    with pytest.raises(ApiError) as e:
        api.get("loadtests", NS, "nope")
    assert status_error(e) == (404, "NotFound")
    assert e.value.message == 'loadtests.glasscannon.dev "nope" not found'
    api.create("loadtests", NS, lt())
    with pytest.raises(ApiError) as e:
        api.create("loadtests", NS, lt())
    assert status_error(e) == (409, "AlreadyExists")
    with pytest.raises(ApiError) as e:
        api.create("loadtests", NS, lt("bad", runners=0))
    assert status_error(e) == (422, "Invalid")
    assert "spec.runners" in e.value.message
    with pytest.raises(ApiError) as e:
        api.create("loadtests", "missing", lt())
    assert status_error(e) == (404, "NotFound") and 'namespaces "missing"' in e.value.message


def test_cel_rules_of_the_crd_are_enforced(api):
    with pytest.raises(ApiError) as e:
        api.create("loadtests", NS, lt("cel", connections=2, runners=2, threads=2))
    assert e.value.code == 422 and "connections must be at least runners x threads" in e.value.message


def test_unknown_fields_are_pruned(api):
    o = api.create("loadtests", NS, lt(bogus=1))
    assert "bogus" not in o["spec"]


def test_stale_resource_version_is_a_conflict(api):
    o = api.create("loadtests", NS, lt())
    o["spec"]["runners"] = 1
    o["spec"]["connections"] = 1
    api.replace("loadtests", NS, o)
    with pytest.raises(ApiError) as e:
        api.replace("loadtests", NS, o)
    assert status_error(e) == (409, "Conflict")
    assert "the object has been modified" in e.value.message


def test_status_subresource_separates_spec_and_status(api):
    o = api.create("loadtests", NS, {**lt(), "status": {"phase": "Running"}})
    assert "status" not in o, "create drops status"
    o["status"] = {"phase": "Running"}
    o["spec"]["runners"] = 1
    o2 = api.replace("loadtests", NS, o)
    assert "status" not in o2 and o2["spec"]["runners"] == 1 and o2["metadata"]["generation"] == 2
    o2["status"] = {"phase": "Starting"}
    o2["spec"]["runners"] = 2
    o3 = api.replace("loadtests", NS, o2, sub="status")
    assert o3["status"]["phase"] == "Starting" and o3["spec"]["runners"] == 1
    assert o3["metadata"]["generation"] == 2, "status writes leave generation alone"


def test_apply_merges_list_map_entries_per_manager(api):
    api.create("loadtests", NS, lt())
    api.patch("loadtests", NS, "smoke", shard_apply(0), "apply", "status", "glass-cannon-runner-0", True)
    o = api.patch("loadtests", NS, "smoke", shard_apply(1), "apply", "status", "glass-cannon-runner-1", True)
    assert sorted(s["index"] for s in o["status"]["shards"]) == [0, 1]
    mf = {m["manager"]: m for m in o["metadata"]["managedFields"]}
    assert mf["glass-cannon-runner-0"]["operation"] == "Apply"
    assert mf["glass-cannon-runner-0"]["subresource"] == "status"
    assert 'k:{"index":0}' in mf["glass-cannon-runner-0"]["fieldsV1"]["f:status"]["f:shards"]
    # A manager's next apply without a field it applied before removes it.
    api.patch("loadtests", NS, "smoke", shard_apply(0, "Running", {"responses": 3}), "apply", "status",
              "glass-cannon-runner-0", True)
    o = api.patch("loadtests", NS, "smoke", shard_apply(0, "Failed"), "apply", "status",
                  "glass-cannon-runner-0", True)
    s0 = [s for s in o["status"]["shards"] if s["index"] == 0][0]
    assert s0["phase"] == "Failed" and "report" not in s0


def test_merge_patch_replaces_lists_and_takes_ownership(api):
    api.create("loadtests", NS, lt())
    api.patch("loadtests", NS, "smoke", shard_apply(0), "apply", "status", "glass-cannon-runner-0", True)
    o = api.patch("loadtests", NS, "smoke", {"status": {"phase": "Running"}}, "merge", "status", "op")
    assert o["status"]["phase"] == "Running" and len(o["status"]["shards"]) == 1
    op = [m for m in o["metadata"]["managedFields"] if m["manager"] == "op"][0]
    assert op["operation"] == "Update" and op["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_apply_conflicts_unless_forced(api):
    api.create("loadtests", NS, lt())
    api.patch("loadtests", NS, "smoke", {"status": {"phase": "Running"}}, "merge", "status", "op")
    body = {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "metadata": {"name": "smoke"},
            "status": {"phase": "Failed"}}
    with pytest.raises(ApiError) as e:
        api.patch("loadtests", NS, "smoke", body, "apply", "status", "other")
    assert status_error(e) == (409, "Conflict")
    assert e.value.details["causes"][0]["field"] == ".status.phase"
    o = api.patch("loadtests", NS, "smoke", body, "apply", "status", "other", force=True)
    assert o["status"]["phase"] == "Failed"
    assert all(m["manager"] != "op" for m in o["metadata"].get("managedFields", []))
    with pytest.raises(ApiError) as e:
        api.patch("loadtests", NS, "smoke", body, "apply", "status")
    assert e.value.code == 400, "apply needs a fieldManager"


def test_json_patch_and_strategic_merge(api):
    api.create("loadtests", NS, lt())
    o = api.patch("loadtests", NS, "smoke", [{"op": "replace", "path": "/spec/pipeline", "value": 4}], "json")
    assert o["spec"]["pipeline"] == 4
    with pytest.raises(ApiError) as e:
        api.patch("loadtests", NS, "smoke", [{"op": "test", "path": "/spec/pipeline", "value": 5}], "json")
    assert e.value.code == 422
    with pytest.raises(ApiError) as e:
        api.patch("loadtests", NS, "smoke", {"spec": {"pipeline": 2}}, "strategic")
    assert status_error(e) == (415, "UnsupportedMediaType"), "custom resources take no strategic merge patch"
    api.create("configmaps", NS, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    api.create("pods", NS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}, {"name": "b", "image": "y"}]}})
    p = api.patch("pods", NS, "p", {"spec": {"containers": [{"name": "b", "image": "z"}]}}, "strategic")
    assert [(c["name"], c["image"]) for c in p["spec"]["containers"]] == [("a", "x"), ("b", "z")]


def watch_lines(api, path, query, n):
    url = f"{api.url}{path}?watch=true&{query}"
    out = []
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r:
            out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def test_watch_from_a_resource_version_and_gone_when_compacted(api):
    o = api.create("loadtests", NS, lt())
    rv = o["metadata"]["resourceVersion"]
    api.patch("loadtests", NS, "smoke", {"status": {"phase": "Running"}}, "merge", "status", "op")
    api.delete("loadtests", NS, "smoke")
    evs = watch_lines(api, api.path("loadtests", NS), f"resourceVersion={rv}&timeoutSeconds=5", 2)
    assert [e["type"] for e in evs] == ["MODIFIED", "DELETED"]
    api.store.compact()
    evs = watch_lines(api, api.path("loadtests", NS), f"resourceVersion={rv}", 1)
    assert evs[0]["type"] == "ERROR" and evs[0]["object"]["code"] == 410


def test_label_selectors_on_list_and_watch(api):
    for name, app in (("a", "x"), ("b", "y"), ("c", "x")):
        api.create("configmaps", NS, {"metadata": {"name": name, "labels": {"app": app}}})
    assert [i["metadata"]["name"] for i in api.list("configmaps", NS, "app=x")] == ["a", "c"]
    assert [i["metadata"]["name"] for i in api.list("configmaps", NS, "app in (y),!nope")] == ["b"]
    evs = watch_lines(api, api.path("configmaps", NS), "labelSelector=app%3Dy&timeoutSeconds=5", 1)
    assert evs[0]["type"] == "ADDED" and evs[0]["object"]["metadata"]["name"] == "b"


def test_owner_references_are_garbage_collected(api):
    owner = api.create("loadtests", NS, lt())
    ref = {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "name": "smoke",
           "uid": owner["metadata"]["uid"], "controller": True}
    job = api.create("jobs", NS, {"metadata": {"name": "smoke", "ownerReferences": [ref]},
                                  "spec": {"template": {"spec": {"containers": [{"name": "r", "image": "i"}]}}}})
    jref = {"apiVersion": "batch/v1", "kind": "Job", "name": "smoke", "uid": job["metadata"]["uid"]}
    api.create("pods", NS, {"metadata": {"name": "smoke-0", "ownerReferences": [jref]},
                            "spec": {"containers": [{"name": "r", "image": "i"}]}})
    api.delete("loadtests", NS, "smoke")
    api.store.collect_garbage()
    api.store.collect_garbage()
    assert api.get_opt("jobs", NS, "smoke") is None
    assert api.get_opt("pods", NS, "smoke-0") is None


def test_jobs_orphan_their_pods_by_default(api):
    job = api.create("jobs", NS, {"metadata": {"name": "j"},
                                  "spec": {"template": {"spec": {"containers": [{"name": "r", "image": "i"}]}}}})
    jref = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job["metadata"]["uid"]}
    api.create("pods", NS, {"metadata": {"name": "j-0", "ownerReferences": [jref]},
                            "spec": {"containers": [{"name": "r", "image": "i"}]}})
    api.delete("jobs", NS, "j")
    api.store.collect_garbage()
    pod = api.get("pods", NS, "j-0")
    assert "ownerReferences" not in pod["metadata"]


def test_finalizers_hold_deletion(api):
    api.create("configmaps", NS, {"metadata": {"name": "f", "finalizers": ["example.com/keep"]}})
    o = api.delete("configmaps", NS, "f")
    assert o["metadata"]["deletionTimestamp"]
    cm = api.get("configmaps", NS, "f")
    cm["metadata"]["finalizers"] = []
    api.replace("configmaps", NS, cm)
    assert api.get_opt("configmaps", NS, "f") is None


def test_etcd_and_request_size_limits(api):
    big = "x" * (1536 * 1024)
    with pytest.raises(ApiError) as e:
        api.create("configmaps", NS, {"metadata": {"name": "big"}, "data": {"k": big}})
    assert e.value.code == 500 and e.value.message == "etcdserver: request is too large"
    with pytest.raises(ApiError) as e:
        api.create("configmaps", NS, {"metadata": {"name": "huge"}, "data": {"k": "x" * (3 * 1024 * 1024 + 1)}})
    assert status_error(e) == (413, "RequestEntityTooLarge")


def test_discovery_serves_what_it_has(api):
    core = api.request("GET", "/api/v1")
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/status", "pods/log", "events", "configmaps", "secrets", "serviceaccounts"} <= names
    groups = {g["name"] for g in api.request("GET", "/apis")["groups"]}
    assert {"batch", "coordination.k8s.io", "rbac.authorization.k8s.io", "glasscannon.dev", "events.k8s.io"} <= groups
    gc = api.request("GET", "/apis/glasscannon.dev/v1alpha1")
    lt_res = [r for r in gc["resources"] if r["name"] == "loadtests"][0]
    assert lt_res["kind"] == "LoadTest" and lt_res["shortNames"] == ["lt"]


def test_list_pages_are_a_consistent_snapshot(api):
    for i in range(3):
        api.create("configmaps", NS, {"metadata": {"name": f"c{i}"}})
    page = api.request("GET", api.path("configmaps", NS), query="limit=2")
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    api.create("configmaps", NS, {"metadata": {"name": "c9"}})
    rest = api.request("GET", api.path("configmaps", NS), query=f"limit=2&continue={page['metadata']['continue']}")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c2"]


def test_concurrent_appliers_never_lose_a_shard(api):
    api.create("loadtests", NS, lt(runners=8, connections=8))

    def runner(i):
        for phase in ("Running", "Running", "Done"):
            api.patch("loadtests", NS, "smoke", shard_apply(i, phase), "apply", "status", f"glass-cannon-runner-{i}", True)

    ts = [threading.Thread(target=runner, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    shards = api.get("loadtests", NS, "smoke")["status"]["shards"]
    assert sorted((s["index"], s["phase"]) for s in shards) == [(i, "Done") for i in range(8)]


def runner_rbac(api, name="runner", rules=None):
    """A ServiceAccount bound to a Role that reaches LoadTest `smoke` only, and its client."""
    api.create("serviceaccounts", NS, {"metadata": {"name": name}})
    api.create("roles", NS, {"metadata": {"name": name}, "rules": rules or [
        {"apiGroups": ["glasscannon.dev"], "resources": ["loadtests"], "verbs": ["get"], "resourceNames": ["smoke"]},
        {"apiGroups": ["glasscannon.dev"], "resources": ["loadtests/status"], "verbs": ["patch"],
         "resourceNames": ["smoke"]}]})
    api.create("rolebindings", NS, {"metadata": {"name": name},
                                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}]})
    return Client(api.url, api.store, token=api.server.tokens.issue(NS, name))


def test_service_account_tokens_are_authorized_by_rbac(api):
    api.create("loadtests", NS, lt())
    api.create("loadtests", NS, lt("other"))
    sa = runner_rbac(api)
    assert sa.get("loadtests", NS, "smoke")["metadata"]["name"] == "smoke"
    sa.patch("loadtests", NS, "smoke", shard_apply(0), "apply", sub="status", manager="runner-0")
    user = f"system:serviceaccount:{NS}:runner"
    denied = [
        (lambda: sa.get("loadtests", NS, "other"), f'loadtests.glasscannon.dev "other" is forbidden: User "{user}" '
         f'cannot get resource "loadtests" in API group "glasscannon.dev" in the namespace "{NS}"'),
        # resourceNames never grant list (the request has no name), nor the main resource's patch.
        (lambda: sa.list("loadtests", NS), "cannot list resource"),
        (lambda: sa.patch("loadtests", NS, "smoke", {"spec": {"runners": 1}}), "cannot patch resource \"loadtests\""),
        (lambda: sa.get("configmaps", NS, "smoke"), 'in API group ""'),
        (lambda: sa.get("loadtests", "default", "smoke"), 'in the namespace "default"'),
    ]
    for call, words in denied:
        with pytest.raises(ApiError) as e:
            call()
        assert status_error(e) == (403, "Forbidden") and words in e.value.message, e.value.message
    api.delete("rolebindings", NS, "runner")
    with pytest.raises(ApiError) as e:
        sa.get("loadtests", NS, "smoke")
    assert e.value.code == 403, "without its binding the Role grants nothing"
    with pytest.raises(ApiError) as e:
        Client(api.url, api.store, token="forged").get("loadtests", NS, "smoke")
    assert status_error(e) == (401, "Unauthorized")


def test_pods_need_their_service_account(api):
    pod = {"metadata": {"name": "p"}, "spec": {"serviceAccountName": "runner",
                                               "containers": [{"name": "c", "image": "x"}]}}
    with pytest.raises(ApiError) as e:
        api.create("pods", NS, pod)
    assert status_error(e) == (403, "Forbidden")
    assert e.value.message == (f'pods "p" is forbidden: error looking up service account {NS}/runner: '
                               'serviceaccount "runner" not found')
    api.create("pods", NS, {**pod, "metadata": {"name": "d"}, "spec": {"containers": pod["spec"]["containers"]}})
    api.create("serviceaccounts", NS, {"metadata": {"name": "runner"}})
    assert api.create("pods", NS, pod)["spec"]["serviceAccountName"] == "runner"


def test_job_controller_records_failed_create_and_retries(api, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({"clusters": [{"name": "s", "cluster": {"server": api.url}}]}))
    kubelet = Kubelet(api.store, str(kubeconfig), {}, str(tmp_path), admit=api.server.admit,
                      tokens=api.server.tokens).start()
    try:
        api.create("jobs", NS, {"metadata": {"name": "j"}, "spec": {
            "completions": 1, "parallelism": 1, "completionMode": "Indexed", "template": {"spec": {
                "serviceAccountName": "runner", "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "x", "command": ["absent"]}]}}}})
        sel = "involvedObject.kind=Job,involvedObject.name=j,reason=FailedCreate"
        events = wait_until(lambda: api.request("GET", api.path("events", NS),
                                                query="fieldSelector=" + urllib.request.quote(sel))["items"],
                            10, "a FailedCreate event")
        ev = events[0]
        assert ev["type"] == "Warning" and ev["source"]["component"] == "job-controller"
        assert ev["message"].startswith('Error creating: pods "j-0-" is forbidden: error looking up service account')
        assert ev["involvedObject"]["uid"] == api.get("jobs", NS, "j")["metadata"]["uid"]
        assert not api.list("pods", NS), "the refused pod was not stored"
        wait_until(lambda: api.get("events", NS, ev["metadata"]["name"])["count"] > 1, 10, "the retry")
        api.create("serviceaccounts", NS, {"metadata": {"name": "runner"}})
        pods = wait_until(lambda: api.list("pods", NS), 15, "the pod once its ServiceAccount exists")
        assert pods[0]["spec"]["serviceAccountName"] == "runner"
    finally:
        kubelet.stop()
