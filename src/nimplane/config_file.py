"""The `organisation:` and `simulator:` sections of the configuration file, typed and strict.

An unknown key is an error that names it. Organisation keys are camelCase and quotas use the
units of Run:ai's API (`Resources`): GPUs, CPU millicores, memory in the `units` given. The
simulator's node groups use Kubernetes quantities (`cpu: 128`, `memory: 1Ti`). What the
organisation section does at start is `services/seeding.py`'s job; this module only parses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from nimplane.domain.cluster import DEFAULT_NODE_POOL, Node, Taint
from nimplane.domain.org import PoolQuota, Quota
from nimplane.domain.quantities import parse_quantity
from nimplane.domain.rbac import ROLES_BY_NAME

HOSTNAME_LABEL = "kubernetes.io/hostname"
MIB = Decimal(2**20)


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _unique(what: str, names: Iterable[str]) -> None:
    twice = _duplicates(names)
    if twice:
        raise ValueError(f"{what} named more than once: {', '.join(twice)}")


# --- organisation ----------------------------------------------------------------------------


class QuotaConfig(_Strict):
    """One resource of one node pool, as in the API: -1 means unlimited."""

    deserved: float | None = None
    limit: float | None = None
    over_quota_weight: float | None = None

    def quota(self) -> Quota:
        return Quota(self.deserved, self.limit, self.over_quota_weight)


class MemoryQuotaConfig(QuotaConfig):
    units: Literal["MB", "Mib", "GB"]


class ResourcesConfig(_Strict):
    """The quotas of a department or project in one node pool (the API's `Resources` item,
    with the pool named by name)."""

    node_pool: str = DEFAULT_NODE_POOL
    gpu: QuotaConfig | None = None
    cpu: QuotaConfig | None = None
    memory: MemoryQuotaConfig | None = None

    def pool_quota(self) -> PoolQuota:
        return PoolQuota(
            node_pool_name=self.node_pool,
            gpu=None if self.gpu is None else self.gpu.quota(),
            cpu=None if self.cpu is None else self.cpu.quota(),
            memory=None if self.memory is None else self.memory.quota(),
            memory_units=None if self.memory is None else self.memory.units,
        )


class NodePoolConfig(_Strict):
    """A node pool and the node label that selects its nodes (`default` has none)."""

    name: str
    label_key: str | None = None
    label_value: str | None = None


class DepartmentConfig(_Strict):
    name: str
    description: str | None = None
    resources: list[ResourcesConfig] | None = None
    """Given: the department's whole quota list (pools left out get none). Left out: kept."""


class ProjectConfig(_Strict):
    name: str
    department: str = "default"
    namespace: str | None = None
    """Default `runai-<name>`; fixed once the project exists."""
    description: str | None = None
    resources: list[ResourcesConfig] | None = None


class _Secret(_Strict):
    """A secret given in the file, or the name of an environment variable holding it."""

    def _one_of(self, value: SecretStr | None, env: str | None, field: str) -> None:
        if (value is None) == (env is None):
            raise ValueError(f"give exactly one of {field} and {field}FromEnv")


class UserConfig(_Secret):
    username: str
    password: SecretStr | None = None
    password_from_env: str | None = None

    @model_validator(mode="after")
    def _password_given(self) -> Self:
        self._one_of(self.password, self.password_from_env, "password")
        return self


class ServiceAccountConfig(_Secret):
    """A service account; `name` is also its client id."""

    name: str
    secret: SecretStr | None = None
    secret_from_env: str | None = None

    @model_validator(mode="after")
    def _secret_given(self) -> Self:
        self._one_of(self.secret, self.secret_from_env, "secret")
        return self


class AccessRuleConfig(_Strict):
    """`subjectId` (a username, or a service account's name) is `roleName` in a scope: a
    department or project by name, or the tenant or the cluster (no name needed)."""

    subject_type: Literal["user", "service-account"]
    subject_id: str
    role_name: str
    scope_type: Literal["tenant", "cluster", "department", "project"]
    scope_name: str | None = None

    @field_validator("role_name")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES_BY_NAME:
            raise ValueError(f"unknown role '{value}'; use one of {', '.join(ROLES_BY_NAME)}")
        return value

    @model_validator(mode="after")
    def _scope_named(self) -> Self:
        if self.scope_type in ("department", "project") and not self.scope_name:
            raise ValueError(f"a {self.scope_type} scope needs scopeName")
        return self


class OrganisationConfig(_Strict):
    """What the organisation must contain at start; anything it does not name is left alone."""

    node_pools: list[NodePoolConfig] = Field(default_factory=list)
    departments: list[DepartmentConfig] = Field(default_factory=list)
    projects: list[ProjectConfig] = Field(default_factory=list)
    users: list[UserConfig] = Field(default_factory=list)
    service_accounts: list[ServiceAccountConfig] = Field(default_factory=list)
    access_rules: list[AccessRuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        _unique("nodePools", (p.name for p in self.node_pools))
        _unique("departments", (d.name for d in self.departments))
        _unique("projects", (p.name for p in self.projects))
        _unique("users", (u.username for u in self.users))
        _unique("serviceAccounts", (s.name for s in self.service_accounts))
        return self

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.node_pools,
                self.departments,
                self.projects,
                self.users,
                self.service_accounts,
                self.access_rules,
            )
        )


# --- simulator -------------------------------------------------------------------------------


def _quantity(value: str | int | float, field: str) -> Decimal:
    parsed = parse_quantity(str(value))
    if parsed is None or parsed < 0:
        raise ValueError(f"{field}: '{value}' is not a Kubernetes quantity (e.g. 128, 500m, 1Ti)")
    return parsed


class TaintConfig(_Strict):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NodeGroupConfig(_Strict):
    """`count` identical nodes named `<namePrefix>-0`, `-1`, ... (each also labelled with its
    hostname). The defaults are one node of the default inventory."""

    count: int = Field(1, ge=0)
    name_prefix: str = "sim-node"
    gpus: int = Field(8, ge=0)
    gpu_memory: str | int = "80Gi"
    gpu_product: str = "NVIDIA-H100-80GB-HBM3"
    cpu: str | int | float = 128
    """CPU cores (a quantity: `64`, `500m`)."""
    memory: str | int = "1Ti"
    """Bytes (a quantity: `512Gi`, `1Ti`)."""
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[TaintConfig] = Field(default_factory=list)

    @field_validator("gpu_memory", "memory", "cpu")
    @classmethod
    def _is_quantity(cls, value: str | int | float) -> str | int | float:
        _quantity(value, "quantity")
        return value

    def nodes(self) -> tuple[Node, ...]:
        gpu_memory_mib = int(_quantity(self.gpu_memory, "gpuMemory") / MIB)
        memory_mib = int(_quantity(self.memory, "memory") / MIB)
        millicores = int(_quantity(self.cpu, "cpu") * 1000)
        taints = tuple(Taint(t.key, t.value, t.effect) for t in self.taints)
        return tuple(
            Node(
                name=f"{self.name_prefix}-{index}",
                gpu_count=self.gpus,
                gpu_memory_mib=gpu_memory_mib,
                gpu_product=self.gpu_product,
                cpu_millicores=millicores,
                memory_mib=memory_mib,
                labels={HOSTNAME_LABEL: f"{self.name_prefix}-{index}", **self.labels},
                taints=taints,
            )
            for index in range(self.count)
        )


class ModelLoadConfig(_Strict):
    """Seconds a NIM takes to load its model, by model store (at speed 1)."""

    nim_cache: float = Field(20.0, ge=0)
    pvc: float = Field(60.0, ge=0)
    download: float = Field(180.0, ge=0)


class SimulatorConfig(_Strict):
    """The simulated cluster: its node inventory (default: 4 nodes of 8 H100 80 GiB GPUs) and
    how its pods behave (pull and load times, unreachable registries, the image catalogue;
    the simulator reads them with `backends.simulated.timings_from`)."""

    nodes: list[NodeGroupConfig] = Field(default_factory=lambda: [NodeGroupConfig(count=4)])
    speed: float = Field(
        1.0, gt=0, description="Speed factor: every simulated duration is divided by it."
    )
    image_pull_seconds: float = Field(30.0, ge=0)
    model_load_seconds: ModelLoadConfig = Field(default_factory=ModelLoadConfig)
    unreachable: list[str] = Field(
        default_factory=list,
        description="Registries (`nvcr.io`) or repositories (`nvcr.io/nim/meta`) whose images "
        "cannot be pulled (the pods end in ImagePullBackOff).",
    )
    image_catalogue: list[str] | None = Field(
        None,
        description="The images that exist, as `registry/repository`; unset: every image.",
    )

    @model_validator(mode="after")
    def _node_names_unique(self) -> Self:
        _unique("nodes", (node.name for node in self.inventory()))
        return self

    def inventory(self) -> tuple[Node, ...]:
        return tuple(node for group in self.nodes for node in group.nodes())
