"""`/api/v1/org-unit`: departments and projects, and their per-node-pool quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response
from nimplane.api.org_schemas import (
    Department,
    DepartmentCreationRequest,
    DepartmentFilterSortFields,
    DepartmentsList,
    DepartmentUpdateRequest,
    Project,
    ProjectCreationRequest,
    ProjectFilterSortFields,
    ProjectsList,
    ProjectUpdateRequest,
    Resources,
    ResourcesUpdateRequest,
    Verbosity,
    parse,
    pool_quotas,
    unit_fields,
)
from nimplane.api.org_views import department_view, project_view, resources_view
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.routes.workloads import FilterBy, Search, SortOrder
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.domain.org import DEPARTMENT_FIELDS, ORG_DATE_FIELDS, PROJECT_FIELDS
from nimplane.domain.queries import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, parse_filter_by

router = APIRouter()

DepartmentId = Path(alias="departmentId", description="The id of the department.")
ProjectId = Path(alias="projectId", description="The project id.")
Offset = Annotated[
    int, Query(ge=0, le=2**31 - 1, description="The offset of the first item returned.")
]
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description="The maximum number of entries to return.")
]
Order = Annotated[SortOrder, Query(alias="sortOrder")]
RESOURCES_BODY = json_request_body("ResourcesUpdateRequest")


def _page(payload: dict[str, Any], offset: int, shown: int, total: int) -> dict[str, Any]:
    if offset + shown < total:
        payload["next"] = offset + shown
    return payload


def _no_content() -> Response:
    return Response(status_code=204)


# --- departments ------------------------------------------------------------------------------


@router.post(
    "/api/v1/org-unit/departments",
    operation_id="create_department",
    summary="Create department.",
    tags=["Departments"],
    status_code=201,
    response_model=Department,
    responses={201: {"description": "Created"}, **errors(400, 401, 403, 409, 500, 503)},
    openapi_extra=json_request_body("DepartmentCreationRequest"),
)
async def create_department(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(DepartmentCreationRequest, body.parse())
        return state.org.create_department(
            principal,
            name=req.name,
            cluster_id=req.clusterId,
            fields=unit_fields(req, req.resources),
        )

    department, warnings = await as_caller(request, run)
    return json_response(department_view(department), 201, warnings=warnings)


@router.get(
    "/api/v1/org-unit/departments",
    operation_id="get_departments",
    summary="Get departments.",
    tags=["Departments"],
    response_model=DepartmentsList,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_departments(
    request: Request,
    filter_by: FilterBy = None,
    sort_by: Annotated[DepartmentFilterSortFields | None, Query(alias="sortBy")] = None,
    verbosity: Annotated[
        Verbosity | None,
        Query(description="Accepted for compatibility: every level shows the same fields."),
    ] = None,
    sort_order: Order = SortOrder.asc,
    offset: Offset = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    def run(state: AppState, principal: Principal) -> Any:
        query = ListQuery(
            filters=parse_filter_by(filter_by, DEPARTMENT_FIELDS, ORG_DATE_FIELDS),
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        return state.org.list_departments(principal, query)

    page, total = await as_caller(request, run, read_only=True)
    shown = [department_view(d, for_list=True) for d in page]
    return json_response(_page({"departments": shown}, offset, len(page), total))


@router.get(
    "/api/v1/org-unit/departments/{departmentId}",
    operation_id="get_department",
    summary="Get department.",
    tags=["Departments"],
    response_model=Department,
    responses=errors(401, 403, 404, 500, 503),
)
async def get_department(request: Request, department_id: str = DepartmentId) -> Response:
    department = await as_caller(
        request, lambda s, p: s.org.get_department(p, department_id), read_only=True
    )
    return json_response(department_view(department))


@router.put(
    "/api/v1/org-unit/departments/{departmentId}",
    operation_id="update_department",
    summary="Update department.",
    tags=["Departments"],
    response_model=Department,
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=json_request_body("DepartmentUpdateRequest"),
)
async def update_department(request: Request, department_id: str = DepartmentId) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(DepartmentUpdateRequest, body.parse())
        return state.org.update_department(
            principal, department_id, unit_fields(req, req.resources)
        )

    department, warnings = await as_caller(request, run)
    return json_response(department_view(department), warnings=warnings)


@router.delete(
    "/api/v1/org-unit/departments/{departmentId}",
    operation_id="delete_department",
    summary="Delete department.",
    tags=["Departments"],
    status_code=204,
    response_model=None,
    responses={
        204: {"description": "Deleted"},
        **errors(401, 403, 404, 409, 500, 503),
    },
)
async def delete_department(request: Request, department_id: str = DepartmentId) -> Response:
    await as_caller(request, lambda s, p: s.org.delete_department(p, department_id))
    return _no_content()


async def _set_department_resources(request: Request, department_id: str, merge: bool) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        items = pool_quotas(parse(ResourcesUpdateRequest, body.parse()).root)
        return state.org.set_department_resources(principal, department_id, items, merge=merge)

    quotas, warnings = await as_caller(request, run)
    return json_response(resources_view(quotas), warnings=warnings)


@router.put(
    "/api/v1/org-unit/departments/{departmentId}/resources",
    operation_id="update_department_resources",
    summary="Update department resources.",
    description="The list replaces the department's quotas: a node pool left out gets none.",
    tags=["Departments"],
    response_model=list[Resources],
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=RESOURCES_BODY,
)
async def update_department_resources(
    request: Request, department_id: str = DepartmentId
) -> Response:
    return await _set_department_resources(request, department_id, merge=False)


@router.patch(
    "/api/v1/org-unit/departments/{departmentId}/resources",
    operation_id="patch_department_resources",
    summary="Patch department resources.",
    description="Each item changes one node pool: the resources it gives replace the stored "
    "ones; other node pools stay as they are.",
    tags=["Departments"],
    response_model=list[Resources],
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=RESOURCES_BODY,
)
async def patch_department_resources(
    request: Request, department_id: str = DepartmentId
) -> Response:
    return await _set_department_resources(request, department_id, merge=True)


# --- projects ---------------------------------------------------------------------------------


@router.post(
    "/api/v1/org-unit/projects",
    operation_id="create_project",
    summary="Create project.",
    tags=["Projects"],
    status_code=201,
    response_model=Project,
    responses={201: {"description": "Created"}, **errors(400, 401, 403, 409, 500, 503)},
    openapi_extra=json_request_body("ProjectCreationRequest"),
)
async def create_project(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(ProjectCreationRequest, body.parse())
        return state.org.create_project(
            principal,
            name=req.name,
            cluster_id=req.clusterId,
            parent_id=req.parentId,
            requested_namespace=req.requestedNamespace,
            fields=unit_fields(req, req.resources, req.enforceRunaiScheduler),
        )

    return json_response(project_view(await as_caller(request, run)), 201)


@router.get(
    "/api/v1/org-unit/projects",
    operation_id="get_projects",
    summary="Get projects.",
    tags=["Projects"],
    response_model=ProjectsList,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_projects(
    request: Request,
    filter_by: FilterBy = None,
    sort_by: Annotated[ProjectFilterSortFields | None, Query(alias="sortBy")] = None,
    sort_order: Order = SortOrder.asc,
    offset: Offset = 0,
    limit: Limit = DEFAULT_LIMIT,
    search: Search = None,
) -> Response:
    def run(state: AppState, principal: Principal) -> Any:
        query = ListQuery(
            filters=parse_filter_by(filter_by, PROJECT_FIELDS, ORG_DATE_FIELDS),
            search=search,
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        return state.org.list_projects(principal, query)

    page, total = await as_caller(request, run, read_only=True)
    shown = [project_view(p) for p in page]
    return json_response(_page({"projects": shown}, offset, len(page), total))


@router.get(
    "/api/v1/org-unit/projects/{projectId}",
    operation_id="get_project",
    summary="Get project.",
    tags=["Projects"],
    response_model=Project,
    responses=errors(401, 403, 404, 500, 503),
)
async def get_project(request: Request, project_id: str = ProjectId) -> Response:
    project = await as_caller(
        request, lambda s, p: s.org.get_project(p, project_id), read_only=True
    )
    return json_response(project_view(project))


@router.put(
    "/api/v1/org-unit/projects/{projectId}",
    operation_id="update_project",
    summary="Update project.",
    tags=["Projects"],
    response_model=Project,
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=json_request_body("ProjectUpdateRequest"),
)
async def update_project(request: Request, project_id: str = ProjectId) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(ProjectUpdateRequest, body.parse())
        fields = unit_fields(req, req.resources, req.enforceRunaiScheduler)
        return state.org.update_project(principal, project_id, fields)

    return json_response(project_view(await as_caller(request, run)))


@router.delete(
    "/api/v1/org-unit/projects/{projectId}",
    operation_id="delete_project",
    summary="Delete project.",
    description="Refused (409) while the project holds workloads that are not deleted.",
    tags=["Projects"],
    status_code=204,
    response_model=None,
    responses={
        204: {"description": "Deleted"},
        **errors(401, 403, 404, 409, 500, 503),
    },
)
async def delete_project(request: Request, project_id: str = ProjectId) -> Response:
    await as_caller(request, lambda s, p: s.org.delete_project(p, project_id))
    return _no_content()


async def _set_project_resources(request: Request, project_id: str, merge: bool) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        items = pool_quotas(parse(ResourcesUpdateRequest, body.parse()).root)
        return state.org.set_project_resources(principal, project_id, items, merge=merge)

    return json_response(resources_view(await as_caller(request, run)))


@router.put(
    "/api/v1/org-unit/projects/{projectId}/resources",
    operation_id="update_project_resources",
    summary="Update project resources.",
    description="The list replaces the project's quotas: a node pool left out gets none.",
    tags=["Projects"],
    response_model=list[Resources],
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=RESOURCES_BODY,
)
async def update_project_resources(request: Request, project_id: str = ProjectId) -> Response:
    return await _set_project_resources(request, project_id, merge=False)


@router.patch(
    "/api/v1/org-unit/projects/{projectId}/resources",
    operation_id="patch_project_resources",
    summary="Patch project resources.",
    description="Each item changes one node pool: the resources it gives replace the stored "
    "ones; other node pools stay as they are.",
    tags=["Projects"],
    response_model=list[Resources],
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 500, 503)},
    openapi_extra=RESOURCES_BODY,
)
async def patch_project_resources(request: Request, project_id: str = ProjectId) -> Response:
    return await _set_project_resources(request, project_id, merge=True)
