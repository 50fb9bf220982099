"""`nimplane render`: a create request file to YAML manifests, checked against the CRD file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from nimplane.cli.main import app
from tests.unit.kubernetes.support import CRD_DIR, SHARED_SPEC_DIR

CRD = str(CRD_DIR / "apps.nvidia.com_nimservices.yaml")
EXAMPLE = str(SHARED_SPEC_DIR / "example-create-request-corrected.json")


def test_render_prints_the_corrected_example_as_a_valid_nim_service(tmp_path: Path) -> None:
    settings = tmp_path / "cluster.yaml"
    settings.write_text("scheduler_name: runai-scheduler\nqueue_label_key: runai/queue\n")
    result = CliRunner().invoke(
        app,
        [
            "render",
            "-f",
            EXAMPLE,
            "--crd",
            CRD,
            "--cluster-settings",
            str(settings),
            "--project",
            "project-a",
        ],
    )
    assert result.exit_code == 0, result.output
    (nim,) = yaml.safe_load_all(result.stdout)
    assert nim["kind"] == "NIMService"
    assert nim["metadata"]["namespace"] == "runai-project-a"
    assert nim["spec"]["schedulerName"] == "runai-scheduler"
    assert nim["spec"]["labels"]["runai/queue"] == "project-a"


def test_render_refuses_an_invalid_request_naming_the_field(tmp_path: Path) -> None:
    request = json.loads(Path(EXAMPLE).read_text())
    request["spec"]["compute"]["gpuPortionRequest"] = 1.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(request))
    result = CliRunner().invoke(app, ["render", "-f", str(path)])
    assert result.exit_code == 2
    assert "spec.compute.gpuPortionRequest" in result.stderr


def test_render_refuses_unknown_cluster_settings(tmp_path: Path) -> None:
    settings = tmp_path / "cluster.yaml"
    settings.write_text("schedulerName: kai\n")
    result = CliRunner().invoke(app, ["render", "-f", EXAMPLE, "--cluster-settings", str(settings)])
    assert result.exit_code == 2
    assert "schedulerName" in result.stderr


def test_render_fails_when_the_manifest_breaks_the_crd(tmp_path: Path) -> None:
    request = json.loads(Path(EXAMPLE).read_text())
    request["metadata"]["name"] = "n" * 60  # a valid workload name, too long for the operator
    path = tmp_path / "long.json"
    path.write_text(json.dumps(request))
    result = CliRunner().invoke(app, ["render", "-f", str(path), "--crd", CRD])
    assert result.exit_code == 1
    assert f"NIMService/{'n' * 60}: metadata.name:" in result.stderr
