"""Run:ai's identity, authorization and workload-property shapes, by Run:ai's schema names.

Request models refuse unknown fields and are parsed by the routes only once the caller is
authenticated (`parse_body`); every problem is one 400 with `complianceIssues`, never a 422.
Response models document what the views in `identity_views.py` build.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field

from nimplane.api.deps import JsonBody
from nimplane.api.schemas import Model
from nimplane.domain.errors import Invalid
from nimplane.domain.rbac import Action, ResourceType, ScopeType
from nimplane.domain.requests import wire_issues
from nimplane.domain.spec import LaxEnum, WireModel
from nimplane.domain.validation import drop_nulls

M = TypeVar("M", bound=BaseModel)

SERVICE_ACCOUNT_NAME = r"^[a-z][-_a-z0-9]*[a-z0-9]$"
EMAIL = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"
INT32_MAX = 2**31 - 1


def parse_body(model: type[M], body: JsonBody) -> M:
    """The body as `model`: a wrong content type, malformed JSON, a non-object or any field
    problem is a 400 naming every issue. `null` means "not given" (docs/decisions.md D2)."""
    value = body.parse()
    if not isinstance(value, dict):
        raise Invalid("The request body must be a JSON object.")
    parsed, issues = wire_issues(model, drop_nulls(value))
    if parsed is None:
        raise Invalid("The request body is invalid; see complianceIssues", issues)
    return parsed


# --- requests ---------------------------------------------------------------------------------


class ServiceAccountCreationRequest(WireModel):
    name: Annotated[
        str,
        Field(
            pattern=SERVICE_ACCOUNT_NAME,
            max_length=255,
            description="Unique in the organisation; also the account's client id. Lower-case "
            "letters, digits, '-' and '_', starting with a letter and ending with a letter or "
            "digit.",
        ),
    ]


class ServiceAccountPatchRequest(WireModel):
    """Run:ai's patch (`enabled`), plus a new `name` (the client id does not change)."""

    enabled: bool | None = Field(None, description="Whether the service account is enabled.")
    name: Annotated[str, Field(pattern=SERVICE_ACCOUNT_NAME, max_length=255)] | None = None


class SubjectType(StrEnum):
    user = "user"
    app = "app"
    service_account = "service-account"
    group = "group"


class AccessRuleCreationFields(WireModel):
    subjectId: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        description="The user's username or the service account's client id."
    )
    subjectType: Annotated[SubjectType, LaxEnum] = Field(
        description="user or service-account (app: the deprecated name of service-account)."
    )
    roleId: Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)] = Field(
        description="The id of a role (GET /api/v1/authorization/roles)."
    )
    scopeId: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The tenant id, cluster uuid, department id or project id."
    )
    scopeType: Annotated[ScopeType, LaxEnum]
    clusterId: Annotated[str, Field(json_schema_extra={"format": "uuid"}, max_length=64)] | None = (
        None
    )


class UserCreationRequest(WireModel):
    email: Annotated[
        str,
        Field(
            pattern=EMAIL,
            max_length=255,
            description="The user's email address: its username. A temporary password is "
            "generated and returned once.",
        ),
    ]
    resetPassword: bool | None = None
    notify: bool | None = Field(None, description="Accepted; nimplane sends no email.")


class UserChangePasswordRequest(WireModel):
    currentPassword: Annotated[str, Field(min_length=1, max_length=1024)]
    newPassword: Annotated[str, Field(min_length=1, max_length=1024)]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ServiceAccountCreationRequest,
    ServiceAccountPatchRequest,
    AccessRuleCreationFields,
    UserCreationRequest,
    UserChangePasswordRequest,
)


# --- responses --------------------------------------------------------------------------------


class ServiceAccount(Model):
    name: str
    createdBy: str
    createdAt: datetime | None
    updatedAt: datetime | None
    enabled: bool
    tenantId: str | None = None
    lastLogin: datetime | None
    id: str
    clientId: str


class ServiceAccountPostResponse(Model):
    id: str
    name: str
    clientSecret: str = Field(description="Shown only once, in this response.")
    clientId: str | None = None


class RegenerateServiceAccountSecretResponse(Model):
    clientSecret: str | None = Field(None, description="Shown only once, in this response.")


class User(Model):
    id: str
    username: str
    createdBy: str
    createdAt: datetime | None
    updatedAt: datetime | None
    lastLogin: datetime | None
    isLocal: bool | None
    groups: list[str] | None = None


class UserPostResponse(Model):
    id: str
    username: str
    tempPassword: str = Field(description="Shown only once, in this response.")


class ResetUserPasswordResponse(Model):
    tempPassword: str | None = None


class AccessRulePhase(StrEnum):
    Creating = "Creating"
    Ready = "Ready"
    NotReady = "NotReady"
    Deleting = "Deleting"


class AccessRuleStatusResponse(Model):
    phase: AccessRulePhase | None = None
    message: str | None = None
    details: str | None = None


class AccessRule(Model):
    subjectId: str
    subjectType: SubjectType
    roleId: int
    scopeId: str
    scopeType: ScopeType
    clusterId: str | None = None
    roleName: str
    scopeName: str
    id: int
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None = None
    tenantId: int
    createdBy: str
    status: AccessRuleStatusResponse | None = None


class AccessRuleById(AccessRule):
    scopePath: str | None = None


class AccessRulesResponse(Model):
    totalRecords: int
    displayRecords: int
    accessRules: list[AccessRule]


class MeAccessRule(Model):
    subjectId: str
    subjectType: SubjectType
    roleId: int
    scopeId: str
    scopeType: ScopeType
    clusterId: str | None = None
    roleName: str
    scopeName: str
    id: int | None = None
    tenantId: int


class MeAccessRules(Model):
    totalRecords: int
    displayRecords: int
    accessRules: list[MeAccessRule]


class MeAccessRulesResponse(Model):
    accessRules: MeAccessRules | None = None


class ResourceTypeGroupId(StrEnum):
    organization = "organization"
    physical_resource = "physical-resource"
    iam = "iam"
    dashboard = "dashboard"
    workload = "workload"
    workload_asset = "workload-asset"


class Permission(Model):
    resourceType: ResourceType
    displayName: str
    groupId: ResourceTypeGroupId
    actions: list[Action]


class KubernetesPermissions(Model):
    predefinedRole: str | None = None


class RoleV1(Model):
    id: int
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None = None
    createdBy: str
    custom: bool
    effectiveEnabled: bool
    permissions: list[Permission]
    name: str
    description: str
    enabled: bool | None = None
    kubernetesPermissions: KubernetesPermissions | None = None


class WorkloadTypeResourceInterfaceWithVersion(Model):
    version: str | None = None
    resourceInterface: dict[str, Any] | None = None


class WorkloadTypeConfig(Model):
    id: str | None = Field(None, json_schema_extra={"format": "uuid"})
    name: str
    group: str
    categoryId: str = Field(json_schema_extra={"format": "uuid"})
    priorityId: str = Field(json_schema_extra={"format": "uuid"})
    categoryName: str | None = None
    priorityName: str | None = None
    createdAt: datetime | None = None
    createdBy: str | None = None
    updatedAt: datetime | None = None
    updatedBy: str | None = None
    resourceInterfaces: list[WorkloadTypeResourceInterfaceWithVersion] | None = None
    clusterStatuses: list[dict[str, Any]] | None = None


class WorkloadTypesResponse(Model):
    types: list[WorkloadTypeConfig]


class PriorityStatus(Model):
    clusterId: str | None = None
    phase: str | None = None


class WorkloadPriority(Model):
    id: str
    name: str
    value: int = Field(ge=0)
    source: str | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None
    aggregatedPhase: str | None = None
    status: list[PriorityStatus] | None = None
    scopeType: str | None = None
    scopeId: str | None = None


class WorkloadPrioritiesResponse(Model):
    priorities: list[WorkloadPriority]


class WorkloadCategory(Model):
    id: str = Field(json_schema_extra={"format": "uuid"})
    name: str
    description: str | None = None
    createdAt: datetime | None = None
    createdBy: str | None = None


class WorkloadCategoriesResponse(Model):
    categories: list[WorkloadCategory]
