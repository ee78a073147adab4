"""An API server stand-in, a kubelet and the processes around them, for running
the real Glass Cannon operator and agents end to end without a cluster. See
tests/e2e/emulated/README.md."""

from .cluster import Client, Cluster, Process, Target, wait_until
from .errors import ApiError
from .kubelet import FAULTS, Kubelet
from .resources import Resource, builtin_resources, crd_resources
from .server import ApiServer, Request
from .store import ETCD_MAX_OBJECT_BYTES, MAX_REQUEST_BODY_BYTES, Store

__all__ = ["ApiError", "ApiServer", "Client", "Cluster", "ETCD_MAX_OBJECT_BYTES", "FAULTS", "Kubelet",
           "MAX_REQUEST_BODY_BYTES", "Process", "Request", "Resource", "Store", "Target", "builtin_resources",
           "crd_resources", "wait_until"]
