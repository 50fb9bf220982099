"""The mapping rules of the renderer, one table each (docs: ARCHITECTURE.md, "Rendering for
Kubernetes")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.domain.kubernetes import ClusterSettings, WorkloadToRender, admission_problems, render
from nimplane.domain.kubernetes.compute import cpu_quantity, gpu_memory_mib
from nimplane.domain.kubernetes.render import split_image
from nimplane.domain.phases import Phase
from nimplane.domain.workloads import DesiredPhase, Workload, WorkloadStatus
from tests.unit.kubernetes.support import (
    PROJECT,
    SHARED_SPEC_DIR,
    checker,
    nim_service,
    render_request,
    stored_spec,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)

CACHE = {"nimCache": {"name": "c"}}


def _spec(**fields: Any) -> dict[str, Any]:
    return nim_service(render_request({"image": "nim/llm:1", "modelStore": CACHE, **fields}))[
        "spec"
    ]


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        pytest.param("python:3.8", "python", "3.8", id="float-like-tag-stays-a-string"),
        pytest.param("nim/llm", "nim/llm", "latest", id="no-tag-is-latest"),
        pytest.param("localhost:5000/x", "localhost:5000/x", "latest", id="registry-port-kept"),
        pytest.param("localhost:5000/x:2", "localhost:5000/x", "2", id="registry-port-and-tag"),
        pytest.param("r/x@sha256:" + "a" * 64, "r/x@sha256", "a" * 64, id="digest"),
        pytest.param("r/x:1@sha256:" + "b" * 64, "r/x:1@sha256", "b" * 64, id="tag-and-digest"),
    ],
)
def test_image_splits_so_that_repository_colon_tag_is_the_image(
    image: str, repository: str, tag: str
) -> None:
    assert split_image(image) == (repository, tag)
    assert f"{repository}:{tag}" == (
        image if ":" in image.rpartition("/")[2] else f"{image}:latest"
    )


@pytest.mark.parametrize(
    ("cores", "quantity"),
    [
        pytest.param(0.5, "500m", id="half"),
        pytest.param(2, "2", id="whole"),
        pytest.param(2.0, "2", id="whole-float"),
        pytest.param(0.0001, "1m", id="rounded-up-to-a-millicore"),
        pytest.param(0, "0", id="zero"),
        pytest.param(1.25, "1250m", id="fraction"),
    ],
)
def test_cpu_is_a_quantity_string(cores: float, quantity: str) -> None:
    assert cpu_quantity(cores) == quantity


@pytest.mark.parametrize(
    ("memory", "mib"),
    [
        pytest.param("10M", 10, id="decimal-mega-rounded-up"),
        pytest.param("1Gi", 1024, id="binary"),
        pytest.param("1", 1, id="one-byte-is-one-mib"),
        pytest.param("20000Mi", 20000, id="mib"),
    ],
)
def test_gpu_memory_is_whole_mib_rounded_up(memory: str, mib: int) -> None:
    assert gpu_memory_mib(memory) == mib


@pytest.mark.parametrize(
    ("compute", "gpus", "annotations"),
    [
        pytest.param({"gpuDevicesRequest": 2}, 2, {}, id="whole"),
        pytest.param({"gpuDevicesRequest": 0}, None, {}, id="none"),
        pytest.param(
            {"gpuRequestType": "portion", "gpuPortionRequest": 0.5, "gpuDevicesRequest": 1},
            None,
            {"gpu-fraction": "0.5"},
            id="portion-of-one-device-has-no-gpu-resource",
        ),
        pytest.param(
            {"gpuRequestType": "portion", "gpuPortionRequest": 0.25, "gpuDevicesRequest": 3},
            None,
            {"gpu-fraction": "0.25", "gpu-fraction-num-devices": "3"},
            id="portion-of-several-devices",
        ),
        pytest.param(
            {"gpuRequestType": "portion", "gpuPortionRequest": 1.0, "gpuDevicesRequest": 2},
            2,
            {},
            id="portion-one-is-whole-devices",
        ),
        pytest.param(
            {"gpuRequestType": "memory", "gpuMemoryRequest": "4Gi"},
            None,
            {"gpu-memory": "4096"},
            id="memory",
        ),
        pytest.param(
            {"gpuRequestType": "memory", "gpuMemoryRequest": "4Gi", "gpuMemoryLimit": "8G"},
            None,
            {"gpu-memory": "4096", "gpu-memory-limit": "7630"},
            id="memory-with-limit",
        ),
    ],
)
def test_gpus_are_whole_devices_or_kai_annotations_never_both(
    compute: dict[str, Any], gpus: int | None, annotations: dict[str, str]
) -> None:
    spec = _spec(compute=compute)
    resources = spec.get("resources", {})
    assert resources.get("limits", {}).get("nvidia.com/gpu") == gpus
    assert resources.get("requests", {}).get("nvidia.com/gpu") == gpus
    assert spec.get("annotations", {}) == annotations


@pytest.mark.parametrize(
    ("fields", "desired", "expected"),
    [
        pytest.param({}, DesiredPhase.Running, {"replicas": 1}, id="default-one-replica"),
        pytest.param({"replicas": 3}, DesiredPhase.Running, {"replicas": 3}, id="replicas"),
        pytest.param({"replicas": 3}, DesiredPhase.Stopped, {"replicas": 0}, id="stopped"),
        pytest.param(
            {"autoscaling": {"maxReplicas": 2, "metric": "m", "metricThreshold": 5}},
            DesiredPhase.Stopped,
            {"replicas": 0},
            id="stopped-autoscaled-is-zero-replicas-without-hpa",
        ),
    ],
)
def test_replicas_and_scale_are_never_both_set(
    fields: dict[str, Any], desired: DesiredPhase, expected: dict[str, Any]
) -> None:
    manifests = render_request(
        {"image": "nim/llm:1", "modelStore": CACHE, **fields}, desired=desired
    )
    spec = nim_service(manifests)["spec"]
    assert {k: spec[k] for k in ("replicas", "scale") if k in spec} == expected


def test_autoscaling_becomes_an_hpa_on_a_pods_metric() -> None:
    spec = _spec(
        replicas=2,
        autoscaling={"minReplicas": 2, "metric": "rps", "metricThreshold": 10},
    )
    assert "replicas" not in spec
    assert spec["scale"]["hpa"] == {
        "minReplicas": 2,
        "maxReplicas": 2,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "rps"},
                    "target": {"type": "AverageValue", "averageValue": "10"},
                },
            }
        ],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 300},
            "scaleDown": {"stabilizationWindowSeconds": 300},
        },
    }


@pytest.mark.parametrize(
    ("settings", "port", "expose"),
    [
        pytest.param(
            ClusterSettings(),
            {"exposeExternally": True},
            {"service": {"type": "ClusterIP", "port": 8000}},
            id="no-ingress-class-no-router",
        ),
        pytest.param(
            ClusterSettings(ingress_class="nginx", ingress_host_domain="ex.com"),
            {"exposeExternally": False},
            {"service": {"type": "ClusterIP", "port": 8000}},
            id="not-exposed",
        ),
        pytest.param(
            ClusterSettings(ingress_class="nginx", ingress_tls_secret="tls"),
            {"exposeExternally": True, "exposedUrl": "https://llm.runai-team-a.ex.com"},
            {
                "service": {"type": "ClusterIP", "port": 8000},
                "router": {
                    "hostDomainName": "ex.com",
                    "ingress": {"ingressClass": "nginx", "tlsSecretName": "tls"},
                },
            },
            id="url-of-the-router-form-gives-its-domain",
        ),
        pytest.param(
            ClusterSettings(ingress_class="nginx", ingress_host_domain="ex.com"),
            {"exposeExternally": True, "grpcPort": 8001},
            {"service": {"type": "ClusterIP", "port": 8000, "grpcPort": 8001}},
            id="grpc-is-not-exposed-by-ingress",
        ),
        pytest.param(
            ClusterSettings(ingress_class="nginx", ingress_host_domain="ex.com"),
            {"exposeExternally": True, "exposedUrl": "https://10.0.0.1:8443"},
            {
                "service": {"type": "ClusterIP", "port": 8000},
                "router": {"hostDomainName": "ex.com", "ingress": {"ingressClass": "nginx"}},
            },
            id="ip-address-url-is-no-ingress-host",
        ),
        pytest.param(
            ClusterSettings(ingress_class="nginx"),
            {"exposeExternally": True, "exposedUrl": "http://[::1"},
            {"service": {"type": "ClusterIP", "port": 8000}},
            id="malformed-url-without-a-domain-is-not-exposed",
        ),
    ],
)
def test_exposure(settings: ClusterSettings, port: dict[str, Any], expose: dict[str, Any]) -> None:
    manifests = render_request(
        {"image": "nim/llm:1", "modelStore": CACHE, "servingPort": port},
        name="llm",
        settings=settings,
    )
    assert nim_service(manifests)["spec"]["expose"] == expose


def test_scheduler_queue_and_owner_labels_follow_the_cluster_settings() -> None:
    settings = ClusterSettings(
        scheduler_name="runai-scheduler",
        queue_label_key="runai/queue",
        owner_label_prefix="example.org",
    )
    manifests = render_request(
        {
            "image": "nim/llm:1",
            "modelStore": CACHE,
            "labels": [{"name": "runai/queue", "value": "other"}, {"name": "x", "value": "y"}],
            "preemptibility": "preemptible",
        },
        settings=settings,
    )
    nim = nim_service(manifests)
    assert nim["metadata"]["namespace"] == PROJECT.namespace
    assert nim["spec"]["schedulerName"] == "runai-scheduler"
    assert nim["spec"]["labels"] == {
        "runai/queue": PROJECT.name,  # the queue is the project's, whatever the user labels say
        "x": "y",
        "kai.scheduler/preemptibility": "preemptible",
        "example.org/workload-id": "0b8f8c2e-0000-4000-8000-00000000abcd",
        "example.org/project-id": PROJECT.id,
    }
    assert (
        nim["metadata"]["labels"]["example.org/workload-id"]
        == nim["spec"]["labels"]["example.org/workload-id"]
    )


@pytest.mark.parametrize(
    ("store", "compute", "storage", "env"),
    [
        pytest.param(
            {"nimCache": {"name": "c", "profile": "p"}},
            {"gpuDevicesRequest": 1},
            {"nimCache": {"name": "c", "profile": "p"}},
            None,
            id="profile-with-whole-gpus",
        ),
        pytest.param(
            {"nimCache": {"name": "c", "profile": "p"}},
            {"gpuRequestType": "portion", "gpuPortionRequest": 0.5},
            {"nimCache": {"name": "c"}},
            [{"name": "NIM_MODEL_PROFILE", "value": "p"}],
            id="profile-with-a-share-moves-to-env",
        ),
        pytest.param(
            {"pvc": {"existingPvc": True, "claimName": "m"}},
            None,
            {"readOnly": False, "pvc": {"name": "m"}},
            None,
            id="existing-pvc",
        ),
        pytest.param(
            {"pvc": {"claimInfo": {"size": "1Gi"}}},
            None,
            {"readOnly": False, "pvc": {"name": "llm-model-store"}},
            None,
            id="new-pvc-without-a-name",
        ),
    ],
)
def test_model_store(
    store: dict[str, Any],
    compute: dict[str, Any] | None,
    storage: dict[str, Any],
    env: list[dict[str, Any]] | None,
) -> None:
    fields: dict[str, Any] = {"image": "nim/llm:1", "modelStore": store}
    if compute is not None:
        fields["compute"] = compute
    manifests = render_request(fields, name="llm")
    spec = nim_service(manifests)["spec"]
    assert spec["storage"] == storage
    assert spec.get("env") == env


def test_without_a_model_store_the_model_is_downloaded_into_an_empty_dir() -> None:
    manifests = render_request({"image": "nim/llm:1", "ngcAuthSecret": "ngc"})
    assert nim_service(manifests)["spec"]["storage"] == {"emptyDir": {}}
    assert nim_service(manifests)["spec"]["authSecret"] == "ngc"


def test_the_corrected_seed_example_renders_to_a_valid_nim_service() -> None:
    request = json.loads((SHARED_SPEC_DIR / "example-create-request-corrected.json").read_text())
    manifests = render_request(request["spec"], name="my-workload-name")
    assert checker().check(nim_service(manifests)) == []
    assert admission_problems(nim_service(manifests)) == []


def test_a_stored_workload_renders_from_its_typed_spec() -> None:
    stored = stored_spec({"image": "nim/llm:1", "modelStore": CACHE, "replicas": 2})
    workload = Workload(
        id="w-9",
        name="llm",
        project=PROJECT,
        workload_type="NIMService",
        spec=stored.model_dump(mode="json", exclude_none=True),
        desired_phase=DesiredPhase.Running,
        status=WorkloadStatus(phase=Phase.Creating, phase_updated_at=NOW),
        resource_version=1,
        generation=1,
        created_at=NOW,
        created_by="u",
        updated_at=NOW,
        updated_by="u",
    )
    typed = WorkloadToRender.of(workload)
    assert typed.spec == stored
    (nim,) = render(typed, PROJECT, ClusterSettings())
    assert nim["spec"]["replicas"] == 2
    assert nim["metadata"]["labels"]["nimplane.io/workload-id"] == "w-9"
