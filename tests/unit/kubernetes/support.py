"""Shared by the rendering tests: NVIDIA's CRD (read from the shared folder beside the
repository, never copied), a project, and a request spec turned into what a create stores."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from nimplane.domain.defaults import apply_defaults
from nimplane.domain.kubernetes import ClusterSettings, CrdChecker, Manifest, WorkloadToRender
from nimplane.domain.kubernetes import render as render_manifests
from nimplane.domain.patch import resolve_replicas_on_create
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.validation import ValidationContext, validate_name, validate_spec
from nimplane.domain.workloads import DesiredPhase, Project

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
CRD_DIR = Path(os.environ.get("NIMPLANE_CRD_DIR", REPO.parent / "shared" / "crds"))
SHARED_SPEC_DIR = CRD_DIR.parent / "spec"
GOLDEN_DIR = REPO / "tests" / "data" / "golden"

PROJECT = Project(
    id="7",
    name="team-a",
    namespace="runai-team-a",
    department_id="3",
    department_name="research",
    cluster_id="c0ffee00-0000-4000-8000-000000000001",
    tenant_id=1,
)
CTX = ValidationContext(
    node_pools=frozenset({"default", "pool-a", "pool-b"}),
    categories=frozenset({"Build", "Train", "Deploy"}),
)
SETTINGS = ClusterSettings(ingress_class="nginx", ingress_host_domain="apps.example.com")


@cache
def crd(name: str = "apps.nvidia.com_nimservices.yaml") -> Json:
    path = CRD_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the tests read NVIDIA's CRDs from the shared folder beside "
            "the repository (or NIMPLANE_CRD_DIR)"
        )
    loaded: Json = yaml.safe_load(path.read_text())
    return loaded


@cache
def checker() -> CrdChecker:
    return CrdChecker(crd())


def stored_spec(request_spec: Json) -> NimServiceSpec:
    """A request spec as a create stores it (checked valid first): replicas settled against
    autoscaling and every default filled in, then typed."""
    issues = validate_spec(request_spec, CTX)
    assert issues == [], issues
    return NimServiceSpec.model_validate(
        apply_defaults(resolve_replicas_on_create(request_spec).spec)
    )


def render_request(
    request_spec: Json,
    *,
    name: str = "llama",
    settings: ClusterSettings = SETTINGS,
    desired: DesiredPhase = DesiredPhase.Running,
) -> list[Manifest]:
    assert validate_name(name, as_prefix=False) == []
    workload = WorkloadToRender(
        id="0b8f8c2e-0000-4000-8000-00000000abcd",
        name=name,
        spec=stored_spec(request_spec),
        desired_phase=desired,
    )
    return render_manifests(workload, PROJECT, settings)


def nim_service(manifests: list[Manifest]) -> Manifest:
    (nim,) = [m for m in manifests if m["kind"] == "NIMService"]
    return nim
