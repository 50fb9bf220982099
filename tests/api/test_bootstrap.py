"""Bootstrap credentials: from the environment, or generated once, printed once, kept 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from nimplane.api.app import create_app
from nimplane.settings import Settings
from nimplane.wiring import BOOTSTRAP_FILE, GENERATED_CLIENT_ID, SIGNING_KEY_FILE, build_state
from tests.support.tokens import issue_token


def _token(client: TestClient, client_id: str, secret: str) -> int:
    response = client.post(
        "/api/v1/token",
        json={"grantType": "client_credentials", "clientID": client_id, "clientSecret": secret},
    )
    return response.status_code


def test_generated_credentials_are_printed_once_and_kept_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    state = build_state(settings)
    printed = capsys.readouterr().out
    path = tmp_path / BOOTSTRAP_FILE
    saved = json.loads(path.read_text())
    assert saved["clientId"] == GENERATED_CLIENT_ID
    assert saved["clientSecret"] in printed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / SIGNING_KEY_FILE).stat().st_mode) == 0o600
    with TestClient(create_app(settings, state=state)) as client:
        assert _token(client, GENERATED_CLIENT_ID, saved["clientSecret"]) == 200
        assert _token(client, GENERATED_CLIENT_ID, "wrong") == 401
    state.close()

    again = build_state(settings)  # a second start neither prints nor changes the secret
    assert saved["clientSecret"] not in capsys.readouterr().out
    assert json.loads(path.read_text()) == saved
    again.close()


def test_environment_credentials_win_and_rotate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = Settings(
        data_dir=tmp_path, bootstrap_client_id="ops", bootstrap_client_secret="first-secret-123"
    )
    state = build_state(first)
    assert not (tmp_path / BOOTSTRAP_FILE).exists()
    assert "first-secret-123" not in capsys.readouterr().out
    state.close()
    second = first.model_copy(update={"bootstrap_client_secret": SecretStr("second-secret-456")})
    state = build_state(second)
    with TestClient(create_app(second, state=state)) as client:
        assert _token(client, "ops", "second-secret-456") == 200
        assert _token(client, "ops", "first-secret-123") == 401
    state.close()


def test_secrets_are_stored_hashed(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, bootstrap_client_id="ops", bootstrap_client_secret="plain-secret-789"
    )
    build_state(settings).close()
    raw = (tmp_path / "nimplane.db").read_bytes()
    wal = tmp_path / "nimplane.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"plain-secret-789" not in raw


def test_default_project_gets_the_clusters_gpus_once(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, bootstrap_client_id="ops", bootstrap_client_secret="ops-secret-1234"
    )
    state = build_state(settings)
    token = issue_token(state, "ops")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, state=state)) as client:
        project = client.get("/api/v1/org-unit/projects/1", headers=headers).json()
        assert project["resources"][0]["gpu"]["deserved"] == 32  # 4 simulated nodes x 8 GPUs
        changed = [{"nodePool": {"name": "default"}, "gpu": {"deserved": 8}}]
        response = client.put(
            "/api/v1/org-unit/projects/1/resources", json=changed, headers=headers
        )
        assert response.status_code == 200, response.text
    state.close()
    again = build_state(settings)  # a restart keeps what was set through the API
    with TestClient(create_app(settings, state=again)) as client:
        project = client.get("/api/v1/org-unit/projects/1", headers=headers).json()
        assert project["resources"][0]["gpu"]["deserved"] == 8
    again.close()
