"""Fault injection on the simulated cluster, for System administrators: fail, drain or recover
a node, make a pod crash-loop or fail its readiness probe, and set the metric autoscaled
services scale on.

Every change marks the workloads it touches due, so the lifecycle engine looks at them at
once, and wakes the background workers. Time comes from the injected clock (the lifecycle
engine's), so a fault starts when the engine that observes it thinks it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from nimplane.domain.errors import ComplianceIssue, Forbidden, Invalid, NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.ports import PodFaultState, SimulatorFaults, Store, Transaction
from nimplane.domain.rbac import Action, ResourceType, ScopePath, is_allowed

Clock = Callable[[], datetime]
NodeFault = Literal["failed", "drained"]
PodFault = Literal["crash-loop", "fail-readiness"]
FORBIDDEN: Final = (
    "You do not have sufficient permissions: only a System administrator may inject faults "
    "into the simulated cluster."
)
NO_SIMULATOR: Final = (
    "There is no simulated cluster: this nimplane runs on Kubernetes (backend: kubernetes); "
    "use the cluster's own tools to fail or drain a node."
)


@dataclass(frozen=True)
class NodeState:
    name: str
    fault: str | None

    @property
    def ready(self) -> bool:
        return self.fault is None


class SimulatorAdmin:
    def __init__(
        self,
        store: Store,
        faults: SimulatorFaults,
        node_names: tuple[str, ...],
        tenant_id: str,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
        *,
        active: bool = True,
    ) -> None:
        self._store = store
        self._active = active
        """False on the Kubernetes backend: every call is then a NotFound (after the
        permission check)."""
        self._faults = faults
        self._node_names = node_names
        self._tenant = ScopePath(tenant_id=tenant_id)
        self.clock = clock
        self._wake = wake

    def _require_admin(self, principal: Principal) -> None:
        # Only the System administrator holds tenant-wide permissions on the tenant itself.
        if not is_allowed(principal, ResourceType.tenant, Action.update, self._tenant):
            raise Forbidden(FORBIDDEN)
        if not self._active:
            raise NotFound(NO_SIMULATOR)

    def _known_node(self, name: str) -> None:
        if name not in self._node_names:
            raise NotFound(f"Node '{name}' does not exist in the simulated cluster.")

    # --- nodes ---------------------------------------------------------------------------------

    def nodes(self, principal: Principal) -> list[NodeState]:
        self._require_admin(principal)
        with self._store.read() as tx:
            faults = self._faults.node_faults(tx)
        return [NodeState(name, faults.get(name)) for name in self._node_names]

    def set_node_fault(self, principal: Principal, name: str, fault: NodeFault | None) -> NodeState:
        """Fail or drain a node (its pods are lost and re-placed), or recover it (None)."""
        self._require_admin(principal)
        self._known_node(name)
        now = self.clock()

        def write(tx: Transaction) -> None:
            tx.workloads.mark_due(self._faults.set_node_fault(tx, name, fault, now), now)

        self._store.write(write)
        self._wake()
        return NodeState(name, fault)

    # --- pods ----------------------------------------------------------------------------------

    def set_pod_fault(
        self, principal: Principal, workload_id: str, pod_name: str, fault: PodFault | None
    ) -> PodFaultState:
        """Make a pod crash-loop or fail its readiness probe from now on, or recover it (None).

        Recovering a crash-looping pod restarts its container: it goes through the image pull,
        the model load and the readiness probe again (its plan's durations) before it serves.
        Recovering a pod that only failed its readiness probe makes it ready again at once.
        """
        self._require_admin(principal)
        now = self.clock()

        def write(tx: Transaction) -> PodFaultState:
            if tx.workloads.get(workload_id) is None:
                raise NotFound(f"Workload '{workload_id}' does not exist.")
            state = self._faults.set_pod_fault(tx, workload_id, pod_name, fault, now)
            if state is None:
                raise NotFound(f"Workload '{workload_id}' has no pod named '{pod_name}'.")
            tx.workloads.mark_due([workload_id], now)
            return state

        state = self._store.write(write)
        self._wake()
        return state

    # --- metrics -------------------------------------------------------------------------------

    def set_metric(
        self, principal: Principal, workload_id: str, metric: str, value: float
    ) -> tuple[str, float]:
        """The value of an autoscaled service's metric, summed over its replicas."""
        self._require_admin(principal)
        now = self.clock()

        def write(tx: Transaction) -> None:
            workload = tx.workloads.get(workload_id)
            if workload is None:
                raise NotFound(f"Workload '{workload_id}' does not exist.")
            autoscaling = workload.spec.get("autoscaling")
            if not autoscaling:
                raise Invalid(
                    "The workload does not autoscale.",
                    [ComplianceIssue("metric", "the workload has no spec.autoscaling")],
                )
            wanted = autoscaling.get("metric")
            if metric != wanted:
                raise Invalid(
                    f"The workload autoscales on '{wanted}', not '{metric}'.",
                    [ComplianceIssue("metric", f"must be '{wanted}' (spec.autoscaling.metric)")],
                )
            self._faults.set_metric(tx, workload_id, metric, value, now)
            tx.workloads.mark_due([workload_id], now)

        self._store.write(write)
        self._wake()
        return metric, value


__all__ = ["NodeFault", "NodeState", "PodFault", "PodFaultState", "SimulatorAdmin"]
