"""Races driven by hand on PostgreSQL: a store whose writes are held open after their work
until released, calls run in threads, and a wait for a connection that waits for a lock
(`pg_stat_activity`). No timing is involved: each step waits for a state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from nimplane.api.state import AppState
from nimplane.domain.identity import AccessRule, Principal
from nimplane.domain.ports import Store, Transaction

T = TypeVar("T")
DEADLINE = 60.0
"""Seconds before a step that never comes fails the test (a hang guard, not a timing)."""


class HeldStore:
    """The app's store, each write of which is held open after its work, until released."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.worked = threading.Event()
        self.release = threading.Event()

    def read(self) -> AbstractContextManager[Transaction]:
        return self._inner.read()

    def ping(self) -> None:
        self._inner.ping()

    def write(self, work: Callable[[Transaction], T]) -> T:
        def held(tx: Transaction) -> T:
            result = work(tx)
            self.worked.set()
            assert self.release.wait(DEADLINE), "never released"
            return result

        return self._inner.write(held)


class Outcome:
    """What a call run in a thread returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.value = call()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def join(self) -> Outcome:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "never finished"
        return self


def wait_until_a_backend_waits_for_a_lock(state: AppState) -> None:
    """Return once some connection of this database is waiting for a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with state.engine.connect() as conn:
        for _ in range(1_000_000):
            if conn.execute(query).scalar_one():
                return
            conn.rollback()
    raise AssertionError("no transaction ever waited for the lock")


@pytest.fixture(name="pg")
def pg_fixture(state: AppState) -> AppState:
    """The session's state, on PostgreSQL only (row locks; SQLite serialises every write)."""
    if state.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises every write")
    return state


def tenant_admin(state: AppState) -> Principal:
    """A System administrator of the tenant, as a service account `racer`."""
    tenant = str(state.settings.tenant_id)
    rule = AccessRule("r", "service-account", "racer", "System administrator", "tenant", tenant)
    return Principal("racer", "service-account", (rule,))
