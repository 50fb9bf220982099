"""Shared fixtures: one database per test session (SQLite, or PostgreSQL when
NIMPLANE_TEST_DATABASE_URL is set), emptied of workloads between tests; an in-process app
with a real token; and a factory for valid NIM service requests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.settings import AuthSettings, KubernetesSettings, Settings
from nimplane.wiring import build_state
from tests.support.db import configured_database_url, delete_workloads, reset_postgres
from tests.support.server import CLIENT_ID, CLIENT_SECRET
from tests.support.tokens import issue_token
from tests.unit.kubernetes.support import CRD_DIR

NIM_SERVICE_CRD = CRD_DIR / "apps.nvidia.com_nimservices.yaml"
"""NVIDIA's CRD, read from the shared folder beside the repository: every create and PATCH of
the suite's app is checked against it (the full check, CEL rules included)."""

# No test depends on how fast the machine is: Hypothesis's per-example deadline and its
# too-slow health check are both timings, so every property test runs without them (a test's
# own `settings` inherit this profile).
hypothesis.settings.register_profile(
    "nimplane",
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("nimplane")

VALID_SPEC: dict[str, Any] = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "modelStore": {"nimCache": {"name": "llama-cache"}},
    "compute": {"gpuDevicesRequest": 1},
}


def nim_request(name: str = "llama", project_id: str | int = "1", **spec: Any) -> dict[str, Any]:
    """A valid create request; keyword arguments replace or add spec sections."""
    body_spec = copy.deepcopy(VALID_SPEC)
    body_spec.update(spec)
    return {"metadata": {"name": name, "projectId": project_id}, "spec": body_spec}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    url = configured_database_url()
    if url:
        reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        bootstrap_client_id=CLIENT_ID,
        bootstrap_client_secret=CLIENT_SECRET,
        sqlite_synchronous="NORMAL",
        kubernetes=KubernetesSettings(nim_service_crd=NIM_SERVICE_CRD),
        # the suite signs in from one address (and fails some sign-ins on purpose) far more
        # often than the default limits allow; tests/api/test_sign_in_limits.py tests them
        auth=AuthSettings(
            signing_key="test-signing-key-not-secret-0123456789",
            address_burst=1_000_000,
            login_burst=1_000_000,
        ),
    )


@pytest.fixture(scope="session")
def app_state(settings: Settings) -> Iterator[AppState]:
    state = build_state(settings)
    yield state
    state.close()


@pytest.fixture
def state(app_state: AppState) -> AppState:
    """The session's state with no workloads left from earlier tests."""
    delete_workloads(app_state.engine)
    return app_state


@pytest.fixture
def client(state: AppState) -> Iterator[TestClient]:
    with TestClient(create_app(state.settings, state=state)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def admin_token(app_state: AppState) -> str:
    return issue_token(app_state, CLIENT_ID)


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    """Headers of the bootstrap System administrator."""
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def example_request() -> dict[str, Any]:
    """Run:ai's own documented create request, verbatim (docs/decisions.md D6)."""
    import json

    path = Path(__file__).resolve().parent / "data" / "runai" / "example-create-request.json"
    return dict(json.loads(path.read_text()))
