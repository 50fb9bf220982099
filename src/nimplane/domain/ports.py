"""The interfaces the services need from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from nimplane.domain.audit import AuditEntry
from nimplane.domain.cluster import Node
from nimplane.domain.identity import AccessRule, ServiceAccount
from nimplane.domain.workloads import Project, Workload

T = TypeVar("T")


class WorkloadRepo(Protocol):
    def get(self, workload_id: str) -> Workload | None:
        """A workload that is not fully deleted (torn down), or None."""

    def insert(self, workload: Workload) -> None:
        """Store a new workload; raises AlreadyExists when its name is taken in its project."""

    def update(self, workload: Workload, expected_version: int) -> bool:
        """Write the workload if its stored resource version still is `expected_version`."""

    def list(self, *, deleted: bool, project_ids: frozenset[str] | None) -> list[Workload]:
        """Live workloads (or, with `deleted`, fully deleted ones) of the given projects."""

    def count_live_in_project(self, project_id: str) -> int: ...

    def count_by_phase(self) -> dict[str, int]:
        """Live workloads per phase name."""


class OrgRepo(Protocol):
    def project(self, project_id: str) -> Project | None: ...

    def node_pool_names(self) -> frozenset[str]: ...

    def ensure_tenant(self, tenant_id: int, name: str) -> None: ...

    def ensure_cluster(self, tenant_id: int, name: str, now: datetime) -> str:
        """The id of the tenant's cluster with this name, created when missing."""

    def ensure_department(self, cluster_id: str, name: str, now: datetime) -> str: ...

    def ensure_project(
        self, cluster_id: str, department_id: str, name: str, namespace: str, now: datetime
    ) -> str: ...

    def ensure_node_pool(self, cluster_id: str, name: str, now: datetime) -> str: ...


class IdentityRepo(Protocol):
    def service_account_by_client_id(self, client_id: str) -> ServiceAccount | None: ...

    def access_rules_for(self, subject_type: str, subject_id: str) -> list[AccessRule]: ...

    def upsert_service_account(
        self, name: str, client_id: str, secret_hash: str, now: datetime, by: str
    ) -> ServiceAccount: ...

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


class Store(Protocol):
    """Transactions: `read()` to look, `write(work)` to change."""

    def read(self) -> AbstractContextManager[Transaction]: ...

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in a write transaction and return its result once it is committed.

        If `work` raises, nothing it wrote is kept and the error propagates to the caller.
        """

    def ping(self) -> None:
        """Raise Unavailable when the database cannot be reached."""


class ClusterBackend(Protocol):
    """Where workloads actually run: the simulated cluster or Kubernetes."""

    def nodes(self) -> tuple[Node, ...]:
        """The nodes the cluster has now."""

    def teardown(self, workload: Workload) -> bool:
        """Remove what the cluster runs for `workload` (idempotent); True once nothing is left."""
