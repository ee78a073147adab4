"""What a real API server does with a custom resource's structural schema on
every write: prune unknown fields, apply defaults, validate (types, enums,
ranges, lengths, patterns, required fields) and evaluate the
`x-kubernetes-validations` CEL rules (with cel-python when it is installed)."""

from __future__ import annotations

import json
import re

_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def prune(obj, s: dict | None):
    if not s or not isinstance(obj, dict) and not isinstance(obj, list):
        return obj
    if isinstance(obj, list):
        return [prune(i, s.get("items")) for i in obj] if s.get("items") else obj
    if s.get("x-kubernetes-preserve-unknown-fields") and not s.get("properties"):
        return obj
    props = s.get("properties")
    ap = s.get("additionalProperties")
    if props is None and ap is None:
        return obj
    out = {}
    for k, v in obj.items():
        if props and k in props:
            out[k] = prune(v, props[k])
        elif isinstance(ap, dict):
            out[k] = prune(v, ap)
        elif ap is True or s.get("x-kubernetes-preserve-unknown-fields"):
            out[k] = v
    return out


def default(obj, s: dict | None):
    if not s:
        return obj
    if isinstance(obj, dict):
        for k, ps in (s.get("properties") or {}).items():
            if k not in obj and "default" in ps:
                obj[k] = json.loads(json.dumps(ps["default"]))
            if k in obj:
                obj[k] = default(obj[k], ps)
        ap = s.get("additionalProperties")
        if isinstance(ap, dict):
            for k in obj:
                obj[k] = default(obj[k], ap)
    elif isinstance(obj, list) and s.get("items"):
        return [default(i, s["items"]) for i in obj]
    return obj


def _fmt(v) -> str:
    return json.dumps(v) if isinstance(v, str) else json.dumps(v)


def validate(obj, s: dict | None, path: str = "") -> list[tuple[str, str, str]]:
    """Causes: (reason, field, 'field: message')."""
    if not s:
        return []
    errs: list[tuple[str, str, str]] = []
    name = path or "<root>"

    def bad(reason: str, text: str):
        errs.append((reason, path, f"{name}: {text}"))

    if obj is None:
        if not s.get("nullable") and s.get("type"):
            bad("FieldValueTypeInvalid", f'Invalid value: "null": {name} in body must be of type {s["type"]}: "null"')
        return errs
    t = s.get("type")
    if s.get("x-kubernetes-int-or-string"):
        if not isinstance(obj, (int, str)) or isinstance(obj, bool):
            bad("FieldValueTypeInvalid", f"Invalid value: {_fmt(obj)}: {name} in body must be of type integer or string")
        return errs
    if t == "integer":
        ok = isinstance(obj, int) and not isinstance(obj, bool) or isinstance(obj, float) and obj.is_integer()
    elif t == "number":
        ok = isinstance(obj, (int, float)) and not isinstance(obj, bool)
    elif t in _TYPES:
        ok = isinstance(obj, _TYPES[t])
    else:
        ok = True
    if not ok:
        kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(obj), "number")
        bad("FieldValueTypeInvalid", f'Invalid value: "{kind}": {name} in body must be of type {t}: "{kind}"')
        return errs
    if "enum" in s and obj not in s["enum"]:
        supported = ", ".join(_fmt(e) for e in s["enum"])
        bad("FieldValueNotSupported", f"Unsupported value: {_fmt(obj)}: supported values: {supported}")
    if t in ("integer", "number"):
        if "minimum" in s and obj < s["minimum"]:
            bad("FieldValueInvalid", f"Invalid value: {obj}: {name} in body should be greater than or equal to {_num(s['minimum'])}")
        if "maximum" in s and obj > s["maximum"]:
            bad("FieldValueInvalid", f"Invalid value: {obj}: {name} in body should be less than or equal to {_num(s['maximum'])}")
    if t == "string":
        if "maxLength" in s and len(obj) > s["maxLength"]:
            bad("FieldValueTooLong", f"Too long: may not be more than {s['maxLength']} bytes")
        if "minLength" in s and len(obj) < s["minLength"]:
            bad("FieldValueInvalid", f"Invalid value: {_fmt(obj)}: {name} in body should be at least {s['minLength']} chars long")
        if "pattern" in s and not re.search(s["pattern"], obj):
            bad("FieldValueInvalid", f"Invalid value: {_fmt(obj)}: {name} in body should match '{s['pattern']}'")
    if t == "array":
        if "maxItems" in s and len(obj) > s["maxItems"]:
            bad("FieldValueTooMany", f"Too many: {len(obj)}: must have at most {s['maxItems']} items")
        if "minItems" in s and len(obj) < s["minItems"]:
            bad("FieldValueInvalid", f"Invalid value: {len(obj)}: {name} in body should have at least {s['minItems']} items")
        items = s.get("items")
        plain = items is not None and items.get("type") in ("integer", "number") \
            and not set(items) - {"type", "format", "description", "nullable"}
        # A long list of plain numbers (a timeline) is checked in one pass.
        if not (plain and all(type(x) is int for x in obj)):
            for i, item in enumerate(obj):
                errs += validate(item, items, f"{path}[{i}]")
        if s.get("x-kubernetes-list-type") == "map":
            keys = s.get("x-kubernetes-list-map-keys") or []
            seen = set()
            for i, item in enumerate(obj):
                k = json.dumps([item.get(x) for x in keys]) if isinstance(item, dict) else None
                if k in seen:
                    errs.append(("FieldValueDuplicate", f"{path}[{i}]", f"{path}[{i}]: Duplicate value: {k}"))
                seen.add(k)
    if t == "object" or isinstance(obj, dict):
        for req in s.get("required") or []:
            if req not in obj:
                p = f"{path}.{req}" if path else req
                errs.append(("FieldValueRequired", p, f"{p}: Required value"))
        props = s.get("properties") or {}
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            if k in props:
                errs += validate(v, props[k], p)
            elif isinstance(s.get("additionalProperties"), dict):
                errs += validate(v, s["additionalProperties"], p)
    if not errs:
        errs += _cel(obj, s, path)
    return errs


def _num(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _cel(obj, s: dict, path: str) -> list[tuple[str, str, str]]:
    rules = s.get("x-kubernetes-validations") or []
    if not rules:
        return []
    try:
        import celpy  # cel-python; optional
    except ImportError:
        return []
    errs = []
    for r in rules:
        try:
            env = celpy.Environment()
            prog = env.program(env.compile(r["rule"]))
            ok = prog.evaluate({"self": celpy.json_to_cel(obj)})
        except Exception:  # an expression cel-python cannot evaluate: not judged here
            continue
        if ok is False or (hasattr(ok, "__bool__") and not bool(ok) and not isinstance(ok, Exception)):
            msg = r.get("message") or f"failed rule: {r['rule']}"
            name = path or "<root>"
            errs.append(("FieldValueInvalid", path, f"{name}: Invalid value: \"object\": {msg}"))
    return errs
