"""`/api/v1/simulator`: nimplane's own fault injection on the simulated cluster (not part of
Run:ai's API), for System administrators: fail, drain and recover nodes, make pods crash-loop
or fail readiness, and set the metric an autoscaled service scales on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response
from nimplane.api.org_schemas import parse
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.simulator_schemas import (
    SimulatedMetric,
    SimulatedNode,
    SimulatedNodes,
    SimulatedPod,
)
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.services.simulator_admin import NodeFault, NodeState, PodFault, PodFaultState

router = APIRouter(tags=["Simulator"])

NodeName = Path(alias="nodeName", description="The name of a node of the simulated cluster.")
WorkloadId = Path(alias="workloadId", description="The unique id of the workload.")
PodName = Path(alias="podName", description="The name of one of the workload's pods.")
NODE_ERRORS = errors(401, 403, 404, 500, 503)


def _node(node: NodeState) -> dict[str, Any]:
    return {"name": node.name, "ready": node.ready, "fault": node.fault}


def _pod(pod: PodFaultState) -> dict[str, Any]:
    return {
        "workloadId": pod.workload_id,
        "name": pod.name,
        "node": pod.node,
        "crashLoop": pod.crash_loop,
        "readinessFailing": pod.readiness_failing,
    }


@router.get(
    "/api/v1/simulator/nodes",
    operation_id="get_simulated_nodes",
    summary="List the simulated cluster's nodes with their injected faults (404 on the "
    "Kubernetes backend: there is no simulated cluster).",
    response_model=SimulatedNodes,
    responses=NODE_ERRORS,
)
async def get_simulated_nodes(request: Request) -> Response:
    nodes = await as_caller(request, lambda s, p: s.simulator.nodes(p), read_only=True)
    return json_response({"nodes": [_node(n) for n in nodes]})


async def _node_fault(request: Request, name: str, fault: NodeFault | None) -> Response:
    node = await as_caller(request, lambda s, p: s.simulator.set_node_fault(p, name, fault))
    return json_response(_node(node))


@router.post(
    "/api/v1/simulator/nodes/{nodeName}/fail",
    operation_id="fail_simulated_node",
    summary="Fail a node: its pods are lost and their replicas placed elsewhere.",
    response_model=SimulatedNode,
    responses=NODE_ERRORS,
)
async def fail_node(request: Request, name: str = NodeName) -> Response:
    return await _node_fault(request, name, "failed")


@router.post(
    "/api/v1/simulator/nodes/{nodeName}/drain",
    operation_id="drain_simulated_node",
    summary="Drain a node: nothing runs on it until it is recovered.",
    response_model=SimulatedNode,
    responses=NODE_ERRORS,
)
async def drain_node(request: Request, name: str = NodeName) -> Response:
    return await _node_fault(request, name, "drained")


@router.post(
    "/api/v1/simulator/nodes/{nodeName}/recover",
    operation_id="recover_simulated_node",
    summary="Recover a failed or drained node.",
    response_model=SimulatedNode,
    responses=NODE_ERRORS,
)
async def recover_node(request: Request, name: str = NodeName) -> Response:
    return await _node_fault(request, name, None)


async def _pod_fault(
    request: Request, workload_id: str, pod_name: str, fault: PodFault | None
) -> Response:
    def run(state: AppState, principal: Principal) -> PodFaultState:
        return state.simulator.set_pod_fault(principal, workload_id, pod_name, fault)

    return json_response(_pod(await as_caller(request, run)))


@router.post(
    "/api/v1/simulator/workloads/{workloadId}/pods/{podName}/crash-loop",
    operation_id="crash_loop_simulated_pod",
    summary="Make a pod's container crash and restart with back-off.",
    response_model=SimulatedPod,
    responses=NODE_ERRORS,
)
async def crash_loop_pod(
    request: Request, workload_id: str = WorkloadId, pod_name: str = PodName
) -> Response:
    return await _pod_fault(request, workload_id, pod_name, "crash-loop")


@router.post(
    "/api/v1/simulator/workloads/{workloadId}/pods/{podName}/fail-readiness",
    operation_id="fail_readiness_simulated_pod",
    summary="Make a pod's readiness probe fail (after failureThreshold periods it is unready).",
    response_model=SimulatedPod,
    responses=NODE_ERRORS,
)
async def fail_readiness_pod(
    request: Request, workload_id: str = WorkloadId, pod_name: str = PodName
) -> Response:
    return await _pod_fault(request, workload_id, pod_name, "fail-readiness")


@router.post(
    "/api/v1/simulator/workloads/{workloadId}/pods/{podName}/recover",
    operation_id="recover_simulated_pod",
    summary="Clear a pod's faults; a crash-looping container restarts and loads again.",
    response_model=SimulatedPod,
    responses=NODE_ERRORS,
)
async def recover_pod(
    request: Request, workload_id: str = WorkloadId, pod_name: str = PodName
) -> Response:
    return await _pod_fault(request, workload_id, pod_name, None)


@router.put(
    "/api/v1/simulator/workloads/{workloadId}/metrics",
    operation_id="set_simulated_metric",
    summary="Set the autoscaling metric of a NIM service (summed over its replicas).",
    response_model=SimulatedMetric,
    responses=errors(400, 401, 403, 404, 500, 503),
    openapi_extra=json_request_body("SimulatedMetric"),
)
async def set_metric(request: Request, workload_id: str = WorkloadId) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> tuple[str, float]:
        req = parse(SimulatedMetric, body.parse())
        return state.simulator.set_metric(principal, workload_id, req.metric, req.value)

    metric, value = await as_caller(request, run)
    return json_response({"metric": metric, "value": value})
