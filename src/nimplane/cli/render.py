"""`nimplane render`: a create request's manifests for Kubernetes, without a server. The
request is checked as the API checks it (wire models and rules), settled and defaulted as a
create stores it, rendered with the cluster settings of a YAML file, and, with `--crd`,
checked against NVIDIA's NIMService CRD file (nimplane ships no copy of it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from nimplane.domain.catalog import DEFAULT_CATEGORIES
from nimplane.domain.defaults import apply_defaults
from nimplane.domain.kubernetes import (
    ClusterSettings,
    CrdChecker,
    WorkloadToRender,
    admission_problems,
    render,
)
from nimplane.domain.org import project_namespace
from nimplane.domain.patch import resolve_replicas_on_create
from nimplane.domain.requests import NimServiceCreateRequest, wire_issues
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.validation import (
    ValidationContext,
    drop_nulls,
    validate_name,
    validate_spec,
)
from nimplane.domain.workloads import Project

CRD_ENV = "NIMPLANE_NIM_SERVICE_CRD"
RENDER_ONLY_ID = "render-only"


def _fail(lines: list[str], code: int = 2) -> typer.Exit:
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(code)


def load_cluster_settings(path: Path | None) -> ClusterSettings:
    """Cluster settings from a YAML mapping of `ClusterSettings` fields (defaults without)."""
    if path is None:
        return ClusterSettings()
    loaded = yaml.safe_load(path.read_text()) or {}
    try:
        return ClusterSettings.model_validate(loaded)
    except ValidationError as exc:
        raise _fail(
            [
                f"{path}: {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from exc


def load_crd_checker(path: Path) -> CrdChecker:
    """The check of a CRD file (NVIDIA's `apps.nvidia.com_nimservices.yaml`, as installed)."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return CrdChecker(loaded)


def render_command(
    file: Annotated[
        Path, typer.Option("-f", "--file", exists=True, help="A create request (JSON).")
    ],
    cluster_settings: Annotated[
        Path | None,
        typer.Option(exists=True, help="YAML file of cluster settings (scheduler, labels...)."),
    ] = None,
    crd: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            envvar=CRD_ENV,
            help="NVIDIA's NIMService CRD file: check the manifest against it.",
        ),
    ] = None,
    project: Annotated[str, typer.Option(help="The project's name (its queue).")] = "default",
    namespace: Annotated[
        str | None, typer.Option(help="The project's namespace (default runai-<project>).")
    ] = None,
) -> None:
    """Print the Kubernetes manifests a create request becomes (YAML)."""
    try:
        body = drop_nulls(json.loads(file.read_text()))
    except json.JSONDecodeError as exc:
        raise _fail([f"{file}: not JSON: {exc}"]) from exc
    parsed, issues = wire_issues(NimServiceCreateRequest, body)
    if parsed is None:
        raise _fail([f"{i.field}: {i.details}" for i in issues])
    spec = body["spec"]
    ctx = ValidationContext(
        node_pools=frozenset({"default", *(spec.get("nodePools") or [])}),
        categories=frozenset(DEFAULT_CATEGORIES),
    )
    rule_issues = validate_name(parsed.metadata.name, as_prefix=False) + validate_spec(spec, ctx)
    if rule_issues:
        raise _fail([f"{i.field}: {i.details}" for i in rule_issues])
    stored = apply_defaults(resolve_replicas_on_create(spec).spec)
    settings = load_cluster_settings(cluster_settings)
    target = Project(
        id=str(parsed.metadata.projectId),
        name=project,
        namespace=project_namespace(project, namespace),
        department_id="",
        department_name="",
        cluster_id="",
        tenant_id=0,
    )
    workload = WorkloadToRender(
        id=RENDER_ONLY_ID, name=parsed.metadata.name, spec=NimServiceSpec.model_validate(stored)
    )
    manifests = render(workload, target, settings)
    checker = load_crd_checker(crd) if crd is not None else None
    problems = [
        f"{m['kind']}/{m['metadata']['name']}: {p}"
        for m in manifests
        if m["kind"] == "NIMService"
        for p in [*(checker.check(m) if checker else []), *admission_problems(m)]
    ]
    if problems:
        raise _fail(problems, code=1)
    typer.echo(yaml.safe_dump_all(manifests, sort_keys=False), nl=False)


__all__ = ["CRD_ENV", "load_cluster_settings", "load_crd_checker", "render_command"]
