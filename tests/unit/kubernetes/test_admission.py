"""The operator's admission rules beyond its CRD, and pod-level syntax, name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nimplane.domain.kubernetes import admission_problems
from tests.unit.kubernetes.support import nim_service, render_request

Json = dict[str, Any]


def _valid() -> Json:
    return nim_service(
        render_request(
            {
                "image": "nim/llm:1",
                "modelStore": {"nimCache": {"name": "c"}},
                "compute": {"gpuDevicesRequest": 1},
                "autoscaling": {"maxReplicas": 2, "metric": "m", "metricThreshold": 1},
            },
            name="llm",
        )
    )


CASES = [
    pytest.param(
        {"storage": {"nimCache": {"name": "c"}, "emptyDir": {}}},
        "spec.storage",
        "exactly one",
        id="two-storage-sources",
    ),
    pytest.param({"storage": {}}, "spec.storage", "given: none", id="no-storage-source"),
    pytest.param(
        {"storage": {"nimCache": {"profile": "p"}}},
        "spec.storage.nimCache.name",
        "profile",
        id="profile-without-cache-name",
    ),
    pytest.param(
        {"storage": {"pvc": {}}},
        "spec.storage.pvc.name",
        "needs a name",
        id="existing-pvc-without-name",
    ),
    pytest.param(
        {"storage": {"pvc": {"create": True, "size": "1Gi"}}},
        "spec.storage.pvc.volumeAccessMode",
        "ReadWriteOnce",
        id="created-pvc-without-access-mode",
    ),
    pytest.param({"scale": {"enabled": True}}, "spec.scale.hpa", "HPA", id="scale-without-hpa"),
    pytest.param(
        {
            "scale": {
                "enabled": True,
                "hpa": {
                    "maxReplicas": 2,
                    "metrics": [
                        {
                            "type": "Pods",
                            "pods": {
                                "metric": {"name": "m"},
                                "target": {"type": "AverageValue", "averageValue": "0"},
                            },
                        }
                    ],
                },
            }
        },
        "spec.scale.hpa.metrics[0].pods.target.averageValue",
        "greater than 0",
        id="hpa-target-zero",
    ),
    pytest.param(
        {"expose": {"router": {"ingress": {"ingressClass": "nginx"}}}},
        "spec.expose.router.hostDomainName",
        "domain",
        id="router-without-domain",
    ),
    pytest.param(
        {"resources": {"requests": {"nvidia.com/gpu": 1}}},
        "spec.resources.requests.nvidia.com/gpu",
        "equal",
        id="gpu-request-no-limit",
    ),
    pytest.param({"labels": {"a b": "x"}}, "spec.labels.a b", "label key", id="label-key"),
    pytest.param(
        {"labels": {"stage": "not ok"}}, "spec.labels.stage", "label value", id="label-value"
    ),
    pytest.param(
        {"annotations": {"-bad": "x"}},
        "spec.annotations.-bad",
        "annotation key",
        id="annotation-key",
    ),
]


@pytest.mark.parametrize(("change", "path", "reason"), CASES)
def test_admission_refuses_naming_the_field(change: Json, path: str, reason: str) -> None:
    manifest = copy.deepcopy(_valid())
    assert admission_problems(manifest) == []
    manifest["spec"].update(change)
    problems = admission_problems(manifest)
    assert any(p.path == path and reason in p.reason for p in problems), problems


def test_an_exact_host_ingress_needs_a_host_name() -> None:
    manifest = copy.deepcopy(_valid())
    manifest["spec"]["expose"]["ingress"] = {
        "enabled": True,
        "spec": {"rules": [{"host": "1.2.3.4"}]},
    }
    problems = admission_problems(manifest)
    assert [p.path for p in problems] == ["spec.expose.ingress.spec.rules[0].host"]
