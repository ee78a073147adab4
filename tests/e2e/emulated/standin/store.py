"""The object store behind the HTTP API: metadata bookkeeping, the status
subresource, optimistic concurrency, field ownership, the watch history,
finalizers, graceful pod deletion, garbage collection and etcd's size limit.
Every public method takes the store lock; every write goes through `_commit`."""

from __future__ import annotations

import collections
import copy
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass

from . import errors, schema
from .fields import Managers, tracked
from .patch import json_patch, merge_patch, strategic_merge_patch
from .resources import Resource, load_yaml_or_json
from .selectors import field_matcher, label_matcher

ETCD_MAX_OBJECT_BYTES = 1536 * 1024  # etcd's default --max-request-bytes
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def size_of(obj: dict) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


@dataclass
class Record:
    obj: dict
    managers: Managers


@dataclass
class Event:
    rv: int
    res: tuple[str, str]
    ns: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict
    old: dict | None


class Store:
    def __init__(self, resources: list[Resource], max_object_bytes: int = ETCD_MAX_OBJECT_BYTES,
                 history_window: int = 20000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.resources = {r.key: r for r in resources}
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Record]] = {r.key: {} for r in resources}
        self.rv = 1
        self.history: collections.deque[Event] = collections.deque(maxlen=history_window)
        self.compacted_before = 0  # watches from below this rv get 410 Gone
        self.max_object_bytes = max_object_bytes
        self.closed = False
        # The largest object stored per resource, whole JSON as stored (managed fields included).
        self.largest: dict[tuple[str, str], int] = {}
        self.logs: dict[tuple[str, str], str] = {}  # (namespace, pod) -> log file, filled by the kubelet
        self._gc_wake = threading.Event()
        self._gc = threading.Thread(target=self._gc_loop, name="standin-gc", daemon=True)
        self._gc.start()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()
        self._gc_wake.set()

    # ----- lookups -------------------------------------------------------------------------

    def resource(self, group: str, plural: str) -> Resource | None:
        return self.resources.get((group, plural))

    def get(self, res: Resource, ns: str, name: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._record(res, ns, name).obj)

    def get_opt(self, res: Resource, ns: str, name: str) -> dict | None:
        with self.lock:
            rec = self.objects[res.key].get((ns, name))
            return copy.deepcopy(rec.obj) if rec else None

    def list(self, res: Resource, ns: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None, read_only: bool = False) -> tuple[list[dict], int]:
        """The matching objects, copies unless `read_only` (the caller promises not to change them)."""
        lm, fm = label_matcher(label_selector), field_matcher(field_selector)
        keep = (lambda o: o) if read_only else copy.deepcopy
        with self.lock:
            items = [keep(r.obj) for (o_ns, _), r in sorted(self.objects[res.key].items())
                     if (ns is None or o_ns == ns) and lm(r.obj["metadata"].get("labels")) and fm(r.obj)]
            return items, self.rv

    def _record(self, res: Resource, ns: str, name: str) -> Record:
        rec = self.objects[res.key].get((ns, name))
        if rec is None:
            raise errors.not_found(res, name)
        return rec

    def _ns_res(self) -> Resource:
        return self.resources[("", "namespaces")]

    def _check_namespace(self, res: Resource, ns: str, name: str) -> None:
        if not res.namespaced:
            return
        rec = self.objects[("", "namespaces")].get(("", ns))
        if rec is None:
            raise errors.namespace_not_found(ns)
        if rec.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(res, name, f"unable to create new content in namespace {ns} because it is being terminated")

    # ----- writes ---------------------------------------------------------------------------

    def create(self, res: Resource, ns: str, body: dict, manager: str, dry_run: bool = False,
               _managers: Managers | None = None) -> dict:
        with self.lock:
            obj = copy.deepcopy(body)
            self._check_type(res, obj)
            meta = obj.setdefault("metadata", {})
            if res.namespaced:
                if meta.get("namespace") not in (None, "", ns):
                    raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
                meta["namespace"] = ns
            else:
                ns = ""
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(res, "", [("FieldValueRequired", "metadata.name",
                                                    "metadata.name: Required value: name or generateName is required")])
                meta["name"] = meta["generateName"] + "".join(random.choice(_SUFFIX) for _ in range(5))
            name = meta["name"]
            self._check_name(res, name)
            self._check_namespace(res, ns, name)
            if (ns, name) in self.objects[res.key]:
                raise errors.already_exists(res, name)
            if meta.get("resourceVersion"):
                raise errors.ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
            for k in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "generation"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if res.tracks_generation:
                meta["generation"] = 1
            _reset_status_on_create(res, obj)
            _builtin_defaults(res, obj)
            managers = _managers or Managers()
            if _managers is None:
                managers.record_update(manager, "", {}, tracked(obj, "", res.has_status), res.type_info(),
                                       res.api_version, now_rfc3339())
            obj = self._structural(res, obj, name)
            return self._commit(res, ns, name, None, obj, managers, dry_run)

    def update(self, res: Resource, ns: str, name: str, body: dict, manager: str, sub: str = "",
               dry_run: bool = False) -> dict:
        with self.lock:
            ns = ns if res.namespaced else ""
            rec = self._record(res, ns, name)
            self._check_type(res, body)
            meta = body.get("metadata") or {}
            if meta.get("name", name) != name:
                raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
            if res.namespaced and meta.get("namespace") not in (None, "", ns):
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            self._preconditions(res, rec, meta.get("uid"), meta.get("resourceVersion"))
            new = self._prepare_update(res, rec.obj, body, sub)
            managers = rec.managers.copy()
            managers.record_update(manager, sub, tracked(rec.obj, sub, res.has_status),
                                   tracked(new, sub, res.has_status), res.type_info(), res.api_version,
                                   now_rfc3339())
            new = self._structural(res, new, name)
            return self._commit(res, ns, name, rec, new, managers, dry_run)

    def patch(self, res: Resource, ns: str, name: str, content_type: str, body: bytes, manager: str | None,
              sub: str = "", force: bool = False, dry_run: bool = False, user_agent: str = "") -> dict:
        with self.lock:
            ns = ns if res.namespaced else ""
            ctype = content_type.split(";")[0].strip()
            if ctype == "application/apply-patch+yaml":
                if not manager:
                    raise errors.bad_request("PATCH requests with content type application/apply-patch+yaml require a fieldManager query parameter: fieldManager is required for apply requests")
                try:
                    applied = load_yaml_or_json(body.decode())
                except Exception as e:
                    raise errors.bad_request(f"error decoding YAML: {e}")
                return self._apply(res, ns, name, applied, manager, sub, force, dry_run)
            manager = manager or (user_agent.split("/")[0] or "unknown")
            try:
                doc = json.loads(body or b"null")
            except ValueError as e:
                raise errors.bad_request(f"error decoding patch: {e}")
            rec = self._record(res, ns, name)
            old = rec.obj
            if ctype == "application/merge-patch+json":
                new = merge_patch(old, doc)
            elif ctype == "application/json-patch+json":
                new = json_patch(old, doc)
            elif ctype == "application/strategic-merge-patch+json" and not res.is_crd:
                new = strategic_merge_patch(old, doc, res.type_info())
            else:
                accepted = ["application/json-patch+json", "application/merge-patch+json",
                            "application/apply-patch+yaml"]
                if not res.is_crd:
                    accepted.insert(2, "application/strategic-merge-patch+json")
                raise errors.unsupported_media_type(ctype, accepted)
            if not isinstance(new, dict):
                raise errors.bad_request("patch did not produce an object")
            new.setdefault("metadata", {})
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            return self.update(res, ns, name, new, manager, sub, dry_run)

    def _apply(self, res, ns, name, applied, manager, sub, force, dry_run) -> dict:
        if not isinstance(applied, dict):
            raise errors.bad_request("apply body must be an object")
        if applied.get("apiVersion") != res.api_version or applied.get("kind") != res.kind:
            raise errors.bad_request(
                f"apply body must have apiVersion {res.api_version} and kind {res.kind}, "
                f"got {applied.get('apiVersion')!r} {applied.get('kind')!r}")
        meta = applied.get("metadata") or {}
        if meta.get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        t = res.type_info()
        rec = self.objects[res.key].get((ns, name))
        now = now_rfc3339()
        if rec is None:
            if sub:
                raise errors.not_found(res, name)
            managers = Managers()
            merged, _ = managers.apply(manager, "", {}, tracked(applied, "", res.has_status), t, force,
                                       res.api_version, now)
            obj = {"apiVersion": res.api_version, "kind": res.kind, **merged}
            obj["metadata"] = {**merged.get("metadata", {}), "name": name, "namespace": ns}
            return self.create(res, ns, obj, manager, dry_run, _managers=managers)
        self._preconditions(res, rec, meta.get("uid"), meta.get("resourceVersion"))
        managers = rec.managers.copy()
        merged, conflicts = managers.apply(manager, sub, tracked(rec.obj, sub, res.has_status),
                                           tracked(applied, sub, res.has_status), t, force,
                                           res.api_version, now)
        if conflicts:
            raise errors.apply_conflict(res, name, conflicts)
        new = copy.deepcopy(rec.obj)
        if sub == "status":
            new.pop("status", None)
            if "status" in merged:
                new["status"] = merged["status"]
        else:
            untouched = {"apiVersion", "kind", "metadata"} | ({"status"} if res.has_status else set())
            for k in [k for k in new if k not in untouched]:
                del new[k]
            new.update({k: v for k, v in merged.items() if k != "metadata"})
            server_meta = {k: v for k, v in rec.obj["metadata"].items()
                           if k in ("name", "namespace", "uid", "resourceVersion", "generation",
                                    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                                    "generateName")}
            new["metadata"] = {**server_meta, **merged.get("metadata", {})}
        new = self._prepare_update(res, rec.obj, new, sub)
        new = self._structural(res, new, name)
        return self._commit(res, ns, name, rec, new, managers, dry_run)

    def delete(self, res: Resource, ns: str, name: str, options: dict | None = None,
               dry_run: bool = False) -> tuple[dict, bool]:
        """Returns (object, gone): gone is False while finalizers or a grace period hold it."""
        options = options or {}
        with self.lock:
            ns = ns if res.namespaced else ""
            rec = self._record(res, ns, name)
            pre = options.get("preconditions") or {}
            self._preconditions(res, rec, pre.get("uid"), pre.get("resourceVersion"))
            policy = options.get("propagationPolicy")
            if policy is None and "orphanDependents" in options:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            policy = policy or res.default_propagation
            if policy not in ("Background", "Foreground", "Orphan"):
                raise errors.bad_request(f"propagationPolicy {policy!r} is not one of Background, Foreground, Orphan")
            obj = copy.deepcopy(rec.obj)
            meta = obj["metadata"]
            if dry_run:
                return obj, False
            if res.key == ("", "namespaces"):
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_rfc3339()
                    meta["deletionGracePeriodSeconds"] = 0
                    obj["status"] = {"phase": "Terminating"}
                    obj = self._commit(res, ns, name, rec, obj, rec.managers.copy())
                    self._gc_wake.set()
                return obj, False
            if res.key == ("", "pods"):
                grace = options.get("gracePeriodSeconds")
                if grace is None:
                    grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                phase = (obj.get("status") or {}).get("phase")
                scheduled = bool((obj.get("spec") or {}).get("nodeName"))
                if grace > 0 and scheduled and phase not in ("Succeeded", "Failed"):
                    current = meta.get("deletionGracePeriodSeconds")
                    if current is not None and current <= grace:
                        return obj, False
                    meta["deletionTimestamp"] = now_rfc3339(grace)
                    meta["deletionGracePeriodSeconds"] = grace
                    return self._commit(res, ns, name, rec, obj, rec.managers.copy()), False
            if policy == "Orphan":
                self._orphan(meta["uid"])
            elif policy == "Foreground":
                meta.setdefault("finalizers", [])
                if "foregroundDeletion" not in meta["finalizers"]:
                    meta["finalizers"].append("foregroundDeletion")
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_rfc3339()
                    meta["deletionGracePeriodSeconds"] = 0
                    if res.tracks_generation:
                        meta["generation"] = meta.get("generation", 1) + 1
                obj = self._commit(res, ns, name, rec, obj, rec.managers.copy())
                self._gc_wake.set()
                return obj, False
            self._remove(res, ns, name)
            return obj, True

    def _remove(self, res: Resource, ns: str, name: str) -> None:
        rec = self.objects[res.key].pop((ns, name))
        self.rv += 1
        obj = copy.deepcopy(rec.obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._record_event(Event(self.rv, res.key, ns, "DELETED", obj, rec.obj))
        self._gc_wake.set()

    # ----- the write pipeline -----------------------------------------------------------------

    def _check_type(self, res: Resource, obj: dict) -> None:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if (av and av != res.api_version) or (kind and kind != res.kind):
            raise errors.bad_request(f"the API version in the data ({av}) or kind ({kind}) does not match the expected API version ({res.api_version}) and kind ({res.kind})")
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind

    def _check_name(self, res: Resource, name: str) -> None:
        if len(name) > 253 or not _NAME.match(name):
            raise errors.invalid(res, name, [(
                "FieldValueInvalid", "metadata.name",
                f"metadata.name: Invalid value: {json.dumps(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")])

    def _preconditions(self, res: Resource, rec: Record, uid: str | None, rv: str | None) -> None:
        meta = rec.obj["metadata"]
        name = meta["name"]
        if uid and uid != meta["uid"]:
            raise errors.conflict(res, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta['uid']}")
        if rv and rv != meta["resourceVersion"]:
            raise errors.conflict(res, name)

    def _prepare_update(self, res: Resource, old: dict, body: dict, sub: str) -> dict:
        """The registry strategy: what an update may change through this endpoint."""
        if sub == "status":
            new = copy.deepcopy(old)
            new.pop("status", None)
            if "status" in body:
                new["status"] = copy.deepcopy(body["status"])
            return new
        new = copy.deepcopy(body)
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        for k in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generateName"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta.pop("managedFields", None)
        if res.has_status:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        if res.tracks_generation and _spec_part(new) != _spec_part(old):
            meta["generation"] = old_meta.get("generation", 1) + 1
        return new

    def _structural(self, res: Resource, obj: dict, name: str) -> dict:
        if not res.is_crd:
            return obj
        meta = obj["metadata"]
        obj = schema.prune(obj, res.schema)
        obj["metadata"] = meta
        obj = schema.default(obj, res.schema)
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        causes = schema.validate(body, res.schema)
        if causes:
            raise errors.invalid(res, name, causes)
        return obj

    def _commit(self, res: Resource, ns: str, name: str, rec: Record | None, obj: dict, managers: Managers,
                dry_run: bool = False) -> dict:
        meta = obj["metadata"]
        meta["managedFields"] = managers.render()
        if not meta["managedFields"]:
            del meta["managedFields"]
        meta["resourceVersion"] = str(self.rv + 1)
        size = size_of(obj)
        if size > self.max_object_bytes:
            raise errors.etcd_too_large()
        if not dry_run:
            self.largest[res.key] = max(self.largest.get(res.key, 0), size)
        if dry_run:
            return copy.deepcopy(obj)
        if rec is not None and meta.get("deletionTimestamp") and not meta.get("finalizers") \
                and res.key != ("", "pods"):
            self.rv += 1
            self.objects[res.key][(ns, name)] = Record(obj, managers)
            self._remove(res, ns, name)
            return copy.deepcopy(obj)
        self.rv += 1
        self.objects[res.key][(ns, name)] = Record(obj, managers)
        self._record_event(Event(self.rv, res.key, ns, "ADDED" if rec is None else "MODIFIED",
                                 copy.deepcopy(obj), copy.deepcopy(rec.obj) if rec else None))
        if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
            self._gc_wake.set()
        return copy.deepcopy(obj)

    def _record_event(self, ev: Event) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted_before = self.history[0].rv + 1
        self.history.append(ev)
        self.changed.notify_all()

    # ----- watch --------------------------------------------------------------------------------

    def events_since(self, rv: int) -> list[Event]:
        """Events after `rv`; raises 410 Gone when the window no longer reaches back to it."""
        if self.compacted_before and rv + 1 < self.compacted_before:
            raise errors.gone(f"too old resource version: {rv} ({self.compacted_before - 1})")
        # Newest first, as far back as `rv`: a watch's wake-up costs what it receives.
        fresh = []
        for e in reversed(self.history):
            if e.rv <= rv:
                break
            fresh.append(e)
        fresh.reverse()
        return fresh

    def watch(self, res: Resource, ns: str | None, since: int | None, label_selector: str | None = None,
              field_selector: str | None = None, initial: bool = True, timeout: float | None = None,
              bookmark_every: float | None = None):
        """Yield (type, object) watch events. `since=None` first sends the current
        objects as ADDED. An object moving out of the selectors is sent as DELETED and
        one moving in as ADDED, as the watch cache does. Ends on `timeout` or close."""
        lm, fm = label_matcher(label_selector), field_matcher(field_selector)

        def matches(o):
            return o is not None and lm(o["metadata"].get("labels")) and fm(o)

        with self.lock:
            if since is None:
                items, last = self.list(res, ns, label_selector, field_selector)
                pending = [("ADDED", o) for o in items] if initial else []
            else:
                self.events_since(since)  # 410 now rather than mid-stream
                last, pending = since, []
        for ev in pending:
            yield ev
        deadline = None if timeout is None else time.monotonic() + timeout
        next_bookmark = None if bookmark_every is None else time.monotonic() + bookmark_every
        while True:
            with self.lock:
                evs: list[Event] = []
                while True:
                    if self.closed:
                        return
                    fresh = self.events_since(last)
                    if fresh:
                        last = fresh[-1].rv
                        evs = [e for e in fresh if e.res == res.key and (ns is None or e.ns == ns)]
                        if evs:
                            break
                        continue
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return
                    if next_bookmark is not None and now >= next_bookmark:
                        break
                    waits = [w for w in (deadline, next_bookmark) if w is not None]
                    self.changed.wait(min(waits) - now if waits else 1.0)
                out = []
                for e in evs:
                    now_in, was_in = matches(e.obj), matches(e.old)
                    if e.type == "DELETED":
                        if was_in:
                            out.append(("DELETED", copy.deepcopy(e.obj)))
                    elif now_in and not was_in:
                        out.append(("ADDED", copy.deepcopy(e.obj)))
                    elif now_in:
                        out.append((e.type, copy.deepcopy(e.obj)))
                    elif was_in:
                        out.append(("DELETED", copy.deepcopy(e.obj)))
                bookmark_rv = last
            for ev in out:
                yield ev
            if next_bookmark is not None and time.monotonic() >= next_bookmark:
                next_bookmark = time.monotonic() + bookmark_every
                yield ("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version,
                                    "metadata": {"resourceVersion": str(bookmark_rv)}})

    def compact(self) -> None:
        """Forget all history, as an etcd compaction would (watches from before get 410)."""
        with self.lock:
            self.history.clear()
            self.compacted_before = self.rv + 1

    # ----- garbage collection, finalizers, namespaces ------------------------------------------

    def _orphan(self, uid: str) -> None:
        for res_key, objs in self.objects.items():
            res = self.resources[res_key]
            for (ns, name), rec in list(objs.items()):
                refs = rec.obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    obj = copy.deepcopy(rec.obj)
                    obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not obj["metadata"]["ownerReferences"]:
                        del obj["metadata"]["ownerReferences"]
                    managers = rec.managers.copy()
                    managers.forget_removed(tracked(obj, "", res.has_status), res.type_info())
                    self._commit(res, ns, name, rec, obj, managers)

    def _gc_loop(self) -> None:
        while True:
            self._gc_wake.wait(0.5)
            self._gc_wake.clear()
            with self.lock:
                if self.closed:
                    return
                try:
                    self.collect_garbage()
                except errors.ApiError:
                    pass

    def collect_garbage(self) -> None:
        """One pass of the garbage collector and the namespace controller."""
        with self.lock:
            uids = {rec.obj["metadata"]["uid"]: (key, ns_name)
                    for key, objs in self.objects.items() for ns_name, rec in objs.items()}
            for res_key, objs in list(self.objects.items()):
                res = self.resources[res_key]
                for (ns, name), rec in list(objs.items()):
                    if (ns, name) not in objs:
                        continue
                    meta = rec.obj["metadata"]
                    refs = meta.get("ownerReferences") or []
                    if refs and not meta.get("deletionTimestamp"):
                        alive = [r for r in refs if r.get("uid") in uids]
                        if not alive:
                            self.delete(res, ns, name, {"propagationPolicy": "Background"})
                            continue
                        if len(alive) != len(refs):
                            obj = copy.deepcopy(rec.obj)
                            obj["metadata"]["ownerReferences"] = alive
                            self._commit(res, ns, name, rec, obj, rec.managers.copy())
                    if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
                        self._foreground(res, ns, name, rec)
            for (_, ns), rec in list(self.objects[("", "namespaces")].items()):
                if rec.obj["metadata"].get("deletionTimestamp"):
                    self._drain_namespace(ns, rec)

    def _dependents(self, uid: str) -> list[tuple[Resource, str, str, dict]]:
        out = []
        for res_key, objs in self.objects.items():
            for (ns, name), rec in objs.items():
                for r in rec.obj["metadata"].get("ownerReferences") or []:
                    if r.get("uid") == uid:
                        out.append((self.resources[res_key], ns, name, r))
        return out

    def _foreground(self, res: Resource, ns: str, name: str, rec: Record) -> None:
        blocking = False
        for dres, dns, dname, ref in self._dependents(rec.obj["metadata"]["uid"]):
            drec = self.objects[dres.key].get((dns, dname))
            if drec and not drec.obj["metadata"].get("deletionTimestamp"):
                self.delete(dres, dns, dname, {"propagationPolicy": "Foreground"})
            if ref.get("blockOwnerDeletion") and (dns, dname) in self.objects[dres.key]:
                blocking = True
        if not blocking:
            obj = copy.deepcopy(rec.obj)
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != "foregroundDeletion"]
            self._commit(res, ns, name, rec, obj, rec.managers.copy())

    def _drain_namespace(self, ns: str, rec: Record) -> None:
        left = 0
        for res_key, objs in self.objects.items():
            res = self.resources[res_key]
            if not res.namespaced:
                continue
            for (o_ns, name), orec in list(objs.items()):
                if o_ns != ns:
                    continue
                left += 1
                if not orec.obj["metadata"].get("deletionTimestamp"):
                    self.delete(res, ns, name, {"propagationPolicy": "Background"})
        if left == 0:
            self._remove(self._ns_res(), "", ns)


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _reset_status_on_create(res: Resource, obj: dict) -> None:
    if not res.has_status:
        return
    obj.pop("status", None)
    if res.key == ("", "pods"):
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif res.key == ("", "namespaces"):
        obj["status"] = {"phase": "Active"}
    elif res.key == ("batch", "jobs"):
        obj["status"] = {}


def _builtin_defaults(res: Resource, obj: dict) -> None:
    """The few defaults of built-in types the operator and kubelet rely on."""
    if res.key == ("", "pods"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", "default")
    elif res.key == ("batch", "jobs"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        uid = obj["metadata"]["uid"]
        name = obj["metadata"]["name"]
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = tmeta.setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
