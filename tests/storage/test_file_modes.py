"""The SQLite database holds password hashes and the audit log: the data dir is 0700 and the
database, its `-wal` and `-shm` files 0600, whatever the umask, on a first start and on a
start over files left world-readable by an older version."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimplane.settings import Settings
from nimplane.wiring import AppState, build_state
from tests.support.identity import make_department


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _settings(data_dir: Path) -> Settings:
    # SQLite whatever the suite's database: these are SQLite's files
    return Settings(data_dir=data_dir, database_url=None, sqlite_synchronous="NORMAL")


def _start_and_write(data_dir: Path) -> AppState:
    state = build_state(_settings(data_dir))
    make_department(state)  # a write: the -wal and -shm files exist
    return state


def _assert_private(data_dir: Path) -> None:
    db = data_dir / "nimplane.db"
    files = {p.name: _mode(p) for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()}
    assert set(files) == {"nimplane.db", "nimplane.db-wal", "nimplane.db-shm"}
    assert files == dict.fromkeys(files, 0o600)
    assert _mode(data_dir) == 0o700
    # kept as they were: the generated signing key and administrator credentials
    assert _mode(data_dir / "signing.key") == 0o600
    assert _mode(data_dir / "bootstrap-credentials.json") == 0o600


def test_a_first_start_makes_the_data_dir_and_database_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "fresh" / "data"
    state = _start_and_write(data_dir)
    try:
        _assert_private(data_dir)
    finally:
        state.close()


def test_a_start_over_world_readable_files_makes_them_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "data"
    build_state(_settings(data_dir)).close()
    data_dir.chmod(0o755)
    for path in data_dir.iterdir():
        if path.name.startswith("nimplane.db"):
            path.chmod(0o644)
    state = _start_and_write(data_dir)
    try:
        _assert_private(data_dir)
    finally:
        state.close()
