"""One emulated cluster for a test: the API server stand-in, the kubelet, the
real operator binary and a real `gcannon serve` target, plus a small HTTP
client that talks to the stand-in as kubectl would.

    with Cluster(repo) as c:
        c.start_operator()
        target = c.start_target()
        c.client.create("loadtests", "default", {...})
        lt = c.wait_for("loadtests", "default", "smoke", lambda o: phase(o) == "Succeeded")
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Callable

from .errors import ApiError
from .kubelet import Kubelet
from .resources import Resource, builtin_resources, crd_resources
from .server import ApiServer
from .store import ETCD_MAX_OBJECT_BYTES, Store

NAMESPACE = "e2e"
# The namespace the chart is taken to be installed in (its operator ServiceAccount lives there).
RELEASE_NAMESPACE = "glass-cannon"


def chart_operator_rbac(repo: str, values: dict | None = None) -> list[dict]:
    """The operator's ClusterRole and its binding(s) as `helm install` renders them."""
    import helm_python as helm  # helm-python-sdk: Helm's own Go SDK
    import yaml
    with helm.Chart.load(os.path.join(repo, "charts", "glass-cannon")) as chart:
        rendered = chart.render(values=values, name="glass-cannon", namespace=RELEASE_NAMESPACE, is_install=True)
    out = []
    for path, text in rendered.items():
        if path.endswith("clusterrole.yaml"):
            out += [d for d in yaml.safe_load_all(text) if d]
    assert {o["kind"] for o in out} in ({"ClusterRole", "ClusterRoleBinding"}, {"ClusterRole", "RoleBinding"}), out
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """The Kubernetes API over HTTP, resources named by plural (`pods`, `jobs`, `loadtests`)."""

    def __init__(self, url: str, store: Store, user_agent: str = "standin-client/1.0", token: str | None = None):
        self.url = url
        self.store = store
        self.user_agent = user_agent
        # None: the admin identity; a ServiceAccount token from `ApiServer.tokens` otherwise.
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def resource(self, plural: str) -> Resource:
        found = [r for r in self.store.resources.values() if r.plural == plural]
        if not found:
            raise KeyError(f"no resource {plural!r}")
        core = [r for r in found if r.group in ("",)]
        return (core or found)[0]

    def path(self, plural: str, ns: str | None = None, name: str | None = None, sub: str = "") -> str:
        r = self.resource(plural)
        p = "/api/v1" if not r.group else f"/apis/{r.group}/{r.version}"
        if r.namespaced and ns is not None:
            p += f"/namespaces/{ns}"
        p += f"/{r.plural}"
        if name:
            p += f"/{name}"
        if sub:
            p += f"/{sub}"
        return p

    def request(self, method: str, path: str, body=None, content_type: str = "application/json",
                query: str = ""):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path + (f"?{query}" if query else ""), data=data, method=method,
                                     headers={"Content-Type": content_type, "User-Agent": self.user_agent,
                                              "Accept": "application/json", **self.auth})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            b = json.loads(e.read() or b"{}")
            raise ApiError(e.code, b.get("reason"), b.get("message", ""), b.get("details"))

    def get(self, plural: str, ns: str | None, name: str) -> dict:
        return self.request("GET", self.path(plural, ns, name))

    def get_opt(self, plural: str, ns: str | None, name: str) -> dict | None:
        try:
            return self.get(plural, ns, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(self, plural: str, ns: str | None = None, label_selector: str = "") -> list[dict]:
        q = f"labelSelector={urllib.request.quote(label_selector)}" if label_selector else ""
        return self.request("GET", self.path(plural, ns), query=q)["items"]

    def watch(self, plural: str, ns: str | None, resource_version: str, field_selector: str = "",
              label_selector: str = "", timeout: int = 60):
        """Yield (type, object) from a watch stream, as kubectl and client-go read it."""
        q = [f"watch=true&resourceVersion={resource_version}&timeoutSeconds={timeout}&allowWatchBookmarks=true"]
        if field_selector:
            q.append("fieldSelector=" + urllib.request.quote(field_selector))
        if label_selector:
            q.append("labelSelector=" + urllib.request.quote(label_selector))
        req = urllib.request.Request(self.url + self.path(plural, ns) + "?" + "&".join(q),
                                     headers={"User-Agent": self.user_agent, **self.auth})
        with urllib.request.urlopen(req, timeout=timeout + 5) as resp:
            for line in resp:
                ev = json.loads(line)
                yield ev["type"], ev["object"]

    def wait_condition(self, plural: str, ns: str, name: str, condition: str, timeout: int = 60) -> dict:
        """`kubectl wait --for=condition=X`: list by name, then watch from the list's
        resourceVersion until the condition is True; a 410 restarts from a fresh list."""
        def true(o):
            return any(c.get("type") == condition and c.get("status") == "True"
                       for c in (o.get("status") or {}).get("conditions") or [])
        deadline = time.monotonic() + timeout
        sel = f"metadata.name={name}"
        while time.monotonic() < deadline:
            lst = self.request("GET", self.path(plural, ns), query="fieldSelector=" + urllib.request.quote(sel))
            if lst["items"] and true(lst["items"][0]):
                return lst["items"][0]
            left = max(1, int(deadline - time.monotonic()))
            for typ, obj in self.watch(plural, ns, lst["metadata"]["resourceVersion"], sel, timeout=left):
                if typ == "ERROR":
                    break
                if typ in ("ADDED", "MODIFIED") and true(obj):
                    return obj
                if typ == "DELETED":
                    raise AssertionError(f"{plural}/{name} was deleted while waiting for {condition}")
        raise AssertionError(f"timed out after {timeout}s waiting for {plural}/{name} condition {condition}")

    def create(self, plural: str, ns: str | None, obj: dict) -> dict:
        return self.request("POST", self.path(plural, ns), obj)

    def replace(self, plural: str, ns: str | None, obj: dict, sub: str = "") -> dict:
        return self.request("PUT", self.path(plural, ns, obj["metadata"]["name"], sub), obj)

    def patch(self, plural: str, ns: str | None, name: str, patch, kind: str = "merge", sub: str = "",
              manager: str = "", force: bool = False) -> dict:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                 "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}[kind]
        q = "&".join(x for x in (f"fieldManager={manager}" if manager else "", "force=true" if force else "") if x)
        return self.request("PATCH", self.path(plural, ns, name, sub), patch, ctype, q)

    def delete(self, plural: str, ns: str | None, name: str, propagation: str | None = None,
               grace: int | None = None) -> dict:
        q = "&".join(x for x in (f"propagationPolicy={propagation}" if propagation else "",
                                 f"gracePeriodSeconds={grace}" if grace is not None else "") if x)
        return self.request("DELETE", self.path(plural, ns, name), query=q)


class Process:
    """A child process with its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: str):
        self.argv, self.log = argv, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()


class Target:
    """`gcannon serve` on a loopback port."""

    def __init__(self, gcannon: str, log: str, args: list[str] | None = None):
        self.port = free_port()
        # `serve --tls` answers https:// (its certificate is the scenario's to trust).
        self.url = f"{'https' if '--tls' in (args or []) else 'http'}://127.0.0.1:{self.port}/"
        # `args` as a container spec gives them (`serve --listen 0.0.0.0:8080 ...`);
        # the listen address becomes this loopback port.
        args = list(args or ["serve", "--listen", "", "--threads", "1"])
        args[args.index("--listen") + 1] = f"127.0.0.1:{self.port}"
        self.process = Process([gcannon] + args, {"PATH": os.environ.get("PATH", "")}, log)
        wait_until(self._up, 15, "gcannon serve to listen")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def served(self) -> int:
        """Requests answered so far (the server's own count, `/stats` excluded)."""
        unverified = ssl.create_default_context()  # only the count matters here
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        with urllib.request.urlopen(f"{self.url}stats", timeout=5, context=unverified) as r:
            return json.loads(r.read())["requests"]

    def stop(self) -> None:
        self.process.stop()


def wait_until(pred: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# The CustomResourceDefinitions the stand-in serves, from the repository's crds/.
CRD_FILES = ("loadtest.yaml", "runnerresult.yaml")


class Cluster:
    """Stand-in API server + kubelet (+ operator, target on demand), in a temp dir."""

    def __init__(self, repo: str, bin_dir: str | None = None, max_object_bytes: int = ETCD_MAX_OBJECT_BYTES,
                 history_window: int = 20000, namespace: str = NAMESPACE, keep_dir: bool = False,
                 operator_rbac: bool = True, chart_values: dict | None = None):
        self.repo = repo
        self.bin_dir = bin_dir or os.path.join(repo, "target", "release")
        self.gcannon = os.path.join(self.bin_dir, "gcannon")
        self.operator_bin = os.path.join(self.bin_dir, "glass-cannon-operator")
        self.dir = tempfile.mkdtemp(prefix="standin-")
        self.keep_dir = keep_dir
        self.namespace = namespace
        crds = [r for f in CRD_FILES for r in crd_resources(os.path.join(repo, "crds", f))]
        self.store = Store(builtin_resources() + crds,
                           max_object_bytes=max_object_bytes, history_window=history_window)
        self.server = ApiServer(self.store).start()
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            json.dump(kubeconfig(self.server.url, namespace), f)
        self.kubelet = Kubelet(self.store, self.kubeconfig, {"gcannon": self.gcannon}, self.dir,
                               admit=self.server.admit, tokens=self.server.tokens).start()
        self.client = Client(self.server.url, self.store)
        self.operator: Process | None = None
        self.operator_runs = 0
        # The operator authenticates as the chart's ServiceAccount and is held to the
        # chart's ClusterRole (anything it lacks is a 403), unless operator_rbac=False.
        self.operator_user: str | None = None
        self.operator_kubeconfig = self.kubeconfig
        if operator_rbac:
            self._install_operator_rbac(chart_values)
        self.targets: list[Target] = []
        for ns in ("default", "kube-system", namespace):
            if not self.client.get_opt("namespaces", None, ns):
                self.client.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def _install_operator_rbac(self, values: dict | None) -> None:
        plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
                  "RoleBinding": "rolebindings"}
        for obj in chart_operator_rbac(self.repo, values):
            ns = obj["metadata"].get("namespace")
            if ns and not self.client.get_opt("namespaces", None, ns):
                self.client.create("namespaces", None, {"metadata": {"name": ns}})
            self.client.create(plural[obj["kind"]], ns, obj)
            if obj["kind"] != "ClusterRole":
                (sa,) = obj["subjects"]
        token = self.server.tokens.issue(sa["namespace"], sa["name"])
        self.operator_user = f"system:serviceaccount:{sa['namespace']}:{sa['name']}"
        config = kubeconfig(self.server.url, self.namespace)
        config["users"][0]["user"] = {"token": token}
        self.operator_kubeconfig = os.path.join(self.dir, "kubeconfig-operator")
        with open(self.operator_kubeconfig, "w") as f:
            json.dump(config, f)

    def operator_calls(self) -> set[tuple[str, str, str]]:
        """(API group, resource, verb) of every request the operator made."""
        return {(g, r, v) for user, g, r, v in self.server.authorized if user == self.operator_user}

    def runner_calls(self) -> set[tuple[str, str, str]]:
        """(API group, resource, verb) of every request made with a runner pod's token."""
        return {(g, r, v) for user, g, r, v in self.server.authorized
                if user.startswith("system:serviceaccount:") and user != self.operator_user}

    def runner_grants(self) -> set[tuple[str, str, str]]:
        """(API group, resource, verb) of every runner Role the operator created."""
        roles = [e.obj for e in self.store.history if e.res == ("rbac.authorization.k8s.io", "roles")]
        return {(g, r, v) for role in roles for rule in role.get("rules") or [] for g in rule["apiGroups"]
                for r in rule["resources"] for v in rule["verbs"]}

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.operator:
            self.operator.stop(signal.SIGKILL)
        self.kubelet.stop()
        for t in self.targets:
            t.stop()
        self.server.stop()

    # ----- processes -------------------------------------------------------------------------------

    def start_operator(self, env: dict[str, str] | None = None, wait_ready: bool = True) -> Process:
        """The release-built operator against the stand-in (one at a time)."""
        assert self.operator is None or not self.operator.alive(), "operator already running"
        self.operator_runs += 1
        port = free_port()
        full = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": self.operator_kubeconfig, "HOME": self.dir,
                "GC_METRICS_ADDR": f"127.0.0.1:{port}", "RUST_LOG": "info,kube=warn", **(env or {})}
        self.operator = Process([self.operator_bin], full, os.path.join(self.dir, f"operator-{self.operator_runs}.log"))
        self.operator.metrics_port = port  # type: ignore[attr-defined]
        if not wait_ready:
            return self.operator
        wait_until(lambda: self._ready(port) or not self.operator.alive(), 20, "the operator's /readyz")
        if not self.operator.alive():
            raise RuntimeError("operator exited at start:\n" + self.operator.output()[-2000:])
        return self.operator

    def _ready(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def kill_operator(self, sig: int = signal.SIGKILL) -> None:
        if self.operator:
            self.operator.stop(sig)

    def start_target(self, args: list[str] | None = None) -> Target:
        t = Target(self.gcannon, os.path.join(self.dir, f"target-{len(self.targets)}.log"), args)
        self.targets.append(t)
        return t

    # ----- helpers ---------------------------------------------------------------------------------------

    def get(self, plural: str, name: str, ns: str | None = None) -> dict | None:
        return self.client.get_opt(plural, ns or self.namespace, name)

    def wait_for(self, plural: str, name: str, pred: Callable[[dict | None], bool], timeout: float = 60,
                 what: str = "", ns: str | None = None) -> dict | None:
        """Poll the object until `pred(obj)` holds (obj is None once it is gone)."""
        last: list = [None]

        def check():
            last[0] = self.get(plural, name, ns)
            return pred(last[0])
        try:
            wait_until(check, timeout, what or f"{plural}/{name}", every=0.2)
        except TimeoutError as e:
            raise AssertionError(f"{e}; last seen: {json.dumps(_brief(last[0]))[:1500]}") from None
        return last[0]

    def pods(self, label_selector: str = "", ns: str | None = None) -> list[dict]:
        return self.client.list("pods", ns or self.namespace, label_selector)

    def logs(self) -> str:
        """The operator's and every pod's output, for a failure report."""
        out = []
        for i in range(1, self.operator_runs + 1):
            p = os.path.join(self.dir, f"operator-{i}.log")
            if os.path.exists(p):
                out.append(f"--- operator run {i} ---\n" + open(p, errors="replace").read()[-4000:])
        for (ns, name), path in self.store.logs.items():
            out.append(f"--- pod {ns}/{name} ---\n" + open(path, errors="replace").read()[-1500:])
        return "\n".join(out)


def _brief(obj: dict | None):
    """An object without the bulky parts (managedFields, histograms), for messages."""
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k in ("managedFields", "histogram"):
            continue
        out[k] = _brief(v) if isinstance(v, dict) else ([_brief(i) for i in v] if isinstance(v, list) else v)
    return out


def kubeconfig(url: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": url}}],
            "users": [{"name": "standin", "user": {}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin",
                                                         "namespace": namespace}}]}
