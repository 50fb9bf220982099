"""`ClusterSettings`: what differs from one Kubernetes cluster to the next and shapes a render
(scheduler name, scheduler label keys, node-pool label, ingress, default secrets)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nimplane.domain.workloads import Project

ROUTER_DOMAIN = r"^(([a-z0-9][a-z0-9\-]*[a-z0-9])|[a-z0-9]+\.)*([a-z]+|xn\-\-[a-z0-9]+)\.?$"
"""The NIMService CRD's pattern of `expose.router.hostDomainName` (at most 63 characters)."""


class ClusterSettings(BaseModel):
    """The per-cluster keys of a render. Defaults fit open-source KAI-Scheduler (>= v0.6) with
    the NIM Operator; a Run:ai cluster sets `scheduler_name: runai-scheduler` and
    `queue_label_key: runai/queue`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduler_name: str = Field("kai-scheduler", min_length=1)
    """`spec.schedulerName` of every pod."""
    queue_label_key: str = Field("kai.scheduler/queue", min_length=1)
    """The pod label KAI reads the (leaf) queue from; its value is the project's name."""
    preemptibility_label_key: str = Field("kai.scheduler/preemptibility", min_length=1)
    node_pool_label_key: str = Field("runai/node-pool", min_length=1)
    """The node label whose value names a node's pool; the `default` pool is the nodes
    without it. A workload's `nodePools` become a required node affinity on it."""
    node_pool_shard_label_key: str | None = None
    """When KAI runs one scheduling shard per pool: the pod label naming the shard (KAI's
    `kai.scheduler/node-pool`), set to the first requested pool. None (the default): one
    shard, no label (a label no shard serves would leave the pods unscheduled)."""
    ingress_class: str | None = Field(None, min_length=1)
    """The ingress class of externally exposed services; None: none is exposed by ingress."""
    ingress_host_domain: str | None = Field(
        None, min_length=1, max_length=63, pattern=ROUTER_DOMAIN
    )
    """The domain under which the router names hosts `<name>.<namespace>.<domain>`."""
    ingress_tls_secret: str | None = Field(None, min_length=1)
    default_image_pull_secrets: tuple[str, ...] = ()
    """Secret names added to every workload's pull secrets (before its own)."""
    multi_node_backend: Literal["mpi", "ray"] = "mpi"
    """How a multi-node NIM starts its group: MPI (NIM LLM 1.x) or Ray (NIM LLM 2.x)."""
    owner_label_prefix: str = Field("nimplane.io", min_length=1)
    """Prefix of the labels naming the workload, project and manager of each object."""

    def namespace_of(self, project: Project) -> str:
        """The namespace a project's workloads live in: the project's own."""
        return project.namespace
