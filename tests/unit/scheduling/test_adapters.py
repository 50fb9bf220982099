"""The scheduler's two translations at the edge of the database: the organisation's quotas as
queues (units and unset values), and placements through their stored JSON document."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from nimplane.domain.org import Department, OrgProject, PoolQuota, Quota
from nimplane.domain.scheduling import UNLIMITED, ResourceQuota, Snapshot, schedule
from nimplane.domain.scheduling.org_queues import (
    department_queue,
    project_queue,
    queue_resources,
    queues_from_org,
)
from nimplane.domain.scheduling.placement_codec import gangs_from_json, placement_json

from .test_invariants import scenarios

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "gpu", "cpu", "memory"),
    [
        pytest.param(
            PoolQuota(node_pool_name="default"),
            ResourceQuota(deserved=0),
            ResourceQuota(deserved=UNLIMITED),
            ResourceQuota(deserved=UNLIMITED),
            id="unset-gpu-is-0-cpu-and-memory-unlimited",
        ),
        pytest.param(
            PoolQuota(
                node_pool_name="default",
                gpu=Quota(deserved=4, limit=-1, over_quota_weight=3),
                cpu=Quota(deserved=8000, limit=16000),
            ),
            ResourceQuota(deserved=4, limit=UNLIMITED, over_quota_weight=3),
            ResourceQuota(deserved=8000, limit=16000),
            ResourceQuota(deserved=UNLIMITED),
            id="values-pass-through-and-minus-one-is-unlimited",
        ),
        pytest.param(
            PoolQuota(
                node_pool_name="default",
                memory=Quota(deserved=1000, limit=2000),
                memory_units="GB",
            ),
            ResourceQuota(deserved=0),
            ResourceQuota(deserved=UNLIMITED),
            ResourceQuota(deserved=1000 * 10**9 / 2**20, limit=2000 * 10**9 / 2**20),
            id="memory-in-gb-becomes-mib",
        ),
        pytest.param(
            PoolQuota(node_pool_name="default", memory=Quota(deserved=-1), memory_units="MB"),
            ResourceQuota(deserved=0),
            ResourceQuota(deserved=UNLIMITED),
            ResourceQuota(deserved=UNLIMITED),
            id="unlimited-memory-stays-unlimited",
        ),
    ],
)
def test_quota_items_become_queue_resources(
    item: PoolQuota, gpu: ResourceQuota, cpu: ResourceQuota, memory: ResourceQuota
) -> None:
    resources = queue_resources([item])["default"]
    assert resources.gpu == gpu
    assert resources.cpu == cpu
    assert resources.memory.deserved == pytest.approx(memory.deserved)
    assert resources.memory.limit == pytest.approx(memory.limit)


def test_departments_and_projects_sharing_a_name_get_distinct_queues() -> None:
    department = Department(
        id="1",
        name="default",
        cluster_id="c",
        tenant_id=1,
        description=None,
        resources=(),
        scheduling_rules=None,
        default_node_pools=None,
        node_types=None,
        created_at=NOW,
        created_by=None,
        updated_at=None,
        updated_by=None,
    )
    project = OrgProject(
        id="1",
        name="default",
        cluster_id="c",
        tenant_id=1,
        department_id="1",
        department_name="default",
        namespace="runai-default",
        requested_namespace=None,
        description=None,
        resources=(),
        scheduling_rules=None,
        default_node_pools=("a", "b"),
        node_types=None,
        enforce_runai_scheduler=True,
        created_at=NOW,
        created_by=None,
        updated_at=None,
        updated_by=None,
    )
    top, leaf = queues_from_org([department], [project])
    assert (top.name, top.parent, top.display_name) == (department_queue("1"), None, "default")
    assert (leaf.name, leaf.parent) == (project_queue("1"), department_queue("1"))
    assert leaf.display_name == "default"
    assert leaf.default_node_pools == ("a", "b")


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_placements_survive_their_stored_document(scenario: tuple[Snapshot, Snapshot]) -> None:
    snapshot, _ = scenario
    result = schedule(snapshot)
    memory = {n.name: n.gpu_memory_mib for n in snapshot.nodes}
    for workload in snapshot.workloads:
        gangs = result.placements_of(workload.id)
        assert tuple(gangs_from_json(workload.id, placement_json(gangs, memory))) == gangs
