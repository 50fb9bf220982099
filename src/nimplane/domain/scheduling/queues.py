"""The queue tree of one node pool: quotas, usage, fair shares and the capacity policy.

Run:ai makes one KAI queue per (project, node pool) under one per (department, node pool); this
module holds those queues for one pool as a tree of `QueueNode`s. Amounts are integers in the
internal units (index 0 GPU in thousandths, 1 CPU in millicores, 2 memory in MiB); `INF` stands
for "no bound" in comparisons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Final

from nimplane.domain.scheduling.fair_share import ShareRequest, divide
from nimplane.domain.scheduling.model import MILLI, UNLIMITED, OrgType, Queue, ResourceQuota

GPU: Final = 0
CPU: Final = 1
MEMORY: Final = 2
RESOURCES: Final = (GPU, CPU, MEMORY)
RESOURCE_NAMES: Final = ("GPU", "CPU", "memory")
UNITS: Final = (MILLI, 1, 1)
"""Fair share rounds to whole GPUs, millicores and MiB."""
INF: Final = 1 << 62
ZERO_SHARE_PENALTY: Final = 1000
"""KAI's multiplier for usage of a resource whose allocatable share is 0."""

Vector = tuple[int, int, int]
ZERO: Final[Vector] = (0, 0, 0)


def to_internal(value: float, resource: int) -> int:
    """A quota amount in internal units; UNLIMITED stays UNLIMITED."""
    if value == UNLIMITED:
        return UNLIMITED
    return round(value * MILLI) if resource == GPU else round(value)


def from_internal(value: int, resource: int) -> float:
    if value == UNLIMITED:
        return UNLIMITED
    return value / MILLI if resource == GPU else float(value)


class QueueNode:
    """One KAI queue: a department or project in one node pool."""

    __slots__ = (
        "alloc",
        "alloc_key",
        "alloc_np",
        "allocatable",
        "children",
        "created",
        "depth",
        "des_cap",
        "deserved",
        "display",
        "drf_inv",
        "fair",
        "lim_cap",
        "limit",
        "name",
        "parent",
        "path",
        "pool",
        "priority",
        "rank",
        "request",
        "uid",
        "weight",
        "zero",
    )

    def __init__(self, queue: Queue, pool: str, uid: int, rank: int) -> None:
        resources = queue.resources_in(pool)
        quotas: tuple[ResourceQuota, ...] = (resources.gpu, resources.cpu, resources.memory)
        self.name = queue.name
        self.display = queue.display_name or queue.name
        self.pool = pool
        self.uid = uid
        self.rank = rank
        self.priority = queue.priority
        self.created = queue.created
        self.deserved = [to_internal(q.deserved, r) for r, q in zip(RESOURCES, quotas, strict=True)]
        self.limit = [to_internal(q.limit, r) for r, q in zip(RESOURCES, quotas, strict=True)]
        self.weight = [Fraction(q.over_quota_weight) for q in quotas]
        self.des_cap = [INF if d == UNLIMITED else d for d in self.deserved]
        self.lim_cap = [INF if lim == UNLIMITED else lim for lim in self.limit]
        self.parent: QueueNode | None = None
        self.children: list[QueueNode] = []
        self.path: tuple[QueueNode, ...] = ()
        self.depth = 0
        self.alloc = [0, 0, 0]
        self.alloc_np = [0, 0, 0]
        self.request = [0, 0, 0]
        self.fair = [0, 0, 0]
        self.allocatable = [0, 0, 0]
        # per pass, from the fair shares: for the queue-order key
        self.alloc_key: Vector = (0, 0, 0)
        self.drf_inv: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.zero: tuple[bool, bool, bool] = (False, False, False)

    def set_allocatable(self, totals: Vector) -> None:
        """The allocatable share (max(deserved, fair share) capped by the limit; the limit if
        deserved is unlimited) and the factors the queue order derives from it."""
        share = self.allocatable
        inv = [0.0, 0.0, 0.0]
        for r in RESOURCES:
            if self.deserved[r] == UNLIMITED:
                share[r] = self.lim_cap[r]
            else:
                share[r] = min(self.lim_cap[r], max(self.deserved[r], self.fair[r]))
            cap = totals[r] if share[r] >= INF else share[r]
            # dominant resource share: allocated / allocatable, or a penalty if that is 0
            inv[r] = 1 / cap if cap > 0 else ZERO_SHARE_PENALTY / UNITS[r]
        self.alloc_key = (share[0], share[1], share[2])
        self.drf_inv = (inv[0], inv[1], inv[2])
        self.zero = (share[0] == 0, share[1] == 0, share[2] == 0)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def org_type(self) -> OrgType:
        return OrgType.PROJECT if not self.children else OrgType.DEPARTMENT

    def within_deserved_with(self, vec: Vector) -> bool:
        alloc, cap = self.alloc, self.des_cap
        return (
            alloc[0] + vec[0] <= cap[0]
            and alloc[1] + vec[1] <= cap[1]
            and alloc[2] + vec[2] <= cap[2]
        )

    def __repr__(self) -> str:
        return f"QueueNode({self.name}@{self.pool})"


class PoolQueues:
    """The queue tree of one node pool."""

    def __init__(self, pool: str, queues: Sequence[Queue]) -> None:
        self.pool = pool
        by_name = {q.name: q for q in queues}
        ordered = sorted(queues, key=lambda q: (q.created, q.name))
        self.nodes: dict[str, QueueNode] = {}
        for rank, queue in enumerate(ordered):
            self.nodes[queue.name] = QueueNode(queue, pool, rank, rank)
        self.invalid: set[str] = set()
        for queue in ordered:
            node = self.nodes[queue.name]
            if queue.parent is not None:
                parent = self.nodes.get(queue.parent)
                if parent is None or not _acyclic(queue, by_name):
                    self.invalid.add(queue.name)
                    continue
                node.parent = parent
                parent.children.append(node)
        # a queue under an invalid one is invalid too
        for queue in ordered:
            node = self.nodes[queue.name]
            probe: QueueNode | None = node
            while probe is not None:
                if probe.name in self.invalid:
                    self.invalid.add(node.name)
                    break
                probe = probe.parent
        self.roots = [
            n for n in self.nodes.values() if n.parent is None and n.name not in self.invalid
        ]
        for node in self.nodes.values():
            path: list[QueueNode] = []
            probe = node
            while probe is not None:
                path.append(probe)
                probe = probe.parent
            node.path = tuple(path)
            node.depth = len(path) - 1
        self.totals: Vector = ZERO
        self.leaves = {
            name: node
            for name, node in self.nodes.items()
            if not node.children and name not in self.invalid
        }
        """The valid queues without children, by name: the only ones holding workloads."""
        self._leaves_under: dict[int, list[QueueNode]] = {}

    def leaves_under(self, node: QueueNode) -> list[QueueNode]:
        """The queues without children in `node`'s subtree (`node` itself if a leaf)."""
        found = self._leaves_under.get(node.uid)
        if found is None:
            found = [node] if not node.children else []
            for child in node.children:
                found += self.leaves_under(child)
            self._leaves_under[node.uid] = found
        return found

    def leaf(self, name: str) -> QueueNode | None:
        return self.leaves.get(name)

    def valid_nodes(self) -> Iterable[QueueNode]:
        return (n for n in self.nodes.values() if n.name not in self.invalid)

    # -- accounting --------------------------------------------------------------------------

    def reset_usage(self) -> None:
        for node in self.nodes.values():
            node.alloc = [0, 0, 0]
            node.alloc_np = [0, 0, 0]
            node.request = [0, 0, 0]

    @staticmethod
    def add(leaf: QueueNode, vec: Vector, preemptible: bool, sign: int) -> None:
        g, c, m = vec[0] * sign, vec[1] * sign, vec[2] * sign
        for node in leaf.path:
            alloc = node.alloc
            alloc[0] += g
            alloc[1] += c
            alloc[2] += m
            if not preemptible:
                np = node.alloc_np
                np[0] += g
                np[1] += c
                np[2] += m

    @staticmethod
    def add_request(leaf: QueueNode, vec: Vector) -> None:
        for node in leaf.path:
            req = node.request
            req[0] += vec[0]
            req[1] += vec[1]
            req[2] += vec[2]

    # -- fair share --------------------------------------------------------------------------

    def compute_fair_shares(self, totals: Vector) -> None:
        """Divide the pool's capacity down the tree, each resource on its own
        (docs/decisions.md S1.3)."""
        self.totals = totals
        for resource in RESOURCES:
            self._divide(self.roots, totals[resource], resource)
        for node in self.nodes.values():
            node.set_allocatable(totals)

    def _divide(self, siblings: list[QueueNode], total: int, resource: int) -> None:
        if not siblings:
            return
        requests = [
            ShareRequest(
                deserved=n.deserved[resource],
                limit=n.limit[resource],
                weight=n.weight[resource],
                request=n.request[resource],
                priority=n.priority,
                tiebreak=(n.created, n.name),
            )
            for n in siblings
        ]
        shares = divide(max(0, total), requests, UNITS[resource])
        for node, share in zip(siblings, shares, strict=True):
            node.fair[resource] = share
            self._divide(node.children, share, resource)

    # -- capacity policy (1.4, 2.3) ----------------------------------------------------------

    @staticmethod
    def over_limit(leaf: QueueNode, vec: Vector) -> tuple[QueueNode, int] | None:
        """The first queue on the path whose limit `vec` would break, and the resource."""
        for node in leaf.path:
            alloc, cap = node.alloc, node.lim_cap
            for r in RESOURCES:
                if vec[r] > 0 and alloc[r] + vec[r] > cap[r]:
                    return node, r
        return None

    @staticmethod
    def non_preemptible_over_quota(leaf: QueueNode, vec: Vector) -> tuple[QueueNode, int] | None:
        """For non-preemptible work: the first queue on the path whose deserved quota its
        non-preemptible usage would exceed, and the resource."""
        for node in leaf.path:
            np, cap = node.alloc_np, node.des_cap
            for r in RESOURCES:
                if vec[r] > 0 and np[r] + vec[r] > cap[r]:
                    return node, r
        return None


def _acyclic(queue: Queue, by_name: dict[str, Queue]) -> bool:
    seen = {queue.name}
    parent = queue.parent
    while parent is not None:
        if parent in seen:
            return False
        seen.add(parent)
        above = by_name.get(parent)
        if above is None:
            return False
        parent = above.parent
    return True
