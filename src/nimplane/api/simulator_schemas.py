"""The simulator admin API's shapes (nimplane's own, not Run:ai's): node and pod fault states,
and the metric an autoscaled service scales on."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from nimplane.api.schemas import Model
from nimplane.domain.spec import WireModel


class SimulatedNode(Model):
    name: str
    ready: bool
    fault: str | None = Field(None, description="`failed`, `drained`, or null when healthy.")


class SimulatedNodes(Model):
    nodes: list[SimulatedNode]


class SimulatedPod(Model):
    workloadId: str
    name: str
    node: str
    crashLoop: bool
    readinessFailing: bool


class SimulatedMetric(WireModel):
    """The value of the workload's autoscaling metric, summed over its replicas."""

    metric: Annotated[str, Field(min_length=1, description="Must be spec.autoscaling.metric.")]
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (SimulatedMetric,)
"""The request bodies the routes parse themselves (for the OpenAPI document)."""
