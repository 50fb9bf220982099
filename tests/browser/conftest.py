"""Browser tests: Playwright drives Debian's Chromium (by its path: Playwright's own browser
download cannot work here) against a real `nimplane serve` on SQLite, whose simulated cluster
is sped up so pods get ready in about a second. Nothing waits by sleeping: Playwright's
`expect` polls up to an explicit timeout."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import ServerProcess

CHROMIUM = os.environ.get("NIMPLANE_TEST_CHROMIUM", "/usr/bin/chromium")
VIEWER_USER = "viewer@example.com"
VIEWER_PASSWORD = "viewer-password-0123456789"
CONFIG = f"""
simulator:
  nodes:
    - count: 4
      namePrefix: sim-node
      gpus: 8
  speed: 20
  imagePullSeconds: 10
  modelLoadSeconds: {{nimCache: 10, pvc: 10, download: 10}}
organisation:
  users:
    - username: {VIEWER_USER}
      password: {VIEWER_PASSWORD}
  accessRules:
    - subjectType: user
      subjectId: {VIEWER_USER}
      roleName: Viewer
      scopeType: tenant
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module (these replace pytest-playwright's session-wide fixtures: its
    Playwright would hold an event loop on the main thread for the rest of the session, and
    later tests that call `asyncio.run` would fail)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root otherwise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280 x 800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("console-server")
    config = data_dir / "nimplane.yaml"
    config.write_text(CONFIG)
    process = ServerProcess(data_dir=data_dir, database_url=None, config_file=config)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test's screenshots go (the pytest tmp dir: kept as the run's artifacts)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
