"""`KubernetesManifests`: a workload's problems on Kubernetes named by the API field they come
from; without a CRD, the operator's name and admission rules only; and where the server's
check gets its CRD (`wiring.manifest_check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nimplane.domain.kubernetes import (
    ClusterSettings,
    KubernetesManifests,
    WorkloadToRender,
    api_field,
)
from nimplane.domain.kubernetes.manifest_check import RULE, unrenderable
from nimplane.settings import KubernetesSettings, Settings
from nimplane.wiring import NIM_SERVICE_CRD_ENV, manifest_check
from tests.unit.kubernetes.support import CRD_DIR, PROJECT, checker, stored_spec

VALID: dict[str, Any] = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "modelStore": {"nimCache": {"name": "llama-cache"}},
    "compute": {"gpuDevicesRequest": 1},
}
CRD_FILE = CRD_DIR / "apps.nvidia.com_nimservices.yaml"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        pytest.param("metadata.name", "metadata.name", id="name"),
        pytest.param("metadata.namespace", "metadata.projectId", id="namespace"),
        pytest.param("spec.image.tag", "spec.image", id="image-tag"),
        pytest.param("spec.image.pullSecrets[1]", "spec.imagePullSecrets", id="pull-secret"),
        pytest.param("spec.env[3].valueFrom", "spec.environmentVariables", id="env"),
        pytest.param("spec.storage.pvc.name", "spec.modelStore.pvc", id="pvc"),
        pytest.param("spec.storage", "spec.modelStore", id="storage"),
        pytest.param("spec.resources.limits.cpu", "spec.compute.cpuCoreLimit", id="cpu-limit"),
        pytest.param(
            "spec.resources.requests.nvidia.com/gpu", "spec.compute.gpuDevicesRequest", id="gpus"
        ),
        pytest.param("spec.resources.claims", "spec.compute", id="claims"),
        pytest.param(
            "spec.annotations.gpu-fraction", "spec.compute.gpuPortionRequest", id="fraction"
        ),
        pytest.param(
            "spec.annotations.gpu-fraction-limit", "spec.compute.gpuPortionLimit", id="limit"
        ),
        pytest.param("spec.annotations.billing", "spec.annotations", id="user-annotation"),
        pytest.param("spec.scale.hpa.maxReplicas", "spec.autoscaling", id="hpa"),
        pytest.param("spec.expose.router.hostDomainName", "spec.servingPort", id="router"),
        pytest.param("spec.readinessProbe.probe", "spec.probes.readiness", id="probe"),
        pytest.param("spec.userID", "spec.security.runAsUid", id="uid"),
        pytest.param("spec.affinity.nodeAffinity", "spec.nodePools", id="node-pools"),
        pytest.param("spec.schedulerName", "spec", id="cluster-setting"),
        pytest.param("<root>", "spec", id="root"),
    ],
)
def test_a_nim_service_path_names_the_api_field_it_is_rendered_from(path: str, field: str) -> None:
    assert api_field(path) == field


@pytest.mark.parametrize(
    ("pvc", "refused"),
    [
        pytest.param(
            {"existingPvc": False, "claimInfo": {"size": "1Gi", "volumeMode": "Block"}},
            True,
            id="new-block-pvc",
        ),
        pytest.param(
            {"existingPvc": False, "claimInfo": {"size": "1Gi", "volumeMode": "Filesystem"}},
            False,
            id="new-filesystem-pvc",
        ),
    ],
)
def test_a_block_volume_is_refused_only_where_nimplane_creates_the_pvc(
    pvc: dict[str, Any], refused: bool
) -> None:
    issues = unrenderable(stored_spec({**VALID, "modelStore": {"pvc": pvc}}))
    fields = [i.field for i in issues]
    assert fields == (["spec.modelStore.pvc.claimInfo.volumeMode"] if refused else [])


@pytest.mark.parametrize("with_crd", [pytest.param(True, id="crd"), pytest.param(False, id="none")])
@pytest.mark.parametrize(
    ("name", "ok"),
    [
        pytest.param("l" * 59, True, id="59"),
        pytest.param("l" * 60, False, id="60"),
        pytest.param("l" * 63, False, id="63"),
    ],
)
def test_the_operators_name_limit_holds_with_or_without_a_crd(
    name: str, ok: bool, with_crd: bool
) -> None:
    manifests = KubernetesManifests(ClusterSettings(), checker() if with_crd else None)
    workload = WorkloadToRender(id="w", name=name, spec=stored_spec(VALID))
    issues = manifests.problems(workload, PROJECT)
    assert [(i.field, i.rule) for i in issues] == ([] if ok else [("metadata.name", RULE)])


@pytest.mark.parametrize(
    ("configured", "env", "checked"),
    [
        pytest.param(CRD_FILE, None, True, id="setting"),
        pytest.param(None, CRD_FILE, True, id="env-as-nimplane-render"),
        pytest.param(None, None, False, id="none-on-the-simulated-backend"),
    ],
)
def test_the_server_checks_against_the_configured_crd_file(
    tmp_path: Path, configured: Path | None, env: Path | None, checked: bool
) -> None:
    settings = Settings(
        data_dir=tmp_path, kubernetes=KubernetesSettings(nim_service_crd=configured)
    )
    environ = {} if env is None else {NIM_SERVICE_CRD_ENV: str(env)}
    check = manifest_check(settings, environ)
    assert (check.crd is not None) is checked
    if check.crd is not None:
        assert check.crd.kind == "NIMService"
