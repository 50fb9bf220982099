"""The console's pages and form actions: each authenticates the session cookie, checks the CSRF
token on every POST, and calls the same services as the API with the signed-in principal (so
the services' permission checks decide, as for the API). A refused action is shown on the page
with the status code and message the API would give (the API's one error table)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import yaml
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from nimplane.api.audit import PRINCIPAL_KEY
from nimplane.api.client_address import client_address
from nimplane.api.deps import app_state, read_form
from nimplane.api.errors import status_of
from nimplane.api.identity_schemas import AccessRuleCreationFields, UserCreationRequest
from nimplane.api.state import AppState
from nimplane.api.views import serving_urls
from nimplane.console import views
from nimplane.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    clear_session,
    csrf_for,
    csrf_ok,
    new_sign_in_nonce,
    set_session,
    set_sign_in_nonce,
)
from nimplane.domain.access import RuleSelection, allowed_somewhere
from nimplane.domain.errors import DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from nimplane.domain.history import PhaseUpdate
from nimplane.domain.identity import Principal
from nimplane.domain.org import Department, OrgProject, PoolQuota, Quota
from nimplane.domain.queries import MAX_LIMIT, ListQuery, WorkloadQuery, parse_filter_by
from nimplane.domain.rbac import Action, ResourceType, is_allowed
from nimplane.domain.requests import wire_issues
from nimplane.domain.workloads import WORKLOAD_FIELDS, DesiredPhase, Workload
from nimplane.services.auth import Credentials
from nimplane.services.authz import project_scope
from nimplane.services.workloads import utc_now

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["phase_colour"] = views.phase_colour
PAGE_SIZE = 20
PHASES = ("Creating", "Pending", "Initializing", "Running", "Updating", "Degraded", "Stopping",
          "Stopped", "Resuming", "Deleting", "Failed")  # fmt: skip
SORTABLE = {"name": "Name", "projectName": "Project", "phase": "Phase", "createdAt": "Age"}


@dataclass(frozen=True)
class Session:
    """A signed-in caller: the state it acts on, its principal and its form token."""

    state: AppState
    principal: Principal
    csrf: str

    def run(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return run_in_threadpool(fn, self.principal, *args)


class _SignInFirst(Exception):
    """No valid session: go to the sign-in page."""


class _Forged(Exception):
    """A POST without its session's CSRF token."""


def _page(
    handler: Callable[..., Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    """Turn the console's refusals into pages: sign in first, a forged form (403), and a
    service's error with the API's status code and message."""

    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(request, *args, **kwargs)
        except _SignInFirst:
            target = "/sign-in?next=" + quote(request.url.path)
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        except _Forged:
            return await _error(
                request, 403, "The form's CSRF token is missing or wrong; reload the page."
            )
        except DomainError as exc:
            return await _error(request, status_of(exc), exc.message, getattr(exc, "issues", None))

    return wrapped


async def _error(request: Request, status: int, message: str, issues: Any = None) -> Response:
    """The error page, with the navigation bar when the caller is signed in."""
    context: dict[str, Any] = {"code": status, "message": message, "issues": issues or []}
    try:
        session = await _session(request)
    except _SignInFirst:
        context["session"] = None
        return templates.TemplateResponse(request, "error.html", context, status_code=status)
    return _render(request, session, "error.html", status, **context)


async def _session(request: Request) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _SignInFirst
    state = app_state(request)
    try:
        principal = await run_in_threadpool(state.auth.authenticate, f"Bearer {token}")
    except Unauthenticated:
        raise _SignInFirst from None
    request.scope[PRINCIPAL_KEY] = principal
    return Session(state, principal, csrf_for(token))


async def _post(request: Request) -> tuple[Session, dict[str, str]]:
    """The session and the form of a POST whose CSRF token matches its session."""
    session = await _session(request)
    form = await read_form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not csrf_ok(token, form.get(CSRF_FIELD)):
        raise _Forged
    return session, form


def _render(
    request: Request, session: Session, name: str, status: int = 200, **context: Any
) -> Response:
    context.update(
        session=session,
        subject=session.principal.subject,
        csrf=session.csrf,
        csrf_field=CSRF_FIELD,
    )
    return templates.TemplateResponse(request, name, context, status_code=status)


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/workloads"


# --- sign in and out ---------------------------------------------------------------------------


@router.get("/")
async def home() -> Response:
    return _see("/workloads")


def _sign_in_page(
    request: Request, status: int = 200, message: str | None = None, kind: str = "user"
) -> Response:
    nonce = new_sign_in_nonce()
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "session": None,
            "nonce": nonce,
            "message": message,
            "kind": kind,
            "next": _safe_next(request.query_params.get("next")),
        },
        status_code=status,
    )
    set_sign_in_nonce(request, response, nonce)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    state = app_state(request)
    try:
        form = await read_form(request)
    except Invalid as exc:
        return _sign_in_page(request, 400, exc.message)
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    if not nonce or form.get("nonce") != nonce:
        return _sign_in_page(request, 403, "The sign-in form expired; try again.")
    kind = form.get("kind", "user")
    if kind == "service-account":
        creds = Credentials(
            "client_credentials",
            client_id=form.get("client_id"),
            client_secret=form.get("client_secret"),
        )
    else:
        creds = Credentials(
            "password", username=form.get("username"), password=form.get("password")
        )
    peer = client_address(request.scope, state.settings.auth.trust_forwarded_for)
    try:
        issued = await run_in_threadpool(state.sign_in.grant, creds, peer)
    except DomainError as exc:
        response = _sign_in_page(request, status_of(exc), exc.message, kind)
        retry = getattr(exc, "retry_after", None)
        if retry is not None:
            response.headers["Retry-After"] = str(retry)
        return response
    response = _see(_safe_next(form.get("next")))
    set_session(request, response, issued.access_token, issued.expires_in)
    return response


@router.post("/sign-out")
@_page
async def sign_out(request: Request) -> Response:
    await _post(request)
    response = _see("/sign-in")
    clear_session(request, response)
    return response


# --- workloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableQuery:
    project: str
    phase: str
    search: str
    sort: str
    order: str
    offset: int

    @classmethod
    def of(cls, request: Request) -> TableQuery:
        q = request.query_params
        sort = q.get("sort", "createdAt")
        offset = q.get("offset", "0")
        return cls(
            project=q.get("project", ""),
            phase=q.get("phase", ""),
            search=q.get("search", ""),
            sort=sort if sort in SORTABLE else "createdAt",
            order="asc" if q.get("order") == "asc" else "desc",
            offset=int(offset) if offset.isdigit() and len(offset) < 10 else 0,
        )

    def url(self, path: str = "/workloads", **changes: Any) -> str:
        values = {
            "project": self.project,
            "phase": self.phase,
            "search": self.search,
            "sort": self.sort,
            "order": self.order,
            "offset": self.offset,
        }
        values.update(changes)
        return path + "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def workload_query(self) -> WorkloadQuery:
        items = []
        if self.project:
            items.append(f"projectName=={self.project}")
        if self.phase:
            items.append(f"phase=={self.phase}")
        return WorkloadQuery(
            filters=parse_filter_by(items, WORKLOAD_FIELDS),
            search=self.search or None,
            sort_by=self.sort,
            descending=self.order == "desc",
            offset=self.offset,
            limit=PAGE_SIZE,
            now=utc_now(),
        )


def _row(w: Workload, now: Any) -> dict[str, Any]:
    return {
        "id": w.id,
        "name": w.name,
        "project": w.project.name,
        "phase": w.status.phase.value,
        "ready": w.status.serving_replicas,
        "wanted": views.wanted(w),
        "gpus": views.gpus_of(w),
        "urls": serving_urls(w),
        "age": views.age(w.created_at, now),
    }


async def _table(session: Session, tq: TableQuery) -> dict[str, Any]:
    query = tq.workload_query()
    page, more = await session.run(session.state.workloads.list, query)
    return {
        "tq": tq,
        "rows": [_row(w, query.now) for w in page],
        "more": more,
        "page_size": PAGE_SIZE,
        "sortable": SORTABLE,
    }


async def _projects(session: Session) -> list[OrgProject]:
    projects, _ = await session.run(session.state.org.list_projects, ListQuery(limit=MAX_LIMIT))
    return list(projects)


def _may_create_in(session: Session, projects: list[OrgProject]) -> list[OrgProject]:
    return [
        p
        for p in projects
        if is_allowed(session.principal, ResourceType.inferences, Action.create, p.scope)
    ]


@router.get("/workloads")
@_page
async def workloads_page(request: Request) -> Response:
    session = await _session(request)
    tq = TableQuery.of(request)
    try:
        projects = await _projects(session)
    except Forbidden:
        projects = []
    table = await _table(session, tq)
    return _render(
        request,
        session,
        "workloads.html",
        projects=projects,
        phases=PHASES,
        can_create=bool(_may_create_in(session, projects)),
        **table,
    )


@router.get("/workloads/table")
@_page
async def workloads_table(request: Request) -> Response:
    session = await _session(request)
    return _render(
        request, session, "_workloads_table.html", **await _table(session, TableQuery.of(request))
    )


def _new_form_context(
    session: Session, projects: list[OrgProject], form: dict[str, str], **extra: Any
) -> dict[str, Any]:
    return {
        "projects": _may_create_in(session, projects),
        "form": form,
        "errors": {},
        "other_errors": [],
        "message": None,
        "preview": None,
        **extra,
    }


@router.get("/workloads/new")
@_page
async def new_workload_form(request: Request) -> Response:
    session = await _session(request)
    projects = await _projects(session)
    form = {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", "gpuDevices": "1"}
    return _render(request, session, "new.html", **_new_form_context(session, projects, form))


def _request_body(form: dict[str, str]) -> Any:
    """The create request the form makes: the raw JSON as written, or the filled controls."""
    raw = form.get("raw", "").strip()
    if form.get("mode") == "json" and raw:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"The request body is not valid JSON: {exc}") from None
    return views.request_from_form(form)


async def _submit_new(request: Request, *, dry_run: bool) -> Response:
    """Create (or, for a dry run, validate and render) the form's NIM service; a refusal is
    the form again with the server's complaints next to their controls."""
    session, form = await _post(request)
    projects = await _projects(session)
    try:
        body = _request_body(form)
        outcome = await session.run(
            functools.partial(session.state.workloads.create, dry_run=dry_run), body
        )
    except Invalid as exc:
        placed, rest = views.errors_by_control(exc.issues)
        return _render(
            request, session, "new.html", 400,
            **_new_form_context(session, projects, form, errors=placed, other_errors=rest,
                                message=exc.message),
        )  # fmt: skip
    except DomainError as exc:
        return _render(
            request, session, "new.html", status_of(exc),
            **_new_form_context(session, projects, form, message=exc.message),
        )  # fmt: skip
    if not dry_run:
        return _see(f"/workloads/{outcome.workload.id}")
    preview = {
        "workload": outcome.workload,
        "spec": views.pretty(outcome.workload.spec),
        "warnings": outcome.warnings,
        "manifests": _yaml(outcome.manifests),
    }
    return _render(
        request, session, "new.html", **_new_form_context(session, projects, form, preview=preview)
    )


def _yaml(manifests: list[Any]) -> str:
    """Manifests as YAML, one document each (`kubectl apply -f` takes the stream)."""
    return yaml.safe_dump_all(manifests, sort_keys=False) if manifests else ""


@router.post("/workloads/new")
@_page
async def create_workload(request: Request) -> Response:
    return await _submit_new(request, dry_run=False)


@router.post("/workloads/new/preview")
@_page
async def preview_workload(request: Request) -> Response:
    """The dry run: what would be created and applied, storing nothing."""
    return await _submit_new(request, dry_run=True)


async def _detail(session: Session, workload_id: str) -> dict[str, Any]:
    state = session.state
    workload, pods = await session.run(state.workloads.pods, workload_id)
    _, events, _ = await session.run(state.workloads.events, workload_id, 0, 50, True)
    _, history, _ = await session.run(state.workloads.history, workload_id, 0, 200)
    scope = project_scope(workload.project)
    return {
        "w": workload,
        "pods": pods,
        "events": events,
        "timeline": [r for r in history if isinstance(r, PhaseUpdate)],
        "history": history,
        "ready": workload.status.serving_replicas,
        "wanted": views.wanted(workload),
        "gpus": views.gpus_of(workload),
        "urls": serving_urls(workload),
        "spec": views.pretty(workload.spec),
        "can_update": is_allowed(session.principal, ResourceType.inferences, Action.update, scope),
        "can_delete": is_allowed(session.principal, ResourceType.inferences, Action.delete, scope),
        "stopped": workload.desired_phase is DesiredPhase.Stopped,
        "is_admin": await _is_admin(session),
    }


async def _is_admin(session: Session) -> bool:
    """May the caller inject faults (the simulator admin service decides: not on Kubernetes)?"""
    try:
        await session.run(session.state.simulator.nodes)
    except (Forbidden, NotFound):
        return False
    return True


@router.get("/workloads/{workload_id}")
@_page
async def workload_page(request: Request, workload_id: str) -> Response:
    session = await _session(request)
    detail = await _detail(session, workload_id)
    return _render(
        request, session, "workload.html", manifests=await _manifests(session, workload_id),
        **detail,
    )  # fmt: skip


async def _manifests(session: Session, workload_id: str) -> str:
    return _yaml(await session.run(session.state.workloads.manifests, workload_id))


@router.get("/workloads/{workload_id}/live")
@_page
async def workload_live(request: Request, workload_id: str) -> Response:
    session = await _session(request)
    return _render(request, session, "_workload_live.html", **await _detail(session, workload_id))


async def _action_result(
    request: Request, session: Session, workload_id: str, action: Callable[[], Awaitable[Any]]
) -> Response:
    try:
        await action()
    except Invalid as exc:
        detail = await _detail(session, workload_id)
        return _render(request, session, "workload.html", 400, message=exc.message,
                       issues=exc.issues, manifests=await _manifests(session, workload_id),
                       **detail)  # fmt: skip
    return _see(f"/workloads/{workload_id}")


@router.post("/workloads/{workload_id}/stop")
@_page
async def stop_workload(request: Request, workload_id: str) -> Response:
    session, _ = await _post(request)
    await session.run(session.state.workloads.set_desired_phase, workload_id, DesiredPhase.Stopped)
    return _see(f"/workloads/{workload_id}")


@router.post("/workloads/{workload_id}/resume")
@_page
async def resume_workload(request: Request, workload_id: str) -> Response:
    session, _ = await _post(request)
    await session.run(session.state.workloads.set_desired_phase, workload_id, DesiredPhase.Running)
    return _see(f"/workloads/{workload_id}")


@router.post("/workloads/{workload_id}/scale")
@_page
async def scale_workload(request: Request, workload_id: str) -> Response:
    session, form = await _post(request)
    text = form.get("replicas", "").strip()
    replicas: Any = int(text) if text.isdigit() and len(text) < 10 else text
    body = {"spec": {"replicas": replicas}}

    async def scale() -> None:
        await session.run(session.state.workloads.update, workload_id, body, None)

    return await _action_result(request, session, workload_id, scale)


@router.post("/workloads/{workload_id}/patch")
@_page
async def patch_workload(request: Request, workload_id: str) -> Response:
    session, form = await _post(request)

    async def patch() -> None:
        try:
            body = orjson.loads(form.get("patch", ""))
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"The request body is not valid JSON: {exc}") from None
        await session.run(session.state.workloads.update, workload_id, body, None)

    return await _action_result(request, session, workload_id, patch)


@router.post("/workloads/{workload_id}/delete")
@_page
async def delete_workload(request: Request, workload_id: str) -> Response:
    session, form = await _post(request)
    if form.get("confirm") != "yes":
        raise Invalid("confirm: tick the box to confirm the deletion")
    await session.run(session.state.workloads.delete, workload_id, None)
    return _see("/workloads")


@router.post("/workloads/{workload_id}/pods/{pod_name}/fault")
@_page
async def pod_fault(request: Request, workload_id: str, pod_name: str) -> Response:
    session, form = await _post(request)
    fault = {"crash-loop": "crash-loop", "fail-readiness": "fail-readiness"}.get(
        form.get("fault", "")
    )
    await session.run(session.state.simulator.set_pod_fault, workload_id, pod_name, fault)
    return _see(f"/workloads/{workload_id}")


# --- projects and quotas ------------------------------------------------------------------------


async def _all_workloads(session: Session) -> list[Workload]:
    out: list[Workload] = []
    offset = 0
    while True:
        query = WorkloadQuery(sort_by="createdAt", offset=offset, limit=MAX_LIMIT, now=utc_now())
        page, more = await session.run(session.state.workloads.list, query)
        out.extend(page)
        if not more:
            return out
        offset += len(page)


@router.get("/projects")
@_page
async def projects_page(request: Request) -> Response:
    session = await _session(request)
    return _render(request, session, "projects.html", **await _projects_context(session))


async def _projects_context(session: Session) -> dict[str, Any]:
    state = session.state
    projects = await _projects(session)
    try:
        departments = list(
            (await session.run(state.org.list_departments, ListQuery(limit=MAX_LIMIT)))[0]
        )
    except Forbidden:
        departments = []
    pools, _ = await session.run(state.org.list_node_pools, ListQuery(limit=MAX_LIMIT))
    pool_names = [p.name for p in pools]
    held = views.allocated_by_pool(await _all_workloads(session))
    by_project = {p.id: views.quota_bars(p.resources, {
        pool: amount for (pid, pool), amount in held.items() if pid == p.id
    }, pool_names) for p in projects}  # fmt: skip
    by_department = {
        d.id: views.quota_bars(d.resources, {
            pool: sum(a for (pid, pl), a in held.items() if pl == pool and any(
                p.id == pid and p.department_id == d.id for p in projects))
            for pool in pool_names
        }, pool_names)
        for d in departments
    }  # fmt: skip
    return {
        "projects": projects,
        "departments": departments,
        "bars": by_project,
        "department_bars": by_department,
        "pools": pool_names,
        "can_edit": {
            p.id: is_allowed(session.principal, ResourceType.project, Action.update, p.scope)
            for p in projects
        },
        "can_edit_department": {d.id: _may_set_quota(session, d) for d in departments},
    }


def _may_set_quota(session: Session, department: Department) -> bool:
    """A department's quota belongs to the scope above it (the service decides the same)."""
    return is_allowed(
        session.principal, ResourceType.department, Action.update, department.parent_scope
    )


def _float_or_none(form: dict[str, str], name: str) -> float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise Invalid(f"{name}: '{text}' is not a number") from None


def _pool_quota(form: dict[str, str]) -> PoolQuota:
    """The GPU quota of one node pool (named: the service resolves it, as for the API's
    PATCH) that the quota form states; an empty field is not set."""
    return PoolQuota(
        node_pool_id=None,
        node_pool_name=form.get("pool", "").strip() or None,
        gpu=Quota(
            deserved=_float_or_none(form, "deserved"),
            limit=_float_or_none(form, "limit"),
            over_quota_weight=_float_or_none(form, "weight"),
        ),
    )


@router.post("/projects/{project_id}/quota")
@_page
async def set_quota(request: Request, project_id: str) -> Response:
    session, form = await _post(request)
    try:
        quota = _pool_quota(form)
        await session.run(
            functools.partial(session.state.org.set_project_resources, merge=True),
            project_id,
            [quota],
        )
    except Invalid as exc:
        context = await _projects_context(session)
        return _render(request, session, "projects.html", 400, message=exc.message,
                       issues=exc.issues, failed_project=project_id, **context)  # fmt: skip
    return _see("/projects")


@router.post("/departments/{department_id}/quota")
@_page
async def set_department_quota(request: Request, department_id: str) -> Response:
    """A department's quota, as `PATCH .../departments/{id}/resources`: the service's rules
    (the permission above the department) and messages; its warnings (more than the pool
    has) are shown on the page."""
    session, form = await _post(request)
    try:
        quota = _pool_quota(form)
        _, warnings = await session.run(
            functools.partial(session.state.org.set_department_resources, merge=True),
            department_id,
            [quota],
        )
    except Invalid as exc:
        context = await _projects_context(session)
        return _render(request, session, "projects.html", 400, message=exc.message,
                       issues=exc.issues, failed_department=department_id, **context)  # fmt: skip
    if warnings:
        context = await _projects_context(session)
        return _render(request, session, "projects.html", warnings=warnings, **context)
    return _see("/projects")


# --- nodes and the GPU map ----------------------------------------------------------------------


async def _nodes_context(session: Session) -> dict[str, Any]:
    state = session.state
    placed, _ = await session.run(
        state.org.list_nodes, state.cluster_id, ListQuery(limit=MAX_LIMIT)
    )
    try:
        faults: dict[str, str | None] | None = {
            n.name: n.fault for n in await session.run(state.simulator.nodes)
        }
    except (Forbidden, NotFound):
        faults = None
    rows = views.gpu_map(list(placed), faults, await _all_workloads(session))
    return {"nodes": rows, "is_admin": faults is not None}


@router.get("/nodes")
@_page
async def nodes_page(request: Request) -> Response:
    session = await _session(request)
    return _render(request, session, "nodes.html", **await _nodes_context(session))


@router.get("/nodes/map")
@_page
async def nodes_map(request: Request) -> Response:
    session = await _session(request)
    return _render(request, session, "_gpu_map.html", **await _nodes_context(session))


@router.post("/nodes/{node_name}/fault")
@_page
async def node_fault(request: Request, node_name: str) -> Response:
    session, form = await _post(request)
    fault = {"fail": "failed", "drain": "drained"}.get(form.get("action", ""))
    await session.run(session.state.simulator.set_node_fault, node_name, fault)
    return _see("/nodes")


# --- access and audit ---------------------------------------------------------------------------


async def _access_context(session: Session) -> dict[str, Any]:
    state = session.state

    async def maybe(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await session.run(fn, *args)
        except Forbidden:
            return None

    users = await maybe(state.identity.list_users, ListQuery(limit=MAX_LIMIT))
    rules = await maybe(
        state.identity.list_access_rules, RuleSelection(), ListQuery(limit=MAX_LIMIT)
    )
    may = functools.partial(allowed_somewhere, session.principal)
    return {
        "accounts": await maybe(state.identity.list_service_accounts),
        "users": users[0] if users else None,
        "rules": rules[0] if rules else None,
        "roles": await maybe(state.identity.roles) or (),
        "scopes": await _scopes(session),
        "can_create_account": may(ResourceType.service_account, Action.create),
        "can_delete_account": may(ResourceType.service_account, Action.delete),
        "can_create_user": may(ResourceType.users, Action.create),
        "can_delete_user": may(ResourceType.users, Action.delete),
        "can_create_rule": may(ResourceType.access_rules, Action.create),
        "can_delete_rule": may(ResourceType.access_rules, Action.delete),
        "access_form": {},
    }


async def _scopes(session: Session) -> list[tuple[str, str]]:
    """The scopes a new access rule may name, as (`type:id`, label), tenant first."""
    state = session.state
    out = [(f"tenant:{state.settings.tenant_id}", "tenant"), (f"cluster:{state.cluster_id}",
           "cluster")]  # fmt: skip
    with contextlib.suppress(Forbidden):
        departments, _ = await session.run(state.org.list_departments, ListQuery(limit=MAX_LIMIT))
        out += [(f"department:{d.id}", f"department {d.name}") for d in departments]
    with contextlib.suppress(Forbidden):
        out += [(f"project:{p.id}", f"project {p.name}") for p in await _projects(session)]
    return out


async def _access_refused(
    request: Request, session: Session, exc: Invalid, form: dict[str, str]
) -> Response:
    """The access page again with the service's 400; the form's fields kept, but never a
    password."""
    kept = {k: v for k, v in form.items() if k not in ("password", CSRF_FIELD)}
    context = await _access_context(session)
    context["access_form"] = kept
    return _render(request, session, "access.html", 400, message=exc.message,
                   issues=exc.issues, **context)  # fmt: skip


def _wire_checked(model: Any, body: dict[str, Any]) -> Any:
    """The body as the API's request model would take it: its issues are the API's 400."""
    parsed, issues = wire_issues(model, body)
    if parsed is None:
        raise Invalid("The request body is invalid; see complianceIssues", issues)
    return parsed


def _confirmed(form: dict[str, str]) -> None:
    if form.get("confirm") != "yes":
        raise Invalid("confirm: tick the box to confirm the deletion")


@router.get("/access")
@_page
async def access_page(request: Request) -> Response:
    session = await _session(request)
    return _render(request, session, "access.html", **await _access_context(session))


@router.post("/access/service-accounts")
@_page
async def create_service_account(request: Request) -> Response:
    session, form = await _post(request)
    try:
        account, secret = await session.run(
            session.state.identity.create_service_account, form.get("name", "")
        )
    except Invalid as exc:
        return _render(request, session, "access.html", 400, message=exc.message,
                       **await _access_context(session))  # fmt: skip
    # shown once, on this response only; the page it redirects to never shows it again
    response = _render(
        request, session, "access.html", 201, new_account=account, new_secret=secret,
        **await _access_context(session),
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/access/service-accounts/{account_id}/delete")
@_page
async def delete_service_account(request: Request, account_id: str) -> Response:
    session, form = await _post(request)
    _confirmed(form)
    await session.run(session.state.identity.delete_service_account, account_id)
    return _see("/access")


@router.post("/access/users")
@_page
async def create_user(request: Request) -> Response:
    """A new user with the password the administrator sets (the password policy applies);
    the password is never shown back."""
    session, form = await _post(request)
    try:
        username = _wire_checked(UserCreationRequest, {"email": form.get("username", "")}).email
        password = form.get("password", "")
        await session.run(session.state.identity.create_user, username, password)
    except Invalid as exc:
        return await _access_refused(request, session, exc, form)
    return _see("/access")


@router.post("/access/users/{user_id}/delete")
@_page
async def delete_user(request: Request, user_id: str) -> Response:
    session, form = await _post(request)
    _confirmed(form)
    await session.run(session.state.identity.delete_user, user_id)
    return _see("/access")


@router.post("/access/rules")
@_page
async def create_access_rule(request: Request) -> Response:
    """An access rule as `POST /api/v1/authorization/access-rules` takes it."""
    session, form = await _post(request)
    scope_type, _, scope_id = form.get("scope", "").partition(":")
    role = form.get("role", "").strip()
    body = {
        "subjectType": form.get("subjectType", ""),
        "subjectId": form.get("subjectId", "").strip(),
        "roleId": int(role) if re.fullmatch(r"-?\d{1,10}", role) else role,
        "scopeType": scope_type,
        "scopeId": scope_id,
    }
    try:
        fields = _wire_checked(AccessRuleCreationFields, body)
        await session.run(
            functools.partial(
                session.state.identity.create_access_rule,
                subject_type=fields.subjectType.value,
                subject_id=fields.subjectId,
                role_id=fields.roleId,
                scope_type=fields.scopeType.value,
                scope_id=fields.scopeId,
            )
        )
    except Invalid as exc:
        return await _access_refused(request, session, exc, form)
    return _see("/access")


@router.post("/access/rules/{rule_id}/delete")
@_page
async def delete_access_rule(request: Request, rule_id: str) -> Response:
    session, form = await _post(request)
    _confirmed(form)
    await session.run(session.state.identity.delete_access_rule, rule_id)
    return _see("/access")


@router.get("/audit")
@_page
async def audit_page(request: Request) -> Response:
    session = await _session(request)
    offset_text = request.query_params.get("offset", "0")
    offset = int(offset_text) if offset_text.isdigit() and len(offset_text) < 10 else 0
    entries, total = await session.run(session.state.audit.page, offset, 50)
    return _render(
        request, session, "audit.html", entries=entries, total=total, offset=offset, size=50
    )
