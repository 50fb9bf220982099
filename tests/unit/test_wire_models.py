"""The wire models: unknown fields at any depth, strict types, bounds, patterns and enums."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import pytest
from pydantic import ValidationError

from nimplane.domain import spec as wire
from nimplane.domain.spec import SPEC_SECTIONS, NimServiceSpec

Json = dict[str, Any]
Loc = tuple[str | int, ...]

FULL_SPEC: Json = {
    "annotations": [{"name": "example.com/note", "value": "hi", "exclude": False}],
    "autoscaling": {
        "minReplicas": 1,
        "maxReplicas": 4,
        "metric": "gpu_cache_usage_perc",
        "metricThreshold": 10,
        "scaleWindowSeconds": 300,
    },
    "category": "Deploy",
    "compute": {
        "cpuCoreRequest": 0.5,
        "cpuCoreLimit": 2,
        "cpuMemoryRequest": "16Gi",
        "cpuMemoryLimit": "32Gi",
        "gpuDevicesRequest": 1,
        "gpuRequestType": "portion",
        "gpuPortionRequest": 0.5,
        "gpuPortionLimit": 1.0,
        "gpuMemoryRequest": "8Gi",
        "gpuMemoryLimit": "8Gi",
    },
    "environmentVariables": [
        {"name": "A", "value": "1", "exclude": False, "description": "d"},
        {"name": "B", "secret": {"name": "ngc-api", "key": "NGC_API_KEY"}},
        {"name": "C", "configMap": {"name": "cfg", "key": "k"}},
        {"name": "D", "podFieldRef": {"path": "metadata.name"}},
        {"name": "E", "userCredential": {"name": "my_cred", "key": "password"}},
    ],
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "imagePullPolicy": "IfNotPresent",
    "imagePullSecrets": [{"name": "ngc-pull", "userCredential": False, "exclude": False}],
    "labels": [{"name": "team", "value": "ml", "exclude": False}],
    "modelStore": {
        "nimCache": {"name": "cache-a", "profile": "tensorrt_llm-h100-fp8-tp1"},
        "pvc": {
            "existingPvc": False,
            "claimName": "models",
            "readOnly": False,
            "claimInfo": {
                "size": "100Gi",
                "storageClass": "fast-ssd",
                "accessModes": {
                    "readWriteOnce": True,
                    "readOnlyMany": False,
                    "readWriteMany": False,
                },
                "volumeMode": "Filesystem",
                "addedAttrValues": [{"key": "dnsname", "value": "my.dns.com"}],
            },
        },
    },
    "multiNode": {"workers": 2},
    "ngcAuthSecret": "ngc-api",
    "nodePools": ["default"],
    "preemptibility": "non-preemptible",
    "priorityClass": "very-high",
    "probes": {
        "readiness": {
            "initialDelaySeconds": 0,
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
            "handler": {
                "httpGet": {"path": "/v1/health/ready", "port": 8000, "host": "h", "scheme": "HTTP"}
            },
        }
    },
    "replicas": 2,
    "security": {"runAsUid": 1000, "runAsGid": 1000},
    "servingPort": {
        "serviceType": "ClusterIP",
        "port": 8000,
        "grpcPort": 8001,
        "metricsPort": 8002,
        "exposeExternally": True,
        "exposedUrl": "https://llama.example.com",
        "exposedProtocol": "grpc",
    },
    "tolerations": [
        {
            "name": "gpu",
            "operator": "Exists",
            "key": "nvidia.com/gpu",
            "effect": "NoExecute",
            "seconds": 30,
            "exclude": False,
        }
    ],
}


def with_value(loc: Loc, value: Any) -> Json:
    """A copy of FULL_SPEC with the value at `loc` set (a new key is added as given)."""
    out: Json = json.loads(json.dumps(FULL_SPEC))
    node: Any = out
    for step in loc[:-1]:
        node = node[step]
    node[loc[-1]] = value
    return out


def validate(mode: str, given: Json) -> NimServiceSpec:
    if mode == "json":
        return NimServiceSpec.model_validate_json(json.dumps(given))
    return NimServiceSpec.model_validate(given)


@pytest.fixture(params=["python", "json"])
def mode(request: pytest.FixtureRequest) -> str:
    """Validate a parsed-JSON dict (as FastAPI does) and raw JSON text: both must agree."""
    value: str = request.param
    return value


def test_full_spec_with_every_section_is_accepted(mode: str) -> None:
    assert set(FULL_SPEC) == set(SPEC_SECTIONS)
    model = validate(mode, FULL_SPEC)
    assert model.model_dump(mode="json", exclude_none=True) == FULL_SPEC


def test_all_null_spec_is_accepted(mode: str) -> None:
    assert validate(mode, dict.fromkeys(SPEC_SECTIONS)) == NimServiceSpec()


REJECTED = [
    # unknown fields, at every depth
    pytest.param(("gpus",), 1, "extra_forbidden", id="unknown-top-level"),
    pytest.param(("compute", "gpuCount"), 1, "extra_forbidden", id="unknown-in-compute"),
    pytest.param(("autoscaling", "targetValue"), 1, "extra_forbidden", id="unknown-in-autoscaling"),
    pytest.param(
        ("environmentVariables", 1, "secret", "optional"),
        True,
        "extra_forbidden",
        id="unknown-in-env-secret",
    ),
    pytest.param(
        ("modelStore", "pvc", "claimInfo", "accessModes", "readWriteAll"),
        True,
        "extra_forbidden",
        id="unknown-in-access-modes",
    ),
    pytest.param(
        ("modelStore", "pvc", "claimInfo", "addedAttrValues", 0, "extra"),
        "x",
        "extra_forbidden",
        id="unknown-in-added-attr",
    ),
    pytest.param(
        ("probes", "readiness", "handler", "exec"),
        {},
        "extra_forbidden",
        id="unknown-probe-handler",
    ),
    pytest.param(("probes", "liveness"), {}, "extra_forbidden", id="unknown-probe"),
    pytest.param(
        ("tolerations", 0, "tolerationSeconds"), 30, "extra_forbidden", id="unknown-in-toleration"
    ),
    pytest.param(
        ("servingPort", "targetPort"), 80, "extra_forbidden", id="unknown-in-serving-port"
    ),
    pytest.param(("multiNode", "leaders"), 1, "extra_forbidden", id="unknown-in-multi-node"),
    pytest.param(("labels", 0, "key"), "k", "extra_forbidden", id="unknown-in-label"),
    pytest.param(("security", "fsGroup"), 1, "extra_forbidden", id="unknown-in-security"),
    # wrong types: strict, nothing is coerced
    pytest.param(("replicas",), "1", "int_type", id="replicas-string"),
    pytest.param(("replicas",), 1.0, "int_type", id="replicas-float"),
    pytest.param(("replicas",), True, "int_type", id="replicas-bool"),
    pytest.param(("image",), 5, "string_type", id="image-int"),
    pytest.param(("servingPort", "port"), "8000", "int_type", id="port-string"),
    pytest.param(("servingPort", "exposeExternally"), "true", "bool_type", id="bool-string"),
    pytest.param(("servingPort", "exposeExternally"), 1, "bool_type", id="bool-int"),
    pytest.param(("compute", "cpuCoreRequest"), "1", "float_type", id="float-string"),
    pytest.param(("autoscaling", "minReplicas"), "1", "int_type", id="min-replicas-string"),
    pytest.param(
        ("modelStore", "pvc", "existingPvc"), "yes", "bool_type", id="existing-pvc-string"
    ),
    pytest.param(("security", "runAsUid"), "0", "int_type", id="run-as-uid-string"),
    pytest.param(("environmentVariables", 0, "value"), 5, "string_type", id="env-value-int"),
    pytest.param(("nodePools",), "default", "list_type", id="node-pools-string"),
    pytest.param(("environmentVariables",), {}, "list_type", id="env-object"),
    pytest.param(("labels", 0), "team=ml", "model_type", id="label-string"),
    pytest.param(("compute",), [], "model_type", id="compute-list"),
    # bounds
    pytest.param(("servingPort", "port"), 0, "greater_than_equal", id="port-0"),
    pytest.param(("servingPort", "port"), 65536, "less_than_equal", id="port-65536"),
    pytest.param(("servingPort", "grpcPort"), 0, "greater_than_equal", id="grpc-port-0"),
    pytest.param(("servingPort", "metricsPort"), 65536, "less_than_equal", id="metrics-port-65536"),
    pytest.param(
        ("probes", "readiness", "handler", "httpGet", "port"),
        0,
        "greater_than_equal",
        id="probe-port-0",
    ),
    pytest.param(("replicas",), 1001, "less_than_equal", id="replicas-1001"),
    pytest.param(("replicas",), -1, "greater_than_equal", id="replicas-negative"),
    pytest.param(
        ("autoscaling", "scaleWindowSeconds"), 59, "greater_than_equal", id="scale-window-59"
    ),
    pytest.param(
        ("autoscaling", "scaleWindowSeconds"), 3601, "less_than_equal", id="scale-window-3601"
    ),
    pytest.param(("autoscaling", "minReplicas"), 0, "greater_than_equal", id="min-replicas-0"),
    pytest.param(("autoscaling", "maxReplicas"), 0, "greater_than_equal", id="max-replicas-0"),
    pytest.param(
        ("autoscaling", "metricThreshold"), 2**31, "less_than_equal", id="threshold-over-int32"
    ),
    pytest.param(("multiNode", "workers"), 0, "greater_than_equal", id="workers-0"),
    pytest.param(("multiNode", "workers"), 1001, "less_than_equal", id="workers-1001"),
    pytest.param(("tolerations", 0, "seconds"), 0, "greater_than_equal", id="toleration-seconds-0"),
    pytest.param(
        ("compute", "gpuDevicesRequest"), -1, "greater_than_equal", id="gpu-devices-negative"
    ),
    pytest.param(("compute", "cpuCoreRequest"), -0.5, "greater_than_equal", id="cpu-negative"),
    pytest.param(
        ("compute", "gpuPortionRequest"), -0.1, "greater_than_equal", id="portion-negative"
    ),
    pytest.param(("security", "runAsGid"), 2**63, "less_than_equal", id="run-as-gid-over-int64"),
    pytest.param(("probes", "readiness", "periodSeconds"), 0, "greater_than_equal", id="period-0"),
    pytest.param(("labels", 0, "name"), "a" * 64, "string_too_long", id="label-name-64"),
    pytest.param(("image",), "", "string_too_short", id="image-empty"),
    pytest.param(("environmentVariables", 0, "name"), "", "string_too_short", id="env-name-empty"),
    # patterns
    pytest.param(
        ("autoscaling", "metric"), "1requests", "string_pattern_mismatch", id="metric-digit-first"
    ),
    pytest.param(
        ("autoscaling", "metric"), "http-requests", "string_pattern_mismatch", id="metric-dash"
    ),
    pytest.param(("ngcAuthSecret",), "NGC_secret", "string_pattern_mismatch", id="ngc-secret-name"),
    pytest.param(
        ("environmentVariables", 1, "secret", "name"),
        "postgress_secret",
        "string_pattern_mismatch",
        id="secret-name",
    ),
    pytest.param(
        ("environmentVariables", 2, "configMap", "name"),
        "My-Config",
        "string_pattern_mismatch",
        id="config-map-name",
    ),
    pytest.param(
        ("imagePullSecrets", 0, "name"),
        "Bad_Name",
        "string_pattern_mismatch",
        id="pull-secret-name",
    ),
    pytest.param(
        ("compute", "cpuMemoryRequest"), "lots", "string_pattern_mismatch", id="quantity-word"
    ),
    pytest.param(
        ("modelStore", "pvc", "claimInfo", "size"),
        "10 Gi",
        "string_pattern_mismatch",
        id="quantity-space",
    ),
    pytest.param(
        ("modelStore", "pvc", "claimInfo", "storageClass"),
        "Fast_SSD",
        "string_pattern_mismatch",
        id="storage-class",
    ),
    pytest.param(
        ("probes", "readiness", "handler", "httpGet", "path"),
        "health",
        "string_pattern_mismatch",
        id="probe-path",
    ),
    # enums
    pytest.param(("imagePullPolicy",), "always", "enum", id="pull-policy-lower-case"),
    pytest.param(("imagePullPolicy",), "Sometimes", "enum", id="pull-policy-unknown"),
    pytest.param(("imagePullPolicy",), 1, "enum", id="pull-policy-int"),
    pytest.param(("compute", "gpuRequestType"), "whole", "enum", id="gpu-request-type"),
    pytest.param(("servingPort", "serviceType"), "Ingress", "enum", id="service-type"),
    pytest.param(("servingPort", "exposedProtocol"), "https", "enum", id="exposed-protocol"),
    pytest.param(
        ("probes", "readiness", "handler", "httpGet", "scheme"), "http", "enum", id="probe-scheme"
    ),
    pytest.param(("tolerations", 0, "operator"), "NotEqual", "enum", id="toleration-operator"),
    pytest.param(("tolerations", 0, "effect"), "NoEverything", "enum", id="toleration-effect"),
    pytest.param(("modelStore", "pvc", "claimInfo", "volumeMode"), "Raw", "enum", id="volume-mode"),
    pytest.param(("preemptibility",), "maybe", "enum", id="preemptibility"),
]


@pytest.mark.parametrize(("loc", "value", "error_type"), REJECTED)
def test_rejected(mode: str, loc: Loc, value: Any, error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(mode, with_value(loc, value))
    assert [(error["loc"], error["type"]) for error in caught.value.errors()] == [(loc, error_type)]


ACCEPTED = [
    pytest.param(("servingPort", "port"), 1, id="port-1"),
    pytest.param(("servingPort", "port"), 65535, id="port-65535"),
    pytest.param(("replicas",), 0, id="replicas-0"),
    pytest.param(("replicas",), 1000, id="replicas-1000"),
    pytest.param(("autoscaling", "scaleWindowSeconds"), 60, id="scale-window-60"),
    pytest.param(("autoscaling", "scaleWindowSeconds"), 3600, id="scale-window-3600"),
    pytest.param(("autoscaling", "metric"), "nim:requests_total", id="metric-with-colon"),
    pytest.param(("multiNode", "workers"), 1000, id="workers-1000"),
    pytest.param(("compute", "cpuCoreRequest"), 1, id="float-field-takes-int"),
    pytest.param(("compute", "cpuMemoryRequest"), "+1.5e3", id="quantity-exponent"),
    pytest.param(("probes", "readiness", "handler", "httpGet", "path"), "", id="probe-path-empty"),
    pytest.param(("security", "runAsUid"), -1, id="negative-uid-left-to-rules"),
    pytest.param(("environmentVariables", 0, "value"), "", id="env-value-empty"),
    pytest.param(
        ("environmentVariables", 4, "userCredential", "name"), "Any_Name", id="user-credential-free"
    ),
    pytest.param(("priorityClass",), "not-checked-here", id="priority-class-left-to-rules"),
]


@pytest.mark.parametrize(("loc", "value"), ACCEPTED)
def test_accepted(mode: str, loc: Loc, value: Any) -> None:
    validate(mode, with_value(loc, value))


ENUM_FIELDS: list[tuple[Loc, type[StrEnum]]] = [
    (("imagePullPolicy",), wire.ImagePullPolicy),
    (("preemptibility",), wire.Preemptibility),
    (("compute", "gpuRequestType"), wire.GpuRequestType),
    (("servingPort", "serviceType"), wire.ServingPortServiceType),
    (("servingPort", "exposedProtocol"), wire.ServingPortExposedProtocol),
    (("probes", "readiness", "handler", "httpGet", "scheme"), wire.ProbeHandlerScheme),
    (("tolerations", 0, "operator"), wire.TolerationOperator),
    (("tolerations", 0, "effect"), wire.TolerationEffect),
    (("modelStore", "pvc", "claimInfo", "volumeMode"), wire.PvcVolumeMode),
]


@pytest.mark.parametrize(
    ("loc", "value"),
    [
        pytest.param(loc, member.value, id=f"{loc[-1]}-{member.value}")
        for loc, enum in ENUM_FIELDS
        for member in enum
    ],
)
def test_every_enum_value_is_accepted_as_a_string(mode: str, loc: Loc, value: str) -> None:
    model = validate(mode, with_value(loc, value))
    assert model.model_dump(mode="json", exclude_none=True) == with_value(loc, value)


def test_all_errors_are_reported_together() -> None:
    given = with_value(("replicas",), "2")
    given["compute"]["gpuCount"] = 1
    given["servingPort"]["port"] = 0
    with pytest.raises(ValidationError) as caught:
        NimServiceSpec.model_validate(given)
    assert {error["loc"] for error in caught.value.errors()} == {
        ("replicas",),
        ("compute", "gpuCount"),
        ("servingPort", "port"),
    }
