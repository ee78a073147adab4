"""A Job controller, scheduler and kubelet for one node, all in one: it
watches Jobs, creates an Indexed Job's pods as the Job controller does, "binds"
them to the node, runs each pod's container as a real local process with the
environment the pod spec gives it, keeps pod and Job status, and on a pod's
deletion sends SIGTERM, then SIGKILL once the grace period is over.

Failures a real node can have are injected with `Kubelet.inject`: a pod that
cannot be scheduled, an image that cannot be pulled, a container config error,
a container that never becomes ready."""

from __future__ import annotations

import base64
import copy
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from . import errors
from .access import Tokens
from .server import Request
from .store import Store, now_rfc3339

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
CONTROLLER = "kube-controller-manager"
KUBELET = "kubelet"

# What `Kubelet.inject` can make happen to a pod, and how it shows in its status.
FAULTS = ("Unschedulable", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError",
          "CreateContainerError", "CrashLoopBackOff", "NeverReady")


@dataclass
class Fault:
    """Make pods matching `when` fail the way `reason` says."""

    reason: str
    when: Callable[[dict], bool]
    message: str = ""


@dataclass
class Container:
    """One running pod's process."""

    proc: "subprocess.Popen | FakeProcess"
    started: str
    log: str
    terminating: bool = False
    kill_timer: threading.Timer | None = None
    signals: list[str] = field(default_factory=list)


class FakeProcess:
    """A container without a process, for scale scenarios: Running and Ready at
    once, it ends when `Kubelet.finish` says (or on SIGTERM/SIGKILL), like a
    `Popen` whose waiter thread has already been started."""

    pid = 0

    def __init__(self, events: queue.Queue, key: tuple[str, str]):
        self.returncode: int | None = None
        self._events = events
        self._key = key

    def poll(self) -> int | None:
        return self.returncode

    def wait(self) -> int | None:
        return self.returncode

    def end(self, returncode: int) -> None:
        if self.returncode is None:
            self.returncode = returncode
            self._events.put(("exited", self._key))

    def send_signal(self, sig: int) -> None:
        self.end(-sig)

    def kill(self) -> None:
        self.end(-signal.SIGKILL)


def pod_index(pod: dict) -> int | None:
    v = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(v) if v is not None and v.isdigit() else None


class Kubelet:
    def __init__(self, store: Store, kubeconfig: str, binaries: dict[str, str], workdir: str,
                 node_name: str = "standin-node", extra_env: dict[str, str] | None = None,
                 admit: Callable[[Request], None] | None = None, tokens: Tokens | None = None):
        self.store = store
        # The API server's admission chain, which the Job controller's pod creates go
        # through as a real controller's do; the token issuer for pods' ServiceAccounts.
        self.admit = admit or (lambda req: None)
        self.tokens = tokens
        self.kubeconfig = kubeconfig
        self.binaries = binaries
        self.workdir = workdir
        self.node = node_name
        self.extra_env = extra_env or {}
        self.faults: list[Fault] = []
        # Pods matching this get a FakeProcess instead of a real one (scale scenarios).
        self.fake: Callable[[dict], bool] | None = None
        self.containers: dict[tuple[str, str], Container] = {}
        self.admitted: set[tuple[str, str]] = set()
        # The Job controller's memory of finished pods by Job uid, so that a failed or
        # deleted pod still counts once it is gone (as its tracking finalizer ensures).
        self.finished: dict[str, dict[str, tuple[str, int | None]]] = {}
        self.history: list[tuple[str, str, str]] = []  # (pod, what, detail): starts, signals, exits
        self.failed_creates: dict[tuple[str, str], tuple[int, str]] = {}  # (Job uid, message) -> (count, Event)
        self.events: queue.Queue = queue.Queue()
        self.dirty: dict[tuple[str, str], tuple[str, str]] = {}  # Jobs to sync once the queue runs dry
        self.dirty_since = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.jobs = store.resource("batch", "jobs")
        self.pods = store.resource("", "pods")

    # ----- public API ---------------------------------------------------------------------------

    def start(self) -> "Kubelet":
        for res in (self.jobs, self.pods):
            t = threading.Thread(target=self._watch, args=(res,), name=f"kubelet-watch-{res.plural}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        """Kill every container (SIGKILL) and stop."""
        self._stop.set()
        self.events.put(("stop", None))
        for c in list(self.containers.values()):
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
            if c.kill_timer:
                c.kill_timer.cancel()

    def inject(self, reason: str, when: Callable[[dict], bool] = lambda pod: True, message: str = "") -> Fault:
        """Make matching pods fail with `reason` (one of FAULTS) from now on."""
        if reason not in FAULTS:
            raise ValueError(f"unknown fault {reason!r}; one of {FAULTS}")
        f = Fault(reason, when, message)
        self.faults.append(f)
        return f

    def kill(self, namespace: str, pod: str, sig: int = signal.SIGKILL) -> None:
        """Signal a pod's process, as an OOM kill or a crash would end it."""
        c = self.containers[(namespace, pod)]
        c.signals.append(signal.Signals(sig).name)
        self.history.append((pod, "signal", signal.Signals(sig).name))
        c.proc.send_signal(sig)

    def finish(self, namespace: str, pod: str, code: int = 0) -> None:
        """End a fake container with this exit code (a pod already gone is left alone)."""
        c = self.containers.get((namespace, pod))
        if c is not None:
            c.proc.end(code)

    def running(self) -> list[tuple[str, str]]:
        return [k for k, c in self.containers.items() if c.proc.poll() is None]

    # ----- event plumbing -----------------------------------------------------------------------

    def _watch(self, res) -> None:
        while not self._stop.is_set():
            try:
                for typ, obj in self.store.watch(res, None, None, timeout=30):
                    self.events.put((res.plural, (typ, obj)))
                    if self._stop.is_set():
                        return
            except errors.ApiError:
                time.sleep(0.1)
            if self.store.closed:
                return

    def _loop(self) -> None:
        while True:
            kind, payload = self.events.get()
            if kind == "stop" or self._stop.is_set():
                return
            try:
                if kind == "jobs":
                    self._sync_job_obj(payload[1], payload[0])
                elif kind == "pods":
                    self._pod_event(*payload)
                elif kind == "exited":
                    self._exited(*payload)
                elif kind == "resync":
                    self._sync_job(*payload)
                elif kind == "sigkill":
                    self._grace_over(*payload)
            except errors.ApiError as e:
                if e.code not in (404, 409):
                    self.history.append(("-", "error", e.message))
            except Exception as e:  # keep the node alive; the failure is visible in history
                self.history.append(("-", "error", repr(e)))
            # Never starved by a long burst: a touched Job waits at most a second.
            if self.dirty and (self.events.empty() or time.monotonic() - self.dirty_since > 1.0):
                self._sync_dirty()

    def _sync_dirty(self) -> None:
        """Sync each Job touched since the last time the queue ran dry, once: as the
        Job controller's work queue folds a burst of pod events into one sync, so
        1000 pods cost 1000 events, not 1000 listings of 1000 pods."""
        while self.dirty:
            ns, name = self.dirty.pop(next(iter(self.dirty)))
            try:
                self._sync_job(ns, name)
            except errors.ApiError as e:
                if e.code not in (404, 409):
                    self.history.append(("-", "error", e.message))
            except Exception as e:
                self.history.append(("-", "error", repr(e)))

    # ----- the Job controller -------------------------------------------------------------------

    def _sync_job_obj(self, job: dict, typ: str) -> None:
        if typ == "DELETED":
            return
        self._mark(job["metadata"]["namespace"], job["metadata"]["name"])

    def _mark(self, ns: str, name: str) -> None:
        if not self.dirty:
            self.dirty_since = time.monotonic()
        self.dirty[(ns, name)] = (ns, name)

    def _job_pods(self, job: dict) -> list[dict]:
        sel = f"batch.kubernetes.io/controller-uid={job['metadata']['uid']}"
        # Read only: a copy of every pod on each sync made a 1000-pod Job take minutes to come up.
        items, _ = self.store.list(self.pods, job["metadata"]["namespace"], sel, read_only=True)
        return items

    def _sync_job(self, ns: str, name: str) -> None:
        job = self.store.get_opt(self.jobs, ns, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, status = job["spec"], job.get("status") or {}
        finished = [c["type"] for c in status.get("conditions", []) if c.get("status") == "True"
                    and c["type"] in ("Complete", "Failed")]
        pods = self._job_pods(job)
        for p in pods:
            self._remember(p, False)
        done = self.finished.get(job["metadata"]["uid"], {})
        phase = lambda p: (p.get("status") or {}).get("phase")  # noqa: E731
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed")
                  and not p["metadata"].get("deletionTimestamp") and p["metadata"]["uid"] not in done]
        succeeded = [i for ph, i in done.values() if ph == "Succeeded"]
        failed = [i for ph, i in done.values() if ph == "Failed"]
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions") or 1
        new_status: dict = {"active": len(active), "succeeded": len(succeeded), "failed": len(failed),
                            "ready": sum(1 for p in active if _ready(p)),
                            "startTime": status.get("startTime") or now_rfc3339()}
        if indexed:
            if succeeded:
                new_status["completedIndexes"] = _ranges(sorted({i for i in succeeded if i is not None}))
            if failed:
                new_status["failedIndexes"] = _ranges(sorted({i for i in failed if i is not None}))
        conditions = list(status.get("conditions") or [])
        if not finished:
            if len(failed) > spec.get("backoffLimit", 6):
                now = now_rfc3339()
                msg = "Job has reached the specified backoff limit"
                conditions += [_cond("FailureTarget", "BackoffLimitExceeded", msg, now),
                               _cond("Failed", "BackoffLimitExceeded", msg, now)]
                for p in active:  # a failed Job terminates its remaining pods
                    self._delete_pod(p)
                new_status["active"] = 0
            elif len(set(succeeded) if indexed else succeeded) >= completions:
                now = now_rfc3339()
                conditions += [_cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods", now),
                               _cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods", now)]
                new_status["completionTime"] = now
            elif not spec.get("suspend"):
                self._create_missing(job, active, succeeded, indexed, completions)
                new_status["active"] = sum(1 for p in self._job_pods(job) if p["metadata"]["uid"] not in done
                                           and phase(p) not in ("Succeeded", "Failed"))
        if conditions:
            new_status["conditions"] = conditions
        if new_status != {k: status.get(k) for k in new_status} or len(status) != len(new_status):
            self.store.update(self.jobs, ns, name, {**job, "status": new_status}, CONTROLLER, "status")

    def _create_missing(self, job: dict, active: list, succeeded: list, indexed: bool, completions: int) -> None:
        parallelism = job["spec"].get("parallelism", 1)
        if indexed:
            taken = {pod_index(p) for p in active} | set(succeeded)
            wanted = [i for i in range(completions) if i not in taken]
        else:
            wanted = [None] * max(0, min(parallelism - len(active), completions - len(succeeded) - len(active)))
        ns = job["metadata"]["namespace"]
        for i in wanted[:max(0, parallelism - len(active))]:
            pod = self._pod_for(job, i)
            try:
                self.admit(Request("create", self.pods, ns, None, "", pod, f"{CONTROLLER}/v1.33.0"))
                self.store.create(self.pods, ns, pod, CONTROLLER)
            except errors.ApiError as e:
                if e.code in (404, 409):
                    raise
                self._failed_create(job, e.message)
                return

    def _failed_create(self, job: dict, why: str) -> None:
        """What the Job controller does when a pod create is refused: a Warning
        `FailedCreate` Event on the Job (counted up while the message repeats,
        as the event recorder's correlator does), and a retry after a back-off."""
        meta = job["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        message = f"Error creating: {why}"
        events = self.store.resource("", "events")
        now = now_rfc3339()
        count, ev_name = self.failed_creates.get((uid, message), (0, f"{name}.{time.time_ns():x}"))
        count += 1
        self.failed_creates[(uid, message)] = (count, ev_name)
        if count == 1:
            self.store.create(events, ns, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": ev_name},
                "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "namespace": ns, "name": name,
                                   "uid": uid, "resourceVersion": meta.get("resourceVersion", "")},
                "reason": "FailedCreate", "message": message, "type": "Warning", "count": 1,
                "source": {"component": "job-controller"}, "reportingComponent": "job-controller",
                "firstTimestamp": now, "lastTimestamp": now}, CONTROLLER)
        else:
            self.store.patch(events, ns, ev_name, "application/merge-patch+json",
                             json.dumps({"count": count, "lastTimestamp": now}).encode(), CONTROLLER, "")
        delay = min(10.0, 0.5 * 2 ** min(count, 5))
        t = threading.Timer(delay, lambda: self.events.put(("resync", (ns, name))))
        t.daemon = True
        t.start()

    def _pod_for(self, job: dict, index: int | None) -> dict:
        name = job["metadata"]["name"]
        tmpl = copy.deepcopy(job["spec"]["template"])
        meta = tmpl.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        annotations = dict(meta.get("annotations") or {})
        spec = tmpl.get("spec") or {}
        if index is not None:
            labels[INDEX_KEY] = str(index)
            annotations[INDEX_KEY] = str(index)
            spec["hostname"] = f"{name}-{index}"
            for c in spec.get("containers", []):
                env = c.setdefault("env", [])
                if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                    env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {
                        "fieldRef": {"fieldPath": f"metadata.labels['{INDEX_KEY}']"}}})
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "generateName": f"{name}-{index}-" if index is not None else f"{name}-",
            "labels": labels, "annotations": annotations,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                 "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec}

    # ----- the kubelet ----------------------------------------------------------------------------

    def _pod_event(self, typ: str, pod: dict) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        key = (ns, name)
        self._remember(pod, typ == "DELETED")
        if typ == "DELETED":
            c = self.containers.get(key)
            if c and c.proc.poll() is None:  # removed without grace (force delete): kill now
                c.proc.kill()
            self._sync_owner(pod)
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if key not in self.admitted and phase == "Pending":
            self.admitted.add(key)
            self._admit(pod)
        self._sync_owner(pod)

    def _remember(self, pod: dict, deleted: bool) -> None:
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed") and not deleted and not pod["metadata"].get("deletionTimestamp"):
            return
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ref.get("controller"):
                seen = self.finished.setdefault(ref["uid"], {})
                if pod["metadata"]["uid"] not in seen:
                    seen[pod["metadata"]["uid"]] = ("Succeeded" if phase == "Succeeded" else "Failed", pod_index(pod))

    def _sync_owner(self, pod: dict) -> None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ref.get("controller"):
                self._mark(pod["metadata"]["namespace"], ref["name"])

    def _fault(self, pod: dict) -> Fault | None:
        return next((f for f in self.faults if f.when(pod)), None)

    def _status(self, pod: dict, status: dict) -> None:
        self.store.patch(self.pods, pod["metadata"]["namespace"], pod["metadata"]["name"],
                         "application/merge-patch+json", json.dumps({"status": status}).encode(), KUBELET, "status")

    def _admit(self, pod: dict) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        fault = self._fault(pod)
        now = now_rfc3339()
        if fault and fault.reason == "Unschedulable":
            self._status(pod, {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                               "lastTransitionTime": now, "message": fault.message or
                                               "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}]})
            return
        if not pod["spec"].get("nodeName"):
            bound = copy.deepcopy(pod)
            bound["spec"]["nodeName"] = self.node
            pod = self.store.update(self.pods, ns, name, bound, "kube-scheduler")
        cspec = pod["spec"]["containers"][0]
        base = {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": now}
        scheduled = [_cond("PodScheduled", None, None, now), _cond("Initialized", None, None, now)]
        waiting = None
        if fault and fault.reason in ("ErrImagePull", "ImagePullBackOff"):
            waiting = (fault.reason, fault.message or f'Back-off pulling image "{cspec.get("image")}"')
        elif fault and fault.reason in ("CreateContainerConfigError", "CreateContainerError"):
            waiting = (fault.reason, fault.message or "container could not be created")
        elif fault and fault.reason == "CrashLoopBackOff":
            # What the kubelet shows between restarts of a container that keeps exiting.
            waiting = (fault.reason, fault.message or
                       f"back-off 10s restarting failed container={cspec['name']} pod={name}_{ns}")
        env, mounts = None, []
        if waiting is None:
            try:
                env = self._env(pod, cspec)
            except LookupError as e:
                waiting = ("CreateContainerConfigError", str(e))
        if waiting is None:
            try:
                mounts = self._secret_volumes(pod, cspec)
            except LookupError as e:
                # The real kubelet retries the mount and leaves the container creating.
                waiting = ("ContainerCreating", str(e))
        argv = (cspec.get("command") or []) + (cspec.get("args") or [])
        binary = self.binaries.get(os.path.basename(argv[0])) if argv else None
        if waiting is None and binary is None:
            waiting = ("RunContainerError", f"exec: {argv[:1]!r}: executable file not found in $PATH")
        if waiting is not None:
            self._status(pod, {**base, "phase": "Pending", "conditions": scheduled + [
                _cond("ContainersReady", "ContainersNotReady", "containers with unready status: [%s]" % cspec["name"], now, "False"),
                _cond("Ready", "ContainersNotReady", "containers with unready status: [%s]" % cspec["name"], now, "False")],
                "containerStatuses": [{"name": cspec["name"], "image": cspec.get("image", ""), "ready": False,
                                       "started": False, "restartCount": 0, "imageID": "",
                                       "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}}}]})
            self.history.append((name, "waiting", waiting[0]))
            return
        podir = os.path.join(self.workdir, "pods", f"{ns}_{name}")
        os.makedirs(podir, exist_ok=True)
        log = os.path.join(podir, "container.log")
        if self.fake is not None and self.fake(pod):
            open(log, "ab").close()
            proc = FakeProcess(self.events, (ns, name))
        else:
            with open(log, "ab") as out:
                proc = subprocess.Popen(_in_mount_namespace(mounts, [binary] + argv[1:]), env=env, cwd=podir,
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            threading.Thread(target=self._wait, args=(ns, name, proc), daemon=True).start()
        self.containers[(ns, name)] = Container(proc, now, log)
        self.store.logs[(ns, name)] = log
        self.history.append((name, "started", str(proc.pid)))
        ready = not (fault and fault.reason == "NeverReady")
        rstat = None if ready else "False"
        self._status(pod, {**base, "phase": "Running", "conditions": scheduled + [
            _cond("ContainersReady", None if ready else "ContainersNotReady", None, now, rstat),
            _cond("Ready", None if ready else "ContainersNotReady", None, now, rstat)],
            "containerStatuses": [{"name": cspec["name"], "image": cspec.get("image", ""), "ready": ready,
                                   "started": True, "restartCount": 0, "imageID": "", "containerID": f"standin://{proc.pid}",
                                   "state": {"running": {"startedAt": now}}}]})

    def _wait(self, ns: str, name: str, proc: subprocess.Popen) -> None:
        proc.wait()
        self.events.put(("exited", (ns, name)))

    def _exited(self, ns: str, name: str) -> None:
        c = self.containers[(ns, name)]
        rc = c.proc.returncode
        code = 128 - rc if rc < 0 else rc
        self.history.append((name, "exited", str(code)))
        pod = self.store.get_opt(self.pods, ns, name)
        if c.kill_timer:
            c.kill_timer.cancel()
        if pod is None:
            return
        now = now_rfc3339()
        cname = pod["spec"]["containers"][0]["name"]
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": c.started,
                "finishedAt": now, "containerID": f"standin://{c.proc.pid}"}
        if rc < 0:
            term["signal"] = -rc
        self._status(pod, {"phase": "Succeeded" if code == 0 else "Failed", "conditions": [
            _cond("PodScheduled", None, None, now), _cond("Initialized", None, None, now),
            _cond("ContainersReady", "PodCompleted", None, now, "False"), _cond("Ready", "PodCompleted", None, now, "False")],
            "containerStatuses": [{"name": cname, "image": pod["spec"]["containers"][0].get("image", ""),
                                   "ready": False, "started": False, "restartCount": 0, "imageID": "",
                                   "containerID": f"standin://{c.proc.pid}", "state": {"terminated": term}}]})
        if pod["metadata"].get("deletionTimestamp"):
            self.store.delete(self.pods, ns, name, {"gracePeriodSeconds": 0})
        self._sync_owner(pod)

    def _terminate(self, pod: dict) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        c = self.containers.get((ns, name))
        if c is None or c.proc.poll() is not None:
            self.store.delete(self.pods, ns, name, {"gracePeriodSeconds": 0})
            self._sync_owner(pod)
            return
        if c.terminating:
            return
        c.terminating = True
        c.signals.append("SIGTERM")
        self.history.append((name, "signal", "SIGTERM"))
        c.proc.send_signal(signal.SIGTERM)
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        c.kill_timer = threading.Timer(grace, lambda: self.events.put(("sigkill", (ns, name))))
        c.kill_timer.daemon = True
        c.kill_timer.start()

    def _grace_over(self, ns: str, name: str) -> None:
        c = self.containers.get((ns, name))
        if c and c.proc.poll() is None:
            c.signals.append("SIGKILL")
            self.history.append((name, "signal", "SIGKILL"))
            c.proc.kill()

    def _delete_pod(self, pod: dict) -> None:
        try:
            self.store.delete(self.pods, pod["metadata"]["namespace"], pod["metadata"]["name"])
        except errors.ApiError:
            pass

    # ----- the container's environment ------------------------------------------------------------

    def _kubeconfig_for(self, pod: dict) -> str:
        """The pod's ServiceAccount token in a kubeconfig of its own (what in-cluster
        config reads from the mounted token); the shared admin one when no token is mounted."""
        spec = pod["spec"]
        ns, sa_name = pod["metadata"]["namespace"], spec.get("serviceAccountName") or "default"
        sa = self.store.get_opt(self.store.resource("", "serviceaccounts"), ns, sa_name) or {}
        mount = spec.get("automountServiceAccountToken", sa.get("automountServiceAccountToken", True))
        if self.tokens is None or not mount:
            return self.kubeconfig
        with open(self.kubeconfig) as f:
            config = json.load(f)
        config["users"] = [{"name": "standin", "user": {"token": self.tokens.issue(ns, sa_name)}}]
        path = os.path.join(self.workdir, "pods", f"{ns}_{pod['metadata']['name']}.kubeconfig")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def _secret_volumes(self, pod: dict, cspec: dict) -> list[tuple[str, str]]:
        """The container's Secret volumes as (directory, mountPath): each Secret's keys
        written as files (or its `items`), read-only, as the kubelet projects them."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        secrets = self.store.resource("", "secrets")
        mounts = []
        for m in cspec.get("volumeMounts") or []:
            source = (volumes.get(m["name"]) or {}).get("secret")
            if source is None:
                continue  # emptyDir and the like: the process's own filesystem serves
            obj = self.store.get_opt(secrets, ns, source["secretName"])
            if obj is None:
                if source.get("optional"):
                    continue
                raise LookupError(f'MountVolume.SetUp failed for volume "{m["name"]}" : '
                                  f'secret "{source["secretName"]}" not found')
            data = obj.get("data") or {}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            vdir = os.path.join(self.workdir, "pods", f"{ns}_{name}", "volumes", m["name"])
            os.makedirs(vdir, exist_ok=True)
            for item in items:
                if item["key"] not in data:
                    raise LookupError(f'MountVolume.SetUp failed for volume "{m["name"]}" : '
                                      f'references non-existent secret key: {item["key"]}')
                path = os.path.join(vdir, item["path"])
                with open(path, "wb") as f:
                    f.write(base64.b64decode(data[item["key"]]))
                os.chmod(path, item.get("mode", source.get("defaultMode", 0o644)))
            try:
                os.makedirs(m["mountPath"], exist_ok=True)
            except OSError as e:
                raise LookupError(f"the stand-in kubelet cannot create the mount point {m['mountPath']} "
                                  f"(Secret volumes need root for a mount namespace): {e}") from None
            mounts.append((vdir, m["mountPath"]))
        return mounts

    def _env(self, pod: dict, cspec: dict) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"],
               "HOME": "/tmp", "KUBECONFIG": self._kubeconfig_for(pod)}
        env.update(self.extra_env)
        cms, secrets = self.store.resource("", "configmaps"), self.store.resource("", "secrets")

        def key_ref(res, ref: dict, what: str) -> str | None:
            obj = self.store.get_opt(res, ns, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    return None
                raise LookupError(f'{what} "{ref["name"]}" not found')
            data = dict(obj.get("data") or {})
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise LookupError(f"couldn't find key {ref['key']} in {what} {ns}/{ref['name']}")
            v = data[ref["key"]]
            if res is secrets:
                v = base64.b64decode(v).decode()
            return v

        for src in cspec.get("envFrom") or []:
            if "configMapRef" in src:
                obj = self.store.get_opt(cms, ns, src["configMapRef"]["name"])
                if obj is None and not src["configMapRef"].get("optional"):
                    raise LookupError(f'configmap "{src["configMapRef"]["name"]}" not found')
                for k, v in ((obj or {}).get("data") or {}).items():
                    env[src.get("prefix", "") + k] = v
        for e in cspec.get("env") or []:
            if "value" in e:
                env[e["name"]] = _expand(e.get("value") or "", env)
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf:
                    v = _field_path(pod, vf["fieldRef"]["fieldPath"])
                elif "configMapKeyRef" in vf:
                    v = key_ref(cms, vf["configMapKeyRef"], "configmap")
                elif "secretKeyRef" in vf:
                    v = key_ref(secrets, vf["secretKeyRef"], "secret")
                else:
                    v = None
                if v is not None:
                    env[e["name"]] = v
            else:
                env[e["name"]] = ""
        return env


def _in_mount_namespace(mounts: list[tuple[str, str]], argv: list[str]) -> list[str]:
    """`argv` run in a private mount namespace where each (directory, mountPath) is
    bind-mounted read-only, as a container runtime mounts volumes; the host sees
    nothing but the empty mount points. `unshare` and `sh` exec, so the process
    the kubelet signals is the container's own."""
    if not mounts:
        return argv
    script = []
    for src, dst in mounts:
        script.append(f"mount --bind {shlex.quote(src)} {shlex.quote(dst)} && "
                      f"mount -o remount,bind,ro {shlex.quote(dst)} &&")
    return ["unshare", "--mount", "--", "sh", "-c", " ".join(script) + ' exec "$@"', "sh"] + argv


def _field_path(pod: dict, path: str) -> str:
    """The downward API's fieldRef paths."""
    m = re.match(r"metadata\.(labels|annotations)\['(.+)'\]$", path)
    if m:
        return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
    simple = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
              "metadata.uid": pod["metadata"]["uid"], "spec.nodeName": pod["spec"].get("nodeName", ""),
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
              "status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1", "status.podIPs": "127.0.0.1",
              "status.hostIPs": "127.0.0.1"}
    if path not in simple:
        raise LookupError(f"unsupported fieldPath {path!r}")
    return simple[path]


def _expand(value: str, env: dict[str, str]) -> str:
    """`$(VAR)` references to earlier variables, `$$` escapes, as the kubelet expands them."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def _cond(type_: str, reason: str | None, message: str | None, now: str, status: str | None = None) -> dict:
    c = {"type": type_, "status": status or "True", "lastTransitionTime": now, "lastProbeTime": None}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _ranges(idx: list[int]) -> str:
    """`0-2,4`: the Job status format for index sets."""
    out, start, prev = [], None, None
    for i in idx + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = i
    return ",".join(out)


def _ready(pod: dict) -> bool:
    """The pod's Ready condition is True (the Job's `status.ready` counts these)."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])
