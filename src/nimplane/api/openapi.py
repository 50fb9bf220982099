"""The OpenAPI document: FastAPI's, plus the request-body schemas routes parse themselves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from nimplane import __version__
from nimplane.api.identity_schemas import REQUEST_MODELS as IDENTITY_REQUESTS
from nimplane.api.org_schemas import REQUEST_MODELS as ORG_REQUESTS
from nimplane.api.schemas import TokenRequest, WorkloadBatch
from nimplane.api.simulator_schemas import REQUEST_MODELS as SIMULATOR_REQUESTS
from nimplane.domain.requests import NimServiceCreateRequest, NimServiceUpdateRequest

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    NimServiceCreateRequest,
    NimServiceUpdateRequest,
    TokenRequest,
    WorkloadBatch,
    *IDENTITY_REQUESTS,
    *ORG_REQUESTS,
    *SIMULATOR_REQUESTS,
)
PUBLIC_PATHS = frozenset({"/api/v1/token", "/api/v2/token", "/healthz", "/readyz"})
"""Everything else needs `Authorization: Bearer <token>` (checked in `api.deps.as_caller`)."""
EDGE_REFUSAL: dict[str, Any] = {
    "description": "Refused at the edge, before the operation: a Content-Length that is not a "
    "number or over the body limit, a body over the limit, or a NUL in the path or query.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
"""Every operation may answer it, whatever its own errors (docs/decisions.md D7)."""
TITLE = "nimplane"
DESCRIPTION = (
    "A control plane for NVIDIA NIM services, wire-compatible with NVIDIA Run:ai's API: "
    "Run:ai's paths, operation ids and schema names. Authenticate with a bearer token from "
    "`POST /api/v1/token` or `POST /api/v2/token`."
)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        routes=app.routes,
        separate_input_output_schemas=False,
    )
    for path, path_item in document["paths"].items():
        for operation in path_item.values():
            # bad input is a 400 here (docs/decisions.md D7)
            operation.get("responses", {}).pop("422", None)
            # the edge refuses any request before its route (api/edge.py)
            operation.setdefault("responses", {}).setdefault("400", EDGE_REFUSAL)
            if path not in PUBLIC_PATHS:
                operation["security"] = [{"bearerAuth": []}]
    _, extra = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in extra.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    security = document["components"].setdefault("securitySchemes", {})
    security["bearerAuth"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    app.openapi_schema = document
    return document
