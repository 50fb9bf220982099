"""Run:ai's flag syntaxes (`--model-new-pvc claimname=x,size=10Gi,accessmode-rwo`, ...) turned
into the API's `NimServiceSpec` sections, and the checks run before anything is sent: the
domain's own wire models and rules (`domain/requests.py`, `domain/validation.py`), plus the
rules Run:ai's CLI states for its flags (exactly one model store; replicas or autoscaling;
workers without autoscaling).

A value that does not follow its grammar is a usage error naming the flag (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer

from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.requests import NimServiceCreateRequest, NimServiceUpdateRequest, wire_issues
from nimplane.domain.validation import ValidationContext, drop_nulls, validate_spec

Json = dict[str, Any]


def _bad(flag: str, value: str, why: str) -> typer.BadParameter:
    return typer.BadParameter(f"'{value}': {why}", param_hint=flag)


def parse_pairs(
    flag: str, value: str, keys: set[str], bare: frozenset[str] | set[str] = frozenset()
) -> tuple[dict[str, str], set[str]]:
    """`a=1,b=2,flag` -> ({a: 1, b: 2}, {flag}); unknown keys or tokens are usage errors."""
    pairs: dict[str, str] = {}
    tokens: set[str] = set()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        if not sep:
            if key not in bare:
                expected = ", ".join(sorted(keys | bare))
                raise _bad(flag, value, f"unknown item '{part}' (expected: {expected})")
            tokens.add(key)
        elif key not in keys:
            raise _bad(flag, value, f"unknown key '{key}' (expected: {', '.join(sorted(keys))})")
        elif key in pairs:
            raise _bad(flag, value, f"'{key}' given twice")
        else:
            pairs[key] = val.strip()
    return pairs, tokens


def _int(flag: str, value: str, key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad(flag, value, f"{key} must be an integer, got '{text}'") from None


def key_value(flag: str, value: str) -> tuple[str, str]:
    """`KEY=VALUE` (the value may hold '=')."""
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise _bad(flag, value, "expected KEY=VALUE")
    return key, val


def model_store(
    nim_cache: str | None, existing_pvc: str | None, new_pvc: str | None
) -> Json | None:
    if nim_cache is not None:
        pairs, _ = parse_pairs("--model-nim-cache", nim_cache, {"name", "profile"})
        if "name" not in pairs:
            raise _bad("--model-nim-cache", nim_cache, "name=CACHE_NAME is required")
        return {"nimCache": pairs}
    if existing_pvc is not None:
        pairs, _ = parse_pairs("--model-existing-pvc", existing_pvc, {"claimname"})
        if "claimname" not in pairs:
            raise _bad("--model-existing-pvc", existing_pvc, "claimname=CLAIM_NAME is required")
        return {"pvc": {"existingPvc": True, "claimName": pairs["claimname"]}}
    if new_pvc is not None:
        pairs, tokens = parse_pairs(
            "--model-new-pvc",
            new_pvc,
            {"claimname", "size", "storageclass"},
            {"accessmode-rwo", "accessmode-rwm", "accessmode-rom", "ro"},
        )
        if "size" not in pairs:
            raise _bad("--model-new-pvc", new_pvc, "size=SIZE is required")
        claim: Json = {"size": pairs["size"]}
        if "storageclass" in pairs:
            claim["storageClass"] = pairs["storageclass"]
        modes = {
            "readWriteOnce": "accessmode-rwo" in tokens,
            "readWriteMany": "accessmode-rwm" in tokens,
            "readOnlyMany": "accessmode-rom" in tokens,
        }
        if any(modes.values()):
            claim["accessModes"] = {k: True for k, v in modes.items() if v}
        pvc: Json = {"existingPvc": False, "claimInfo": claim}
        if "claimname" in pairs:
            pvc["claimName"] = pairs["claimname"]
        if "ro" in tokens:
            pvc["readOnly"] = True
        return {"pvc": pvc}
    return None


def serving_port(value: str) -> Json:
    flag = "--serving-port"
    if value.strip().isdigit():
        return {"port": int(value)}
    pairs, tokens = parse_pairs(
        flag,
        value,
        {"port", "grpc-port", "metrics-port", "exposed-url", "exposed-protocol", "service-type"},
        {"expose-externally"},
    )
    if "port" not in pairs:
        raise _bad(flag, value, "port=PORT is required")
    result: Json = {"port": _int(flag, value, "port", pairs["port"])}
    if "grpc-port" in pairs:
        result["grpcPort"] = _int(flag, value, "grpc-port", pairs["grpc-port"])
    if "metrics-port" in pairs:
        result["metricsPort"] = _int(flag, value, "metrics-port", pairs["metrics-port"])
    if "exposed-url" in pairs:
        result["exposedUrl"] = pairs["exposed-url"]
    if "exposed-protocol" in pairs:
        result["exposedProtocol"] = pairs["exposed-protocol"]
    if "service-type" in pairs:
        result["serviceType"] = pairs["service-type"]
    if "expose-externally" in tokens:
        result["exposeExternally"] = True
    return result


_PROBE_INTS = {
    "initial-delay": "initialDelaySeconds",
    "period": "periodSeconds",
    "timeout": "timeoutSeconds",
    "success": "successThreshold",
    "failure": "failureThreshold",
}


def readiness_probe(value: str) -> Json:
    flag = "--readiness-probe"
    pairs, _ = parse_pairs(flag, value, {"port", "path", "host", "scheme", *_PROBE_INTS})
    if "port" not in pairs:
        raise _bad(flag, value, "port=PORT is required")
    http: Json = {"port": _int(flag, value, "port", pairs["port"])}
    for key in ("path", "host", "scheme"):
        if key in pairs:
            http[key] = pairs[key]
    probe: Json = {"handler": {"httpGet": http}}
    for key, name in _PROBE_INTS.items():
        if key in pairs:
            probe[name] = _int(flag, value, key, pairs[key])
    return {"readiness": probe}


def toleration(value: str) -> Json:
    flag = "--toleration"
    pairs, _ = parse_pairs(flag, value, {"operator", "key", "value", "effect", "seconds"})
    if "operator" not in pairs:
        raise _bad(flag, value, "operator=Equal|Exists is required")
    result: Json = {k: v for k, v in pairs.items() if k != "seconds"}
    if "seconds" in pairs:
        result["seconds"] = _int(flag, value, "seconds", pairs["seconds"])
    return result


def env_from(flag: str, value: str, source: str) -> Json:
    """`ENV=NAME,key=KEY` -> an env var from a secret or a config map."""
    head, _, rest = value.partition(",")
    env, resource = key_value(flag, head)
    pairs, _ = parse_pairs(flag, rest, {"key"})
    if "key" not in pairs:
        raise _bad(flag, value, "expected ENV_VARIABLE=NAME,key=KEY")
    return {"name": env, source: {"name": resource, "key": pairs["key"]}}


@dataclass
class SpecFlags:
    """The spec flags of `submit` and `update`, as given (None: not given)."""

    image: str | None = None
    image_pull_policy: str | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    ngc_auth_secret: str | None = None
    gpu_devices_request: int | None = None
    gpu_portion_request: float | None = None
    gpu_portion_limit: float | None = None
    gpu_memory_request: str | None = None
    gpu_memory_limit: str | None = None
    gpu_request_type: str | None = None
    cpu_core_request: float | None = None
    cpu_core_limit: float | None = None
    cpu_memory_request: str | None = None
    cpu_memory_limit: str | None = None
    env: list[str] = field(default_factory=list)
    env_secret: list[str] = field(default_factory=list)
    env_configmap: list[str] = field(default_factory=list)
    model_nim_cache: str | None = None
    model_existing_pvc: str | None = None
    model_new_pvc: str | None = None
    serving_port: str | None = None
    readiness_probe: str | None = None
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    metric: str | None = None
    metric_threshold: int | None = None
    scale_window_seconds: int | None = None
    workers: int | None = None
    node_pools: list[str] = field(default_factory=list)
    priority: str | None = None
    preemptibility: str | None = None
    category: str | None = None
    tolerations: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    run_as_uid: int | None = None
    run_as_gid: int | None = None

    def stores_given(self) -> list[str]:
        return [
            flag
            for flag, value in (
                ("--model-nim-cache", self.model_nim_cache),
                ("--model-existing-pvc", self.model_existing_pvc),
                ("--model-new-pvc", self.model_new_pvc),
            )
            if value is not None
        ]

    def autoscaling_given(self) -> bool:
        return any(
            v is not None
            for v in (self.min_replicas, self.max_replicas, self.metric, self.metric_threshold)
        )


def build_spec(flags: SpecFlags) -> Json:
    """The spec sections the flags give (only those: `update` replaces exactly these)."""
    spec: Json = {}
    if flags.image is not None:
        spec["image"] = flags.image
    if flags.image_pull_policy is not None:
        spec["imagePullPolicy"] = flags.image_pull_policy
    if flags.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in flags.image_pull_secrets]
    if flags.ngc_auth_secret is not None:
        spec["ngcAuthSecret"] = flags.ngc_auth_secret
    compute = {
        "gpuDevicesRequest": flags.gpu_devices_request,
        "gpuPortionRequest": flags.gpu_portion_request,
        "gpuPortionLimit": flags.gpu_portion_limit,
        "gpuMemoryRequest": flags.gpu_memory_request,
        "gpuMemoryLimit": flags.gpu_memory_limit,
        "gpuRequestType": flags.gpu_request_type,
        "cpuCoreRequest": flags.cpu_core_request,
        "cpuCoreLimit": flags.cpu_core_limit,
        "cpuMemoryRequest": flags.cpu_memory_request,
        "cpuMemoryLimit": flags.cpu_memory_limit,
    }
    compute = {k: v for k, v in compute.items() if v is not None}
    if compute:
        if "gpuRequestType" not in compute:
            if "gpuPortionRequest" in compute:
                compute["gpuRequestType"] = "portion"
            elif "gpuMemoryRequest" in compute:
                compute["gpuRequestType"] = "memory"
        spec["compute"] = compute
    env = [dict(zip(("name", "value"), key_value("-e", e), strict=True)) for e in flags.env]
    env += [env_from("--env-secret", e, "secret") for e in flags.env_secret]
    env += [env_from("--env-configmap", e, "configMap") for e in flags.env_configmap]
    if env:
        spec["environmentVariables"] = env
    store = model_store(flags.model_nim_cache, flags.model_existing_pvc, flags.model_new_pvc)
    if store is not None:
        spec["modelStore"] = store
    if flags.serving_port is not None:
        spec["servingPort"] = serving_port(flags.serving_port)
    if flags.readiness_probe is not None:
        spec["probes"] = readiness_probe(flags.readiness_probe)
    if flags.replicas is not None:
        spec["replicas"] = flags.replicas
    if flags.autoscaling_given():
        scaling = {
            "minReplicas": flags.min_replicas if flags.min_replicas is not None else 1,
            "maxReplicas": flags.max_replicas,
            "metric": flags.metric,
            "metricThreshold": flags.metric_threshold,
            "scaleWindowSeconds": flags.scale_window_seconds,
        }
        if scaling["maxReplicas"] is None:
            scaling["maxReplicas"] = scaling["minReplicas"]
        spec["autoscaling"] = {k: v for k, v in scaling.items() if v is not None}
    if flags.workers is not None:
        spec["multiNode"] = {"workers": flags.workers}
    if flags.node_pools:
        spec["nodePools"] = flags.node_pools
    if flags.priority is not None:
        spec["priorityClass"] = flags.priority
    if flags.preemptibility is not None:
        spec["preemptibility"] = flags.preemptibility
    if flags.category is not None:
        spec["category"] = flags.category
    if flags.tolerations:
        spec["tolerations"] = [toleration(t) for t in flags.tolerations]
    for section, values in (("labels", flags.labels), ("annotations", flags.annotations)):
        if values:
            pairs = [key_value(f"--{section[:-1]}", v) for v in values]
            spec[section] = [{"name": k, "value": v} for k, v in pairs]
    security = {"runAsUid": flags.run_as_uid, "runAsGid": flags.run_as_gid}
    if any(v is not None for v in security.values()):
        spec["security"] = {k: v for k, v in security.items() if v is not None}
    return spec


def flag_rules(flags: SpecFlags, *, submit: bool) -> list[ComplianceIssue]:
    """The rules Run:ai's CLI states for its flags."""
    issues = []
    stores = flags.stores_given()
    if len(stores) > 1 or (submit and not stores):
        issues.append(
            ComplianceIssue(
                "modelStore",
                "give exactly one of --model-nim-cache, --model-existing-pvc, --model-new-pvc"
                + (f" (got {', '.join(stores)})" if stores else ""),
            )
        )
    if flags.autoscaling_given() and flags.replicas is not None:
        issues.append(
            ComplianceIssue(
                "replicas", "--replicas cannot be combined with --min-replicas/--max-replicas"
            )
        )
    if flags.autoscaling_given() and flags.workers:
        issues.append(
            ComplianceIssue("multiNode.workers", "--workers cannot be combined with autoscaling")
        )
    low = flags.min_replicas if flags.min_replicas is not None else 1
    if flags.max_replicas is not None and flags.max_replicas > low and flags.metric is None:
        issues.append(
            ComplianceIssue("autoscaling.metric", "--metric is required when min < max replicas")
        )
    if flags.metric is not None and flags.metric_threshold is None:
        issues.append(
            ComplianceIssue(
                "autoscaling.metricThreshold", "--metric-threshold is required with --metric"
            )
        )
    return issues


def _lenient_context(spec: Json) -> ValidationContext:
    """The names only the server knows (node pools, categories) are left to it."""
    pools = spec.get("nodePools")
    category = spec.get("category")
    return ValidationContext(
        node_pools=frozenset(p for p in pools if isinstance(p, str))
        if isinstance(pools, list)
        else frozenset(),
        categories=frozenset([category]) if isinstance(category, str) else frozenset(),
    )


def create_issues(body: Json) -> list[ComplianceIssue]:
    """What the server would refuse in a create body, found by the same domain rules."""
    clean = drop_nulls(body)
    _, issues = wire_issues(NimServiceCreateRequest, clean)
    spec = clean.get("spec") if isinstance(clean, dict) else None
    if isinstance(spec, dict):
        issues += validate_spec(spec, _lenient_context(spec))
    return _unique(issues)


def update_issues(body: Json) -> list[ComplianceIssue]:
    """The wire checks of a PATCH body (the merged spec's rules are the server's to run)."""
    _, issues = wire_issues(NimServiceUpdateRequest, drop_nulls(body))
    return _unique(issues)


def _unique(issues: list[ComplianceIssue]) -> list[ComplianceIssue]:
    seen: set[tuple[str, str]] = set()
    result = []
    for issue in issues:
        if (issue.field, issue.details) not in seen:
            seen.add((issue.field, issue.details))
            result.append(issue)
    return result
