"""NIM service use cases: create, read, update, stop/resume, delete, list and history, with
permissions and concurrency.

Every write is one transaction and is committed before the caller answers 202. Updates are
optimistic: the write carries the resource version it read and retries on a lost race, so
concurrent PATCHes never overwrite each other silently; with `If-Match` a stale version is a
Conflict instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nimplane.domain.backend import ClusterError, ObservedPod
from nimplane.domain.catalog import DEFAULT_CATEGORIES, NIM_WORKLOAD_TYPE
from nimplane.domain.defaults import apply_defaults
from nimplane.domain.errors import (
    AlreadyExists,
    ComplianceIssue,
    Conflict,
    Invalid,
    NotFound,
    Unavailable,
)
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.history import HistoryRecord, PhaseUpdate
from nimplane.domain.identity import Principal
from nimplane.domain.kubernetes import (
    ClusterSettings,
    KubernetesManifests,
    Manifest,
    WorkloadToRender,
)
from nimplane.domain.patch import merge_spec, resolve_replicas_on_create
from nimplane.domain.phases import Phase, transition
from nimplane.domain.ports import ClusterBackend, ManifestCheck, Store, Transaction
from nimplane.domain.queries import WorkloadQuery
from nimplane.domain.rbac import Action, ResourceType, is_allowed
from nimplane.domain.requests import NimServiceCreateRequest, NimServiceUpdateRequest, wire_issues
from nimplane.domain.validation import (
    ValidationContext,
    drop_nulls,
    validate_name,
    validate_spec,
)
from nimplane.domain.workloads import (
    DesiredPhase,
    Project,
    Workload,
    WorkloadStatus,
    name_with_random_suffix,
)
from nimplane.services.authz import project_scope, require

RESOURCE_TYPE = ResourceType.inferences
INVALID_MESSAGE = "The workload request is invalid; see complianceIssues"
_MAX_UPDATE_ATTEMPTS = 20
_MAX_NAME_ATTEMPTS = 5

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """A workload after a write, with the warnings the write produced."""

    workload: Workload
    warnings: list[str] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    """What a dry run would apply (empty for a real write)."""


class _DryRunDone(Exception):
    """Raised at the end of a dry run's transaction so that it rolls back whole."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome


def _require(principal: Principal, action: Action, project: Project) -> None:
    require(principal, RESOURCE_TYPE, action, project_scope(project), f"project '{project.name}'")


def _parse_id(workload_id: str) -> str:
    """docs/decisions.md D4: an id that is not a UUID is simply not found."""
    try:
        return str(uuid.UUID(workload_id))
    except ValueError as exc:
        raise NotFound(f"Workload {workload_id} not found.") from exc


def _context(tx: Transaction) -> ValidationContext:
    return ValidationContext(
        node_pools=tx.org.node_pool_names(), categories=frozenset(DEFAULT_CATEGORIES)
    )


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    cleaned = drop_nulls(body)
    assert isinstance(cleaned, dict)
    return cleaned


def _load(
    tx: Transaction,
    principal: Principal,
    workload_id: str,
    action: Action,
    *,
    include_deleted: bool = False,
) -> Workload:
    """A live workload (or, with `include_deleted`, a fully deleted one) on which the
    principal may do `action`. One the principal may not read is NotFound, word for word as a
    missing one (no existence oracle); one it may read but not change is Forbidden."""
    workload = tx.workloads.get(_parse_id(workload_id), include_deleted=include_deleted)
    if workload is None or not is_allowed(
        principal, RESOURCE_TYPE, Action.read, project_scope(workload.project)
    ):
        raise NotFound(f"Workload {workload_id} not found.")
    _require(principal, action, workload.project)
    return workload


def _check_version(current: Workload, if_match: int | None) -> None:
    if if_match is not None and if_match != current.resource_version:
        raise Conflict(
            f"The workload changed: If-Match names version {if_match}, "
            f"the current version is {current.resource_version}. Re-read it and retry."
        )


def _section(request: dict[str, Any], name: str) -> dict[str, Any]:
    value = request.get(name)
    return value if isinstance(value, dict) else {}


_FIRST_LOOK_AFTER = timedelta(seconds=30)


class WorkloadService:
    """The NIM service use cases over one store and one clock."""

    def __init__(
        self,
        store: Store,
        backend: ClusterBackend,
        clock: Clock = utc_now,
        on_change: Callable[[], None] = lambda: None,
        first_look_after: timedelta = _FIRST_LOOK_AFTER,
        manifests: ManifestCheck | None = None,
    ) -> None:
        self._store = store
        self._manifests: ManifestCheck = manifests or KubernetesManifests(ClusterSettings())
        """Renders a workload for Kubernetes and says why the operator could not use it: a
        create or PATCH it refuses is a 400 on every backend."""
        self._backend = backend
        self._clock = clock
        self._on_change = on_change
        """Called after every committed change (wakes the scheduler and the lifecycle engine)."""
        self._first_look_after = first_look_after
        """A new workload is the scheduler's first: its answer (a placement or a reason to
        wait) makes the workload due for the lifecycle engine; this long after creation it is
        due whatever happened."""

    def create(self, principal: Principal, body: Any, *, dry_run: bool = False) -> Outcome:
        """Validate a create request whole, check permission, and store the new workload.

        Everything that reads the database (the project, the node pools) happens in the same
        write transaction as the insert, so the checks and the row agree. A `dry_run` goes
        as far as the insert (a taken name is a Conflict too), then rolls the transaction
        back: nothing is stored, and the outcome carries the manifests it would apply.
        """
        request = _object_body(body)
        parsed, wire = wire_issues(NimServiceCreateRequest, request)
        metadata = _section(request, "metadata")
        spec = _section(request, "spec")
        as_prefix = metadata.get("useGivenNameAsPrefix") is True
        project_id = metadata.get("projectId")
        now = self._clock()

        def insert(tx: Transaction) -> Outcome:
            issues = wire + validate_name(metadata.get("name"), as_prefix=as_prefix)
            project = None
            if isinstance(project_id, int | str) and not isinstance(project_id, bool):
                # locked against a concurrent delete of the project until this commits
                project = tx.org.project(str(project_id), for_share=True)
                if project is None:
                    issues.append(
                        ComplianceIssue(
                            "metadata.projectId", f"project {project_id} does not exist"
                        )
                    )
                else:
                    _require(principal, Action.create, project)
            issues += validate_spec(spec, _context(tx))
            if issues or parsed is None or project is None:
                raise Invalid(INVALID_MESSAGE, issues)
            change = resolve_replicas_on_create(spec)
            name = parsed.metadata.name
            workload = Workload(
                id=str(uuid.uuid4()),
                name=name_with_random_suffix(name) if as_prefix else name,
                project=project,
                workload_type=NIM_WORKLOAD_TYPE,
                spec=apply_defaults(change.spec),
                desired_phase=DesiredPhase.Running,
                status=WorkloadStatus(phase=Phase.Creating, phase_updated_at=now),
                resource_version=1,
                generation=1,
                created_at=now,
                created_by=principal.subject,
                updated_at=now,
                updated_by=principal.subject,
            )
            self._check_manifests(workload)
            tx.workloads.insert(workload, now + self._first_look_after)
            tx.history.add([PhaseUpdate(workload.id, now, Phase.Creating)])
            if dry_run:
                rendered = self._manifests.render(WorkloadToRender.of(workload), project)
                raise _DryRunDone(Outcome(workload, change.warnings, rendered))
            return Outcome(workload, change.warnings)

        for attempt in range(_MAX_NAME_ATTEMPTS):
            try:
                created = self._store.write(insert)
                self._on_change()
                return created
            except _DryRunDone as done:
                return done.outcome
            except AlreadyExists:
                if not as_prefix or attempt == _MAX_NAME_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, principal: Principal, workload_id: str) -> Workload:
        """A live workload the principal may read."""
        with self._store.read() as tx:
            return _load(tx, principal, workload_id, Action.read)

    def manifests(self, principal: Principal, workload_id: str) -> list[Manifest]:
        """What is applied on Kubernetes for a live workload the principal may read: rendered
        from its stored spec and desired phase with the configured cluster settings."""
        workload = self.get(principal, workload_id)
        return self._manifests.render(WorkloadToRender.of(workload), workload.project)

    def _check_manifests(self, workload: Workload) -> None:
        """Invalid (400, by API field) unless the workload renders to a `NIMService` the NIM
        Operator accepts."""
        issues = self._manifests.problems(WorkloadToRender.of(workload), workload.project)
        if issues:
            raise Invalid(INVALID_MESSAGE, issues)

    def update(
        self, principal: Principal, workload_id: str, body: Any, if_match: int | None
    ) -> Outcome:
        """docs/decisions.md D2: replace the given spec sections, remove the listed ones, re-check
        every rule."""
        request = _object_body(body)
        parsed, wire = wire_issues(NimServiceUpdateRequest, request)
        given = _section(request, "spec")
        remove = [str(f.value) for f in parsed.fieldsToRemove or []] if parsed else []
        now = self._clock()

        def apply(tx: Transaction) -> Outcome | None:
            current = _load(tx, principal, workload_id, Action.update)
            if wire or parsed is None:
                raise Invalid(INVALID_MESSAGE, wire)
            _check_version(current, if_match)
            if current.desired_phase is DesiredPhase.Deleted:
                raise Conflict(f"Workload {current.id} is being deleted and cannot be updated.")
            change = merge_spec(current.spec, given, remove)
            issues = change.issues + validate_spec(change.spec, _context(tx))
            if issues:
                raise Invalid(INVALID_MESSAGE, issues)
            new_spec = apply_defaults(change.spec)
            if new_spec == current.spec:
                return Outcome(current, change.warnings)
            updated = replace(
                current,
                spec=new_spec,
                generation=current.generation + 1,
                resource_version=current.resource_version + 1,
                updated_at=now,
                updated_by=principal.subject,
            )
            self._check_manifests(updated)
            ok = tx.workloads.update(updated, current.resource_version)
            return Outcome(updated, change.warnings) if ok else None

        return self._retry_lost_races(apply)

    def delete(
        self, principal: Principal, workload_id: str, if_match: int | None = None
    ) -> Workload:
        """docs/decisions.md D8: mark the workload Deleted; it disappears once the backend has torn
        it down: at once when the backend says nothing of it is left, else when the lifecycle
        engine sees it gone.

        The teardown is asked after the mark commits, outside any transaction: a cluster's
        round trips (or its timeout, when it cannot be reached) never hold the database's
        writer or the workload's row."""

        def mark(tx: Transaction) -> Outcome | None:
            now = self._clock()
            current = _load(tx, principal, workload_id, Action.delete)
            _check_version(current, if_match)
            deleted = replace(
                current,
                desired_phase=DesiredPhase.Deleted,
                resource_version=current.resource_version + 1,
                updated_at=now,
                updated_by=principal.subject,
                deleted_at=current.deleted_at or now,
                deleted_by=current.deleted_by or principal.subject,
            )
            if not tx.workloads.update(deleted, current.resource_version):
                return None
            if current.status.phase is not Phase.Deleting:
                # stamped once the row is this transaction's: after any phase the lifecycle
                # engine recorded while it held the row, so the history stays in causal order
                stamp = max(now, self._clock())
                status = current.status.with_phase(
                    transition(current.status.phase_state, Phase.Deleting, stamp)
                )
                tx.workloads.update_status(deleted.id, status)  # unless torn down
                update = PhaseUpdate(deleted.id, stamp, Phase.Deleting, status.phase_message)
                tx.history.add([update])
                deleted = replace(deleted, status=status)
            return Outcome(deleted)

        deleted = self._retry_lost_races(mark).workload
        if deleted.torn_down_at is None:
            return self._tear_down_now(deleted)
        return deleted

    def _tear_down_now(self, deleted: Workload) -> Workload:
        """Ask the backend to tear a deleted workload down; once it says nothing is left, the
        workload is torn down (unless it changed since; the lifecycle engine does the rest)."""
        try:
            gone = self._backend.teardown(deleted)
        except ClusterError:  # unreachable now: the lifecycle engine tears it down later
            return deleted
        if not gone:
            return deleted
        torn = replace(
            deleted, torn_down_at=self._clock(), resource_version=deleted.resource_version + 1
        )
        if self._store.write(lambda tx: tx.workloads.update(torn, deleted.resource_version)):
            return torn
        return deleted

    def set_desired_phase(
        self, principal: Principal, workload_id: str, desired: DesiredPhase
    ) -> Workload:
        """docs/decisions.md D8: stop (desired Stopped) or resume (desired Running) a workload;
        idempotent.

        Only the desired phase changes: the lifecycle engine moves the observed phase.
        A workload being deleted can be neither stopped nor resumed (Conflict).
        """
        if desired is DesiredPhase.Deleted:
            raise ValueError("deleting is `delete`, not a desired phase to set")
        now = self._clock()

        def apply(tx: Transaction) -> Outcome | None:
            current = _load(tx, principal, workload_id, Action.update)
            if current.desired_phase is DesiredPhase.Deleted:
                raise Conflict(f"Workload {current.id} is being deleted.")
            if current.desired_phase is desired:
                return Outcome(current)
            changed = replace(
                current,
                desired_phase=desired,
                resource_version=current.resource_version + 1,
                updated_at=now,
                updated_by=principal.subject,
            )
            ok = tx.workloads.update(changed, current.resource_version)
            return Outcome(changed) if ok else None

        return self._retry_lost_races(apply).workload

    def events(
        self, principal: Principal, workload_id: str, offset: int, limit: int, newest_first: bool
    ) -> tuple[Workload, list[WorkloadEvent], int]:
        """A live workload the principal may read, a page of its events and their count."""
        with self._store.read() as tx:
            workload = _load(tx, principal, workload_id, Action.read)
            events, total = tx.events.page(workload.id, offset, limit, newest_first)
            return workload, events, total

    def history(
        self, principal: Principal, workload_id: str, offset: int, limit: int
    ) -> tuple[Workload, list[HistoryRecord], int]:
        """A page of the history (phase updates and events, oldest first) of a workload the
        principal may read; a deleted one's too, as `GET /api/v1/workloads?deleted=true`
        still lists it."""
        with self._store.read() as tx:
            workload = _load(tx, principal, workload_id, Action.read, include_deleted=True)
            records, total = tx.history.page(workload.id, offset, limit)
            return workload, records, total

    def pods(
        self, principal: Principal, workload_id: str
    ) -> tuple[Workload, tuple[ObservedPod, ...]]:
        """A live workload the principal may read, and its pods as the cluster reports them
        (like Kubernetes' pod status, what was last reported)."""
        with self._store.read() as tx:
            workload = _load(tx, principal, workload_id, Action.read)
        try:
            observed = self._backend.observe([workload.id], self._clock()).get(workload.id)
        except ClusterError as exc:
            message = f"The cluster cannot say what runs for {workload.name}: {exc}"
            raise Unavailable(message) from exc
        return workload, observed.pods if observed is not None else ()

    def count_by_phase(self) -> dict[str, int]:
        """Live workloads per phase (for the metrics endpoint; no permission check)."""
        with self._store.read() as tx:
            return tx.workloads.count_by_phase()

    def _retry_lost_races(self, work: Callable[[Transaction], Outcome | None]) -> Outcome:
        """Run a read-modify-write until its conditional write wins (PostgreSQL replicas race;
        on SQLite the single writer never loses)."""
        for _ in range(_MAX_UPDATE_ATTEMPTS):
            outcome = self._store.write(work)
            if outcome is not None:
                self._on_change()
                return outcome
        raise Conflict("The workload is being changed by others; retry.")

    def list(self, principal: Principal, query: WorkloadQuery) -> tuple[list[Workload], bool]:
        """The page of workloads the principal may read, and whether more follow; the
        database filters, sorts and pages, within the caller's projects (one row past the
        page says whether there is a next one, without counting them all)."""
        with self._store.read() as tx:
            scoped = replace(
                query,
                project_ids=_readable_projects(tx, principal, query),
                limit=query.limit + 1,
            )
            page = tx.workloads.page(scoped)
        return page[: query.limit], len(page) > query.limit

    def count(self, principal: Principal, query: WorkloadQuery) -> int:
        """How many workloads the principal may read match `query`."""
        with self._store.read() as tx:
            scoped = replace(query, project_ids=_readable_projects(tx, principal, query))
            return tx.workloads.count(scoped)


def _readable_projects(
    tx: Transaction, principal: Principal, query: WorkloadQuery
) -> frozenset[str] | None:
    """The projects whose workloads the principal may read (within those the query already
    names), or None for all of them: the same rule as reading one workload (`_load`). A
    caller who may read at every cluster's scope (tenant or cluster rules) reads all."""
    clusters = tx.org.clusters()
    if query.project_ids is None and all(
        is_allowed(principal, RESOURCE_TYPE, Action.read, c.scope) for c in clusters
    ):
        return None
    readable = frozenset(
        p.id
        for p in tx.org.org_projects()
        if is_allowed(principal, RESOURCE_TYPE, Action.read, p.scope)
    )
    return readable if query.project_ids is None else readable & query.project_ids
