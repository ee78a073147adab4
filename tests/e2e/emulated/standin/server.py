"""The Kubernetes API over HTTP on a loopback port: discovery, CRUD, the
status subresource, the four PATCH types, watch streams, pod logs, Status
error bodies and the API server's request-body limit."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import errors
from .access import Authorizer, Tokens, service_account_admission, verb_of
from .resources import Resource
from .store import MAX_REQUEST_BODY_BYTES, Store

SERVER_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-standin", "platform": "linux/amd64",
                  "goVersion": "n/a", "compiler": "n/a", "gitCommit": "", "gitTreeState": "clean",
                  "buildDate": "2026-01-01T00:00:00Z"}


class Request:
    """What an admission hook sees of a write."""

    def __init__(self, verb: str, res: Resource, ns: str, name: str | None, sub: str, body, user_agent: str):
        self.verb, self.res, self.ns, self.name, self.sub, self.body = verb, res, ns, name, sub, body
        self.user_agent = user_agent


class ApiServer:
    """The HTTP front of a `Store`; `url` once started."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0):
        self.store = store
        self.admission: list = []  # callables(Request) raising ApiError to reject a write
        # Built in, before the hooks above: the ServiceAccount admission plugin's check.
        self.plugins = [service_account_admission(store)]
        self.tokens = Tokens()
        self.authorizer = Authorizer(store)
        self.request_log: list[tuple[str, str, int, str | None]] = []  # method, path, code, user
        # Every authorized resource request: (user, API group, resource[/subresource], verb).
        self.authorized: list[tuple[str, str, str, str]] = []
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="standin-http",
                                        daemon=True)

    def start(self) -> "ApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.store.close()
        self.httpd.shutdown()
        self.httpd.server_close()

    def admit(self, req: Request) -> None:
        """Run a write through the admission chain (plugins, then test hooks)."""
        for hook in self.plugins + self.admission:
            hook(req)

    # ----- discovery ----------------------------------------------------------------------------

    def _versions(self) -> dict[str, list[Resource]]:
        groups: dict[str, list[Resource]] = {}
        for r in self.store.resources.values():
            groups.setdefault(r.api_version, []).append(r)
        return groups

    def discovery(self, path: str):
        groups = self._versions()
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.url[7:]}]}
        if path == "/apis":
            out: dict[str, list[str]] = {}
            for gv in groups:
                if "/" in gv:
                    g, v = gv.split("/")
                    out.setdefault(g, []).append(v)
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}} for g, vs in out.items()]}
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            vs = [gv.split("/")[1] for gv in groups if gv.startswith(parts[1] + "/")]
            if not vs:
                return None
            return {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                    "versions": [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{parts[1]}/{vs[0]}", "version": vs[0]}}
        gv = "v1" if parts == ["api", "v1"] else ("/".join(parts[1:3]) if parts[0] == "apis" and len(parts) == 3 else None)
        if gv not in groups:
            return None
        resources = []
        for r in groups[gv]:
            verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            resources.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                              "kind": r.kind, "verbs": verbs, "shortNames": r.short_names})
            for sub in r.subresources:
                resources.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                                  "kind": r.kind if sub == "status" else "Pod",
                                  "verbs": ["get", "patch", "update"] if sub == "status" else ["get"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def route(self, path: str):
        """(resource, namespace, name, subresource) for a resource path, or None."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
            version = parts[2]
        else:
            return None
        ns = None
        # namespaces/<ns>/<plural>/... is a namespaced path; namespaces/<name>/status is not.
        if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        res = self.store.resource(group, rest[0])
        if res is None or (group and res.version != version):
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3 or (sub and sub not in res.subresources):
            return None
        if ns is not None and not res.namespaced:
            return None
        return res, ns, name, sub


class _Handler(BaseHTTPRequestHandler):
    api: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; requests are in api.request_log
        pass

    # ----- plumbing -------------------------------------------------------------------------------

    def _send(self, code: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.api.request_log.append((self.command, self.path, code, getattr(self, "user", None)))

    def _error(self, e: errors.ApiError) -> None:
        self._send(e.code, e.body())

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_REQUEST_BODY_BYTES:
            # Read (and drop) what the client sends before answering, so it sees the
            # 413 instead of a broken pipe; bounded so a lying header cannot hold us.
            left = min(n, 4 * MAX_REQUEST_BODY_BYTES)
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            self.close_connection = True
            raise errors.request_too_large(MAX_REQUEST_BODY_BYTES)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path.rstrip("/") or "/"
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
            self.user = self.api.tokens.user(self.headers.get("Authorization"))
            if method == "GET" and path in ("/healthz", "/readyz", "/livez"):
                return self._send(200, b"ok", "text/plain")
            if method == "GET" and path == "/version":
                return self._send(200, SERVER_VERSION)
            if method == "GET":
                d = self.api.discovery(path)
                if d is not None:
                    return self._send(200, d)
            routed = self.api.route(path)
            if routed is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            self._resource(method, q, body, *routed)
        except errors.ApiError as e:
            try:
                self._error(e)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ----- resources ------------------------------------------------------------------------------

    def _resource(self, method: str, q: dict, body: bytes, res: Resource, ns: str | None, name: str | None,
                  sub: str) -> None:
        store = self.api.store
        dry_run = q.get("dryRun") == "All"
        manager = q.get("fieldManager")
        agent = self.headers.get("User-Agent", "")
        if res.namespaced and ns is None and method != "GET":
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = verb_of(method, name, q.get("watch") in ("true", "1"))
        self.api.authorizer.check(self.user, verb, res, ns, name, sub)
        self.api.authorized.append((self.user, res.group, f"{res.plural}/{sub}" if sub else res.plural, verb))
        if method == "GET" and name is None:
            return self._list(res, ns, q)
        if method == "GET" and sub == "log":
            return self._log(res, ns, name, q)
        if method == "GET":
            obj = store.get(res, ns or "", name)
            return self._send(200, obj)
        doc = None
        if method in ("POST", "PUT") or (method == "DELETE" and body):
            try:
                doc = json.loads(body) if body else {}
            except ValueError as e:
                raise errors.bad_request(f"error decoding request body: {e}")
        req = Request(verb, res, ns or "", name, sub, doc if doc is not None else body, agent)
        self.api.admit(req)
        if method == "POST" and name is None:
            obj = store.create(res, ns or "", doc, manager or agent.split("/")[0], dry_run)
            return self._send(201, obj)
        if name is None:
            raise errors.method_not_allowed(f"{method} is not supported on a collection")
        if method == "PUT":
            return self._send(200, store.update(res, ns or "", name, doc, manager or agent.split("/")[0],
                                                sub, dry_run))
        if method == "PATCH":
            existed = store.get_opt(res, ns or "", name) is not None
            obj = store.patch(res, ns or "", name, self.headers.get("Content-Type", ""), body, manager, sub,
                              q.get("force") == "true", dry_run, agent)
            return self._send(200 if existed else 201, obj)
        opts = dict(doc or {})
        for k in ("propagationPolicy", "gracePeriodSeconds"):
            if k in q:
                opts[k] = int(q[k]) if k == "gracePeriodSeconds" else q[k]
        obj, gone = store.delete(res, ns or "", name, opts, dry_run)
        if gone:
            details = {"name": name, "kind": res.plural, "uid": obj["metadata"]["uid"]}
            if res.group:
                details["group"] = res.group
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                    "details": details})
        return self._send(200, obj)

    def _list(self, res: Resource, ns: str | None, q: dict) -> None:
        store = self.api.store
        if q.get("watch") in ("true", "1"):
            return self._watch(res, ns, q)
        # Stored objects are replaced, never changed in place: serializing them needs no copy.
        items, rv = store.list(res, ns, q.get("labelSelector"), q.get("fieldSelector"), read_only=True)
        limit = int(q.get("limit") or 0)
        start = 0
        if q.get("continue"):
            try:
                start, rv = (int(x) for x in q["continue"].split(":"))
            except ValueError:
                raise errors.bad_request("continue key is not valid")
            if store.compacted_before and rv + 1 < store.compacted_before:
                raise errors.gone("The provided continue parameter is too old to display a consistent list result.")
            items = _as_of(store, res, ns, q, rv)
        meta = {"resourceVersion": str(rv)}
        if limit and len(items) > start + limit:
            meta["continue"] = f"{start + limit}:{rv}"
            meta["remainingItemCount"] = len(items) - start - limit
            items = items[start:start + limit]
        else:
            items = items[start:]
        if not res.is_crd:
            items = [{k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in items]
        self._send(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta,
                         "items": items})

    def _watch(self, res: Resource, ns: str | None, q: dict) -> None:
        store = self.api.store
        rv = q.get("resourceVersion")
        since = int(rv) if rv not in (None, "", "0") else None
        if q.get("sendInitialEvents") == "true":
            since = None
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = 1.0 if q.get("allowWatchBookmarks") == "true" else None
        try:
            events = store.watch(res, ns, since, q.get("labelSelector"), q.get("fieldSelector"),
                                 timeout=timeout, bookmark_every=bookmarks)
            first = next(events, None)
        except errors.ApiError as e:
            if e.code == 410:  # a real server answers an expired watch with a 200 stream holding ERROR
                first, events = ("ERROR", e.body()), iter(())
            else:
                raise
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.api.request_log.append(("GET", self.path, 200, getattr(self, "user", None)))

        def chunk(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if first is not None:
                chunk(json.dumps({"type": first[0], "object": first[1]}).encode() + b"\n")
            try:
                for typ, obj in events:
                    chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
            except errors.ApiError as e:
                chunk(json.dumps({"type": "ERROR", "object": e.body()}).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _log(self, res: Resource, ns: str | None, name: str, q: dict) -> None:
        self.api.store.get(res, ns or "", name)
        path = self.api.store.logs.get((ns, name))
        if not path:
            raise errors.bad_request(f'container "runner" in pod "{name}" is waiting to start: ContainerCreating')
        with open(path, "rb") as f:
            self._send(200, f.read(), "text/plain")


def _as_of(store: Store, res: Resource, ns: str | None, q: dict, rv: int) -> list[dict]:
    """The list as it was at `rv`: today's objects rolled back through the history."""
    items, _ = store.list(res, ns, q.get("labelSelector"), q.get("fieldSelector"))
    by_key = {(i["metadata"].get("namespace", ""), i["metadata"]["name"]): i for i in items}
    with store.lock:
        for e in reversed([e for e in store.history if e.rv > rv and e.res == res.key]):
            key = (e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
            if e.type == "ADDED":
                by_key.pop(key, None)
            elif e.old is not None:
                by_key[key] = json.loads(json.dumps(e.old))
    return [by_key[k] for k in sorted(by_key)]
