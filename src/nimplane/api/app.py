"""The app factory: routes, the error table, and a lifespan that receives the state (or builds
it at start with the function the composition root hands it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from nimplane import __version__
from nimplane.api.audit import AuditMiddleware
from nimplane.api.edge import EdgeMiddleware
from nimplane.api.errors import install_error_handlers
from nimplane.api.observability import RequestContextMiddleware
from nimplane.api.openapi import build_openapi
from nimplane.api.routes import (
    access_rules,
    audit_logs,
    clusters,
    health,
    metrics,
    nim_service_endpoints,
    nim_services,
    node_pools,
    org_units,
    roles,
    service_accounts,
    simulator,
    tokens,
    users,
    workload_batch,
    workload_properties,
    workloads,
)
from nimplane.api.state import AppState
from nimplane.console import install_console
from nimplane.settings import Settings


def create_app(
    settings: Settings | None = None,
    state: AppState | None = None,
    *,
    run_workers: bool = False,
    build: Callable[[Settings], AppState] | None = None,
) -> FastAPI:
    """A nimplane API app: it serves `state` if given, else the one `build` makes from
    `settings` at start (an app with neither can serve its OpenAPI document, not requests).

    The background workers (scheduler, lifecycle engine) run with the app when it builds its
    own state, or when `run_workers` says so; tests that pass a state drive them directly.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = state is None
        if state is not None:
            served = state
        elif build is not None:
            served = await run_in_threadpool(build, settings or Settings())
        else:
            raise RuntimeError("create_app: give it a state, or a function that builds one")
        app.state.nimplane = served
        workers = (owned or run_workers) and served.settings.background_workers
        if workers:
            served.workers.start()
        try:
            yield
        finally:
            if workers:
                await served.workers.stop()
            if owned:
                served.close()

    app = FastAPI(
        title="nimplane",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    if state is not None:
        app.state.nimplane = state
    for module in (
        tokens,
        nim_services,
        nim_service_endpoints,
        workload_batch,
        workloads,
        org_units,
        node_pools,
        clusters,
        audit_logs,
        service_accounts,
        users,
        access_rules,
        roles,
        workload_properties,
        metrics,
        simulator,
        health,
    ):
        # Mounted flat rather than with include_router: no per-request router nesting, and the
        # route modules carry no prefixes or router-level dependencies to merge.
        app.router.routes.extend(module.router.routes)
    install_console(app)  # the web console at `/` (after the API's routes)
    install_error_handlers(app)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(EdgeMiddleware)  # inside the request id, outside the audit trail
    app.add_middleware(RequestContextMiddleware)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
