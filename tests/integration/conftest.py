"""Fixtures for tests against real `nimplane serve` subprocesses, on the session's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def server_factory(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[ServerFactory]:
    """Start servers on the session's database (SQLite: in `data_dir`); all stopped at the end.

    Pass the same `data_dir` again to restart on the same data (and, on PostgreSQL, the same
    database, which every server of the session shares).
    """
    started: list[ServerProcess] = []

    def start(data_dir: Path | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path_factory.mktemp("server"), database_url)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[ServerProcess]:
    """One server shared by the tests of a module."""
    process = ServerProcess(tmp_path_factory.mktemp("server"), database_url)
    try:
        process.start()
        yield process
    finally:
        process.stop()
