"""Run:ai's request bodies for NIM services, and the one function that checks a body whole.

`check_body` runs the wire model (types, enums, bounds, unknown fields) and the semantic rules
(`validation.py`) over the same body and reports every violation of both at once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.spec import DNS_LABEL, SPEC_SECTIONS, NimServiceSpec, WireModel

_PYDANTIC_RULES = {
    "missing": "required",
    "greater_than": "min",
    "greater_than_equal": "min",
    "less_than": "max",
    "less_than_equal": "max",
    "string_too_short": "min",
    "string_too_long": "max",
    "enum": "options",
    "literal_error": "options",
}


def _project_id_as_string(value: Any) -> Any:
    """docs/decisions.md D4: an integer projectId is accepted and echoed back as a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class NIMServiceMetadataCreateParams(WireModel):
    name: Annotated[str, Field(min_length=1)]
    useGivenNameAsPrefix: bool | None = False
    projectId: Annotated[str, BeforeValidator(_project_id_as_string)]


class NimServiceCreateRequest(WireModel):
    metadata: NIMServiceMetadataCreateParams
    spec: NimServiceSpec


class NimServiceSpecField(StrEnum):
    """A top-level `NimServiceSpec` property: what `fieldsToRemove` may name."""

    annotations = "annotations"
    autoscaling = "autoscaling"
    category = "category"
    compute = "compute"
    environmentVariables = "environmentVariables"
    image = "image"
    imagePullPolicy = "imagePullPolicy"
    imagePullSecrets = "imagePullSecrets"
    labels = "labels"
    modelStore = "modelStore"
    multiNode = "multiNode"
    ngcAuthSecret = "ngcAuthSecret"
    nodePools = "nodePools"
    preemptibility = "preemptibility"
    priorityClass = "priorityClass"
    probes = "probes"
    replicas = "replicas"
    security = "security"
    servingPort = "servingPort"
    tolerations = "tolerations"


assert {f.value for f in NimServiceSpecField} == set(SPEC_SECTIONS)


class NimServiceUpdateRequest(WireModel):
    spec: NimServiceSpec
    fieldsToRemove: list[Annotated[NimServiceSpecField, Field(strict=False)]] | None = Field(
        None,
        description="Top-level spec sections to remove (Run:ai v3.0). "
        "A section may not be both given and removed.",
    )


M = TypeVar("M", bound=BaseModel)


def issue_path(loc: tuple[int | str, ...]) -> str:
    """('spec', 'environmentVariables', 2, 'name') -> 'spec.environmentVariables[2].name'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def wire_issues(model: type[M], body: Any) -> tuple[M | None, list[ComplianceIssue]]:
    """Validate `body` against a wire model; every error becomes a ComplianceIssue."""
    try:
        return model.model_validate(body), []
    except ValidationError as exc:
        issues = []
        for error in exc.errors(include_url=False):
            kind = error["type"]
            if kind == "extra_forbidden":
                details = "unknown field"
            elif kind == "missing":
                details = "field required"
            elif (
                kind == "string_pattern_mismatch"
                and error.get("ctx", {}).get("pattern") == DNS_LABEL
            ):
                details = (
                    f"'{error['input']}' is not a DNS-1123 label: use lower-case letters, digits "
                    "and '-', starting and ending with a letter or digit"
                )
            else:
                details = error["msg"]
            issues.append(
                ComplianceIssue(issue_path(error["loc"]), details, _PYDANTIC_RULES.get(kind))
            )
        return None, issues
