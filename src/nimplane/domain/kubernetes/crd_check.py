"""`CrdChecker`: does a manifest pass a CustomResourceDefinition, as the API server would judge
it with strict field validation? The CRD document is handed in (parsed YAML of NVIDIA's file,
never a copy in this package). Checks, in the API server's order: `apiVersion`/`kind`, the
name, defaults applied, the structural schema (types, enums, patterns, ranges, required,
int32/int64 formats), unknown fields (except under `x-kubernetes-preserve-unknown-fields`),
`x-kubernetes-list-type` map/set uniqueness, then, only when all that passed, the CEL rules
(`x-kubernetes-validations`) of create (transition rules, those reading `oldSelf`, are for
updates and skipped)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from jsonschema import Draft202012Validator, FormatChecker

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NIM_NAME_MAX = 59
"""The operator names the container `<name>-ctr`, a DNS label of at most 63 characters."""


@dataclass(frozen=True)
class CrdProblem:
    """One reason a manifest is refused: the field's path in the manifest and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class CelRule:
    path: str
    """The schema node's path, as `spec.expose.router` (items as `[]`)."""
    rule: str
    message: str
    program: Any


def _int_in(bits: int) -> Any:
    def check(value: object) -> bool:
        return not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)

    return check


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("int32")(_int_in(32))
    checker.checks("int64")(_int_in(64))
    return checker


def _path(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class CrdChecker:
    """The checks of one CRD's storage version."""

    def __init__(self, crd: Mapping[str, Any]) -> None:
        spec = crd["spec"]
        version = next(v for v in spec["versions"] if v.get("storage"))
        self.api_version = f"{spec['group']}/{version['name']}"
        self.kind: str = spec["names"]["kind"]
        self.namespaced = spec.get("scope") == "Namespaced"
        self.schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
        self._validator = Draft202012Validator(self.schema, format_checker=_format_checker())
        self._cel = celpy.Environment()
        self.rules: list[CelRule] = []
        self._rules_at: dict[int, list[CelRule]] = {}
        self._collect_rules(self.schema, "")

    def _collect_rules(self, node: Mapping[str, Any], path: str) -> None:
        for item in node.get("x-kubernetes-validations", []):
            text = item["rule"]
            if "oldSelf" in text:  # a transition rule: only on update
                continue
            rule = CelRule(
                path=path or "<root>",
                rule=text,
                message=item.get("message", f"failed rule: {text}"),
                program=self._cel.program(self._cel.compile(text)),
            )
            self.rules.append(rule)
            self._rules_at.setdefault(id(node), []).append(rule)
        for key, child in (node.get("properties") or {}).items():
            self._collect_rules(child, _join(path, key))
        if isinstance(node.get("items"), dict):
            self._collect_rules(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            self._collect_rules(node["additionalProperties"], f"{path}[*]")

    def check(self, manifest: Mapping[str, Any]) -> list[CrdProblem]:
        """Every problem of a manifest (empty when the API server would accept it)."""
        problems = self._identity(manifest)
        obj = copy.deepcopy(dict(manifest))
        apply_defaults(self.schema, obj)
        for error in sorted(self._validator.iter_errors(obj), key=lambda e: list(e.path)):
            problems.append(CrdProblem(_path(list(error.absolute_path)), error.message))
        structural = list(self._walk(self.schema, obj, ""))
        problems.extend(structural)
        if not problems:
            problems.extend(self._cel_problems(self.schema, obj, ""))
        return problems

    def _identity(self, manifest: Mapping[str, Any]) -> list[CrdProblem]:
        out = []
        if manifest.get("apiVersion") != self.api_version:
            out.append(CrdProblem("apiVersion", f"must be {self.api_version}"))
        if manifest.get("kind") != self.kind:
            out.append(CrdProblem("kind", f"must be {self.kind}"))
        metadata = manifest.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            out.append(CrdProblem("metadata.name", "is required"))
        elif self.kind == "NIMService" and (problem := nim_name_problem(name)) is not None:
            out.append(problem)
        elif len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            out.append(CrdProblem("metadata.name", f"'{name}' is not a DNS subdomain"))
        if self.namespaced and not metadata.get("namespace"):
            out.append(CrdProblem("metadata.namespace", f"a {self.kind} is namespaced"))
        return out

    def _walk(self, node: Mapping[str, Any], value: Any, path: str) -> Iterator[CrdProblem]:
        """Unknown fields and list uniqueness (jsonschema knows neither)."""
        if isinstance(value, dict) and not node.get("x-kubernetes-preserve-unknown-fields"):
            props = node.get("properties")
            extra = node.get("additionalProperties")
            for key, child in value.items():
                if props is not None and key in props:
                    yield from self._walk(props[key], child, _join(path, key))
                elif isinstance(extra, dict):
                    yield from self._walk(extra, child, _join(path, key))
                elif props is not None and path != "metadata":
                    yield CrdProblem(_join(path, key), "unknown field")
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            yield from _list_problems(node, value, path)
            for index, item in enumerate(value):
                yield from self._walk(node["items"], item, f"{path}[{index}]")

    def _cel_problems(self, node: Mapping[str, Any], value: Any, path: str) -> Iterator[CrdProblem]:
        for rule in self._rules_at.get(id(node), []):
            try:
                result = rule.program.evaluate({"self": json_to_cel(value)})
            except Exception as exc:  # celpy raises its own error kinds for bad data
                yield CrdProblem(path or "<root>", f"rule '{rule.rule}' failed to evaluate: {exc}")
                continue
            if isinstance(result, Exception):
                yield CrdProblem(path or "<root>", f"rule '{rule.rule}' failed to evaluate")
            elif not bool(result):
                yield CrdProblem(path or "<root>", rule.message)
        if isinstance(value, dict):
            props = node.get("properties") or {}
            extra = node.get("additionalProperties")
            for key, child in value.items():
                if key in props:
                    yield from self._cel_problems(props[key], child, _join(path, key))
                elif isinstance(extra, dict):
                    yield from self._cel_problems(extra, child, _join(path, key))
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._cel_problems(node["items"], item, f"{path}[{index}]")


def nim_name_problem(name: str) -> CrdProblem | None:
    """A `NIMService` name the operator cannot use: it names its Service after it (a DNS-1035
    label) and its container `<name>-ctr` (at most 63 characters)."""
    if len(name) <= NIM_NAME_MAX and _DNS_1035.fullmatch(name):
        return None
    return CrdProblem(
        "metadata.name",
        f"'{name}' must be a DNS-1035 label of at most {NIM_NAME_MAX} characters "
        "(the operator names its Service after it and its container '<name>-ctr')",
    )


def _list_problems(node: Mapping[str, Any], value: list[Any], path: str) -> Iterator[CrdProblem]:
    kind = node.get("x-kubernetes-list-type")
    if kind == "set":
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                yield CrdProblem(f"{path}[{index}]", f"duplicate value {item!r} in a set")
            seen.append(item)
    elif kind == "map":
        keys = node.get("x-kubernetes-list-map-keys", [])
        seen_keys: list[tuple[Any, ...]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = tuple(item.get(k) for k in keys)
            if key in seen_keys:
                shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))
                yield CrdProblem(f"{path}[{index}]", f"duplicate entry with {shown}")
            seen_keys.append(key)


def apply_defaults(node: Mapping[str, Any], value: Any) -> None:
    """Fill `default`s in place, as the API server does before validating."""
    if isinstance(value, dict):
        for key, child in (node.get("properties") or {}).items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                apply_defaults(child, value[key])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key, child_value in value.items():
                if key not in (node.get("properties") or {}):
                    apply_defaults(extra, child_value)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            apply_defaults(node["items"], item)
