"""`/api/v2/workloads/nim-services`: create (and `?dryRun=true`), get, update (PATCH) NIM
services, and nimplane's own `/{id}/manifests` (what is applied on Kubernetes)."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response, parse_if_match
from nimplane.api.errors import error_response
from nimplane.api.routes._responses import SUBMISSION, errors, json_request_body
from nimplane.api.schemas import Error, ManifestList, NimServiceDryRun, NimServiceResponse
from nimplane.api.views import nim_service_view

router = APIRouter(tags=["NVIDIA NIM"])

WorkloadV2Id = Path(alias="WorkloadV2Id", description="The ID of the workload.")
JSON = "application/json"
YAML = "application/yaml"
_YAML_ALIASES = frozenset({YAML, "application/x-yaml", "text/yaml"})


@router.post(
    "/api/v2/workloads/nim-services",
    operation_id="create_nim_service",
    summary="Create a NVIDIA NIM service. [Experimental]",
    status_code=202,
    response_model=NimServiceResponse,
    responses={
        200: {
            "model": NimServiceDryRun,
            "description": "Dry run (nimplane's own addition): the request is valid; nothing "
            "was stored. The NIM service it would create and the manifests it would apply.",
        },
        202: {"description": "Workload creation accepted"},
        **errors(400, 401, 403, 409, 500, 503, invalid_model=SUBMISSION),
    },
    openapi_extra=json_request_body("NimServiceCreateRequest"),
)
async def create_nim_service(
    request: Request,
    dry_run: Annotated[
        bool,
        Query(
            alias="dryRun",
            description="nimplane's own addition: validate everything a create validates "
            "(permission and a taken name too), store nothing, answer 200 with what would be "
            "stored and applied. Run:ai clients never send it.",
            json_schema_extra={"x-nimplane-addition": True},
        ),
    ] = False,
) -> Response:
    body = await JsonBody.read(request)
    outcome = await as_caller(
        request, lambda s, p: s.workloads.create(p, body.parse(), dry_run=dry_run)
    )
    w = outcome.workload
    if dry_run:
        payload = {"workload": nim_service_view(w), "manifests": outcome.manifests}
        return json_response(payload, 200, warnings=outcome.warnings)
    return json_response(
        nim_service_view(w), 202, version=w.resource_version, warnings=outcome.warnings
    )


@router.get(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}",
    operation_id="get_nim_service_by_id",
    summary="Get a NVIDIA NIM service. [Experimental]",
    response_model=NimServiceResponse,
    responses={
        200: {"description": "Successfully retrieved the workload"},
        **errors(401, 403, 404, 500, 503),
    },
)
async def get_nim_service_by_id(request: Request, workload_id: str = WorkloadV2Id) -> Response:
    w = await as_caller(request, lambda s, p: s.workloads.get(p, workload_id), read_only=True)
    return json_response(nim_service_view(w), version=w.resource_version)


@router.get(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}/manifests",
    operation_id="get_nim_service_manifests",
    summary="The Kubernetes manifests of a NVIDIA NIM service (nimplane's own addition).",
    description="What is applied on Kubernetes for the workload, rendered from its stored spec "
    "with the configured cluster settings: a `v1` List of a PersistentVolumeClaim it creates "
    "(if any) and the NIM Operator's NIMService. JSON or YAML by `Accept`.",
    response_model=ManifestList,
    responses={
        200: {
            "description": "The manifests",
            "content": {YAML: {"schema": {"type": "string"}}},
        },
        406: {"model": Error, "description": "Neither JSON nor YAML is acceptable."},
        **errors(401, 404, 500, 503),
    },
)
async def get_nim_service_manifests(request: Request, workload_id: str = WorkloadV2Id) -> Response:
    items = await as_caller(
        request, lambda s, p: s.workloads.manifests(p, workload_id), read_only=True
    )
    media_type = negotiate(request.headers.get("accept"))
    document = ManifestList(items=items).model_dump()
    if media_type == JSON:
        return json_response(document)
    if media_type == YAML:
        text = yaml.safe_dump(document, sort_keys=False)
        return Response(text, media_type=YAML)
    return error_response(
        406, f"Accept '{request.headers.get('accept')}': the manifests are {JSON} or {YAML}"
    )


def negotiate(accept: str | None) -> str | None:
    """JSON or YAML by `Accept` (q-values honoured, the most specific range deciding each;
    JSON on a tie or without the header); None when neither is acceptable."""
    if accept is None or not accept.strip():
        return JSON
    quality: dict[str, tuple[int, float]] = {}  # offered -> (specificity, q)
    for part in accept.split(","):
        media, *params = (field.strip() for field in part.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for offered in (JSON, YAML):
            if media == offered or (offered == YAML and media in _YAML_ALIASES):
                specificity = 2
            elif media == "application/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            if specificity >= quality.get(offered, (-1, 0.0))[0]:
                quality[offered] = (specificity, q)
    best = max((JSON, YAML), key=lambda offered: quality.get(offered, (0, 0.0))[1])
    return best if quality.get(best, (0, 0.0))[1] > 0 else None


@router.patch(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}",
    operation_id="update_nim_service_spec",
    summary="Update NVIDIA NIM service spec. [Experimental]",
    status_code=202,
    response_model=NimServiceResponse,
    responses={
        202: {"description": "Workload update request accepted"},
        **errors(400, 401, 403, 404, 409, 500, 503, invalid_model=SUBMISSION),
    },
    openapi_extra=json_request_body("NimServiceUpdateRequest"),
)
async def update_nim_service_spec(request: Request, workload_id: str = WorkloadV2Id) -> Response:
    body = await JsonBody.read(request)
    if_match = parse_if_match(request)
    outcome = await as_caller(
        request, lambda s, p: s.workloads.update(p, workload_id, body.parse(), if_match)
    )
    w = outcome.workload
    return json_response(
        nim_service_view(w), 202, version=w.resource_version, warnings=outcome.warnings
    )
