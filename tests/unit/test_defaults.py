"""docs/decisions.md D5: every default is filled in, and an explicit value is never overwritten."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nimplane.domain.catalog import PRIORITY_CLASSES
from nimplane.domain.defaults import apply_defaults, default_pull_policy

Json = dict[str, Any]

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
DIGEST = "sha256:" + "0123456789abcdef" * 4
BASE: Json = {"image": IMAGE, "modelStore": {"nimCache": {"name": "cache-a"}}}
AUTOSCALING: Json = {"metric": "gpu_cache_usage_perc", "metricThreshold": 5}
READINESS_DEFAULTS: Json = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def defaulted(**sections: Any) -> Json:
    return apply_defaults({**BASE, **sections})


def test_minimal_spec_gets_every_top_level_default() -> None:
    assert apply_defaults(BASE) == {
        **BASE,
        "priorityClass": "very-high",
        "preemptibility": "non-preemptible",
        "category": "Deploy",
        "replicas": 1,
        "imagePullPolicy": "IfNotPresent",
        "servingPort": {
            "port": 8000,
            "serviceType": "ClusterIP",
            "exposeExternally": True,
            "exposedProtocol": "http",
        },
    }


def test_input_is_not_mutated() -> None:
    given = {**BASE, "autoscaling": dict(AUTOSCALING), "replicas": 2, "probes": {"readiness": {}}}
    before = copy.deepcopy(given)
    apply_defaults(given)
    assert given == before


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        pytest.param("nvcr.io/nim/meta/llama:latest", "Always", id="latest"),
        pytest.param("nvcr.io/nim/meta/llama", "Always", id="untagged"),
        pytest.param("python", "Always", id="untagged-short"),
        pytest.param("localhost:5000/nim/llama", "Always", id="untagged-registry-port"),
        pytest.param("nvcr.io/nim/meta/llama:1.3.3", "IfNotPresent", id="tagged"),
        pytest.param("localhost:5000/nim/llama:1.0", "IfNotPresent", id="tagged-registry-port"),
        pytest.param("nvcr.io/nim/meta/llama:Latest", "IfNotPresent", id="tag-case-sensitive"),
        pytest.param(f"nvcr.io/nim/meta/llama@{DIGEST}", "IfNotPresent", id="digest"),
        pytest.param(f"nvcr.io/nim/meta/llama:1.3.3@{DIGEST}", "IfNotPresent", id="tag-and-digest"),
    ],
)
def test_image_pull_policy_by_tag(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy
    assert defaulted(image=image)["imagePullPolicy"] == policy


@pytest.mark.parametrize("policy", ["Always", "Never", "IfNotPresent"])
@pytest.mark.parametrize("image", ["nvcr.io/nim/llama:latest", "nvcr.io/nim/llama:1.3.3"])
def test_explicit_image_pull_policy_is_kept(image: str, policy: str) -> None:
    assert defaulted(image=image, imagePullPolicy=policy)["imagePullPolicy"] == policy


@pytest.mark.parametrize(
    ("priority", "preemptibility"),
    [
        pytest.param("very-low", "preemptible", id="very-low"),
        pytest.param("low", "preemptible", id="low"),
        pytest.param("medium-low", "preemptible", id="medium-low"),
        pytest.param("medium", "preemptible", id="medium"),
        pytest.param("medium-high", "preemptible", id="medium-high"),
        pytest.param("high", "non-preemptible", id="high"),
        pytest.param("very-high", "non-preemptible", id="very-high"),
    ],
)
def test_preemptibility_follows_priority_class(priority: str, preemptibility: str) -> None:
    out = defaulted(priorityClass=priority)
    assert (out["priorityClass"], out["preemptibility"]) == (priority, preemptibility)


def test_the_preemptibility_table_covers_every_priority_class() -> None:
    assert set(PRIORITY_CLASSES) == {
        "very-low",
        "low",
        "medium-low",
        "medium",
        "medium-high",
        "high",
        "very-high",
    }


@pytest.mark.parametrize(
    ("given", "key", "value"),
    [
        pytest.param(
            {"priorityClass": "high", "preemptibility": "preemptible"},
            "preemptibility",
            "preemptible",
            id="preemptibility-against-priority",
        ),
        pytest.param(
            {"priorityClass": "low", "preemptibility": "non-preemptible"},
            "preemptibility",
            "non-preemptible",
            id="non-preemptible-low-priority",
        ),
        pytest.param({"priorityClass": "medium"}, "priorityClass", "medium", id="priority-class"),
        pytest.param({"category": "Train"}, "category", "Train", id="category"),
        pytest.param({"replicas": 3}, "replicas", 3, id="replicas"),
        pytest.param({"replicas": 0}, "replicas", 0, id="replicas-zero"),
    ],
)
def test_explicit_top_level_values_are_kept(given: Json, key: str, value: Any) -> None:
    assert defaulted(**given)[key] == value


@pytest.mark.parametrize(
    ("serving_port", "expected"),
    [
        pytest.param(
            None,
            {
                "port": 8000,
                "serviceType": "ClusterIP",
                "exposeExternally": True,
                "exposedProtocol": "http",
            },
            id="absent",
        ),
        pytest.param(
            {},
            {
                "port": 8000,
                "serviceType": "ClusterIP",
                "exposeExternally": True,
                "exposedProtocol": "http",
            },
            id="empty",
        ),
        pytest.param(
            {"grpcPort": 8001},
            {
                "port": 8000,
                "grpcPort": 8001,
                "serviceType": "ClusterIP",
                "exposeExternally": True,
                "exposedProtocol": "grpc",
            },
            id="grpc-port-means-grpc",
        ),
        pytest.param(
            {"port": 9000, "metricsPort": 9001},
            {
                "port": 9000,
                "metricsPort": 9001,
                "serviceType": "ClusterIP",
                "exposeExternally": True,
                "exposedProtocol": "http",
            },
            id="explicit-port",
        ),
        pytest.param(
            {
                "port": 9000,
                "grpcPort": 9001,
                "serviceType": "NodePort",
                "exposeExternally": False,
                "exposedProtocol": "http",
            },
            {
                "port": 9000,
                "grpcPort": 9001,
                "serviceType": "NodePort",
                "exposeExternally": False,
                "exposedProtocol": "http",
            },
            id="all-explicit-kept",
        ),
    ],
)
def test_serving_port(serving_port: Json | None, expected: Json) -> None:
    given = {} if serving_port is None else {"servingPort": serving_port}
    assert defaulted(**given)["servingPort"] == expected


@pytest.mark.parametrize(
    ("scaling", "expected"),
    [
        pytest.param(
            AUTOSCALING,
            {**AUTOSCALING, "minReplicas": 1, "maxReplicas": 1, "scaleWindowSeconds": 300},
            id="all-defaults",
        ),
        pytest.param(
            {**AUTOSCALING, "minReplicas": 3},
            {**AUTOSCALING, "minReplicas": 3, "maxReplicas": 3, "scaleWindowSeconds": 300},
            id="max-follows-min",
        ),
        pytest.param(
            {**AUTOSCALING, "maxReplicas": 4},
            {**AUTOSCALING, "minReplicas": 1, "maxReplicas": 4, "scaleWindowSeconds": 300},
            id="explicit-max",
        ),
        pytest.param(
            {**AUTOSCALING, "minReplicas": 2, "maxReplicas": 5, "scaleWindowSeconds": 120},
            {**AUTOSCALING, "minReplicas": 2, "maxReplicas": 5, "scaleWindowSeconds": 120},
            id="all-explicit-kept",
        ),
    ],
)
def test_autoscaling(scaling: Json, expected: Json) -> None:
    out = defaulted(autoscaling=scaling)
    assert out["autoscaling"] == expected
    assert "replicas" not in out


def test_autoscaling_drops_given_replicas() -> None:
    assert "replicas" not in defaulted(autoscaling=AUTOSCALING, replicas=4)


@pytest.mark.parametrize(
    ("readiness", "expected"),
    [
        pytest.param(
            {"handler": {"httpGet": {}}},
            {
                **READINESS_DEFAULTS,
                "handler": {"httpGet": {"path": "/", "scheme": "HTTP", "port": 8000}},
            },
            id="all-defaults",
        ),
        pytest.param(
            {"periodSeconds": 5, "handler": {"httpGet": {"path": "/v1/health/ready"}}},
            {
                **READINESS_DEFAULTS,
                "periodSeconds": 5,
                "handler": {
                    "httpGet": {"path": "/v1/health/ready", "scheme": "HTTP", "port": 8000}
                },
            },
            id="some-explicit",
        ),
        pytest.param(
            {
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
                "timeoutSeconds": 5,
                "successThreshold": 2,
                "failureThreshold": 10,
                "handler": {"httpGet": {"path": "/ready", "scheme": "HTTPS", "port": 8443}},
            },
            {
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
                "timeoutSeconds": 5,
                "successThreshold": 2,
                "failureThreshold": 10,
                "handler": {"httpGet": {"path": "/ready", "scheme": "HTTPS", "port": 8443}},
            },
            id="all-explicit-kept",
        ),
    ],
)
def test_readiness_probe(readiness: Json, expected: Json) -> None:
    assert defaulted(probes={"readiness": readiness})["probes"]["readiness"] == expected


def test_readiness_probe_port_follows_serving_port() -> None:
    out = defaulted(servingPort={"port": 9000}, probes={"readiness": {"handler": {"httpGet": {}}}})
    assert out["probes"]["readiness"]["handler"]["httpGet"]["port"] == 9000


@pytest.mark.parametrize("probes", [None, {}], ids=["absent", "empty"])
def test_no_readiness_probe_is_invented(probes: Json | None) -> None:
    out = apply_defaults(BASE if probes is None else {**BASE, "probes": probes})
    assert out.get("probes", {}).get("readiness") is None


@pytest.mark.parametrize(
    ("pvc", "expected"),
    [
        pytest.param(
            {"claimInfo": {"size": "10Gi"}},
            {
                "existingPvc": False,
                "readOnly": False,
                "claimInfo": {
                    "size": "10Gi",
                    "accessModes": {"readWriteOnce": True},
                    "volumeMode": "Filesystem",
                },
            },
            id="new-pvc-defaults",
        ),
        pytest.param(
            {
                "existingPvc": False,
                "readOnly": True,
                "claimInfo": {
                    "size": "10Gi",
                    "accessModes": {"readWriteOnce": False, "readWriteMany": True},
                    "volumeMode": "Block",
                },
            },
            {
                "existingPvc": False,
                "readOnly": True,
                "claimInfo": {
                    "size": "10Gi",
                    "accessModes": {"readWriteOnce": False, "readWriteMany": True},
                    "volumeMode": "Block",
                },
            },
            id="explicit-kept",
        ),
        pytest.param(
            {"existingPvc": True, "claimName": "models"},
            {"existingPvc": True, "claimName": "models", "readOnly": False},
            id="existing-pvc-gets-no-claim-info",
        ),
    ],
)
def test_pvc(pvc: Json, expected: Json) -> None:
    assert defaulted(modelStore={"pvc": pvc})["modelStore"]["pvc"] == expected


def test_nim_cache_store_gets_no_pvc() -> None:
    assert apply_defaults(BASE)["modelStore"] == BASE["modelStore"]
