"""The composition root: Settings -> engine, migrations, seed data, keys and services.

The only module that knows the concrete adapters; everything else receives what it needs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine

from nimplane.api.state import AppState
from nimplane.backends.kubernetes import KubernetesCluster, build_cluster
from nimplane.backends.simulated import SimulatedCluster, SimulatedFaults, timings_from
from nimplane.domain.cluster import DEFAULT_NODE_POOL
from nimplane.domain.kubernetes import CrdChecker, KubernetesManifests
from nimplane.domain.org import PoolQuota, Quota
from nimplane.domain.ports import ClusterBackend
from nimplane.domain.ratelimit import Rate
from nimplane.domain.scheduling import SchedulerConfig
from nimplane.metrics import Metrics, WorkloadPhaseCollector
from nimplane.services.audit import AuditService
from nimplane.services.auth import Authenticator
from nimplane.services.bootstrap import (
    EmbeddedOrg,
    ensure_bootstrap_admin,
    has_service_account,
    seed_organisation,
)
from nimplane.services.cluster_sync import ClusterChanges, QueueSyncService
from nimplane.services.identity import IdentityService
from nimplane.services.lifecycle import LifecycleService, LifecycleSettings
from nimplane.services.org import OrgService
from nimplane.services.rate_limits import Clock, HashingGate
from nimplane.services.scheduling import SchedulingService
from nimplane.services.seeding import gives_quota_to, seed_from_config
from nimplane.services.sign_in import SignInGuard, SignInLimits
from nimplane.services.simulator_admin import SimulatorAdmin
from nimplane.services.tokens import TokenService
from nimplane.services.workload_endpoints import WorkloadEndpoints
from nimplane.services.workload_properties import WorkloadPropertiesService
from nimplane.services.workloads import WorkloadService, utc_now
from nimplane.settings import AuthSettings, Settings
from nimplane.settings import LifecycleSettings as LifecycleConfig
from nimplane.storage.db import create_db_engine, migrate
from nimplane.storage.leadership import Leadership
from nimplane.storage.store import SqlStore
from nimplane.workers.background import BackgroundWorkers
from nimplane.workers.loop import PeriodicLoop

log = logging.getLogger(__name__)

DEFAULT_UNIT_ID = "1"  # the embedded `default` department and project
SIGNING_KEY_FILE = "signing.key"
BOOTSTRAP_FILE = "bootstrap-credentials.json"
GENERATED_CLIENT_ID = "nimplane-admin"


def _write_private(path: Path, content: bytes) -> None:
    """Create `path` readable by its owner only (0600), atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def make_private_dir(path: Path) -> None:
    """The data dir (database, signing key, credentials) open to its owner only (0700),
    whatever the umask, whether it is created now or already there."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def load_signing_key(settings: Settings) -> bytes:
    """The configured key, else the one kept in the data dir (generated on first start)."""
    if settings.auth.signing_key is not None:
        return settings.auth.signing_key.get_secret_value().encode()
    path = settings.data_dir / SIGNING_KEY_FILE
    if not path.exists():
        _write_private(path, secrets.token_bytes(32).hex().encode())
    return path.read_bytes().strip()


def bootstrap_admin(settings: Settings, store: SqlStore) -> None:
    """The bootstrap administrator's credentials (docs/decisions.md A1): from the environment, or
    generated once and kept 0600."""
    now = utc_now()
    if settings.bootstrap_client_id and settings.bootstrap_client_secret:
        ensure_bootstrap_admin(
            store,
            settings.tenant_id,
            settings.bootstrap_client_id,
            settings.bootstrap_client_secret.get_secret_value(),
            now,
        )
        return
    path = settings.data_dir / BOOTSTRAP_FILE
    if path.exists() or has_service_account(store, GENERATED_CLIENT_ID):
        return
    secret = secrets.token_urlsafe(32)
    ensure_bootstrap_admin(store, settings.tenant_id, GENERATED_CLIENT_ID, secret, now)
    _write_private(
        path, json.dumps({"clientId": GENERATED_CLIENT_ID, "clientSecret": secret}).encode()
    )
    print(  # noqa: T201 - shown once, on purpose, to the operator who started the server
        f"nimplane: generated administrator credentials (kept in {path}, mode 0600):\n"
        f"  client id:     {GENERATED_CLIENT_ID}\n  client secret: {secret}",
        flush=True,
    )


def seed_default_quota(store: SqlStore, org: OrgService, cluster: ClusterBackend) -> None:
    """First start: the default department and project get the cluster's GPUs as their
    deserved quota in the default pool. A quota set since (through the API) is kept.
    Not called when the config file sets the default department's or project's quotas."""
    with store.read() as tx:
        project = tx.org.org_project(DEFAULT_UNIT_ID)
    if project is None or project.resources:
        return
    gpus = float(sum(node.gpu_count for node in cluster.nodes()))
    if not gpus:  # a cluster whose nodes are not known yet (Kubernetes, before its first list)
        return
    quota = (PoolQuota(node_pool_name=DEFAULT_NODE_POOL, gpu=Quota(deserved=gpus)),)
    org.set_resources("department", DEFAULT_UNIT_ID, quota)
    org.set_resources("project", DEFAULT_UNIT_ID, quota)


def kubernetes_backend(
    settings: Settings, store: SqlStore, wake_lifecycle: Callable[[], None]
) -> KubernetesCluster:
    """The Kubernetes backend (`backend: kubernetes`, not started: the background workers
    start its watches). A change it watches makes its workloads due and wakes the lifecycle
    loop. Raises when the kubeconfig (or in-cluster config) cannot be loaded."""
    changes = ClusterChanges(store, utc_now, wake_lifecycle)
    return build_cluster(settings.kubernetes, store=store, on_change=changes)


NIM_SERVICE_CRD_ENV = "NIMPLANE_NIM_SERVICE_CRD"
"""Also read by `nimplane render --crd`: the CRD file when `kubernetes.nim_service_crd` is unset."""


def manifest_check(settings: Settings, environ: Mapping[str, str]) -> KubernetesManifests:
    """The CRD check of every create and PATCH (docs: ARCHITECTURE.md, "Rendering for
    Kubernetes"): against the configured CRD file; else, on the Kubernetes backend, the CRD
    installed in the cluster; else the operator's name and admission rules only."""
    path = settings.kubernetes.nim_service_crd or environ.get(NIM_SERVICE_CRD_ENV) or None
    crd: CrdChecker | None = None
    if path is not None:
        crd = CrdChecker(yaml.safe_load(Path(path).read_text()))
    elif settings.backend == "kubernetes":
        from nimplane.backends.kubernetes.crd_source import read_nim_service_crd

        k8s = settings.kubernetes
        crd = CrdChecker(read_nim_service_crd(k8s.kubeconfig, k8s.context))
    return KubernetesManifests(settings.kubernetes.cluster, crd)


def sign_in_guard(
    settings: AuthSettings, auth: Authenticator, clock: Clock = time.monotonic
) -> SignInGuard:
    """The sign-in limits the settings ask for, around `auth`'s grants."""
    limits = SignInLimits(
        account=Rate(settings.login_attempts_per_minute, settings.login_burst),
        address=Rate(settings.address_attempts_per_minute, settings.address_burst),
        max_keys=settings.rate_limit_keys,
    )
    hashing = HashingGate(settings.max_concurrent_hashes, settings.hash_wait_seconds)
    return SignInGuard(auth.grant, limits, hashing, clock)


def lifecycle_workers(settings: LifecycleConfig, dialect: str, backend: str) -> int:
    """How many lifecycle workers a process runs: as configured, else 2 on PostgreSQL with the
    simulated cluster (their round trips overlap; measured there, BENCHMARKS.md) and 1
    otherwise (SQLite has one writer; the Kubernetes adapter's syncs were not measured side
    by side)."""
    if settings.workers is not None:
        return settings.workers
    return 2 if dialect == "postgresql" and backend == "simulated" else 1


def build_state(
    settings: Settings, environ: Mapping[str, str] | None = None, *, seed: bool = True
) -> AppState:
    """Open the database, migrate it, seed the embedded organisation, the administrator and
    the config file's organisation (`environ` holds the secrets it names by variable; default
    the process environment). Raises `ConfigError` if that organisation cannot be applied.
    Without `seed` (the background worker process, started once the API process has
    seeded) only the embedded organisation is ensured."""
    make_private_dir(settings.data_dir)
    engine = create_db_engine(
        settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous
    )
    migrate(engine)
    store = SqlStore(engine)
    try:
        return _build_services(settings, engine, store, environ, seed)
    except BaseException:
        store.close()  # a failed start leaves no writer thread or connection behind
        raise


def _build_services(
    settings: Settings,
    engine: Engine,
    store: SqlStore,
    environ: Mapping[str, str] | None,
    seed: bool = True,
) -> AppState:
    embedded = EmbeddedOrg(settings.tenant_id, settings.cluster_name)
    cluster_id = seed_organisation(store, embedded, utc_now())
    if seed:
        bootstrap_admin(settings, store)
    tokens = TokenService(
        load_signing_key(settings),
        issuer=settings.auth.issuer,
        ttl_seconds=settings.auth.token_ttl_seconds,
    )
    cluster = SimulatedCluster(
        settings.simulator.inventory(), store, timings_from(settings.simulator)
    )
    if seed:
        seed_from_config(
            store,
            settings.organisation,
            tenant_id=settings.tenant_id,
            cluster_id=cluster_id,
            environ=os.environ if environ is None else environ,
            now=utc_now(),
        )
    metrics = Metrics()
    scheduler_loop = PeriodicLoop(
        "scheduler",
        lambda: None,
        settings.scheduler.period_seconds,
        min_interval=settings.scheduler.min_interval_seconds,
        rest_ratio=settings.scheduler.rest_ratio,
    )
    lifecycle_loops = [
        PeriodicLoop(
            f"lifecycle-{n}" if n else "lifecycle", lambda: None, settings.lifecycle.period_seconds
        )
        for n in range(lifecycle_workers(settings.lifecycle, engine.dialect.name, settings.backend))
    ]

    def wake_lifecycle() -> None:
        for loop in lifecycle_loops:
            loop.wake()

    kube: KubernetesCluster | None = None  # on Kubernetes, KAI places the pods
    if settings.backend == "kubernetes":
        kube = kubernetes_backend(settings, store, wake_lifecycle)
    backend: ClusterBackend = cluster if kube is None else kube
    scheduling = SchedulingService(
        store,
        cluster,
        Leadership(engine),
        utc_now,
        SchedulerConfig(stale_gang_grace_seconds=settings.scheduler.stale_gang_grace_seconds),
        observe_cycle=metrics.scheduling_cycle.observe,
        on_placed=wake_lifecycle,
    )
    lifecycles = [
        LifecycleService(
            store,
            backend,
            utc_now,
            LifecycleSettings(
                lease_seconds=settings.lifecycle.lease_seconds,
                resync_seconds=settings.lifecycle.resync_seconds,
            ),
            observe_reconcile=metrics.reconcile.observe,
            count_error=metrics.reconcile_errors.inc,
            on_scaled=scheduler_loop.wake,
            observe_pending=metrics.pending.observe,
        )
        for _ in lifecycle_loops
    ]
    scheduler_loop.work = scheduling.run_cycle
    for loop, lifecycle in zip(lifecycle_loops, lifecycles, strict=True):
        loop.work = lifecycle.run_pass
    if kube is not None:  # KAI places the pods: the scheduler loop syncs its queues instead
        scheduler_loop.work = QueueSyncService(store, kube).run
    workers = BackgroundWorkers([scheduler_loop, *lifecycle_loops], [kube] if kube else [])
    # a new workload waits for nimplane's scheduler to place it; on Kubernetes nothing does
    # (KAI places its pods once applied): the lifecycle engine applies it at once
    first_look = 0.0 if kube is not None else settings.lifecycle.resync_seconds
    workloads = WorkloadService(
        store,
        backend,
        on_change=workers.wake,
        first_look_after=timedelta(seconds=first_look),
        manifests=manifest_check(settings, os.environ if environ is None else environ),
    )
    metrics.registry.register(WorkloadPhaseCollector(workloads.count_by_phase))
    auth = Authenticator(
        store,
        tokens,
        settings.auth.principal_cache_seconds,
        refresh_max_lifetime_seconds=settings.auth.refresh_token_max_lifetime_seconds,
    )
    org = OrgService(store, backend, auth.forget)
    if seed and not gives_quota_to(settings.organisation, embedded.department, embedded.project):
        seed_default_quota(store, org, backend)
    return AppState(
        settings=settings,
        engine=engine,
        store=store,
        auth=auth,
        workloads=workloads,
        audit=AuditService(store, settings.tenant_id),
        org=org,
        cluster=backend,
        identity=IdentityService(store, auth.forget, settings.tenant_id),
        workload_properties=WorkloadPropertiesService(settings.tenant_id),
        metrics=metrics,
        cluster_id=cluster_id,
        scheduling=scheduling,
        lifecycle=lifecycles[0],
        workers=workers,
        simulator=SimulatorAdmin(
            store,
            SimulatedFaults(),
            tuple(n.name for n in cluster.inventory()),
            str(settings.tenant_id),
            utc_now,
            workers.wake,
            active=kube is None,
        ),
        sign_in=sign_in_guard(settings.auth, auth),
        endpoints=WorkloadEndpoints(workloads, backend),
        inline_reads=engine.dialect.name == "sqlite",
    )
