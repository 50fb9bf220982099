"""Health endpoints: /healthz is the process, /readyz the database; neither needs a token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.backends.simulated import SimulatedCluster, SimulatedFaults
from nimplane.domain.identity import AccountBinding
from nimplane.metrics import Metrics
from nimplane.services.audit import AuditService
from nimplane.services.auth import Authenticator
from nimplane.services.identity import IdentityService
from nimplane.services.lifecycle import LifecycleService
from nimplane.services.org import OrgService
from nimplane.services.scheduling import SchedulingService
from nimplane.services.simulator_admin import SimulatorAdmin
from nimplane.services.tokens import TokenService
from nimplane.services.workload_endpoints import WorkloadEndpoints
from nimplane.services.workload_properties import WorkloadPropertiesService
from nimplane.services.workloads import WorkloadService, utc_now
from nimplane.settings import Settings
from nimplane.storage.db import create_db_engine
from nimplane.storage.leadership import Leadership
from nimplane.storage.store import SqlStore
from nimplane.wiring import sign_in_guard
from nimplane.workers.background import BackgroundWorkers


def test_healthz_and_readyz_answer_without_a_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    store = SqlStore(engine)
    cluster = SimulatedCluster()
    auth = Authenticator(store, TokenService(b"k" * 32, issuer="nimplane", ttl_seconds=3600), 0)
    workloads = WorkloadService(store, SimulatedCluster())
    state = AppState(
        settings=settings,
        engine=engine,
        store=store,
        auth=auth,
        workloads=workloads,
        audit=AuditService(store, 1),
        org=OrgService(store, SimulatedCluster()),
        cluster=SimulatedCluster(),
        identity=IdentityService(store, lambda _subject: None, 1),
        workload_properties=WorkloadPropertiesService(1),
        metrics=Metrics(),
        cluster_id="00000000-0000-0000-0000-000000000000",
        scheduling=SchedulingService(store, cluster, Leadership(engine), utc_now),
        lifecycle=LifecycleService(store, cluster, utc_now),
        workers=BackgroundWorkers([]),
        simulator=SimulatorAdmin(store, SimulatedFaults(), (), "1", utc_now),
        sign_in=sign_in_guard(settings.auth, auth),
        endpoints=WorkloadEndpoints(workloads, cluster),
    )
    with TestClient(create_app(settings, state=state)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["code"] == 503
        token = state.auth.tokens.issue("someone", "service-account", AccountBinding("x", 0))
        listed = client.get("/api/v1/workloads", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 503
        assert "Traceback" not in listed.text
    engine.dispose()
