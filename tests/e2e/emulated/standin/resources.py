"""What the stand-in serves: the built-in resources the operator, the runners
and kubectl touch, plus every CustomResourceDefinition it is given; and the
type information server-side apply needs (which lists merge by which keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


@dataclass
class Resource:
    """One resource type at one group/version."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    subresources: tuple[str, ...] = ()
    schema: dict | None = None  # openAPIV3Schema of a CRD; None for built-ins
    printer_columns: list[dict] = field(default_factory=list)
    # metadata.generation moves on spec changes (all CRDs; these built-ins).
    tracks_generation: bool = False
    # DELETE without a propagationPolicy: what the real registry defaults to.
    default_propagation: str = "Background"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`pods`, `jobs.batch`, `loadtests.glasscannon.dev`: how errors name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def is_crd(self) -> bool:
        return self.schema is not None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def type_info(self) -> "TypeInfo":
        return TypeInfo(self.schema, (), builtin=not self.is_crd)


def builtin_resources() -> list[Resource]:
    R = Resource
    return [
        R("", "v1", "namespaces", "namespace", "Namespace", namespaced=False, short_names=["ns"],
          subresources=("status",)),
        R("", "v1", "pods", "pod", "Pod", short_names=["po"], subresources=("status", "log"),
          tracks_generation=True),
        R("", "v1", "events", "event", "Event", short_names=["ev"]),
        R("", "v1", "configmaps", "configmap", "ConfigMap", short_names=["cm"]),
        R("", "v1", "secrets", "secret", "Secret"),
        R("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", short_names=["sa"]),
        R("", "v1", "services", "service", "Service", short_names=["svc"], subresources=("status",)),
        # batch/v1 Jobs orphan their pods by default, for backward compatibility.
        R("batch", "v1", "jobs", "job", "Job", subresources=("status",), tracks_generation=True,
          default_propagation="Orphan"),
        R("coordination.k8s.io", "v1", "leases", "lease", "Lease"),
        R("events.k8s.io", "v1", "events", "event", "Event", short_names=["ev"]),
        R("rbac.authorization.k8s.io", "v1", "roles", "role", "Role"),
        R("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding"),
        R("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", namespaced=False),
        R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
          namespaced=False),
    ]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_resources(path: str) -> list[Resource]:
    """The served versions of every CustomResourceDefinition in a YAML file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for doc in yaml.load_all(f, Loader=_LOADER):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            names = spec["names"]
            for v in spec["versions"]:
                if not v.get("served", True):
                    continue
                subs = tuple(v.get("subresources", {}) or {})
                out.append(Resource(
                    group=spec["group"], version=v["name"], plural=names["plural"],
                    singular=names.get("singular", names["kind"].lower()), kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    short_names=names.get("shortNames", []), subresources=subs,
                    schema=v["schema"]["openAPIV3Schema"],
                    printer_columns=v.get("additionalPrinterColumns", []),
                    tracks_generation=True))
    return out


# How built-in types' lists merge (their OpenAPI `x-kubernetes-list-*` markers),
# by field name; anything not listed is atomic.
BUILTIN_LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "containers": ("map", ("name",)),
    "initContainers": ("map", ("name",)),
    "ephemeralContainers": ("map", ("name",)),
    "env": ("map", ("name",)),
    "ports": ("map", ("containerPort", "protocol")),
    "volumeMounts": ("map", ("mountPath",)),
    "volumes": ("map", ("name",)),
    "conditions": ("map", ("type",)),
    "ownerReferences": ("map", ("uid",)),
    "finalizers": ("set", ()),
    "imagePullSecrets": ("map", ("name",)),
    "containerStatuses": ("atomic", ()),
}


class TypeInfo:
    """A node of an object's type: the CRD schema there, or the built-in table."""

    def __init__(self, schema: dict | None, names: tuple[str, ...], builtin: bool):
        self.schema = schema
        self.names = names
        self.builtin = builtin

    def field(self, name: str) -> "TypeInfo":
        names = self.names + (name,)
        if not self.names and name == "metadata":
            return TypeInfo(None, names, builtin=True)
        s = self.schema or {}
        props = s.get("properties") or {}
        if name in props:
            return TypeInfo(props[name], names, self.builtin)
        ap = s.get("additionalProperties")
        return TypeInfo(ap if isinstance(ap, dict) else None, names, self.builtin)

    def item(self) -> "TypeInfo":
        return TypeInfo((self.schema or {}).get("items"), self.names, self.builtin)

    def list_type(self) -> tuple[str, tuple[str, ...]]:
        s = self.schema or {}
        if "x-kubernetes-list-type" in s:
            return s["x-kubernetes-list-type"], tuple(s.get("x-kubernetes-list-map-keys") or ())
        if self.builtin and self.names:
            return BUILTIN_LISTS.get(self.names[-1], ("atomic", ()))
        return ("atomic", ())

    def map_atomic(self) -> bool:
        return (self.schema or {}).get("x-kubernetes-map-type") == "atomic"


def load_yaml_or_json(text: str):
    """Apply bodies are YAML (JSON is YAML)."""
    return yaml.load(text, Loader=_LOADER)
