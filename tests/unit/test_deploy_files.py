"""deploy/kubernetes/: the config file is one `nimplane serve` accepts, and every variable the
Deployment sets is a setting nimplane reads (pydantic-settings' names: `NIMPLANE_` and `__`
between nested keys). The manifests themselves are applied to a real kube-apiserver in
tests/kube/test_manifests_on_the_server.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nimplane.cli.main import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def _container() -> dict[str, Any]:
    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    return dict(container)


def test_the_deployments_environment_and_config_file_make_kubernetes_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = {
        "NIMPLANE_DATABASE_URL": "postgresql://nimplane:pw@db:5432/nimplane",
        "NIMPLANE_AUTH__SIGNING_KEY": "a-shared-signing-key-0123456789",
        "NIMPLANE_BOOTSTRAP_CLIENT_ID": "admin",
        "NIMPLANE_BOOTSTRAP_CLIENT_SECRET": "admin-secret",
    }
    env = {e["name"]: e for e in _container()["env"]}
    assert set(env) == {"NIMPLANE_BACKEND", *given}
    for name in given:  # every secret from the Secret, never inline
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "nimplane"
        monkeypatch.setenv(name, given[name])
    monkeypatch.setenv("NIMPLANE_BACKEND", env["NIMPLANE_BACKEND"]["value"])
    settings = load_settings(DEPLOY / "config.yaml")
    assert settings.backend == "kubernetes"
    assert settings.resolved_database_url().startswith("postgresql+psycopg://")
    assert settings.auth.signing_key is not None
    assert settings.auth.signing_key.get_secret_value() == given["NIMPLANE_AUTH__SIGNING_KEY"]
    assert settings.bootstrap_client_id == "admin"
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.data_dir == Path("/var/lib/nimplane")
    assert settings.kubernetes.cluster.scheduler_name == "kai-scheduler"


def test_the_container_runs_unprivileged_with_only_its_data_dir_writable() -> None:
    container = _container()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/var/lib/nimplane" in mounts
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    assert 'ENTRYPOINT ["nimplane"]' in dockerfile
