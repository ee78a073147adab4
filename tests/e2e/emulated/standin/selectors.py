"""Label selectors (`a=b,c!=d,e in (f,g),!h`) and field selectors (`metadata.name=x`)."""

from __future__ import annotations

import re

from .errors import bad_request

_TERM = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=|\s+in\s+|\s+notin\s+)\s*(\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$")


def _split(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def label_matcher(text: str | None):
    """A predicate on a labels dict; raises 400 on a malformed selector."""
    if not text:
        return lambda labels: True
    terms = []
    for raw in _split(text):
        m = _TERM.match(raw)
        if not m:
            raise bad_request(f"unable to parse requirement: {raw!r}: invalid label selector")
        neg, key, op, val = m.groups()
        op = (op or "").strip()
        if neg and op:
            raise bad_request(f"unable to parse requirement: {raw!r}")
        if op in ("in", "notin"):
            vals = {v.strip() for v in val.strip("()").split(",") if v.strip() or True}
        else:
            vals = {val}
        terms.append((neg, key, op, vals))

    def match(labels: dict) -> bool:
        labels = labels or {}
        for neg, key, op, vals in terms:
            if not op:
                if bool(neg) == (key in labels):
                    return False
            elif op in ("=", "=="):
                if labels.get(key) not in vals:
                    return False
            elif op == "!=":
                if key in labels and labels[key] in vals:
                    return False
            elif op == "in":
                if labels.get(key) not in vals:
                    return False
            elif op == "notin":
                if key in labels and labels[key] in vals:
                    return False
        return True

    return match


def field_matcher(text: str | None):
    """A predicate on an object for `path=value` / `path!=value` terms."""
    if not text:
        return lambda obj: True
    terms = []
    for raw in text.split(","):
        m = re.match(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", raw)
        if not m:
            raise bad_request(f"invalid field selector: {raw!r}")
        terms.append(m.groups())

    def value(obj, path: str):
        cur = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return "" if cur is None else str(cur)

    def match(obj: dict) -> bool:
        for path, op, val in terms:
            eq = value(obj, path) == val
            if eq != (op != "!="):
                return False
        return True

    return match
