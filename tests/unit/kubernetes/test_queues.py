"""`render_queues`: departments and projects as KAI `Queue` objects, node-pool quotas summed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.domain.kubernetes import ClusterSettings
from nimplane.domain.kubernetes.queues import render_queues
from nimplane.domain.org import Department, OrgProject, PoolQuota, Quota

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = ClusterSettings()


def department(*resources: PoolQuota, name: str = "research", id_: str = "3") -> Department:
    return Department(
        id=id_,
        name=name,
        cluster_id="c",
        tenant_id=1,
        description=None,
        resources=resources,
        scheduling_rules=None,
        default_node_pools=None,
        node_types=None,
        created_at=T0,
        created_by=None,
        updated_at=None,
        updated_by=None,
    )


def project(*resources: PoolQuota, name: str = "team-a", department_id: str = "3") -> OrgProject:
    return OrgProject(
        id="7",
        name=name,
        cluster_id="c",
        tenant_id=1,
        department_id=department_id,
        department_name="research",
        namespace=f"runai-{name}",
        requested_namespace=None,
        description=None,
        resources=resources,
        scheduling_rules=None,
        default_node_pools=None,
        node_types=None,
        enforce_runai_scheduler=True,
        created_at=T0,
        created_by=None,
        updated_at=None,
        updated_by=None,
    )


def pool(name: str, gpu: Quota | None = None, **kinds: Any) -> PoolQuota:
    return PoolQuota(node_pool_id=name, node_pool_name=name, gpu=gpu, **kinds)


UNSET_CPU_MEMORY = {"quota": -1, "limit": -1, "overQuotaWeight": 2}


@pytest.mark.parametrize(
    ("items", "gpu"),
    [
        pytest.param((), {"quota": 0, "limit": -1, "overQuotaWeight": 2}, id="no-quota-items"),
        pytest.param(
            (pool("default", Quota(deserved=4, limit=8, over_quota_weight=3)),),
            {"quota": 4, "limit": 8, "overQuotaWeight": 3},
            id="one-pool",
        ),
        pytest.param(
            (
                pool("default", Quota(deserved=4, limit=8, over_quota_weight=1)),
                pool("pool-a", Quota(deserved=2.5, limit=2.5, over_quota_weight=3)),
            ),
            {"quota": 6.5, "limit": 10.5, "overQuotaWeight": 3},
            id="pools-summed-weight-largest",
        ),
        pytest.param(
            (pool("default", Quota(deserved=4)), pool("pool-a", Quota(deserved=-1, limit=4))),
            {"quota": -1, "limit": -1, "overQuotaWeight": 2},
            id="one-unlimited-pool-makes-it-unlimited",
        ),
    ],
)
def test_a_project_queue_sums_its_node_pools(items: tuple[PoolQuota, ...], gpu: Any) -> None:
    queues = render_queues([department()], [project(*items)], SETTINGS)

    leaf = queues[-1]
    assert leaf["metadata"]["name"] == "team-a"
    assert leaf["spec"]["parentQueue"] == "department-research"
    assert leaf["spec"]["resources"]["gpu"] == gpu
    assert leaf["spec"]["resources"]["cpu"] == UNSET_CPU_MEMORY
    assert leaf["spec"]["resources"]["memory"] == UNSET_CPU_MEMORY


def test_departments_are_parent_queues_labelled_with_their_unit() -> None:
    queues = render_queues(
        [department(name="default", id_="1")],
        [project(name="default", department_id="1")],
        SETTINGS,
    )

    assert [(q["kind"], q["metadata"]["name"]) for q in queues] == [
        ("Queue", "department-default"),
        ("Queue", "default"),
    ]
    assert queues[0]["apiVersion"] == "scheduling.run.ai/v2"
    assert "parentQueue" not in queues[0]["spec"]
    assert queues[0]["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "nimplane",
        "nimplane.io/department-id": "1",
    }
    assert queues[1]["metadata"]["labels"]["nimplane.io/project-id"] == "7"


def test_cpu_in_millicores_and_memory_in_megabytes() -> None:
    item = pool(
        "default",
        Quota(deserved=1),
        cpu=Quota(deserved=2000, limit=4000),
        memory=Quota(deserved=2, limit=4),
        memory_units="GB",
    )
    (_, leaf) = render_queues([department()], [project(item)], SETTINGS)

    assert leaf["spec"]["resources"]["cpu"] == {"quota": 2000, "limit": 4000, "overQuotaWeight": 2}
    assert leaf["spec"]["resources"]["memory"] == {
        "quota": 2000,
        "limit": 4000,
        "overQuotaWeight": 2,
    }


def test_an_unchanged_organisation_renders_the_same_queues() -> None:
    first = render_queues([department()], [project(pool("default", Quota(deserved=3)))], SETTINGS)
    again = render_queues([department()], [project(pool("default", Quota(deserved=3)))], SETTINGS)
    assert first == again
