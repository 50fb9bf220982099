"""Run:ai's response and error shapes, by Run:ai's schema names, for the OpenAPI document.

Request bodies of NIM services live in `nimplane.domain.requests`; these models document what
the server answers, and the small token and workload-batch requests. Handlers build the
payloads directly (see `views.py`) and serialise them once, so these models are the contract
the tests check responses against.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from nimplane.domain.phases import Phase
from nimplane.domain.spec import LaxEnum, NimServiceSpec, Preemptibility, WireModel
from nimplane.domain.workloads import DesiredPhase


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(Model):
    code: int = Field(ge=100, le=599)
    message: str
    details: str | None = None


class PolicyRuleEnum(StrEnum):
    min = "min"
    max = "max"
    step = "step"
    options = "options"
    required = "required"
    canEdit = "canEdit"
    canAdd = "canAdd"
    locked = "locked"


class ComplianceIssueV2(Model):
    field: str
    details: str
    rule: PolicyRuleEnum | None = None


class SubmissionErrorV2(Error):
    complianceIssues: list[ComplianceIssueV2] | None = None


class GVK(Model):
    group: str
    version: str
    kind: str


class WorkloadV2Metadata(Model):
    name: str
    projectId: str
    priority: str | None = None
    category: str | None = None
    preemptibility: Preemptibility | None = None
    id: str = Field(json_schema_extra={"format": "uuid"})
    gvk: GVK
    projectName: str
    clusterId: str = Field(json_schema_extra={"format": "uuid"})
    tenantId: int
    departmentId: str
    departmentName: str
    createdAt: datetime
    createdBy: str
    updatedAt: datetime
    updatedBy: str
    deletedAt: datetime | None = None
    deletedBy: str | None = None


class NimServiceResponse(Model):
    metadata: WorkloadV2Metadata
    desiredPhase: DesiredPhase
    spec: NimServiceSpec


class NimServiceDryRun(Model):
    """nimplane's own addition (`?dryRun=true`): what a create would store and apply."""

    workload: NimServiceResponse = Field(
        description="The NIM service as the create would answer it; its id is not stored."
    )
    manifests: list[dict[str, Any]] = Field(
        description="The Kubernetes objects it would apply, in order (a PersistentVolumeClaim "
        "it creates, then the NIMService)."
    )


class ManifestList(Model):
    """nimplane's own addition: the Kubernetes objects applied for a workload, as a `v1` List
    (`kubectl apply -f` takes it as JSON or YAML)."""

    apiVersion: str = "v1"
    kind: str = "List"
    items: list[dict[str, Any]]


class WorkloadV2(Model):
    metadata: WorkloadV2Metadata
    desiredPhase: DesiredPhase
    workloadManifest: dict[str, Any]
    rawManifest: dict[str, Any]


class Condition(Model):
    type: str
    status: str
    message: str | None = None
    reason: str | None = None
    lastTransitionTime: datetime | None = None


class PendingSchedulingMessage(Model):
    nodePool: str | None = None
    phaseReason: str | None = None
    reason: str | None = None
    orgType: str | None = None
    userMessage: str | None = None


class Source(StrEnum):
    CLI = "CLI"
    Control_plane = "Control-plane"
    Other = "Other"


class Workload(Model):
    """Run:ai's v1 `Workload` (the fields nimplane fills; Run:ai's required ones all present)."""

    type: str
    name: str
    id: str = Field(json_schema_extra={"format": "uuid"})
    source: Source
    priority: int | None
    priorityClassName: str
    clusterId: str
    projectName: str
    projectId: str
    departmentName: str
    departmentId: str
    namespace: str
    createdAt: datetime
    phase: Phase
    conditions: list[Condition]
    k8sPhase: str
    tenantId: int
    runningPods: int
    phaseUpdatedAt: datetime
    k8sPhaseUpdatedAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None
    category: str
    submittedBy: str | None = None
    phaseMessage: str | None = None
    phaseReason: str | None = None
    preemptible: bool | None = None
    requestedNodePools: list[str] | None = None
    images: list[str] | None = None
    urls: list[str] | None = None
    sourceApi: str | None = None
    completedAt: datetime | None = None
    totalPendingTimeSeconds: int | None = None
    totalRunningTimeSeconds: int | None = None
    actionsSupport: dict[str, bool] | None = None


class WorkloadDetailed(Workload):
    pendingSchedulingMessages: list[PendingSchedulingMessage] | None = None


class WorkloadsListResponse(Model):
    next: int | None = None
    workloads: list[Workload]


class WorkloadsCountResponse(Model):
    count: int


class TokenRequestGrantTypeEnum(StrEnum):
    app_token = "app_token"
    client_credentials = "client_credentials"
    refresh_token = "refresh_token"
    exchange_token = "exchange_token"
    password = "password"
    external_token_exchange = "external_token_exchange"


class TokenRequest(BaseModel):
    """Run:ai's v1 token request. `AppId`/`AppSecret` (what runapy sends) are accepted too."""

    model_config = ConfigDict(extra="allow")

    grantType: TokenRequestGrantTypeEnum | None = None
    appID: str | None = None
    appSecret: str | None = None
    code: str | None = None
    redirectUri: str | None = None
    refreshToken: str | None = None
    username: str | None = None
    password: str | None = None
    clientID: str | None = None
    clientSecret: str | None = None
    externalToken: str | None = None


class TokenResponse(Model):
    accessToken: str
    idToken: str | None = None
    refreshToken: str | None = None
    expiresIn: int | None = None


class OAuth2TokenResponse(Model):
    access_token: str
    token_type: str
    expires_in: int | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None


class OAuth2Error(Model):
    error: str
    error_description: str | None = None
    error_uri: str | None = None


class HealthStatus(Model):
    status: str


class AuditLog(Model):
    id: int
    timestamp: datetime
    subject: str | None = None
    subjectType: str | None = None
    action: str
    httpMethod: str
    url: str
    entityType: str
    entityId: str | None = None
    entityName: str | None = None
    statusCode: int
    outcome: str


class AuditLogsResponse(Model):
    next: int | None = None
    auditLogs: list[AuditLog]


class InvolvedObject(Model):
    uid: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None


class Event2(Model):
    """Run:ai's workload event."""

    createdAt: datetime
    id: str | None = None
    type: str
    clusterId: str
    message: str
    reason: str | None = None
    source: str | None = None
    involvedObject: InvolvedObject | None = None


class WorkloadEventsResponse(Model):
    next: int | None = None
    events: list[Event2]


class PodContainer(Model):
    name: str
    image: str
    ready: bool
    restartCount: int
    state: str
    message: str | None = None


class WorkloadPod(Model):
    """One pod of a workload (Run:ai's pods listing, with Kubernetes' container status)."""

    id: str
    name: str
    workloadId: str
    clusterId: str
    projectId: str
    tenantId: int
    nodeName: str
    currentNodePool: str | None = None
    k8sPhase: str
    ready: bool
    createdAt: datetime
    priorityClassName: str
    allocatedResources: dict[str, Any]
    containers: list[PodContainer]


class WorkloadPodsResponse(Model):
    next: int | None = None
    pods: list[WorkloadPod]


class HistoryRecordType(StrEnum):
    Event = "Event"
    PhaseUpdate = "PhaseUpdate"


class HistoryRecordMeta(Model):
    creationTimestamp: datetime
    type: HistoryRecordType


class PhaseUpdate(Model):
    phase: Phase
    phaseMessage: str


class HistoryRecordSpec(Model):
    event: Event2 | None = None
    phaseUpdate: PhaseUpdate | None = None


class HistoryRecord1(Model):
    """Run:ai's workload history record: an event or a phase update."""

    meta: HistoryRecordMeta
    spec: HistoryRecordSpec


class WorkloadHistoryResponse(Model):
    next: int | None = None
    records: list[HistoryRecord1]


class Action1(StrEnum):
    """The action to perform on the list of ids."""

    delete = "delete"
    suspend = "suspend"
    resume = "resume"


class WorkloadBatch(WireModel):
    """The ids and action to perform on a batch of workloads (at most 100 ids)."""

    ids: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=100,
            description="The workload ids (UUIDs) to perform the action on; an id that is not "
            "a workload's is reported as failed (404).",
        ),
    ]
    action: Annotated[Action1, LaxEnum]


class BatchResponseFailureItem(Model):
    id: str
    code: int
    message: str


class BatchResponse(Model):
    id: str = Field(json_schema_extra={"format": "uuid"}, description="The id of the batch.")
    succeeded: list[str]
    failed: list[BatchResponseFailureItem]
