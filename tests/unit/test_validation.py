"""docs/decisions.md D3 and D6: every semantic rule, one table row per rule and side, all issues
reported at once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.validation import ValidationContext, drop_nulls, validate_name, validate_spec

Json = dict[str, Any]
Expected = set[tuple[str, str | None]]

CTX = ValidationContext(
    node_pools=frozenset({"default", "pool-a"}),
    categories=frozenset({"Build", "Train", "Deploy"}),
)
EXAMPLE_REQUEST = Path(__file__).parents[1] / "data" / "runai" / "example-create-request.json"
BASE: Json = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "modelStore": {"nimCache": {"name": "cache-a"}},
}
DIGEST = "sha256:" + "a" * 64
AUTOSCALING: Json = {
    "minReplicas": 1,
    "maxReplicas": 3,
    "metric": "gpu_cache_usage_perc",
    "metricThreshold": 1,
    "scaleWindowSeconds": 60,
}


def spec(*, without: tuple[str, ...] = (), **sections: Any) -> Json:
    """The valid baseline with top-level sections replaced or added, and `without` removed."""
    out = {**BASE, **sections}
    for name in without:
        del out[name]
    return out


def compute(**fields: Any) -> Json:
    return spec(compute=fields)


def autoscaling(**changes: Any) -> Json:
    scaling = {k: v for k, v in {**AUTOSCALING, **changes}.items() if v is not None}
    return spec(autoscaling=scaling)


def pvc(**fields: Any) -> Json:
    return spec(modelStore={"pvc": fields})


def env(*items: Json) -> Json:
    return spec(environmentVariables=list(items))


def toleration(**fields: Any) -> Json:
    return spec(tolerations=[fields])


def found(issues: list[ComplianceIssue]) -> Counter[tuple[str, str | None]]:
    return Counter((issue.field, issue.rule) for issue in issues)


def test_valid_baseline_has_no_issues() -> None:
    assert validate_spec(BASE, CTX) == []


SPEC_CASES = [
    # image (docs/decisions.md D6): required, and must parse as an image reference
    pytest.param(spec(without=("image",)), {("spec.image", "required")}, id="image-missing"),
    pytest.param(
        spec(image="nvcr.io/NIM/Meta:1.0"), {("spec.image", None)}, id="image-upper-case-repo"
    ),
    pytest.param(spec(image="nvcr.io/nim/llama:"), {("spec.image", None)}, id="image-empty-tag"),
    pytest.param(spec(image="nginx:1.0\n"), {("spec.image", None)}, id="image-trailing-newline"),
    pytest.param(spec(image="python"), set(), id="image-untagged-ok"),
    pytest.param(spec(image=f"nvcr.io/nim/llama@{DIGEST}"), set(), id="image-digest-ok"),
    pytest.param(spec(image="localhost:5000/nim/llama:2"), set(), id="image-registry-port-ok"),
    # modelStore: at most one store; with none, ngcAuthSecret is required
    pytest.param(
        spec(
            modelStore={"nimCache": {"name": "c"}, "pvc": {"existingPvc": True, "claimName": "x"}}
        ),
        {("spec.modelStore", None)},
        id="model-store-both",
    ),
    pytest.param(
        spec(without=("modelStore",)),
        {("spec.ngcAuthSecret", "required")},
        id="model-store-none-no-secret",
    ),
    pytest.param(
        spec(modelStore={}), {("spec.ngcAuthSecret", "required")}, id="model-store-empty-no-secret"
    ),
    pytest.param(
        spec(without=("modelStore",), ngcAuthSecret="ngc-api"),
        set(),
        id="model-store-none-with-secret-ok",
    ),
    pytest.param(
        spec(modelStore={"nimCache": {}}),
        {("spec.modelStore.nimCache.name", "required")},
        id="nim-cache-without-name",
    ),
    # pvc: existing needs claimName and forbids claimInfo; new needs claimInfo.size
    pytest.param(pvc(existingPvc=True, claimName="models"), set(), id="pvc-existing-ok"),
    pytest.param(
        pvc(existingPvc=True),
        {("spec.modelStore.pvc.claimName", "required")},
        id="pvc-existing-no-claim-name",
    ),
    pytest.param(
        pvc(existingPvc=True, claimName="models", claimInfo={"size": "1Gi"}),
        {("spec.modelStore.pvc.claimInfo", None)},
        id="pvc-existing-with-claim-info",
    ),
    pytest.param(pvc(existingPvc=False, claimInfo={"size": "100Gi"}), set(), id="pvc-new-ok"),
    pytest.param(
        pvc(existingPvc=False, claimInfo={"storageClass": "fast"}),
        {("spec.modelStore.pvc.claimInfo.size", "required")},
        id="pvc-new-no-size",
    ),
    pytest.param(
        pvc(existingPvc=False),
        {("spec.modelStore.pvc.claimInfo.size", "required")},
        id="pvc-new-no-claim-info",
    ),
    pytest.param(
        pvc(claimName="models"),
        {("spec.modelStore.pvc.claimInfo.size", "required")},
        id="pvc-existing-absent-means-new",
    ),
    pytest.param(
        pvc(existingPvc=False, claimInfo={"size": "lots"}),
        {("spec.modelStore.pvc.claimInfo.size", None)},
        id="pvc-size-not-a-quantity",
    ),
    # compute: quantities parse, limits >= requests
    pytest.param(
        compute(cpuCoreRequest=1, cpuCoreLimit=2, cpuMemoryRequest="16Gi", cpuMemoryLimit="32Gi"),
        set(),
        id="compute-cpu-ok",
    ),
    pytest.param(
        compute(cpuMemoryRequest="lots"),
        {("spec.compute.cpuMemoryRequest", None)},
        id="compute-not-a-quantity",
    ),
    pytest.param(
        compute(cpuMemoryRequest="1e9999999"),
        {("spec.compute.cpuMemoryRequest", None)},
        id="compute-quantity-exponent-overflow",
    ),
    pytest.param(
        compute(cpuCoreRequest=2, cpuCoreLimit=1.5),
        {("spec.compute.cpuCoreLimit", "min")},
        id="cpu-limit-below",
    ),
    pytest.param(compute(cpuCoreRequest=2, cpuCoreLimit=2), set(), id="cpu-limit-equal-ok"),
    pytest.param(
        compute(cpuMemoryRequest="1Gi", cpuMemoryLimit="1G"),
        {("spec.compute.cpuMemoryLimit", "min")},
        id="memory-limit-below-across-units",
    ),
    pytest.param(
        compute(cpuMemoryRequest="1G", cpuMemoryLimit="1Gi"), set(), id="memory-limit-above-ok"
    ),
    # compute: GPU portion
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=0.5), set(), id="gpu-portion-ok"
    ),
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=1.0), set(), id="gpu-portion-one-ok"
    ),
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=0.5, gpuDevicesRequest=4),
        set(),
        id="gpu-portion-of-several-devices-ok",
    ),
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=0.0),
        {("spec.compute.gpuPortionRequest", "min")},
        id="gpu-portion-zero",
    ),
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=1.5),
        {("spec.compute.gpuPortionRequest", "max")},
        id="gpu-portion-above-one",
    ),
    pytest.param(
        compute(gpuRequestType="portion"),
        {("spec.compute.gpuPortionRequest", "required")},
        id="gpu-portion-missing",
    ),
    pytest.param(
        compute(gpuRequestType="portion", gpuPortionRequest=0.5, gpuPortionLimit=0.25),
        {("spec.compute.gpuPortionLimit", "min")},
        id="gpu-portion-limit-below",
    ),
    # compute: GPU memory
    pytest.param(
        compute(gpuRequestType="memory", gpuMemoryRequest="8Gi", gpuDevicesRequest=1),
        set(),
        id="gpu-memory-ok",
    ),
    pytest.param(
        compute(gpuRequestType="memory", gpuMemoryRequest="0"),
        {("spec.compute.gpuMemoryRequest", "min")},
        id="gpu-memory-zero",
    ),
    pytest.param(
        compute(gpuRequestType="memory"),
        {("spec.compute.gpuMemoryRequest", "required")},
        id="gpu-memory-missing",
    ),
    pytest.param(
        compute(gpuRequestType="memory", gpuMemoryRequest="8Gi", gpuDevicesRequest=2),
        {("spec.compute.gpuDevicesRequest", "max")},
        id="gpu-memory-two-devices",
    ),
    pytest.param(
        compute(gpuRequestType="memory", gpuMemoryRequest="8Gi", gpuMemoryLimit="4Gi"),
        {("spec.compute.gpuMemoryLimit", "min")},
        id="gpu-memory-limit-below",
    ),
    # compute: portion or memory fields need gpuRequestType
    pytest.param(
        compute(gpuPortionRequest=0.5),
        {("spec.compute.gpuPortionRequest", "required")},
        id="gpu-portion-without-request-type",
    ),
    pytest.param(
        compute(gpuMemoryRequest="8Gi", gpuMemoryLimit="8Gi"),
        {
            ("spec.compute.gpuMemoryRequest", "required"),
            ("spec.compute.gpuMemoryLimit", "required"),
        },
        id="gpu-memory-without-request-type",
    ),
    pytest.param(compute(gpuDevicesRequest=2), set(), id="gpu-whole-devices-ok"),
    # replicas with autoscaling is settled by resolve_replicas_on_create, not an issue;
    # multiNode.workers >= 1 with autoscaling is
    pytest.param(
        spec(autoscaling=AUTOSCALING, replicas=3), set(), id="autoscaling-with-replicas-ok"
    ),
    pytest.param(
        spec(autoscaling=AUTOSCALING, multiNode={"workers": 1}),
        {("spec.multiNode", None)},
        id="multi-node-with-autoscaling",
    ),
    pytest.param(spec(multiNode={"workers": 2}), set(), id="multi-node-alone-ok"),
    # autoscaling: min <= max, metric and metricThreshold >= 1 required
    pytest.param(autoscaling(), set(), id="autoscaling-ok"),
    pytest.param(
        autoscaling(minReplicas=2, maxReplicas=2), set(), id="autoscaling-min-equals-max-ok"
    ),
    pytest.param(
        autoscaling(minReplicas=3, maxReplicas=2),
        {("spec.autoscaling.maxReplicas", "min")},
        id="autoscaling-max-below-min",
    ),
    pytest.param(
        autoscaling(metric=None),
        {("spec.autoscaling.metric", "required")},
        id="autoscaling-no-metric",
    ),
    pytest.param(
        autoscaling(metricThreshold=None),
        {("spec.autoscaling.metricThreshold", "required")},
        id="autoscaling-no-threshold",
    ),
    pytest.param(
        autoscaling(metricThreshold=0),
        {("spec.autoscaling.metricThreshold", "min")},
        id="autoscaling-threshold-zero",
    ),
    # environment variables: valid names, unique among non-excluded, exactly one source
    pytest.param(env({"name": "NIM_LOG_LEVEL", "value": "INFO"}), set(), id="env-value-ok"),
    pytest.param(env({"name": "EMPTY", "value": ""}), set(), id="env-empty-value-ok"),
    pytest.param(
        env({"name": "NGC_API_KEY", "secret": {"name": "ngc-api", "key": "NGC_API_KEY"}}),
        set(),
        id="env-secret-ok",
    ),
    pytest.param(
        env({"name": "POD", "podFieldRef": {"path": "metadata.name"}}),
        set(),
        id="env-pod-field-ref-ok",
    ),
    pytest.param(
        env({"name": "1BAD", "value": "x"}),
        {("spec.environmentVariables[0].name", None)},
        id="env-invalid-name",
    ),
    pytest.param(
        env({"name": "BAD\n", "value": "x"}),
        {("spec.environmentVariables[0].name", None)},
        id="env-name-trailing-newline",
    ),
    pytest.param(
        env({"value": "x"}),
        {("spec.environmentVariables[0].name", "required")},
        id="env-name-missing",
    ),
    pytest.param(
        env({"name": "A", "value": "1"}, {"name": "A", "value": "2"}),
        {("spec.environmentVariables[1].name", None)},
        id="env-duplicate-name",
    ),
    pytest.param(
        env({"name": "A", "value": "1"}, {"name": "A", "exclude": True}),
        set(),
        id="env-duplicate-excluded-ok",
    ),
    pytest.param(env({"name": "A"}), {("spec.environmentVariables[0]", None)}, id="env-no-source"),
    pytest.param(
        env({"name": "A", "value": "1", "configMap": {"name": "cm", "key": "k"}}),
        {("spec.environmentVariables[0]", None)},
        id="env-two-sources",
    ),
    pytest.param(
        env({"name": "A", "secret": {"name": "s"}}),
        {("spec.environmentVariables[0].secret.key", "required")},
        id="env-secret-without-key",
    ),
    pytest.param(
        env({"name": "A", "podFieldRef": {}}),
        {("spec.environmentVariables[0].podFieldRef.path", "required")},
        id="env-pod-field-ref-without-path",
    ),
    # labels and annotations: qualified names, unique; label values are label values
    pytest.param(
        spec(
            labels=[{"name": "team", "value": "ml"}, {"name": "example.com/tier", "value": "gold"}]
        ),
        set(),
        id="labels-ok",
    ),
    pytest.param(
        spec(labels=[{"name": "-team"}]), {("spec.labels[0].name", None)}, id="label-bad-name"
    ),
    pytest.param(
        spec(labels=[{"name": "Example_com/tier"}]),
        {("spec.labels[0].name", None)},
        id="label-bad-prefix",
    ),
    pytest.param(
        spec(labels=[{"name": "team", "value": "a"}, {"name": "team", "value": "b"}]),
        {("spec.labels[1].name", None)},
        id="label-duplicate",
    ),
    pytest.param(
        spec(labels=[{"name": "team", "value": "has space"}]),
        {("spec.labels[0].value", None)},
        id="label-bad-value",
    ),
    pytest.param(
        spec(annotations=[{"name": "example.com/note", "value": "any text: even spaces!"}]),
        set(),
        id="annotation-free-value-ok",
    ),
    pytest.param(
        spec(annotations=[{"name": "bad name", "value": "x"}]),
        {("spec.annotations[0].name", None)},
        id="annotation-bad-name",
    ),
    pytest.param(
        spec(annotations=[{"name": "note", "value": "a"}, {"name": "note", "value": "b"}]),
        {("spec.annotations[1].name", None)},
        id="annotation-duplicate",
    ),
    # tolerations: Exists takes no value; seconds only with NoExecute
    pytest.param(
        toleration(operator="Exists", key="nvidia.com/gpu", effect="NoSchedule"),
        set(),
        id="toleration-exists-ok",
    ),
    pytest.param(
        toleration(operator="Exists", effect="Any"), set(), id="toleration-exists-any-effect-ok"
    ),
    pytest.param(
        toleration(operator="Exists", key="k", value="v"),
        {("spec.tolerations[0].value", None)},
        id="toleration-exists-with-value",
    ),
    pytest.param(
        toleration(operator="Equal", key="k", value="v", effect="NoSchedule"),
        set(),
        id="toleration-equal-ok",
    ),
    pytest.param(
        toleration(operator="Equal", value="v"),
        {("spec.tolerations[0].key", "required")},
        id="toleration-equal-without-key",
    ),
    pytest.param(
        toleration(key="k", value="v", effect="NoExecute", seconds=60),
        set(),
        id="toleration-seconds-no-execute-ok",
    ),
    pytest.param(
        toleration(key="k", value="v", effect="NoSchedule", seconds=60),
        {("spec.tolerations[0].seconds", None)},
        id="toleration-seconds-no-schedule",
    ),
    pytest.param(
        toleration(key="k", value="v", effect="Any", seconds=60),
        {("spec.tolerations[0].seconds", None)},
        id="toleration-seconds-any-effect",
    ),
    # probes: readiness needs handler.httpGet
    pytest.param(
        spec(
            probes={
                "readiness": {"handler": {"httpGet": {"path": "/v1/health/ready", "port": 8000}}}
            }
        ),
        set(),
        id="readiness-ok",
    ),
    pytest.param(
        spec(probes={"readiness": {"periodSeconds": 5}}),
        {("spec.probes.readiness.handler.httpGet", "required")},
        id="readiness-without-handler",
    ),
    pytest.param(
        spec(probes={"readiness": {"handler": {}}}),
        {("spec.probes.readiness.handler.httpGet", "required")},
        id="readiness-empty-handler",
    ),
    pytest.param(spec(probes={}), set(), id="probes-without-readiness-ok"),
    # scheduling: existing node pools without repeats, known priority class and category
    pytest.param(spec(nodePools=["pool-a", "default"]), set(), id="node-pools-ok"),
    pytest.param(
        spec(nodePools=["default", "gpu-x"]),
        {("spec.nodePools[1]", "options")},
        id="node-pool-unknown",
    ),
    pytest.param(
        spec(nodePools=["pool-a", "pool-a"]), {("spec.nodePools[1]", None)}, id="node-pool-repeated"
    ),
    pytest.param(spec(priorityClass="medium-low"), set(), id="priority-class-ok"),
    pytest.param(
        spec(priorityClass="urgent"),
        {("spec.priorityClass", "options")},
        id="priority-class-unknown",
    ),
    pytest.param(
        spec(priorityClass="High"), {("spec.priorityClass", "options")}, id="priority-class-case"
    ),
    pytest.param(spec(category="Train"), set(), id="category-ok"),
    pytest.param(spec(category="Inference"), {("spec.category", "options")}, id="category-unknown"),
    # security: runAsUid / runAsGid >= 0
    pytest.param(spec(security={"runAsUid": 0, "runAsGid": 0}), set(), id="run-as-zero-ok"),
    pytest.param(
        spec(security={"runAsUid": -1, "runAsGid": -2}),
        {("spec.security.runAsUid", "min"), ("spec.security.runAsGid", "min")},
        id="run-as-negative",
    ),
    # image pull secrets need a name unless excluded
    pytest.param(spec(imagePullSecrets=[{"name": "ngc-pull"}]), set(), id="image-pull-secret-ok"),
    pytest.param(
        spec(imagePullSecrets=[{"exclude": True}]), set(), id="image-pull-secret-excluded-ok"
    ),
    pytest.param(
        spec(imagePullSecrets=[{"userCredential": True}]),
        {("spec.imagePullSecrets[0].name", "required")},
        id="image-pull-secret-without-name",
    ),
    # every violation is reported in one answer
    pytest.param(
        spec(
            without=("image",),
            priorityClass="urgent",
            nodePools=["nowhere"],
            security={"runAsUid": -1},
            autoscaling={"metricThreshold": 0},
        ),
        {
            ("spec.image", "required"),
            ("spec.priorityClass", "options"),
            ("spec.nodePools[0]", "options"),
            ("spec.security.runAsUid", "min"),
            ("spec.autoscaling.metric", "required"),
            ("spec.autoscaling.metricThreshold", "min"),
        },
        id="several-violations-at-once",
    ),
]


@pytest.mark.parametrize(("given", "expected"), SPEC_CASES)
def test_validate_spec(given: Json, expected: Expected) -> None:
    issues = validate_spec(given, CTX)
    assert found(issues) == Counter(expected)
    assert all(issue.details for issue in issues)


def test_fields_carry_the_given_prefix() -> None:
    issues = validate_spec(spec(without=("image",)), CTX, prefix="body.spec")
    assert [issue.field for issue in issues] == ["body.spec.image"]


def test_wrong_types_do_not_crash_the_rules() -> None:
    """The wire models report type errors; the rules still run and skip what they cannot read."""
    garbled: Json = {
        "image": 5,
        "modelStore": "cache-a",
        "compute": {"cpuCoreRequest": "1", "cpuMemoryRequest": 16, "gpuDevicesRequest": "2"},
        "autoscaling": {"minReplicas": "1", "metricThreshold": "0", "metric": "m"},
        "environmentVariables": ["A=1", {"name": 5, "value": "x"}],
        "labels": "team=ml",
        "tolerations": [None, {"seconds": "60", "effect": "NoExecute", "key": "k"}],
        "probes": {"readiness": "yes"},
        "nodePools": [1, "default"],
        "priorityClass": 7,
        "security": {"runAsUid": "-1"},
    }
    assert found(validate_spec(garbled, CTX)) == Counter({("spec.ngcAuthSecret", "required"): 1})


NAME_CASES = [
    pytest.param("a", False, set(), id="one-letter"),
    pytest.param("llama3-8b-instruct", False, set(), id="typical"),
    pytest.param("a" * 63, False, set(), id="63-chars"),
    pytest.param("a" * 64, False, {("metadata.name", "max")}, id="64-chars"),
    pytest.param("a" * 57, True, set(), id="prefix-57-chars"),
    pytest.param("a" * 58, True, {("metadata.name", "max")}, id="prefix-58-chars"),
    pytest.param("a" * 58, False, set(), id="58-chars-not-prefix"),
    pytest.param("", False, {("metadata.name", None)}, id="empty"),
    pytest.param("My-nim", False, {("metadata.name", None)}, id="upper-case"),
    pytest.param("1nim", False, {("metadata.name", None)}, id="starts-with-digit"),
    pytest.param("-nim", False, {("metadata.name", None)}, id="starts-with-dash"),
    pytest.param("nim-", False, {("metadata.name", None)}, id="ends-with-dash"),
    pytest.param("my_nim", False, {("metadata.name", None)}, id="underscore"),
    pytest.param("my.nim", False, {("metadata.name", None)}, id="dot"),
    pytest.param("nim\n", False, {("metadata.name", None)}, id="trailing-newline"),
    pytest.param(
        "A" * 64, False, {("metadata.name", None), ("metadata.name", "max")}, id="both-rules"
    ),
    pytest.param(None, False, set(), id="not-a-string-left-to-wire-model"),
]


@pytest.mark.parametrize(("name", "as_prefix", "expected"), NAME_CASES)
def test_validate_name(name: Any, as_prefix: bool, expected: Expected) -> None:
    assert found(validate_name(name, as_prefix=as_prefix)) == Counter(expected)


def test_drop_nulls_removes_nulls_at_every_depth() -> None:
    given = {"a": None, "b": {"c": None, "d": 1}, "e": [{"f": None, "g": 2}, None, 3]}
    assert drop_nulls(given) == {"b": {"d": 1}, "e": [{"g": 2}, None, 3]}


@pytest.fixture(scope="module")
def example_spec() -> Json:
    spec: Json = json.loads(EXAMPLE_REQUEST.read_text())["spec"]
    return spec


def test_example_request_is_refused_naming_each_contradiction(example_spec: Json) -> None:
    fields = {issue.field for issue in validate_spec(drop_nulls(example_spec), CTX)}
    assert fields >= {
        "spec.modelStore",
        "spec.multiNode",
        "spec.autoscaling.metricThreshold",
        "spec.environmentVariables[0]",
        "spec.tolerations[0].seconds",
        "spec.priorityClass",
        "spec.category",
        "spec.nodePools[0]",
        "spec.nodePools[1]",
    }


def test_example_request_secret_name_is_caught_by_the_wire_model(example_spec: Json) -> None:
    with pytest.raises(ValidationError) as caught:
        NimServiceSpec.model_validate(example_spec)
    locs = {error["loc"] for error in caught.value.errors()}
    assert ("environmentVariables", 0, "secret", "name") in locs
