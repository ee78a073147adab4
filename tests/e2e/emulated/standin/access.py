"""Who may do what: ServiceAccount tokens, RBAC authorization, and the
ServiceAccount admission check on pods.

Requests without a bearer token act as cluster admin (the operator, kubectl and
the tests, as the old insecure port did). A pod's token, which the kubelet
writes into its kubeconfig, authenticates as `system:serviceaccount:<ns>:<sa>`
and is authorized by the Roles, ClusterRoles and bindings in the store, with
the real evaluation rules: a rule matches on API group, resource (`loadtests/status`
for a subresource), verb, and `resourceNames` (which never match `create`,
`list` or `watch`, as the request has no name)."""

from __future__ import annotations

import secrets
import threading

from . import errors
from .resources import Resource
from .store import Store

ADMIN = "system:admin"
SA_PREFIX = "system:serviceaccount:"


class Tokens:
    """Bearer token -> user name, for ServiceAccount tokens the kubelet mounts."""

    def __init__(self) -> None:
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()

    def issue(self, namespace: str, service_account: str) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._users[token] = f"{SA_PREFIX}{namespace}:{service_account}"
        return token

    def user(self, authorization: str | None) -> str:
        """The user a request's `Authorization` header names; 401 for an unknown token."""
        if not authorization:
            return ADMIN
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            user = self._users.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise errors.ApiError(401, "Unauthorized", "Unauthorized")
        return user


def verb_of(method: str, name: str | None, watch: bool) -> str:
    """The RBAC verb of an HTTP request on a resource path."""
    if method == "GET":
        return "get" if name else ("watch" if watch else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]


def _rule_allows(rule: dict, group: str, resource: str, verb: str, name: str | None) -> bool:
    def has(key: str, value: str) -> bool:
        vals = rule.get(key) or []
        return "*" in vals or value in vals
    names = rule.get("resourceNames") or []
    return (has("apiGroups", group) and has("resources", resource) and has("verbs", verb)
            and (not names or (name is not None and name in names)))


def _subject_is(subject: dict, binding_ns: str, user: str) -> bool:
    if subject.get("kind") == "ServiceAccount":
        return user == f"{SA_PREFIX}{subject.get('namespace') or binding_ns}:{subject.get('name')}"
    if subject.get("kind") == "User":
        return user == subject.get("name")
    return False


class Authorizer:
    """RBAC over the store's Roles, ClusterRoles and their bindings."""

    def __init__(self, store: Store):
        self.store = store

    def _rules(self, kind: str, name: str, ns: str) -> list[dict]:
        res = self.store.resource("rbac.authorization.k8s.io", "roles" if kind == "Role" else "clusterroles")
        role = self.store.get_opt(res, ns if kind == "Role" else "", name)
        return (role or {}).get("rules") or []

    def allowed(self, user: str, verb: str, res: Resource, ns: str | None, name: str | None, sub: str) -> bool:
        if user == ADMIN:
            return True
        resource = f"{res.plural}/{sub}" if sub else res.plural
        group = "rbac.authorization.k8s.io"
        bindings = [(b, "") for b in self.store.list(self.store.resource(group, "clusterrolebindings"))[0]]
        if ns:
            bindings += [(b, ns) for b in self.store.list(self.store.resource(group, "rolebindings"), ns)[0]]
        for b, where in bindings:
            if not any(_subject_is(s, where, user) for s in b.get("subjects") or []):
                continue
            ref = b.get("roleRef") or {}
            rules = self._rules(ref.get("kind", ""), ref.get("name", ""), where)
            if any(_rule_allows(r, res.group, resource, verb, name) for r in rules):
                return True
        return False

    def check(self, user: str, verb: str, res: Resource, ns: str | None, name: str | None, sub: str) -> None:
        """403 with the API server's message unless `user` may do this."""
        if self.allowed(user, verb, res, ns, name, sub):
            return
        resource = f"{res.plural}/{sub}" if sub else res.plural
        where = f"in the namespace \"{ns}\"" if ns else "at the cluster scope"
        why = f"User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{res.group}\" {where}"
        if name:
            raise errors.forbidden(res, name, why)
        raise errors.ApiError(403, "Forbidden", f"{res.qualified} is forbidden: {why}", {"kind": res.plural})


def service_account_admission(store: Store):
    """The ServiceAccount admission plugin's check: a pod naming a ServiceAccount that
    does not exist is refused (the `default` one is taken to exist everywhere, as
    the ServiceAccount controller makes it in every namespace)."""
    sas = store.resource("", "serviceaccounts")
    pods = store.resource("", "pods")

    def admit(req) -> None:
        if req.verb != "create" or req.res is not pods or not isinstance(req.body, dict):
            return
        sa = (req.body.get("spec") or {}).get("serviceAccountName") or "default"
        if sa != "default" and store.get_opt(sas, req.ns, sa) is None:
            meta = req.body.get("metadata") or {}
            raise errors.forbidden(pods, meta.get("name") or meta.get("generateName", ""),
                                   f"error looking up service account {req.ns}/{sa}: "
                                   f"serviceaccount \"{sa}\" not found")
    return admit
