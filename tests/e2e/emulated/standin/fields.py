"""Field ownership: the sets of fields each manager owns (`managedFields`),
server-side apply (merge by list-map keys, conflicts, force, removal of fields
a manager stops applying) and the ownership moves of ordinary updates.

A path is a tuple of elements: ("f", name) a struct/map field, ("k", key) a
list-map item (key is a tuple of (field, value) pairs), ("v", json) a set
member. A set holds leaf paths and list-map item paths."""

from __future__ import annotations

import copy
import json

from .resources import TypeInfo

# Metadata the server owns; never part of anyone's field set.
UNTRACKED_METADATA = {"name", "namespace", "generateName", "uid", "resourceVersion", "generation",
                      "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "managedFields", "selfLink"}

Path = tuple


def tracked(obj: dict, subresource: str, has_status: bool) -> dict:
    """The part of an object whose fields are owned through this endpoint: the
    status subresource owns status only; the main resource everything but status
    (when there is a status subresource) and the server's own metadata."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if has_status:
        out.pop("status", None)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in UNTRACKED_METADATA}
    if meta:
        out["metadata"] = meta
    return out


def _key(item: dict, keys: tuple[str, ...]) -> tuple:
    return tuple((k, item.get(k)) for k in keys)


def field_set(value, t: TypeInfo, prefix: Path = ()) -> set:
    out: set = set()
    _walk(value, t, prefix, out)
    return out


def _walk(value, t: TypeInfo, prefix: Path, out: set) -> None:
    if isinstance(value, dict) and not t.map_atomic():
        if not value:
            out.add(prefix)
        for k, v in value.items():
            _walk(v, t.field(k), prefix + (("f", k),), out)
    elif isinstance(value, list):
        kind, keys = t.list_type()
        if kind == "map" and all(isinstance(i, dict) for i in value):
            for item in value:
                p = prefix + (("k", _key(item, keys)),)
                out.add(p)
                _walk(item, t.item(), p, out)
        elif kind == "set":
            for item in value:
                out.add(prefix + (("v", json.dumps(item, sort_keys=True)),))
        else:
            out.add(prefix)
    else:
        out.add(prefix)


_MISSING = object()


def get(obj, path: Path, index: dict | None = None):
    """The value at a path, or _MISSING. `index` (one dict per object, while it is
    not changed) remembers each keyed list's items by key, so looking up every
    path of a 1000-item list costs 1000 steps, not a million."""
    cur = obj
    for kind, arg in path:
        if kind == "f":
            if not isinstance(cur, dict) or arg not in cur:
                return _MISSING
            cur = cur[arg]
        elif kind == "k":
            if not isinstance(cur, list):
                return _MISSING
            keys = tuple(k for k, _ in arg)
            if index is not None:
                by_key = index.get((id(cur), keys))
                if by_key is None:
                    by_key = {}
                    for i in cur:
                        if isinstance(i, dict):
                            by_key.setdefault(repr(_key(i, keys)), i)
                    index[(id(cur), keys)] = by_key
                cur = by_key.get(repr(arg), _MISSING)
                if cur is _MISSING:
                    return _MISSING
                continue
            found = [i for i in cur if isinstance(i, dict) and _key(i, keys) == arg]
            if not found:
                return _MISSING
            cur = found[0]
        else:  # set member
            if not isinstance(cur, list):
                return _MISSING
            v = json.loads(arg)
            if v not in cur:
                return _MISSING
            cur = v
    return cur


def remove(obj, path: Path) -> None:
    """Remove what a path names, if present."""
    if not path:
        return
    parent = get(obj, path[:-1])
    kind, arg = path[-1]
    if parent is _MISSING:
        return
    if kind == "f" and isinstance(parent, dict):
        parent.pop(arg, None)
        if not parent and len(path) > 1 and path[-2][0] == "f":
            remove(obj, path[:-1])  # a map emptied by the removal goes too
    elif kind == "k" and isinstance(parent, list):
        parent[:] = [i for i in parent
                     if not (isinstance(i, dict) and _key(i, tuple(k for k, _ in arg)) == arg)]
    elif kind == "v" and isinstance(parent, list):
        v = json.loads(arg)
        parent[:] = [i for i in parent if i != v]


def merge(live, applied, t: TypeInfo):
    """The applied configuration merged into the live object."""
    if isinstance(applied, dict) and isinstance(live, dict) and not t.map_atomic():
        out = dict(live)
        for k, v in applied.items():
            out[k] = merge(live.get(k), v, t.field(k)) if k in live else copy.deepcopy(v)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        kind, keys = t.list_type()
        if kind == "map" and all(isinstance(i, dict) for i in applied + live):
            out = [copy.deepcopy(i) for i in live]
            for item in applied:
                k = _key(item, keys)
                for idx, cur in enumerate(out):
                    if _key(cur, keys) == k:
                        out[idx] = merge(cur, item, t.item())
                        break
                else:
                    out.append(copy.deepcopy(item))
            return out
        if kind == "set":
            return copy.deepcopy(live) + [copy.deepcopy(i) for i in applied if i not in live]
    return copy.deepcopy(applied)


def path_text(path: Path) -> str:
    """`.status.shards[index=0].phase`, as apply conflict messages print paths."""
    s = ""
    for kind, arg in path:
        if kind == "f":
            s += "." + arg
        elif kind == "k":
            s += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in arg) + "]"
        else:
            s += "[=" + arg + "]"
    return s


def to_fields_v1(paths: set) -> dict:
    """Render a set in the `fieldsV1` wire format."""
    root: dict = {}

    def el(e) -> str:
        kind, arg = e
        if kind == "f":
            return "f:" + arg
        if kind == "k":
            return "k:" + json.dumps(dict(arg), separators=(",", ":"))
        return "v:" + arg

    for p in sorted(paths, key=lambda p: (len(p), repr(p))):
        node = root
        for e in p:
            node = node.setdefault(el(e), {})
    for p in paths:
        node = root
        for e in p:
            node = node[el(e)]
        if node and "." not in node:
            node["."] = {}
    return root


class Managers:
    """Who owns which fields of one object: (manager, operation, subresource) -> set."""

    def __init__(self):
        self.sets: dict[tuple[str, str, str], set] = {}
        self.meta: dict[tuple[str, str, str], tuple[str, str]] = {}  # apiVersion, time

    def copy(self) -> "Managers":
        m = Managers()
        m.sets = {k: set(v) for k, v in self.sets.items()}
        m.meta = dict(self.meta)
        return m

    def record_update(self, manager: str, sub: str, old: dict, new: dict, t: TypeInfo,
                      api_version: str, now: str) -> None:
        """An update (create, PUT, merge or JSON patch) takes the fields it changed."""
        old_set, new_set = field_set(old, t), field_set(new, t)
        old_index, new_index = {}, {}
        changed = {p for p in new_set if p not in old_set or get(old, p, old_index) != get(new, p, new_index)}
        gone = old_set - new_set
        for k in list(self.sets):
            self.sets[k] -= gone | changed
        key = (manager, "Update", sub)
        if changed:
            self.sets.setdefault(key, set()).update(changed)
            self.meta[key] = (api_version, now)
        self._drop_empty()

    def apply(self, manager: str, sub: str, live: dict, applied: dict, t: TypeInfo, force: bool,
              api_version: str, now: str) -> tuple[dict, list[tuple[str, str, str]]]:
        """Server-side apply of `applied` (already restricted to what this endpoint
        owns) onto `live` (likewise). Returns the new tracked part and the conflicts;
        with conflicts and no force, nothing is changed."""
        key = (manager, "Apply", sub)
        applied_set = field_set(applied, t)
        conflicts = []
        live_index, applied_index = {}, {}
        for other, owned in self.sets.items():
            if other == key:
                continue
            for p in sorted(applied_set & owned, key=repr):
                lv = get(live, p, live_index)
                if lv is not _MISSING and lv != get(applied, p, applied_index) and p[-1][0] == "f":
                    conflicts.append((other, p))
        if conflicts and not force:
            return live, [(o[0], self.meta.get(o, (api_version,))[0], path_text(p)) for o, p in conflicts]
        for other, p in conflicts:
            self.sets[other].discard(p)
        merged = merge(live, applied, t)
        previous = self.sets.get(key, set())
        others = set().union(*(s for k, s in self.sets.items() if k != key)) if self.sets else set()
        for p in sorted(previous - applied_set, key=len, reverse=True):
            still_owned = any(q[:len(p)] == p for q in others | applied_set)
            if not still_owned:
                remove(merged, p)
        self.sets[key] = applied_set
        self.meta[key] = (api_version, now)
        self._drop_empty()
        return merged, []

    def forget_removed(self, obj_tracked: dict, t: TypeInfo) -> None:
        """Drop ownership of fields no longer in the object."""
        present = field_set(obj_tracked, t)
        index: dict = {}
        for k in self.sets:
            self.sets[k] = {p for p in self.sets[k] if p in present or get(obj_tracked, p, index) is not _MISSING}
        self._drop_empty()

    def _drop_empty(self) -> None:
        for k in [k for k, v in self.sets.items() if not v]:
            del self.sets[k]
            self.meta.pop(k, None)

    def render(self) -> list[dict]:
        out = []
        for (manager, op, sub), paths in self.sets.items():
            api_version, time = self.meta.get((manager, op, sub), ("", ""))
            e = {"manager": manager, "operation": op, "apiVersion": api_version, "time": time,
                 "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
            if sub:
                e["subresource"] = sub
            out.append(e)
        return out
