"""`KubernetesCluster`: the `ClusterBackend` on a Kubernetes cluster with the NIM Operator and
KAI-Scheduler. It applies each workload's rendered manifests (a namespace per project, the
model-store PVC, the `NIMService`), observes what runs through watches into an in-memory cache
(NIMServices and PVCs by nimplane's owner label, their pods, KAI PodGroups, Events), records
the cluster's Events into the workload's events, and calls `on_change(workload_ids)` whenever
something about a workload changed, so the lifecycle engine looks at it again. It also keeps
KAI `Queue` objects equal to the departments and projects (`sync_queues`)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from nimplane.backends.kubernetes.cache import Informer, Key, Obj, key_of
from nimplane.backends.kubernetes.client import (
    EVENT,
    NIM_SERVICE,
    NODE,
    POD,
    POD_GROUP,
    PVC,
    QUEUE,
    KubeApi,
    KubeError,
)
from nimplane.domain.backend import ClusterError, DesiredState, Forwarded, Observation
from nimplane.domain.cluster import Node
from nimplane.domain.errors import Invalid, NotFound, Unavailable
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.kubernetes.observe import (
    WorkloadObjects,
    event_time,
    manifests_hash,
    observe,
    pod_group_names,
    with_template_hash,
)
from nimplane.domain.kubernetes.queues import render_queues
from nimplane.domain.kubernetes.render import Manifest, WorkloadToRender, render
from nimplane.domain.kubernetes.settings import ClusterSettings
from nimplane.domain.org import Department, OrgProject
from nimplane.domain.ports import Store
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.workloads import DesiredPhase, Workload

log = logging.getLogger(__name__)

MANAGED_BY_KEY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = f"{MANAGED_BY_KEY}=nimplane"
EVENT_KINDS: Final = frozenset({"Pod", "NIMService", "PodGroup"})
EVENT_SOURCE: Final = "kubernetes"
RESYNC_SECONDS: Final = 600.0
"""After this long, what was applied is applied again even if nothing seems changed."""
DEFAULT_SERVING_PORT: Final = 8000
"""A stored spec always names its port (the API's defaults); this is for one that does not."""
MAX_UNRESOLVED: Final = 5000
EVENT_ID_NAMESPACE: Final = uuid.UUID("2f1d7c0e-8a4b-4f57-9a51-6c1b0b6e4a10")


@dataclass
class _Applied:
    digest: str
    generation: int
    at: float


class KubernetesCluster:
    """The Kubernetes backend. `start()` runs the watches; the rest is called by the
    lifecycle engine (`sync`, `observe`, `teardown`) and the queue sync (`sync_queues`)."""

    def __init__(
        self,
        api: KubeApi,
        settings: ClusterSettings,
        *,
        store: Store | None = None,
        on_change: Callable[[Iterable[str]], None] | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.settings = settings
        self._store = store
        self._on_change = on_change
        self._resync = resync_seconds
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._applied: dict[str, _Applied] = {}
        self._namespaces: set[str] = set()
        self._nodes: tuple[Node, ...] = ()
        self._seen_events: set[str] = set()
        self._loaded_events: set[str] = set()
        self._unresolved: dict[Key, Obj] = {}
        """Events about an object the cache does not hold yet (by the Event's key)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workload_label = f"{settings.owner_label_prefix}/workload-id"

        def owner(obj: Obj) -> str | None:
            return _label(obj, self._workload_label)

        def about(event: Obj) -> str | None:
            return "/".join(_involved(event))

        self.nim_services = Informer(
            api,
            NIM_SERVICE,
            self._lock,
            self._owned_changed,
            label_selector=MANAGED_BY,
            index=owner,
        )
        self.pvcs = Informer(
            api, PVC, self._lock, self._owned_changed, label_selector=MANAGED_BY, index=owner
        )
        self.pods = Informer(
            api,
            POD,
            self._lock,
            self._owned_changed,
            label_selector=self._workload_label,
            index=owner,
        )
        self.pod_groups = Informer(api, POD_GROUP, self._lock, self._pod_groups_changed)
        self.events = Informer(
            api,
            EVENT,
            self._lock,
            self._events_changed,
            keep=lambda e: (e.get("involvedObject") or {}).get("kind") in EVENT_KINDS,
            index=about,
        )
        self.informers = (self.nim_services, self.pvcs, self.pods, self.pod_groups, self.events)
        self._required = (self.nim_services, self.pvcs, self.pods)

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the watches, each in a daemon thread."""
        self._stop.clear()
        for informer in self.informers:
            thread = threading.Thread(
                target=informer.run,
                args=(self._stop,),
                name=f"kube-watch-{informer.kind.plural}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for informer in self.informers:
            informer.interrupt()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Whether the workloads' objects have been listed once (within `timeout`)."""
        return all(i.synced.wait(timeout) for i in self._required)

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self._required)

    # --- ClusterBackend --------------------------------------------------------------------

    def nodes(self) -> tuple[Node, ...]:
        """The cluster's nodes (the last ones read when the server does not answer)."""
        try:
            items, _ = self.api.list(NODE)
        except ClusterError as exc:
            log.warning("%s", exc)
            return self._nodes
        self._nodes = tuple(_node(n) for n in items)
        return self._nodes

    def metrics(self, workload_ids: Iterable[str]) -> dict[str, Any]:
        """None on Kubernetes: an HPA the NIM Operator makes scales autoscaled services."""
        return {}

    def sync(
        self, desired: Sequence[DesiredState], now: datetime
    ) -> dict[str, Observation | ClusterError]:
        """Converge each workload towards its desired state: apply what changed (or what
        another manager changed back), delete what should be gone; report what runs."""
        out: dict[str, Observation | ClusterError] = {}
        if not self.synced:  # an empty cache would look like nothing runs, or all is gone
            waiting = ClusterError("the cluster has not been listed yet", retryable=True)
            return {state.workload.id: waiting for state in desired}
        for state in desired:
            workload = state.workload
            try:
                if _deleted(workload):
                    gone = self.teardown(workload)  # asks the server: the cache may lag
                    seen = self._observe_one(workload.id)
                    out[workload.id] = seen if gone or seen.present else replace(seen, present=True)
                    continue
                self._apply(state)
            except ClusterError as exc:
                out[workload.id] = exc
                continue
            out[workload.id] = self._observe_one(workload.id)
        return out

    def observe(self, workload_ids: Iterable[str], now: datetime) -> dict[str, Observation]:
        """What the cache holds about each workload; changes nothing. Raises a retryable
        `ClusterError` until the first list has been read (nothing would look like gone)."""
        if not self.synced:
            raise ClusterError("the cluster has not been listed yet", retryable=True)
        return {wid: self._observe_one(wid) for wid in workload_ids}

    def logs(
        self, workload: Workload, pod_name: str, *, tail: int | None, container: str
    ) -> list[str]:
        """A container's log in one of the workload's pods, read by the API server from the
        pod's kubelet (`KubeApi.pod_log`)."""
        if pod_name not in {pod.name for pod in self._observe_one(workload.id).pods}:
            raise NotFound(f"Workload {workload.name} has no pod {pod_name}.")
        namespace = self.settings.namespace_of(workload.project)
        return self.api.pod_log(namespace, pod_name, tail=tail, container=container)

    def forward(
        self,
        workload: Workload,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Forwarded:
        """Through the API server's service proxy to the Service the NIM Operator names after
        the NIMService, on its serving port, once a pod of the workload is ready."""
        route = path.partition("?")[0]
        if any(part in {".", ".."} for part in route.split("/")):
            raise Invalid(f"path {route}: '.' and '..' segments are not forwarded")
        if not any(pod.ready for pod in self._observe_one(workload.id).pods):
            raise Unavailable(
                f"Workload {workload.name} has no ready pod to serve the request yet."
            )
        port = int((workload.spec.get("servingPort") or {}).get("port", DEFAULT_SERVING_PORT))
        status, answer_headers, answer = self.api.service_proxy(
            self.settings.namespace_of(workload.project),
            workload.name,
            port,
            method,
            path,
            body,
            dict(headers),
        )
        return Forwarded(status, answer_headers, answer)

    def teardown(self, workload: Workload) -> bool:
        """Delete the workload's objects (foreground: the operator's children first); True
        once the API server has none of them and no pod of it is left."""
        self._delete(workload)
        namespace = self.settings.namespace_of(workload.project)
        if self.api.get(NIM_SERVICE, namespace, workload.name) is not None:
            return False
        for manifest in self._manifests_of(workload, running=False):
            name = manifest["metadata"]["name"]
            if manifest["kind"] == "PersistentVolumeClaim" and self.api.get(PVC, namespace, name):
                return False
        pods, _ = self.api.list(POD, label_selector=f"{self._workload_label}={workload.id}")
        if pods:
            return False
        with self._lock:
            self._applied.pop(workload.id, None)
        return True

    # --- queues ----------------------------------------------------------------------------

    def sync_queues(self, departments: Sequence[Department], projects: Sequence[OrgProject]) -> int:
        """Make the KAI Queues equal to the organisation: apply each (the server writes
        nothing for an unchanged one) and delete nimplane's queues of removed units. Returns
        how many queues were deleted."""
        queues = render_queues(departments, projects, self.settings)
        for queue in queues:
            self.api.apply(queue)
        wanted = {q["metadata"]["name"] for q in queues}
        existing, _ = self.api.list(QUEUE, label_selector=MANAGED_BY)
        deleted = 0
        for queue in existing:
            name = queue["metadata"]["name"]
            if name not in wanted and self.api.delete(QUEUE, None, name, foreground=False):
                deleted += 1
        return deleted

    # --- applying --------------------------------------------------------------------------

    def _manifests_of(self, workload: Workload, *, running: bool) -> list[Manifest]:
        phase = DesiredPhase.Running if running else DesiredPhase.Stopped
        to_render = WorkloadToRender(
            id=workload.id,
            name=workload.name,
            spec=NimServiceSpec.model_validate(workload.spec),
            desired_phase=phase,
        )
        manifests = render(to_render, workload.project, self.settings)
        return with_template_hash(manifests, self.settings.owner_label_prefix)

    def _apply(self, state: DesiredState) -> None:
        workload = state.workload
        manifests = self._manifests_of(workload, running=state.running)
        digest = manifests_hash(manifests)
        if self._up_to_date(workload, digest):
            return
        namespace = self.settings.namespace_of(workload.project)
        self._ensure_namespace(namespace)
        generation = 0
        for manifest in manifests:
            applied = self.api.apply(manifest)
            if manifest["kind"] == "NIMService":
                generation = int((applied.get("metadata") or {}).get("generation") or 0)
        with self._lock:
            self._applied[workload.id] = _Applied(digest, generation, self._monotonic())

    def _up_to_date(self, workload: Workload, digest: str) -> bool:
        """What was applied last is what is wanted and the cluster still has it as applied:
        the NIMService is there, not changed by anyone since (its generation), labelled
        ours; and no periodic resync is due."""
        with self._lock:
            applied = self._applied.get(workload.id)
            if applied is None or applied.digest != digest:
                return False
            if self._monotonic() - applied.at >= self._resync:
                return False
            key = (self.settings.namespace_of(workload.project), workload.name)
            cached = self.nim_services.items.get(key)
        if cached is None:
            return False  # deleted by someone, or the cache has not seen it yet: apply
        meta = cached.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return False
        if (meta.get("labels") or {}).get(self._workload_label) != workload.id:
            return False
        # a generation above ours: someone else changed the spec; below: the cache lags
        return int(meta.get("generation") or 0) <= applied.generation

    def _ensure_namespace(self, namespace: str) -> None:
        with self._lock:
            if namespace in self._namespaces:
                return
        self.api.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {MANAGED_BY_KEY: "nimplane"}},
            }
        )
        with self._lock:
            self._namespaces.add(namespace)

    def _delete(self, workload: Workload) -> None:
        """Ask for the deletion of the NIMService and the PVC nimplane made for it, unless
        the cache shows them already being deleted."""
        namespace = self.settings.namespace_of(workload.project)
        targets: list[tuple[Any, str]] = [(NIM_SERVICE, workload.name)]
        for manifest in self._manifests_of(workload, running=False):
            if manifest["kind"] == "PersistentVolumeClaim":
                targets.append((PVC, manifest["metadata"]["name"]))
        for kind, name in targets:
            informer = self.nim_services if kind is NIM_SERVICE else self.pvcs
            with self._lock:
                cached = informer.items.get((namespace, name))
            if cached is not None and (cached.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if cached is None and informer.synced.is_set() and kind is PVC:
                continue
            self.api.delete(kind, namespace, name)
        with self._lock:
            self._applied.pop(workload.id, None)

    # --- observing -------------------------------------------------------------------------

    def objects_of(self, workload_id: str) -> WorkloadObjects:
        """Everything the cache holds about one workload (through the informers' indexes:
        by the workload-id label, and Events by the object they are about)."""
        with self._lock:
            nims = self.nim_services.indexed(workload_id)
            pods = tuple(self.pods.indexed(workload_id))
            pvcs = self.pvcs.indexed(workload_id)
            groups = self.pod_groups.items
            pod_groups = tuple(groups[k] for k in sorted(pod_group_names(pods)) if k in groups)
            about = [f"{key_of(p)[0]}/Pod/{key_of(p)[1]}" for p in pods]
            about += [f"{key_of(n)[0]}/NIMService/{key_of(n)[1]}" for n in nims]
            events = tuple(e for a in about for e in self.events.indexed(a))
        return WorkloadObjects(
            nim_service=nims[0] if nims else None,
            pods=pods,
            pod_groups=pod_groups,
            events=events,
            others=len(pvcs),
        )

    def _observe_one(self, workload_id: str) -> Observation:
        return observe(self.objects_of(workload_id), self.settings.owner_label_prefix)

    # --- watch callbacks (in the watch threads) ------------------------------------------

    def _notify(self, workload_ids: set[str]) -> None:
        if workload_ids and self._on_change is not None:
            try:
                self._on_change(sorted(workload_ids))
            except Exception:
                log.exception("on_change failed")

    def _owned_changed(self, changes: list[tuple[Obj | None, Obj | None]]) -> None:
        ids = {
            wid
            for pair in changes
            for obj in pair
            if obj is not None and (wid := _label(obj, self._workload_label))
        }
        self._notify(ids)
        added = {key_of(new) for old, new in changes if old is None and new is not None}
        with self._lock:
            waiting = [e for k, e in self._unresolved.items() if _involved(e)[::2] in added]
        if waiting:  # Events listed before the pod or service they are about
            self._events_changed([(None, e) for e in waiting])

    def _pod_groups_changed(self, changes: list[tuple[Obj | None, Obj | None]]) -> None:
        keys = {key_of(o) for pair in changes for o in pair if o is not None}
        with self._lock:
            ids = {
                wid
                for pod in self.pods.items.values()
                if (wid := _label(pod, self._workload_label)) and pod_group_names([pod]) & keys
            }
        self._notify(ids)

    def _events_changed(self, changes: list[tuple[Obj | None, Obj | None]]) -> None:
        fresh: list[WorkloadEvent] = []
        ids: set[str] = set()
        for _, event in changes:
            if event is None:
                continue
            wid = self._workload_of_event(event)
            with self._lock:
                if wid is None:
                    self._unresolved[key_of(event)] = event
                    while len(self._unresolved) > MAX_UNRESOLVED:
                        del self._unresolved[next(iter(self._unresolved))]
                    continue
                self._unresolved.pop(key_of(event), None)
            ids.add(wid)
            recorded = _workload_event(wid, event)
            if recorded is not None and recorded.id not in self._seen_events:
                fresh.append(recorded)
        if fresh:
            self._record(fresh)
        self._notify(ids)

    def _workload_of_event(self, event: Obj) -> str | None:
        namespace, kind, name = _involved(event)
        with self._lock:
            if kind == "Pod":
                obj = self.pods.items.get((namespace, name))
            elif kind == "NIMService":
                obj = self.nim_services.items.get((namespace, name))
            else:
                pods = [
                    p for p in self.pods.items.values() if (namespace, name) in pod_group_names([p])
                ]
                obj = pods[0] if pods else None
        return _label(obj, self._workload_label) if obj is not None else None

    def recorded(self, event_id: str) -> bool:
        """Whether this process has recorded (or found recorded) an event id."""
        return event_id in self._seen_events

    def _record(self, events: list[WorkloadEvent]) -> None:
        """Write the cluster's events into the workloads' events, each (Event uid, count)
        once, also across restarts (its id is derived from them)."""
        if self._store is None:
            self._seen_events.update(e.id for e in events)
            return
        unloaded = {e.workload_id for e in events} - self._loaded_events

        def work(tx: Any) -> list[WorkloadEvent]:
            known: set[str] = set()
            for wid in unloaded:
                page, _ = tx.events.page(wid, 0, 1000, True)
                known |= {e.id for e in page if e.source == EVENT_SOURCE}
            new = [e for e in events if e.id not in known]
            tx.events.add(new)
            return new

        try:
            self._store.write(work)
        except Exception:
            log.exception("recording %d cluster events failed", len(events))
            return
        self._loaded_events |= unloaded
        self._seen_events.update(e.id for e in events)


def _deleted(workload: Workload) -> bool:
    return workload.deleted_at is not None or workload.desired_phase == DesiredPhase.Deleted


def _label(obj: Obj, key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
    return str(value) if value else None


def _involved(event: Obj) -> tuple[str, str, str]:
    involved = event.get("involvedObject") or {}
    namespace = involved.get("namespace") or (event.get("metadata") or {}).get("namespace")
    return str(namespace or ""), str(involved.get("kind") or ""), str(involved.get("name") or "")


def _workload_event(workload_id: str, event: Obj) -> WorkloadEvent | None:
    meta = event.get("metadata") or {}
    uid = meta.get("uid")
    when = event_time(event)
    if not uid or when is None:
        return None
    count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
    source = event.get("source") or {}
    return WorkloadEvent(
        id=str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{uid}/{count}")),
        workload_id=workload_id,
        timestamp=when,
        type="Warning" if event.get("type") == "Warning" else "Normal",
        reason=str(event.get("reason") or "Unknown"),
        message=str(event.get("message") or ""),
        source=EVENT_SOURCE,
        involved_object=_involved(event)[2] or source.get("component"),
    )


def _node(raw: Obj) -> Node:
    meta = raw.get("metadata") or {}
    status = raw.get("status") or {}
    allocatable = status.get("allocatable") or {}
    labels = meta.get("labels") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return Node(
        name=str(meta.get("name")),
        gpu_count=int(float(allocatable.get("nvidia.com/gpu") or 0)),
        gpu_memory_mib=int(labels.get("nvidia.com/gpu.memory") or 0),
        gpu_product=str(labels.get("nvidia.com/gpu.product") or ""),
        cpu_millicores=_millicores(str(allocatable.get("cpu") or "0")),
        memory_mib=_mib(str(allocatable.get("memory") or "0")),
        labels=dict(labels),
        ready=ready and not (raw.get("spec") or {}).get("unschedulable"),
    )


def _millicores(value: str) -> int:
    if value.endswith("m"):
        return int(float(value[:-1]))
    return int(float(value) * 1000)


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _mib(value: str) -> int:
    for suffix, factor in {**_BINARY, **_DECIMAL}.items():
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * factor / 2**20)
    try:
        return int(float(value) / 2**20)
    except ValueError:
        return 0


__all__ = ["KubeError", "KubernetesCluster"]
