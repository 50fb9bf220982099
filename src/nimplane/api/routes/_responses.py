"""The documented error responses of each kind of route, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from nimplane.api.schemas import Error, SubmissionErrorV2


def errors(*codes: int, invalid_model: type = Error) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request.",
        401: "Unauthorized: a valid bearer token is required.",
        403: "Forbidden: the token lacks the permission on this scope.",
        404: "Not found.",
        409: "Conflict: the name is taken, or the resource version is stale.",
        429: "Too many attempts: retry after the seconds the `Retry-After` header gives.",
        500: "Unexpected error.",
        503: "Unavailable: try again in a few minutes.",
    }
    return {
        code: {"model": invalid_model if code == 400 else Error, "description": descriptions[code]}
        for code in codes
    }


def json_request_body(schema_name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            },
        }
    }


SUBMISSION = SubmissionErrorV2
