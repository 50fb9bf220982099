"""What a running server holds, as the routes see it: the settings, the services and the
handles they share. Built by the composition root (`nimplane.wiring`), which the api never
imports: it is handed a state (or a function that builds one at start)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from nimplane.domain.ports import ClusterBackend, Store
from nimplane.metrics import Metrics
from nimplane.services.audit import AuditService
from nimplane.services.auth import Authenticator
from nimplane.services.identity import IdentityService
from nimplane.services.lifecycle import LifecycleService
from nimplane.services.org import OrgService
from nimplane.services.scheduling import SchedulingService
from nimplane.services.sign_in import SignInGuard
from nimplane.services.simulator_admin import SimulatorAdmin
from nimplane.services.workload_endpoints import WorkloadEndpoints
from nimplane.services.workload_properties import WorkloadPropertiesService
from nimplane.services.workloads import WorkloadService
from nimplane.settings import Settings
from nimplane.workers.background import BackgroundWorkers


@dataclass
class AppState:
    """Everything a running server holds: built once at start, passed to the routes."""

    settings: Settings
    engine: Engine
    """The database's connection pool, for operators and tests; the api runs no SQL on it."""
    store: Store
    auth: Authenticator
    workloads: WorkloadService
    audit: AuditService
    org: OrgService
    cluster: ClusterBackend
    """Where workloads run: the simulated cluster, or Kubernetes (`backend`)."""
    identity: IdentityService
    workload_properties: WorkloadPropertiesService
    metrics: Metrics
    cluster_id: str
    scheduling: SchedulingService
    lifecycle: LifecycleService
    workers: BackgroundWorkers
    """The scheduling loop and the lifecycle engine: started by the app's lifespan when
    `settings.background_workers`; tests may run their passes directly instead."""
    simulator: SimulatorAdmin
    """Fault injection and metrics on the simulated cluster (System administrators only)."""
    sign_in: SignInGuard
    """The token grants behind the sign-in rate limits and the hashing bound."""
    endpoints: WorkloadEndpoints
    """A workload's container logs and forwarded HTTP requests (the cluster's)."""
    inline_reads: bool = False
    """Reads may run on the event loop: true for SQLite, whose WAL reads are local and never
    block; PostgreSQL reads go through the worker threads."""

    def close(self) -> None:
        self.store.close()
