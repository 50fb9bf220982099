"""The console's clients: anonymous, signed in as the admin service account, and as a Viewer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from tests.console.test_console import sign_in
from tests.support.identity import KNOWN_SECRET, VIEWER, store_account
from tests.support.server import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def console(state: AppState) -> TestClient:
    return TestClient(create_app(state.settings, state=state))


@pytest.fixture
def admin_console(console: TestClient) -> TestClient:
    assert sign_in(console, CLIENT_ID, CLIENT_SECRET).status_code == 303
    return console


@pytest.fixture
def viewer_console(state: AppState, console: TestClient) -> TestClient:
    account = store_account(state, ((VIEWER, "tenant", str(state.settings.tenant_id)),))
    assert sign_in(console, account.client_id, KNOWN_SECRET).status_code == 303
    return console
