"""The interfaces the services need from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from nimplane.domain.access import Scope
from nimplane.domain.audit import AuditEntry
from nimplane.domain.backend import ClusterError, DesiredState, Forwarded, Observation
from nimplane.domain.cluster import Node
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.history import HistoryRecord, PhaseUpdate
from nimplane.domain.identity import AccessRule, RefreshRecord, ServiceAccount, User
from nimplane.domain.kubernetes import Manifest, WorkloadToRender
from nimplane.domain.org import Cluster, Department, NodePool, OrgProject
from nimplane.domain.queries import WorkloadQuery
from nimplane.domain.workloads import (
    Project,
    SchedulingRecord,
    StoredPlacement,
    StoredSpec,
    Workload,
    WorkloadStatus,
)

T = TypeVar("T")


class WorkloadRepo(Protocol):
    def get(self, workload_id: str, *, include_deleted: bool = False) -> Workload | None:
        """A workload that is not fully deleted (torn down), or None; with `include_deleted`,
        a fully deleted one too (as long as its record is kept)."""

    def insert(self, workload: Workload, due_at: datetime) -> None:
        """Store a new workload, due for the lifecycle engine at `due_at`; raises
        AlreadyExists when its name is taken in its project."""

    def update(self, workload: Workload, expected_version: int) -> bool:
        """Write metadata, desired phase and spec if the stored resource version still is
        `expected_version` (status columns are left alone)."""

    def update_status(self, workload_id: str, status: WorkloadStatus) -> bool:
        """Write a live workload's observed status (phase, conditions, times): never its spec,
        placement or pending messages; False if it is gone."""

    def set_placements(
        self,
        placements: Sequence[tuple[str, dict[str, Any] | None, tuple[dict[str, Any], ...]]],
        now: datetime,
    ) -> None:
        """Write live workloads' placements and pending scheduling messages (the scheduler's
        columns, and only those), as (id, placement, pending messages), and make each due
        for the lifecycle engine; a workload that is gone is skipped."""

    def claim_due(
        self, owner: str, now: datetime, until: datetime, limit: int
    ) -> list[tuple[str, int]]:
        """Lease up to `limit` live workloads due for reconciling and not leased by anyone
        else (a lease past `until` may be taken over); their ids and change counters."""

    def holds_lease(self, workload_id: str, owner: str, now: datetime) -> bool:
        """Whether `owner` still holds the workload's lease."""

    def leased(self, workload_ids: Iterable[str], owner: str, now: datetime) -> list[Workload]:
        """Those of the workloads that are live and whose lease `owner` still holds at `now`,
        in id order: what `get` returns for each one `holds_lease`, in one read."""

    def settle(
        self,
        workload_id: str,
        owner: str,
        seen_seq: int,
        now: datetime,
        status: WorkloadStatus,
        due_at: datetime | None,
    ) -> bool:
        """A reconcile's outcome: write the status it decided and give the lease back, due
        again at `due_at` (None: torn down, gone for good); only if `owner` still holds the
        lease at `now` and nothing changed the workload since it was read at `seen_seq`.
        False, and nothing written, otherwise."""

    def settle_many(
        self,
        owner: str,
        now: datetime,
        outcomes: Sequence[tuple[str, int, WorkloadStatus, datetime | None]],
    ) -> set[str]:
        """`settle` for a batch of (id, seen change counter, status, due at), in one write:
        the ids settled; the others are left exactly as they were."""

    def release_lease(
        self,
        workload_id: str,
        owner: str,
        seen_seq: int,
        due_at: datetime,
        failures: int,
        now: datetime,
    ) -> None:
        """Give the lease back, due again at `due_at`, or at `now` if it changed meanwhile."""

    def failures(self, workload_id: str) -> int: ...

    def mark_due(self, workload_ids: Iterable[str], now: datetime) -> None:
        """Something about these workloads changed outside them (a node failed...)."""

    def scheduling_records(self) -> list[SchedulingRecord]:
        """Every live workload, as the scheduler reads it, oldest first."""

    def specs(self, workload_ids: Iterable[str]) -> dict[str, StoredSpec]:
        """The spec of each of these workloads that is still live."""

    def lock_undeleted(self, workload_ids: Iterable[str]) -> set[str]:
        """Which of these workloads are live and not deleted, their rows share-locked until
        the transaction ends (in id order; SQLite's single writer needs no lock): a delete
        waits for a transaction that creates pods for them, and one that locks after a delete
        sees it."""

    def placements(self, workload_ids: Iterable[str]) -> dict[str, StoredPlacement]:
        """The placement of each of these workloads that is still live."""

    def page(self, query: WorkloadQuery) -> list[Workload]:
        """One page of the workloads `query` selects, in its order (filtered, sorted and
        paged by the database, in the caller's project scope)."""

    def count(self, query: WorkloadQuery) -> int:
        """How many workloads `query` selects, paging aside."""

    def list(self, *, deleted: bool, project_ids: frozenset[str] | None) -> list[Workload]:
        """Live workloads (or, with `deleted`, fully deleted ones) of the given projects."""

    def count_live_in_project(self, project_id: str) -> int: ...

    def count_by_phase(self) -> dict[str, int]:
        """Live workloads per phase name."""


class OrgRepo(Protocol):
    def project(self, project_id: str, *, for_share: bool = False) -> Project | None:
        """A project as a workload sees it; `for_share` locks its row against deletion until
        the transaction ends (PostgreSQL; SQLite has one writer anyway)."""

    def node_pool_names(self) -> frozenset[str]: ...

    def ensure_tenant(self, tenant_id: int, name: str) -> None: ...

    def ensure_cluster(self, tenant_id: int, name: str, now: datetime) -> str:
        """The id of the tenant's cluster with this name, created when missing."""

    def ensure_department(self, cluster_id: str, name: str, now: datetime) -> str: ...

    def ensure_project(
        self, cluster_id: str, department_id: str, name: str, namespace: str, now: datetime
    ) -> str: ...

    def ensure_node_pool(self, cluster_id: str, name: str, now: datetime) -> str: ...

    def lock_seeding(self) -> None:
        """Hold, until the transaction ends, the lock that serialises the config file's
        seeding across replicas (so that two starting at once do not both create an object)."""

    # clusters (read-only through the API)
    def clusters(self) -> list[Cluster]: ...

    def cluster(self, cluster_id: str) -> Cluster | None: ...

    # node pools
    def node_pools(self) -> list[NodePool]:
        """Every node pool, in id order."""

    def node_pool(self, pool_id: str) -> NodePool | None: ...

    def insert_node_pool(self, pool: NodePool) -> str:
        """Store a new pool (its `id` is not used) and return its id; AlreadyExists when its
        name is taken in its cluster."""

    def update_node_pool(self, pool: NodePool) -> None:
        """Write the pool's label, settings and `updated_at`/`updated_by`."""

    def delete_node_pool(self, pool_id: str) -> None: ...

    # departments
    def departments(self) -> list[Department]:
        """Every department, in id order."""

    def department(self, department_id: str, *, for_update: bool = False) -> Department | None:
        """A department; `for_update` locks it until the transaction ends, so that changes
        to the quotas of a department and of its projects queue behind each other."""

    def insert_department(self, department: Department) -> str:
        """Store a new department (its `id` is not used) and return its id; AlreadyExists
        when its name is taken in its cluster."""

    def update_department(self, department: Department) -> None:
        """Write the department's updatable fields and `updated_at`/`updated_by`."""

    def delete_department(self, department_id: str) -> None: ...

    # projects (as the organisation API shows them; `project()` is the workloads' view)
    def org_projects(self, department_id: str | None = None) -> list[OrgProject]:
        """Every project (of one department), in id order."""

    def org_project(self, project_id: str, *, for_update: bool = False) -> OrgProject | None:
        """A project; `for_update` locks its row until the transaction ends (a delete, so
        that no workload is created in it meanwhile)."""

    def insert_project(self, project: OrgProject) -> str:
        """Store a new project (its `id` is not used) and return its id; AlreadyExists when
        its name or namespace is taken in its cluster."""

    def update_project(self, project: OrgProject) -> None:
        """Write the project's updatable fields and `updated_at`/`updated_by`."""

    def delete_project(self, project_id: str) -> None:
        """Remove the project with the records of its fully deleted workloads (the caller
        has checked that it holds no live one)."""


class IdentityRepo(Protocol):
    # service accounts (a service account's client id is the subject of its tokens and rules)
    def service_account_by_client_id(self, client_id: str) -> ServiceAccount | None: ...

    def service_account(self, account_id: str) -> ServiceAccount | None: ...

    def service_account_by_name(self, name: str) -> ServiceAccount | None: ...

    def service_accounts(self) -> list[ServiceAccount]: ...

    def insert_service_account(
        self, name: str, client_id: str, secret_hash: str, now: datetime, by: str
    ) -> ServiceAccount:
        """Store a new, enabled account; raises AlreadyExists when the client id is taken."""

    def update_service_account(
        self,
        account_id: str,
        *,
        now: datetime,
        by: str,
        name: str | None = None,
        enabled: bool | None = None,
        secret_hash: str | None = None,
        revoke_tokens: bool = False,
    ) -> None:
        """Change the given fields (None: unchanged); `revoke_tokens` bumps the account's
        token epoch, which ends every token issued before."""

    def delete_service_account(self, account_id: str) -> None: ...

    def upsert_service_account(
        self, name: str, client_id: str, secret_hash: str, now: datetime, by: str
    ) -> ServiceAccount:
        """Create the account, or give it this secret (a changed secret bumps its epoch)."""

    # local users (a user's username is the subject of its tokens and rules)
    def user(self, user_id: str) -> User | None: ...

    def user_by_username(self, username: str) -> User | None: ...

    def users(self) -> list[User]: ...

    def insert_user(self, username: str, password_hash: str, now: datetime, by: str) -> User:
        """Store a new, enabled user; raises AlreadyExists when the username is taken."""

    def update_user(
        self,
        user_id: str,
        *,
        now: datetime,
        by: str,
        password_hash: str | None = None,
        enabled: bool | None = None,
        expected_password_hash: str | None = None,
        revoke_tokens: bool = False,
    ) -> bool:
        """Change the given fields; with `expected_password_hash`, only if the stored hash
        still is that one; `revoke_tokens` bumps the token epoch. Whether a row was written."""

    def delete_user(self, user_id: str) -> None: ...

    def lock_subject(self, subject_type: str, subject_id: str) -> bool:
        """Whether the service account or user exists; it cannot be deleted until this
        transaction ends."""

    # access rules
    def access_rules_for(self, subject_type: str, subject_id: str) -> list[AccessRule]: ...

    def access_rules(self) -> list[AccessRule]: ...

    def access_rule(self, rule_id: str) -> AccessRule | None: ...

    def insert_access_rule(
        self,
        subject_type: str,
        subject_id: str,
        role_name: str,
        scope_type: str,
        scope_id: str,
        now: datetime,
        by: str,
    ) -> AccessRule: ...

    def delete_access_rule(self, rule_id: str) -> None: ...

    def delete_access_rules_of(self, subject_type: str, subject_id: str) -> int:
        """Remove every rule of a subject (its account is being deleted); how many."""

    def delete_access_rules_in_scope(self, scope_type: str, scope_id: str) -> list[str]:
        """Remove every rule on a scope that is being deleted; the subject ids that had one
        (to `Authenticator.forget` after the commit)."""

    def ensure_access_rule(
        self,
        subject_type: str,
        subject_id: str,
        role_name: str,
        scope_type: str,
        scope_id: str,
        now: datetime,
        by: str,
    ) -> None: ...

    def scopes(self) -> list[Scope]:
        """Every tenant, cluster, department and project, as scopes access rules may name."""


class TokenRepo(Protocol):
    """Sign-ins (token families) and the refresh tokens rotated from them."""

    def start_family(
        self, family_id: str, subject_type: str, account_uid: str, token_id: str, now: datetime
    ) -> None:
        """Record a sign-in and its first refresh token."""

    def refresh_token(self, token_id: str) -> RefreshRecord | None:
        """The refresh token and its family, locked until the transaction ends (PostgreSQL)."""

    def use_refresh_token(self, token_id: str, now: datetime) -> bool:
        """Mark the token exchanged; False when it already was (a concurrent exchange)."""

    def add_refresh_token(self, token_id: str, family_id: str, now: datetime) -> None: ...

    def revoke_family(self, family_id: str, now: datetime) -> None: ...

    def family_revoked(self, family_id: str) -> bool:
        """Whether the family was revoked (or is gone: pruned, or never existed)."""

    def prune_families(self, started_before: datetime) -> int:
        """Remove the families (and their refresh tokens) started before; how many."""


class EventRepo(Protocol):
    def add(self, events: list[WorkloadEvent]) -> None: ...

    def page(
        self, workload_id: str, offset: int, limit: int, newest_first: bool
    ) -> tuple[list[WorkloadEvent], int]:
        """One page of a workload's events, and how many it has in all."""


class PhaseHistoryRepo(Protocol):
    def add(self, updates: list[PhaseUpdate]) -> None: ...

    def page(self, workload_id: str, offset: int, limit: int) -> tuple[list[HistoryRecord], int]:
        """One page of a workload's phase updates and events merged oldest first (at the same
        instant a phase update comes before an event), and how many records it has in all."""


class AuditRepo(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def page(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        """Entries newest first, and how many there are in all."""


class Transaction(Protocol):
    """One database transaction with the repositories bound to it."""

    @property
    def workloads(self) -> WorkloadRepo: ...

    @property
    def org(self) -> OrgRepo: ...

    @property
    def identity(self) -> IdentityRepo: ...

    @property
    def audit(self) -> AuditRepo: ...

    @property
    def tokens(self) -> TokenRepo: ...

    @property
    def events(self) -> EventRepo: ...

    @property
    def history(self) -> PhaseHistoryRepo: ...


class Store(Protocol):
    """Transactions: `read()` to look, `write(work)` to change."""

    def read(self) -> AbstractContextManager[Transaction]: ...

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in a write transaction and return its result once it is committed.

        If `work` raises, nothing it wrote is kept and the error propagates to the caller.
        """

    def ping(self) -> None:
        """Raise Unavailable when the database cannot be reached."""

    def close(self) -> None:
        """Release the database connections (when the server stops)."""


class ClusterBackend(Protocol):
    """Where workloads actually run: the simulated cluster or Kubernetes (the values it
    exchanges with the lifecycle engine are in `domain.backend`)."""

    def nodes(self) -> tuple[Node, ...]:
        """The nodes the cluster has now."""

    def sync(
        self, desired: Sequence[DesiredState], now: datetime
    ) -> dict[str, Observation | ClusterError]:
        """Converge each workload towards its desired state and say what runs for it now
        (by workload id), or why the cluster refused. Idempotent: the same desired state
        again changes nothing. The backend records its pods' events itself."""

    def observe(self, workload_ids: Sequence[str], now: datetime) -> dict[str, Observation]:
        """What runs for each workload, changing nothing."""

    def teardown(self, workload: Workload) -> bool:
        """Start removing everything of a deleted workload; True when nothing is left (it is
        gone at once), else the lifecycle engine waits until nothing is `present`."""

    def metrics(self, workload_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        """The autoscaler's readings (metric, value) by workload id; {} where the cluster
        scales by itself (the NIM Operator's HPA on Kubernetes)."""

    def logs(
        self, workload: Workload, pod_name: str, *, tail: int | None, container: str
    ) -> list[str]:
        """The last `tail` lines (None: all) of one container's log in one of the workload's
        pods, oldest first, each with its timestamp. NotFound for a pod or container the
        workload does not have; ClusterError when the cluster cannot read it."""

    def forward(
        self,
        workload: Workload,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Forwarded:
        """Send one HTTP request (`path` from the root, e.g. `/v1/models`) to the workload's
        NIM service and return its answer, whatever its status. Unavailable when no pod is
        ready to serve; ClusterError when the cluster cannot reach it."""


@dataclass(frozen=True)
class PodFaultState:
    """A simulated pod's injected faults."""

    workload_id: str
    name: str
    node: str
    crash_loop: bool
    readiness_failing: bool


class SimulatorFaults(Protocol):
    """Fault injection on the simulated cluster, written in the caller's transaction (with
    the workloads it makes due)."""

    def node_faults(self, tx: Transaction) -> dict[str, str]:
        """Node name -> its fault (failed, drained), for the nodes that have one."""

    def set_node_fault(
        self, tx: Transaction, node: str, fault: str | None, now: datetime
    ) -> list[str]:
        """Fail or drain a node, or recover it (None); the workloads with pods on it."""

    def set_pod_fault(
        self, tx: Transaction, workload_id: str, pod_name: str, fault: str | None, now: datetime
    ) -> PodFaultState | None:
        """Make a pod crash-loop or fail its readiness probe from `now`, or recover it (None);
        its faults then, or None when the workload has no such pod."""

    def set_metric(
        self, tx: Transaction, workload_id: str, metric: str, value: float, now: datetime
    ) -> None: ...


class Leadership(Protocol):
    """Single-runner passes: among the server replicas sharing a database, one at a time."""

    def hold(self, name: str) -> AbstractContextManager[bool]:
        """Enter to try to hold `name`: yields True when this caller holds it for the block."""


class QueueSync(Protocol):
    """Where the organisation becomes the cluster scheduler's queues (KAI `Queue` objects on
    Kubernetes, where KAI-Scheduler places the pods rather than nimplane's scheduler)."""

    def sync_queues(self, departments: Sequence[Department], projects: Sequence[OrgProject]) -> int:
        """Make the cluster's queues equal to these units; how many stale queues went. Raises
        `domain.backend.ClusterError` when the cluster refuses or cannot be reached."""


class ManifestCheck(Protocol):
    """What a workload becomes on Kubernetes, and whether the NIM Operator can use it: every
    create and PATCH is checked, on every backend (`domain.kubernetes.KubernetesManifests`)."""

    def render(self, workload: WorkloadToRender, project: Project) -> list[Manifest]:
        """The manifests applied for the workload, as plain JSON objects."""

    def problems(self, workload: WorkloadToRender, project: Project) -> list[ComplianceIssue]:
        """Why the workload cannot become a valid `NIMService`, by API field (empty: it can)."""
