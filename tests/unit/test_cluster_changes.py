"""`ClusterChanges` coalesces the watch threads' reports: while one thread writes, what the
others report waits and goes into its next write; nothing reported is left unwritten."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.services.cluster_sync import ClusterChanges

NOW = datetime(2026, 12, 5, tzinfo=UTC)


class RecordingStore:
    """A store double: `write` runs the function on a transaction whose `workloads.mark_due`
    records its ids; the first write can be held until the test releases it."""

    def __init__(self, hold_first: bool = False, fail: bool = False) -> None:
        self.writes: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self._hold = hold_first
        self._fail = fail
        self.workloads = self

    def mark_due(self, ids: list[str], now: datetime) -> None:
        assert now == NOW
        self.writes.append(list(ids))

    def write(self, fn: Callable[[Any], Any]) -> Any:
        if self._fail:
            raise RuntimeError("the database is down")
        if self._hold:
            self._hold = False
            self.entered.set()
            self.release.wait(60)
        return fn(self)


def test_reports_made_while_a_write_runs_go_into_its_next_write() -> None:
    store = RecordingStore(hold_first=True)
    woken: list[bool] = []
    changes = ClusterChanges(store, lambda: NOW, lambda: woken.append(True))  # type: ignore[arg-type]

    first = threading.Thread(target=changes, args=(["w1"],))
    first.start()
    assert store.entered.wait(60)
    changes(["w3", "w2"])  # returns at once: the writing thread takes them
    changes(["w2"])
    assert store.writes == []
    store.release.set()
    first.join(60)

    assert store.writes == [["w1"], ["w2", "w3"]]
    assert woken == [True, True]
    changes(["w4"])  # the writer is free again: this thread writes itself
    assert store.writes[-1] == ["w4"]


def test_nothing_to_report_writes_nothing() -> None:
    store = RecordingStore()
    ClusterChanges(store, lambda: NOW, lambda: None)([])  # type: ignore[arg-type]
    assert store.writes == []


def test_a_failed_write_frees_the_next_report_to_write() -> None:
    store = RecordingStore(fail=True)
    changes = ClusterChanges(store, lambda: NOW, lambda: None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        changes(["w1"])
    store._fail = False
    changes(["w2"])
    assert store.writes == [["w1", "w2"]]
