"""Every semantic rule a NIM service request must pass (docs/decisions.md D3, D6), all reported at
once.

Field types, enums, patterns and bounds are checked by the wire models (`spec.py`); this
module checks what spans fields or needs context. It reads the request as plain JSON with
`null`s already dropped, and it is written defensively: a rule only looks at values of the
type it expects, so that it can run even when the wire models found type errors elsewhere,
and every violation is reported in one answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nimplane.domain.catalog import PRIORITY_CLASSES
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.images import parse_image_reference
from nimplane.domain.quantities import parse_quantity

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAME_MAX = 63
PREFIX_SUFFIX_LEN = 6  # "-" and five random characters
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_SOURCES = ("value", "secret", "configMap", "podFieldRef", "userCredential")

Json = dict[str, Any]


@dataclass(frozen=True)
class ValidationContext:
    """What the rules need to know about the world: the names that exist."""

    node_pools: frozenset[str]
    categories: frozenset[str]


def drop_nulls(value: Any) -> Any:
    """docs/decisions.md D2: an explicit `null` means "not given"; remove it from every object, at
    any depth.

    A copy, built with an explicit stack rather than recursion: no body can exhaust the
    interpreter's stack, however deep it nests."""
    if not isinstance(value, dict | list):
        return value
    root: Json | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if item is None and isinstance(source, dict):
                continue
            if isinstance(item, dict | list):
                copy: Any = {} if isinstance(item, dict) else []
                stack.append((item, copy))
                item = copy
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root


def _obj(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> Iterator[tuple[int, Json]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def validate_name(
    name: Any, *, as_prefix: bool, field: str = "metadata.name"
) -> list[ComplianceIssue]:
    """docs/decisions.md D3: a DNS-1035 label of at most 63 characters (57 when it is a prefix)."""
    if not isinstance(name, str):
        return []  # the wire model reports the type
    limit = NAME_MAX - PREFIX_SUFFIX_LEN if as_prefix else NAME_MAX
    issues = []
    if not NAME_RE.fullmatch(name):
        issues.append(
            ComplianceIssue(
                field,
                f"'{name}' is not a valid name: use lower-case letters, digits and '-', "
                "start with a letter and end with a letter or digit",
            )
        )
    if len(name) > limit:
        what = "a name prefix" if as_prefix else "a name"
        issues.append(
            ComplianceIssue(
                field, f"{what} may have at most {limit} characters, got {len(name)}", "max"
            )
        )
    return issues


def validate_spec(
    spec: Json, ctx: ValidationContext, prefix: str = "spec"
) -> list[ComplianceIssue]:
    """Every rule of docs/decisions.md D6 over a null-free spec; `prefix` is the spec's path in the
    request."""
    issues: list[ComplianceIssue] = []

    def add(field: str, details: str, rule: str | None = None) -> None:
        issues.append(ComplianceIssue(f"{prefix}.{field}", details, rule))

    _image(spec, add)
    _model_store(spec, add)
    _compute(_obj(spec.get("compute")), add)
    _autoscaling(spec, add)
    _environment(spec.get("environmentVariables"), add)
    _named_pairs("labels", spec.get("labels"), add, check_values=True)
    _named_pairs("annotations", spec.get("annotations"), add, check_values=False)
    _tolerations(spec.get("tolerations"), add)
    _probes(_obj(spec.get("probes")), add)
    _scheduling(spec, ctx, add)
    _security(_obj(spec.get("security")), add)
    for index, secret in _items(spec.get("imagePullSecrets")):
        if "name" not in secret and not secret.get("exclude"):
            add(f"imagePullSecrets[{index}].name", "an image pull secret needs a name", "required")
    return issues


def _image(spec: Json, add: Any) -> None:
    image = spec.get("image")
    if image is None:
        add("image", "image is required", "required")
    elif isinstance(image, str) and parse_image_reference(image) is None:
        add("image", f"'{image}' is not an image reference (registry/repository[:tag][@digest])")


def _model_store(spec: Json, add: Any) -> None:
    store = _obj(spec.get("modelStore"))
    cache, pvc = store.get("nimCache"), store.get("pvc")
    if cache is not None and pvc is not None:
        add("modelStore", "set at most one model store: nimCache or pvc, not both")
    if cache is None and pvc is None and "ngcAuthSecret" not in spec:
        add(
            "ngcAuthSecret",
            "without a model store (nimCache or pvc) the NIM downloads its model at start "
            "and needs ngcAuthSecret",
            "required",
        )
    if isinstance(cache, dict) and "name" not in cache:
        add("modelStore.nimCache.name", "a NIM cache needs a name", "required")
    if not isinstance(pvc, dict):
        return
    if pvc.get("existingPvc") is True:
        if "claimName" not in pvc:
            add(
                "modelStore.pvc.claimName",
                "an existing PVC (existingPvc: true) needs claimName",
                "required",
            )
        if "claimInfo" in pvc:
            add(
                "modelStore.pvc.claimInfo",
                "claimInfo is only for a new PVC; remove it or set existingPvc: false",
            )
    elif "size" not in _obj(pvc.get("claimInfo")):
        add(
            "modelStore.pvc.claimInfo.size",
            "a new PVC (existingPvc: false) needs claimInfo.size",
            "required",
        )
    _quantity_field(_obj(pvc.get("claimInfo")), "size", "modelStore.pvc.claimInfo.size", add)


def _quantity_field(section: Json, key: str, field: str, add: Any) -> Decimal | None:
    text = _str(section.get(key))
    if text is None:
        return None
    value = parse_quantity(text)
    if value is None:
        add(field, f"'{text}' is not a Kubernetes quantity (e.g. 500m, 16Gi, 1G)")
    return value


def _compute(compute: Json, add: Any) -> None:
    quantities = {
        key: _quantity_field(compute, key, f"compute.{key}", add)
        for key in ("cpuMemoryRequest", "cpuMemoryLimit", "gpuMemoryRequest", "gpuMemoryLimit")
    }
    pairs: list[tuple[str, str, Any, Any]] = [
        (
            "cpuCoreRequest",
            "cpuCoreLimit",
            _num(compute.get("cpuCoreRequest")),
            _num(compute.get("cpuCoreLimit")),
        ),
        (
            "cpuMemoryRequest",
            "cpuMemoryLimit",
            quantities["cpuMemoryRequest"],
            quantities["cpuMemoryLimit"],
        ),
        (
            "gpuPortionRequest",
            "gpuPortionLimit",
            _num(compute.get("gpuPortionRequest")),
            _num(compute.get("gpuPortionLimit")),
        ),
        (
            "gpuMemoryRequest",
            "gpuMemoryLimit",
            quantities["gpuMemoryRequest"],
            quantities["gpuMemoryLimit"],
        ),
    ]
    for request_key, limit_key, request, limit in pairs:
        if request is not None and limit is not None and limit < request:
            add(
                f"compute.{limit_key}",
                f"{limit_key} ({compute[limit_key]}) must be at least "
                f"{request_key} ({compute[request_key]})",
                "min",
            )
    request_type = compute.get("gpuRequestType")
    portion_fields = [k for k in ("gpuPortionRequest", "gpuPortionLimit") if k in compute]
    memory_fields = [k for k in ("gpuMemoryRequest", "gpuMemoryLimit") if k in compute]
    if request_type is None:
        for key in portion_fields + memory_fields:
            add(
                f"compute.{key}",
                f"{key} needs compute.gpuRequestType (portion or memory)",
                "required",
            )
        return
    devices = _int(compute.get("gpuDevicesRequest"))
    if request_type == "portion":
        portion = _num(compute.get("gpuPortionRequest"))
        if "gpuPortionRequest" not in compute:
            add(
                "compute.gpuPortionRequest",
                "gpuRequestType portion needs gpuPortionRequest",
                "required",
            )
        elif portion is not None and not 0 < portion <= 1:
            add(
                "compute.gpuPortionRequest",
                f"gpuPortionRequest must be in (0, 1], got {portion}",
                "max" if portion > 1 else "min",
            )
    elif request_type == "memory":
        memory = quantities["gpuMemoryRequest"]
        if "gpuMemoryRequest" not in compute:
            add(
                "compute.gpuMemoryRequest",
                "gpuRequestType memory needs gpuMemoryRequest",
                "required",
            )
        elif memory is not None and memory <= 0:
            add("compute.gpuMemoryRequest", "gpuMemoryRequest must be greater than 0", "min")
        if devices is not None and devices > 1:
            add(
                "compute.gpuDevicesRequest",
                f"gpuRequestType memory allows at most 1 device, got {devices}",
                "max",
            )


def _autoscaling(spec: Json, add: Any) -> None:
    if "autoscaling" not in spec:
        return
    workers = _int(_obj(spec.get("multiNode")).get("workers"))
    if workers is not None and workers >= 1:
        add("multiNode", "multi-node (multiNode.workers >= 1) cannot be combined with autoscaling")
    scaling = _obj(spec.get("autoscaling"))
    low, high = _int(scaling.get("minReplicas")), _int(scaling.get("maxReplicas"))
    if low is not None and high is not None and high < low:
        add(
            "autoscaling.maxReplicas",
            f"maxReplicas ({high}) must be at least minReplicas ({low})",
            "min",
        )
    if "metric" not in scaling:
        add(
            "autoscaling.metric",
            "autoscaling needs a metric (e.g. http_requests_total)",
            "required",
        )
    threshold = scaling.get("metricThreshold")
    if threshold is None:
        add("autoscaling.metricThreshold", "autoscaling needs a metricThreshold", "required")
    elif _int(threshold) is not None and threshold < 1:
        add(
            "autoscaling.metricThreshold",
            f"metricThreshold must be at least 1, got {threshold}",
            "min",
        )


def _environment(value: Any, add: Any) -> None:
    seen: dict[str, int] = {}
    for index, item in _items(value):
        field = f"environmentVariables[{index}]"
        name = _str(item.get("name"))
        if "name" not in item:
            add(f"{field}.name", "an environment variable needs a name", "required")
        elif name is not None and not ENV_NAME_RE.fullmatch(name):
            add(f"{field}.name", f"'{name}' is not a valid environment variable name")
        if item.get("exclude") is True:
            continue
        if name is not None:
            if name in seen:
                add(
                    f"{field}.name",
                    f"duplicate environment variable '{name}' (also item {seen[name]})",
                )
            else:
                seen[name] = index
        sources = [s for s in ENV_SOURCES if s in item]
        if len(sources) != 1:
            given = ", ".join(sources) if sources else "none"
            add(
                field,
                "an environment variable needs exactly one source: value, secret, configMap, "
                f"podFieldRef or userCredential (given: {given})",
            )
        for source, keys in (
            ("secret", ("name", "key")),
            ("configMap", ("name", "key")),
            ("userCredential", ("name", "key")),
            ("podFieldRef", ("path",)),
        ):
            ref = item.get(source)
            if isinstance(ref, dict):
                for key in keys:
                    if key not in ref:
                        add(f"{field}.{source}.{key}", f"{source} needs {key}", "required")


def _qualified_name_problem(name: str) -> str | None:
    prefix, slash, local = name.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        return f"'{name}': the prefix must be a DNS subdomain"
    if not local or len(local) > 63 or not _QUALIFIED_NAME_RE.fullmatch(local):
        return (
            f"'{name}' is not a Kubernetes qualified name: at most 63 letters, digits, '-', "
            "'_' or '.', starting and ending with a letter or digit, with an optional DNS "
            "prefix and '/'"
        )
    return None


def qualified_name_problem(name: str) -> str | None:
    """Why `name` is not a Kubernetes qualified name (a label key), or None."""
    return _qualified_name_problem(name)


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a Kubernetes label value, or None."""
    if len(value) > 63 or not _LABEL_VALUE_RE.fullmatch(value):
        return (
            f"'{value}' is not a Kubernetes label value: at most 63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return None


def _named_pairs(section: str, value: Any, add: Any, *, check_values: bool) -> None:
    seen: dict[str, int] = {}
    for index, item in _items(value):
        field = f"{section}[{index}]"
        name = _str(item.get("name"))
        if "name" not in item:
            add(f"{field}.name", f"an item of {section} needs a name", "required")
            continue
        if name is None:
            continue
        problem = _qualified_name_problem(name)
        if problem:
            add(f"{field}.name", problem)
        if name in seen:
            add(f"{field}.name", f"duplicate name '{name}' (also item {seen[name]})")
        else:
            seen[name] = index
        label_value = _str(item.get("value"))
        if (
            check_values
            and label_value is not None
            and (len(label_value) > 63 or not _LABEL_VALUE_RE.fullmatch(label_value))
        ):
            add(f"{field}.value", f"'{label_value}' is not a valid Kubernetes label value")


def _tolerations(value: Any, add: Any) -> None:
    for index, item in _items(value):
        field = f"tolerations[{index}]"
        operator = item.get("operator", "Equal")
        if operator == "Exists" and "value" in item:
            add(
                f"{field}.value", "operator Exists takes no value (it matches any value of the key)"
            )
        if operator == "Equal" and not item.get("key"):
            add(f"{field}.key", "operator Equal needs a key", "required")
        if "seconds" in item and item.get("effect") != "NoExecute":
            add(
                f"{field}.seconds",
                "seconds only applies to effect NoExecute, not "
                f"{item.get('effect', 'an unset effect')}",
            )


def _probes(probes: Json, add: Any) -> None:
    readiness = probes.get("readiness")
    if isinstance(readiness, dict) and not isinstance(
        _obj(readiness.get("handler")).get("httpGet"), dict
    ):
        add(
            "probes.readiness.handler.httpGet",
            "a readiness probe needs handler.httpGet",
            "required",
        )


def _scheduling(spec: Json, ctx: ValidationContext, add: Any) -> None:
    pools = spec.get("nodePools")
    if isinstance(pools, list):
        seen: set[str] = set()
        for index, pool in enumerate(pools):
            if not isinstance(pool, str):
                continue
            if pool in seen:
                add(f"nodePools[{index}]", f"node pool '{pool}' is listed twice")
            elif pool not in ctx.node_pools:
                known = ", ".join(sorted(ctx.node_pools))
                add(
                    f"nodePools[{index}]",
                    f"node pool '{pool}' does not exist (known: {known})",
                    "options",
                )
            seen.add(pool)
    priority = _str(spec.get("priorityClass"))
    if priority is not None and priority not in PRIORITY_CLASSES:
        add(
            "priorityClass",
            f"unknown priority class '{priority}'; use one of {', '.join(PRIORITY_CLASSES)}",
            "options",
        )
    category = _str(spec.get("category"))
    if category is not None and category not in ctx.categories:
        add(
            "category",
            f"unknown category '{category}'; use one of {', '.join(sorted(ctx.categories))}",
            "options",
        )


def _security(security: Json, add: Any) -> None:
    for key in ("runAsUid", "runAsGid"):
        number = _int(security.get(key))
        if number is not None and number < 0:
            add(f"security.{key}", f"{key} must be at least 0, got {number}", "min")
