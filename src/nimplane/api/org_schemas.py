"""Run:ai's organisation shapes (departments, projects, quotas, node pools, clusters, nodes), by
Run:ai's schema names.

Request models refuse unknown fields and are parsed by the routes only once the caller is
authenticated (`parse`); every problem is one 400 with `complianceIssues`, never a 422, and
`null` means "not given" (docs/decisions.md D2). Run:ai marks `clusterId` (one cluster here) and
`resources` of a create request required; nimplane defaults them. Response models document what
`org_views.py` builds.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from nimplane.api.schemas import Model
from nimplane.domain.errors import Invalid
from nimplane.domain.org import (
    DEPARTMENT_FIELDS,
    NODE_FIELDS,
    NODE_POOL_FIELDS,
    PROJECT_FIELDS,
    OrgUnitFields,
    PoolQuota,
    Quota,
)
from nimplane.domain.requests import wire_issues
from nimplane.domain.spec import QUANTITY, LaxEnum, WireModel
from nimplane.domain.validation import drop_nulls

M = TypeVar("M", bound=BaseModel)
INVALID_MESSAGE = "The request body is invalid; see complianceIssues"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DURATION = r"^(0|[+]?((\d+(\.\d+)?)(ns|us|µs|μs|ms|s|m|h|d|w))+$)"


def _id_as_string(value: Any) -> Any:
    """docs/decisions.md D4: an integer id is accepted and read as its string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_id_as_string)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


def parse(model: type[M], body: Any) -> M:
    """A JSON body as `model`: every problem is one 400 naming each issue."""
    expects_list = issubclass(model, RootModel)
    if not isinstance(body, list if expects_list else dict):
        kind = "array" if expects_list else "object"
        raise Invalid(f"The request body must be a JSON {kind}.")
    parsed, issues = wire_issues(model, drop_nulls(body))
    if parsed is None:
        raise Invalid(INVALID_MESSAGE, issues)
    return parsed


# --- quotas (requests and responses) ----------------------------------------------------------


class MemoryUnits(StrEnum):
    Mib = "Mib"
    MB = "MB"
    GB = "GB"


class Resource(WireModel):
    """One resource of one node pool. `deserved` and `limit`: -1 is unlimited."""

    deserved: Number | None = Field(
        None, description="Guaranteed quota (GPUs, or CPU millicores); -1 is unlimited."
    )
    limit: Number | None = Field(None, description="The most it may get; -1 or null: no limit.")
    overQuotaWeight: Number | None = Field(
        None, description="Its share of idle resources beyond the quota; at least 0."
    )


class NonNullResource(Resource):
    """The GPU quota: `deserved` defaults to 0."""


class MemoryResource(Resource):
    """The memory quota, in `units`."""

    units: Annotated[MemoryUnits, LaxEnum]


class NodePoolReference(WireModel):
    """A node pool by id, name or both (they must agree); none means `default`."""

    id: Id | None = None
    name: str | None = None


class ResourcesNullable(WireModel):
    nodePool: NodePoolReference | None = None
    gpu: NonNullResource | None = None
    cpu: Resource | None = Field(None, description="CPU in millicores.")
    memory: MemoryResource | None = None
    priority: str | None = None


class ResourcesUpdateRequest(RootModel[list[ResourcesNullable]]):
    """Resources assigned per node pool (PUT: the whole list; PATCH: the pools given)."""

    model_config = ConfigDict(strict=True)


class ResourcesNodePool(Model):
    id: str
    name: str


class Resources(Model):
    nodePool: ResourcesNodePool
    gpu: NonNullResource
    cpu: Resource | None = None
    memory: MemoryResource | None = None
    priority: str | None = None


class DeservedResource(Model):
    deserved: float | None = None


class DeservedMemoryResource(DeservedResource):
    units: MemoryUnits


class AggregatedResources(Model):
    nodePool: ResourcesNodePool
    gpu: DeservedResource
    cpu: DeservedResource
    memory: DeservedMemoryResource


class TotalResources(Model):
    gpuQuota: float | None = None
    cpuQuota: float | None = Field(None, description="In millicores.")
    memoryQuota: float | None = Field(None, description="In MB.")


def pool_quota(item: ResourcesNullable) -> PoolQuota:
    def quota(r: Resource | None) -> Quota | None:
        return None if r is None else Quota(r.deserved, r.limit, r.overQuotaWeight)

    gpu = quota(item.gpu)
    if gpu is not None and gpu.deserved is None:
        gpu = Quota(0.0, gpu.limit, gpu.over_quota_weight)
    return PoolQuota(
        node_pool_id=item.nodePool.id if item.nodePool else None,
        node_pool_name=item.nodePool.name if item.nodePool else None,
        gpu=gpu,
        cpu=quota(item.cpu),
        memory=quota(item.memory),
        memory_units=item.memory.units.value if item.memory else None,
        priority=item.priority,
    )


def pool_quotas(items: list[ResourcesNullable] | None) -> tuple[PoolQuota, ...]:
    return tuple(pool_quota(i) for i in items or ())


# --- departments and projects: requests -------------------------------------------------------


class SchedulingRules(WireModel):
    interactiveJobTimeLimitSeconds: Annotated[int, Field(ge=1)] | None = None
    interactiveJobMaxIdleDurationSeconds: Annotated[int, Field(ge=1)] | None = None
    interactiveJobPreemptIdleDurationSeconds: Annotated[int, Field(ge=1)] | None = None
    trainingJobMaxIdleDurationSeconds: Annotated[int, Field(ge=1)] | None = None
    trainingJobTimeLimitSeconds: Annotated[int, Field(ge=1)] | None = None


class NodeTypesPerWorkload(WireModel):
    training: list[str] | None = None
    workspace: list[str] | None = None
    names: dict[str, str] | None = None


class DataUpdatableFields(WireModel):
    description: str | None = None
    schedulingRules: SchedulingRules | None = None
    defaultNodePools: list[str] | None = Field(
        None, description="The order of node pools for workloads that name none."
    )
    nodeTypes: NodeTypesPerWorkload | None = None


class DepartmentCreationRequest(DataUpdatableFields):
    name: Name
    clusterId: Annotated[str, Field(pattern=UUID_PATTERN)] | None = Field(
        None, description="Default: the installation's cluster."
    )
    resources: list[ResourcesNullable] | None = None


class DepartmentUpdateRequest(DataUpdatableFields):
    resources: list[ResourcesNullable]


class ProjectCreationRequest(DataUpdatableFields):
    name: Name
    clusterId: Annotated[str, Field(pattern=UUID_PATTERN)] | None = Field(
        None, description="Default: the installation's cluster."
    )
    requestedNamespace: str | None = Field(None, description="Default: runai-<name>.")
    enforceRunaiScheduler: bool | None = True
    parentId: Id | None = Field(None, description="The department; default: department 1.")
    resources: list[ResourcesNullable] | None = None


class ProjectUpdateRequest(DataUpdatableFields):
    enforceRunaiScheduler: bool | None = None
    resources: list[ResourcesNullable]


def unit_fields(
    request: DataUpdatableFields,
    resources: list[ResourcesNullable] | None,
    enforce_runai_scheduler: bool | None = None,
) -> OrgUnitFields:
    return OrgUnitFields(
        description=request.description,
        resources=pool_quotas(resources),
        scheduling_rules=_dump(request.schedulingRules),
        default_node_pools=(
            None if request.defaultNodePools is None else tuple(request.defaultNodePools)
        ),
        node_types=_dump(request.nodeTypes),
        enforce_runai_scheduler=enforce_runai_scheduler is not False,
    )


def _dump(model: BaseModel | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json", exclude_none=True)


# --- departments and projects: responses ------------------------------------------------------


class DepartmentProjectChild(Model):
    id: str
    name: str


class DepartmentProjectParent(Model):
    id: str
    name: str


class ProjectPhase(StrEnum):
    Creating = "Creating"
    Updating = "Updating"
    Deleting = "Deleting"
    Deleted = "Deleted"
    Initializing = "Initializing"
    Ready = "Ready"
    NotReady = "NotReady"
    Unknown = "Unknown"


class ProjectStatus(Model):
    namespace: str | None = None
    phase: ProjectPhase | None = None
    phaseMessage: str | None = None
    lastUpdatedTime: datetime | None = None


class ProjectEffective(Model):
    schedulingRules: SchedulingRules | None = None
    defaultNodePools: list[str] | None = None
    nodeTypes: NodeTypesPerWorkload | None = None


class _OrgUnit(Model):
    id: str
    name: str
    clusterId: str
    description: str
    schedulingRules: SchedulingRules | None = None
    defaultNodePools: list[str] | None = None
    nodeTypes: NodeTypesPerWorkload | None = None
    createdAt: datetime
    updatedAt: datetime
    createdBy: str | None = None
    updatedBy: str | None = None
    totalResources: TotalResources
    resources: list[Resources]


class Project(_OrgUnit):
    parentId: str
    requestedNamespace: str | None = None
    enforceRunaiScheduler: bool
    status: ProjectStatus
    parent: DepartmentProjectParent | None = None
    effective: ProjectEffective


class DepartmentForList(_OrgUnit):
    children: list[DepartmentProjectChild] | None = None


class Department(DepartmentForList):
    projectsAggregatedResources: list[AggregatedResources] | None = None


class ProjectsList(Model):
    projects: list[Project]
    next: int | None = None


class DepartmentsList(Model):
    departments: list[DepartmentForList]
    next: int | None = None


ProjectFilterSortFields = StrEnum(  # type: ignore[misc]
    "ProjectFilterSortFields", {name: name for name in PROJECT_FIELDS}
)
DepartmentFilterSortFields = StrEnum(  # type: ignore[misc]
    "DepartmentFilterSortFields", {name: name for name in DEPARTMENT_FIELDS}
)


class Verbosity(StrEnum):
    meta = "meta"
    brief = "brief"
    verbose = "verbose"


# --- node pools -------------------------------------------------------------------------------


class PlacementStrategy(StrEnum):
    spread = "spread"
    binpack = "binpack"


class NodepoolGPUNetworkAccelerationDetection(StrEnum):
    Use = "Use"
    DontUse = "DontUse"
    Auto = "Auto"


class PlacementStrategyPerResource(WireModel):
    cpu: Annotated[PlacementStrategy, LaxEnum] | None = None
    gpu: Annotated[PlacementStrategy, LaxEnum] | None = None


class GPUResourceOptimization(WireModel):
    swapEnabled: bool | None = None
    cpuSwapMemorySize: Annotated[str, Field(pattern=QUANTITY)] | None = None
    reservedGpuMemoryForSwapOperations: Annotated[str, Field(pattern=QUANTITY)] | None = None
    nodeLevelSchedulerEnabled: bool | None = None


class SchedulingConfiguration(WireModel):
    placementStrategy: PlacementStrategyPerResource | None = None
    minGuaranteedRuntime: Annotated[str, Field(pattern=DURATION)] | None = None


class NodepoolSettings(WireModel):
    """The optional fields of a node pool, stored as given."""

    overProvisioningRatio: Annotated[int, Field(ge=1, le=5)] | None = None
    placementStrategy: PlacementStrategyPerResource | None = None
    gpuNetworkAccelerationLabelKey: str | None = None
    gpuNetworkAccelerationDetection: (
        Annotated[NodepoolGPUNetworkAccelerationDetection, LaxEnum] | None
    ) = None
    gpuResourceOptimization: GPUResourceOptimization | None = None
    schedulingConfiguration: SchedulingConfiguration | None = None
    networkTopologyId: Annotated[str, Field(pattern=UUID_PATTERN)] | None = None


SETTINGS_FIELDS = tuple(NodepoolSettings.model_fields)


class NodepoolCreateFields(NodepoolSettings):
    name: Name
    labelKey: Name
    labelValue: Name
    clusterId: Annotated[str, Field(pattern=UUID_PATTERN)] | None = Field(
        None, description="Default: the installation's cluster."
    )


class NodepoolUpdateFields(NodepoolSettings):
    labelKey: Name | None = None
    labelValue: Name | None = None


def settings_of(request: NodepoolSettings) -> dict[str, Any]:
    """The optional fields given, as JSON."""
    return request.model_dump(mode="json", include=set(SETTINGS_FIELDS), exclude_none=True)


class NodepoolPhase(StrEnum):
    Creating = "Creating"
    Updating = "Updating"
    Deleting = "Deleting"
    Empty = "Empty"
    Unschedulable = "Unschedulable"
    Ready = "Ready"
    Deleted = "Deleted"


class NodepoolConditionDetails(Model):
    type: str
    reason: str
    message: str | None = None
    status: str | None = None
    nodes: list[str] | None = None


class NodepoolStatus(Model):
    conditions: list[NodepoolConditionDetails]
    gpuNetworkAccelerationDetected: bool
    nodes: list[str] = Field(description="The nodes the pool holds now.")


class Nodepool(Model):
    id: str
    name: str
    labelKey: str = Field(
        description="The default pool shows kai.scheduler/node-pool=default: it holds every "
        "node no other pool selects."
    )
    labelValue: str
    clusterId: str
    clusterName: str
    tenantId: int
    overProvisioningRatio: int | None = None
    placementStrategy: PlacementStrategyPerResource | None = None
    gpuNetworkAccelerationLabelKey: str | None = None
    gpuNetworkAccelerationDetection: NodepoolGPUNetworkAccelerationDetection | None = None
    gpuResourceOptimization: GPUResourceOptimization | None = None
    schedulingConfiguration: SchedulingConfiguration | None = None
    networkTopologyId: str | None = None
    phase: NodepoolPhase
    phaseMessage: str | None = None
    status: NodepoolStatus
    createdBy: str
    createdAt: datetime
    updatedBy: str
    updatedAt: datetime
    deletedAt: datetime | None = None
    isDefault: bool


class NodepoolsList(Model):
    nodepools: list[Nodepool]


NodepoolSortFilterFields = StrEnum(  # type: ignore[misc]
    "NodepoolSortFilterFields", {name: name for name in NODE_POOL_FIELDS}
)


# --- clusters and nodes -----------------------------------------------------------------------


class ClusterState(StrEnum):
    WaitingToConnect = "WaitingToConnect"
    Connected = "Connected"
    Disconnected = "Disconnected"
    MissingPrerequisites = "MissingPrerequisites"
    ServiceIssues = "ServiceIssues"
    Unknown = "Unknown"


class ClusterDisplayedStatus(Model):
    state: ClusterState
    conditions: list[dict[str, Any]] = Field(default_factory=list)


class DisplayedCluster(Model):
    uuid: str
    tenantId: int
    name: str
    createdAt: datetime
    domain: str | None = None
    version: str | None = None
    status: ClusterDisplayedStatus | None = None
    updatedAt: datetime | None = None
    deletedAt: datetime | None = None
    lastLiveness: datetime | None = None
    deleteRequestedAt: datetime | None = None


class QueryVerbosity(StrEnum):
    metadata = "metadata"
    full = "full"


class NodeStatus(StrEnum):
    Ready = "Ready"
    NotReady = "NotReady"
    Unknown = "Unknown"


class NodeTaintEffect(StrEnum):
    NoSchedule = "NoSchedule"
    PreferNoSchedule = "PreferNoSchedule"
    NoExecute = "NoExecute"


class NodeTaint(Model):
    key: str
    value: str | None = None
    effect: NodeTaintEffect


class GpuInfo(Model):
    gpuType: str
    gpuCount: int


class Node(Model):
    id: str
    name: str
    clusterUuid: str
    status: NodeStatus
    conditions: list[dict[str, Any]]
    taints: list[NodeTaint]
    nodePool: str
    createdAt: datetime
    updatedAt: datetime
    gpuInfo: GpuInfo | None = None
    nvLinkDomainUid: str | None = None
    nvLinkCliqueId: str | None = None


class Nodes(Model):
    nodes: list[Node]


NodeFilterSortFields = StrEnum(  # type: ignore[misc]
    "NodeFilterSortFields", {name: name for name in NODE_FIELDS}
)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    DepartmentCreationRequest,
    DepartmentUpdateRequest,
    ProjectCreationRequest,
    ProjectUpdateRequest,
    ResourcesUpdateRequest,
    NodepoolCreateFields,
    NodepoolUpdateFields,
)
"""The request bodies the routes parse themselves (for the OpenAPI document)."""
