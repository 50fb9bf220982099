"""The adapter's in-memory view of the cluster: one `Informer` per kind (list, then watch from
the list's resource version; a 410 Gone or any failure lists again, so a restart of nimplane
or of the API server loses no change), each in a background thread, calling back with every
object that was added, changed or removed."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from nimplane.backends.kubernetes.client import Gone, Kind, KubeApi, KubeError
from nimplane.domain.backend import ClusterError

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(namespace, name); namespace "" for a cluster-scoped object."""
Obj = dict[str, Any]
OnChange = Callable[[list[tuple[Obj | None, Obj | None]]], None]
"""Called with (old, new) pairs: old None for an added object, new None for a removed one."""

WATCH_SECONDS: Final = 60
MAX_BACKOFF: Final = 30.0


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    """Keeps the objects of one kind (matching a label selector) as the server has them."""

    def __init__(
        self,
        api: KubeApi,
        kind: Kind,
        lock: threading.RLock,
        on_change: OnChange,
        *,
        label_selector: str | None = None,
        keep: Callable[[Obj], bool] | None = None,
        index: Callable[[Obj], str | None] | None = None,
    ) -> None:
        self.api = api
        self.kind = kind
        self.label_selector = label_selector
        self.items: dict[Key, Obj] = {}
        self.resource_version = ""
        self.synced = threading.Event()
        self.lists = 0
        """How many times it listed (a 410 or a failure lists again)."""
        self.last_error: ClusterError | None = None
        self._lock = lock
        self._on_change = on_change
        self._keep = keep
        self._index_of = index
        self._index: dict[str, set[Key]] = {}
        self._response: Any = None

    def indexed(self, value: str) -> list[Obj]:
        """The objects whose index value (see `index`) is `value`."""
        with self._lock:
            return [self.items[k] for k in self._index.get(value, ()) if k in self.items]

    def _reindex(self, key: Key, old: Obj | None, new: Obj | None) -> None:
        if self._index_of is None:
            return
        before = self._index_of(old) if old is not None else None
        after = self._index_of(new) if new is not None else None
        if before is not None and before != after:
            keys = self._index.get(before)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[before]
        if after is not None:
            self._index.setdefault(after, set()).add(key)

    def relist(self) -> None:
        """List every object and replace the cache with them, reporting the differences."""
        items, version = self.api.list(self.kind, label_selector=self.label_selector)
        fresh = {key_of(o): o for o in items if self._keep is None or self._keep(o)}
        with self._lock:
            old = self.items
            changes: list[tuple[Obj | None, Obj | None]] = [
                (old.get(k), o) for k, o in fresh.items() if _version(old.get(k)) != _version(o)
            ]
            changes += [(o, None) for k, o in old.items() if k not in fresh]
            self.items = fresh
            self._index = {}
            for key, obj in fresh.items():
                self._reindex(key, None, obj)
            self.resource_version = version
            self.lists += 1
        self.synced.set()
        if changes:
            self._on_change(changes)

    def watch_once(self, timeout_seconds: int = WATCH_SECONDS) -> None:
        """One watch from the current resource version until the server ends it. Raises
        `Gone` (list again) or `ClusterError`."""
        for event in self.api.watch(
            self.kind,
            self.resource_version,
            label_selector=self.label_selector,
            timeout_seconds=timeout_seconds,
            on_open=self._opened,
        ):
            self.apply_event(event)

    def _opened(self, response: Any) -> None:
        self._response = response

    def apply_event(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "BOOKMARK":
            with self._lock:
                self.resource_version = version or self.resource_version
            return
        key = key_of(obj)
        keep = kind != "DELETED" and (self._keep is None or self._keep(obj))
        with self._lock:
            old = self.items.get(key)
            if keep:
                self.items[key] = obj
            else:
                self.items.pop(key, None)
            self._reindex(key, old, obj if keep else None)
            if version:
                self.resource_version = version
        if keep or old is not None:
            self._on_change([(old, obj if keep else None)])

    def run(self, stop: threading.Event) -> None:
        """List and watch until `stop` is set; back off after failures."""
        backoff = 0.5
        need_list = True
        while not stop.is_set():
            try:
                if need_list:
                    self.relist()
                    need_list = False
                self.watch_once()
                self.last_error = None
                backoff = 0.5
            except Gone:
                log.info("watch of %s: resource version too old, listing again", self.kind.kind)
                need_list = True
            except ClusterError as exc:
                if stop.is_set():
                    return
                self.last_error = exc
                if isinstance(exc, KubeError) and exc.status == 404:
                    self._kind_missing()
                log.warning("%s (retrying in %.1f s)", exc, backoff)
                need_list = True  # whatever happened meanwhile is read back by the list
                stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            except Exception:  # a bug must not end the watch for good
                if stop.is_set():
                    return
                log.exception("watch of %s failed", self.kind.kind)
                need_list = True
                stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def _kind_missing(self) -> None:
        """The kind is not served (its CRD is not installed): there is none of it. The list
        is tried again with back-off, so a CRD installed later is picked up."""
        with self._lock:
            old, self.items = self.items, {}
            self._index = {}
        self.synced.set()
        if old:
            self._on_change([(o, None) for o in old.values()])

    def interrupt(self) -> None:
        """Close the open watch (so `run` notices a stop at once)."""
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # a dead stream may refuse: nothing to do
                response.shutdown()

    def snapshot(self) -> list[Obj]:
        with self._lock:
            return list(self.items.values())


def _version(obj: Obj | None) -> str | None:
    if obj is None:
        return None
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


__all__ = ["Informer", "Key", "Obj", "key_of"]
