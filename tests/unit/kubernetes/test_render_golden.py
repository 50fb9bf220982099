"""Golden files: the rendered YAML of representative workloads, each passing NVIDIA's CRD.
Regenerate after an intended change with `NIMPLANE_REGENERATE_GOLDEN=1 pytest <this file>` and
review the diff."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from nimplane.domain.kubernetes import ClusterSettings, admission_problems
from nimplane.domain.workloads import DesiredPhase
from tests.unit.kubernetes.support import GOLDEN_DIR, checker, nim_service, render_request

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
CACHE = {"nimCache": {"name": "llama-cache"}}
REGENERATE = os.environ.get("NIMPLANE_REGENERATE_GOLDEN") == "1"
SHARDED = ClusterSettings(
    node_pool_shard_label_key="kai.scheduler/node-pool", default_image_pull_secrets=("ngc-pull",)
)

CASES = [
    pytest.param(
        {"image": IMAGE, "modelStore": CACHE, "compute": {"gpuDevicesRequest": 2}},
        {},
        id="whole-gpus",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": {"nimCache": {"name": "llama-cache", "profile": "tp1-throughput"}},
            "compute": {
                "gpuRequestType": "portion",
                "gpuPortionRequest": 0.5,
                "gpuPortionLimit": 0.75,
                "gpuDevicesRequest": 2,
                "cpuCoreRequest": 0.25,
                "cpuCoreLimit": 1.5,
            },
        },
        {},
        id="gpu-portion",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "compute": {"gpuRequestType": "memory", "gpuMemoryRequest": "10G"},
        },
        {},
        id="gpu-memory",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "compute": {"gpuDevicesRequest": 8},
            "multiNode": {"workers": 1},
            "replicas": 2,
        },
        {},
        id="multi-node",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "compute": {"gpuDevicesRequest": 1},
            "replicas": 3,
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 4,
                "metric": "http_requests_total",
                "metricThreshold": 50,
                "scaleWindowSeconds": 120,
            },
        },
        {},
        id="autoscaling",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": {
                "pvc": {
                    "claimName": "llama-store",
                    "claimInfo": {
                        "size": "100Gi",
                        "storageClass": "fast-ssd",
                        "accessModes": {"readWriteOnce": True, "readOnlyMany": True},
                    },
                }
            },
        },
        {},
        id="new-pvc",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": {"pvc": {"existingPvc": True, "claimName": "models", "readOnly": True}},
        },
        {},
        id="existing-pvc",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": {"nimCache": {"name": "llama-cache", "profile": "tp2-latency"}},
            "compute": {"gpuDevicesRequest": 2},
        },
        {},
        id="nim-cache-with-profile",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "ngcAuthSecret": "ngc-api",
            "environmentVariables": [
                {"name": "NIM_LOG_LEVEL", "value": "DEBUG", "description": "dropped"},
                {"name": "DB_PASSWORD", "secret": {"name": "db", "key": "password"}},
                {"name": "SCHEMA", "configMap": {"name": "settings", "key": "schema"}},
                {"name": "POD_IP", "podFieldRef": {"path": "status.podIP"}},
                {"name": "HF_TOKEN", "userCredential": {"name": "hf-token", "key": "token"}},
                {"name": "SKIPPED", "value": "x", "exclude": True},
            ],
        },
        {},
        id="every-env-source",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "tolerations": [
                {"name": "gpu", "key": "nvidia.com/gpu", "operator": "Exists", "effect": "Any"},
                {"key": "dedicated", "value": "nim", "effect": "NoSchedule"},
                {
                    "key": "spot",
                    "operator": "Equal",
                    "value": "yes",
                    "effect": "NoExecute",
                    "seconds": 300,
                },
            ],
        },
        {},
        id="tolerations",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "nodePools": ["pool-a", "default", "pool-b"],
            "priorityClass": "low",
            "imagePullSecrets": [{"name": "team-pull"}],
        },
        {"settings": SHARDED},
        id="node-pools-sharded",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "servingPort": {"port": 9000, "exposeExternally": True},
            "probes": {
                "readiness": {
                    "periodSeconds": 5,
                    "handler": {"httpGet": {"path": "/v1/health/ready", "host": "example.com"}},
                }
            },
            "labels": [{"name": "stage", "value": "prod"}],
            "annotations": [{"name": "billing", "value": "team-a"}],
            "security": {"runAsUid": 1001, "runAsGid": 2002},
        },
        {},
        id="exposed-externally",
    ),
    pytest.param(
        {
            "image": IMAGE,
            "modelStore": CACHE,
            "servingPort": {"exposeExternally": True, "exposedUrl": "https://llama.example.org"},
        },
        {},
        id="exposed-at-exact-host",
    ),
    pytest.param(
        {"image": "localhost:5000/nim/llama", "modelStore": CACHE},
        {"name": "stopped-llama", "desired": DesiredPhase.Stopped},
        id="stopped-untagged-image",
    ),
]


def _golden(manifests: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False)


@pytest.mark.parametrize(("spec", "options"), CASES)
def test_render_matches_golden_file_and_passes_the_crd(
    request: pytest.FixtureRequest, spec: dict[str, Any], options: dict[str, Any]
) -> None:
    manifests = render_request(spec, **options)
    assert checker().check(nim_service(manifests)) == []
    assert admission_problems(nim_service(manifests)) == []
    text = _golden(manifests)
    path = GOLDEN_DIR / f"{request.node.callspec.id}.yaml"
    if REGENERATE or not path.exists():
        path.write_text(text)
        if not REGENERATE:
            pytest.fail(f"{path.name} was missing and has been written: review and commit it")
    assert text == path.read_text(), f"{path.name} differs (NIMPLANE_REGENERATE_GOLDEN=1)"
    assert list(yaml.safe_load_all(path.read_text())) == manifests  # YAML keeps the types
