"""Kubernetes `Status` error bodies, with the codes, reasons and messages a
real API server uses (so kube-rs' `is_not_found()` and friends work)."""

from __future__ import annotations


class ApiError(Exception):
    """An API failure answered as a `Status` object."""

    def __init__(self, code: int, reason: str | None, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict:
        b = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "code": self.code}
        if self.reason:
            b["reason"] = self.reason
        if self.details:
            b["details"] = self.details
        return b


def _details(res, name: str | None, **extra) -> dict:
    d = {"group": res.group, "kind": res.plural} if res.group else {"kind": res.plural}
    if name:
        d["name"] = name
    d.update(extra)
    return d


def not_found(res, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def namespace_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})


def already_exists(res, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name))


def conflict(res, name: str, why: str = "the object has been modified; please apply your changes to the latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    _details(res, name))


def apply_conflict(res, name: str, conflicts: list[tuple[str, str, str]]) -> ApiError:
    """Server-side apply conflicts: (manager, apiVersion, field path) each."""
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {v}', "field": f}
              for m, v, f in conflicts]
    n = len(conflicts)
    lines = "\n".join(f'- {c["message"]}: {c["field"]}' for c in causes)
    msg = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + (
        f'{causes[0]["message"]}: {causes[0]["field"]}' if n == 1 else "\n" + lines)
    return ApiError(409, "Conflict", msg, _details(res, name, causes=causes))


def invalid(res, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; causes are (reason, field, message) with message already 'field: ...'."""
    text = causes[0][2] if len(causes) == 1 else "[" + ", ".join(c[2] for c in causes) + "]"
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    details = {"name": name, "kind": res.kind, "causes": [
        {"reason": r, "message": m.split(": ", 1)[1] if ": " in m else m, "field": f} for r, f, m in causes]}
    if res.group:
        details["group"] = res.group
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def forbidden(res, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{res.qualified} "{name}" is forbidden: {why}', _details(res, name))


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}")


def request_too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def etcd_too_large() -> ApiError:
    # What kube-apiserver answers today when etcd refuses a value over its
    # --max-request-bytes: a reason-less 500 (kubernetes/kubernetes#112152).
    return ApiError(500, None, "etcdserver: request is too large")


def injected(code: int, message: str) -> ApiError:
    """A failure a test asked the stand-in to inject."""
    reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
    return ApiError(code, reasons.get(code), message)
