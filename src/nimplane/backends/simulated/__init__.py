"""The simulated GPU cluster, nimplane's embedded backend: the pod model (`model`), the
controller that makes pods match a placement (`controller`), its tables (`storage`) and the
`ClusterBackend` and fault-injection adapters (`cluster`)."""

from nimplane.backends.simulated.cluster import (
    NODE_FAULTS,
    SimulatedCluster,
    SimulatedFaults,
    default_nodes,
    timings_from,
)
from nimplane.backends.simulated.model import Timings

__all__ = [
    "NODE_FAULTS",
    "SimulatedCluster",
    "SimulatedFaults",
    "Timings",
    "default_nodes",
    "timings_from",
]
