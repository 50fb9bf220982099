"""The unit tests exercise the pure domain and what renders or parses without a database, so
`scripts/test` runs them once, in the SQLite run. This keeps that true: a unit test that asks
for the database fails, naming where such a test belongs."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def database_url() -> str | None:
    raise pytest.UsageError(
        "tests/unit runs on no database (scripts/test skips it on PostgreSQL): "
        "a test that needs one belongs in tests/api, tests/storage or tests/lifecycle"
    )
