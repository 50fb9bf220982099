"""The organisation's pure rules: names, namespaces, quota bounds and arithmetic, and the one
rule that a department's quota covers the sum of its projects' (domain/org.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.domain.cluster import Node
from nimplane.domain.org import (
    UNLIMITED,
    NodePool,
    PoolQuota,
    Quota,
    aggregate_resources,
    effective_resources,
    fmt,
    merge_resources,
    place_nodes,
    pool_quota_from_json,
    pool_quota_json,
    project_namespace,
    quota_issues,
    quota_shortfalls,
    resolve_resources,
    total_quota,
    validate_default_node_pools,
    validate_node_pool_labels,
    validate_org_name,
    validate_project_name,
    with_nodes,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def pool(pool_id: str, name: str, label: tuple[str, str] | None = None) -> NodePool:
    return NodePool(
        id=pool_id,
        name=name,
        cluster_id="c",
        cluster_name="nimplane",
        tenant_id=1,
        label_key=label[0] if label else None,
        label_value=label[1] if label else None,
        settings={},
        created_at=NOW,
        created_by=None,
        updated_at=None,
        updated_by=None,
    )


POOLS = (pool("1", "default"), pool("2", "h100", ("pool", "h100")))


def gpus(deserved: float, pool_id: str = "1", **kinds: Quota) -> PoolQuota:
    name = {p.id: p.name for p in POOLS}[pool_id]
    return PoolQuota(pool_id, name, gpu=Quota(deserved), **kinds)


def fields(issues: list[Any]) -> list[str]:
    return [i.field for i in issues]


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "requested", "problems"),
    [
        pytest.param("team-a", None, [], id="dns-label"),
        pytest.param("a", None, [], id="one-letter"),
        pytest.param("Team", None, ["name"], id="upper-case"),
        pytest.param("1team", None, ["name"], id="starts-with-digit"),
        pytest.param("team-", None, ["name"], id="ends-with-dash"),
        pytest.param("team_a", None, ["name"], id="underscore"),
        pytest.param("a" * 57, None, [], id="57-fits-runai-prefix"),
        pytest.param("a" * 58, None, ["name"], id="58-overflows-namespace"),
        pytest.param("a" * 58, "ns-a", [], id="58-with-requested-namespace"),
        pytest.param("a" * 64, "ns-a", ["name"], id="64-too-long"),
        pytest.param("team", "Bad_NS", ["requestedNamespace"], id="bad-namespace"),
        pytest.param("team", "0ns", [], id="namespace-may-start-with-digit"),
        pytest.param("team", "n" * 64, ["requestedNamespace"], id="namespace-too-long"),
    ],
)
def test_project_names(name: str, requested: str | None, problems: list[str]) -> None:
    assert fields(validate_project_name(name, requested)) == problems


def test_namespace_is_requested_or_runai_prefixed() -> None:
    assert project_namespace("team-a", None) == "runai-team-a"
    assert project_namespace("team-a", "ml-prod") == "ml-prod"


def test_department_names_follow_the_same_label_rule() -> None:
    assert validate_org_name("research") == []
    assert fields(validate_org_name("Research")) == ["name"]


# --- quota bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "problems"),
    [
        pytest.param(Quota(), [], id="nothing-set"),
        pytest.param(Quota(2.5, 4, 2), [], id="fractional-within-limit"),
        pytest.param(Quota(0, 0, 0), [], id="zeros"),
        pytest.param(Quota(UNLIMITED, UNLIMITED), [], id="unlimited"),
        pytest.param(Quota(3, UNLIMITED), [], id="no-limit"),
        pytest.param(Quota(-2), ["q.deserved"], id="negative-deserved"),
        pytest.param(Quota(1, -0.5), ["q.limit"], id="negative-limit"),
        pytest.param(Quota(4, 2), ["q.limit"], id="limit-below-deserved"),
        pytest.param(Quota(UNLIMITED, 8), ["q.limit"], id="unlimited-with-a-limit"),
        pytest.param(Quota(1, None, -1), ["q.overQuotaWeight"], id="negative-weight"),
    ],
)
def test_quota_bounds(quota: Quota, problems: list[str]) -> None:
    assert fields(quota_issues(quota, "q")) == problems


def test_limit_below_deserved_names_both_numbers() -> None:
    (issue,) = quota_issues(Quota(4, 2.5), "resources[0].gpu")
    assert issue.details == "limit 2.5 is less than deserved 4"


# --- resolving node pools --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected_pool", "problems"),
    [
        pytest.param(PoolQuota(), "1", [], id="none-is-default"),
        pytest.param(PoolQuota(node_pool_id="2"), "2", [], id="by-id"),
        pytest.param(PoolQuota(node_pool_name="h100"), "2", [], id="by-name"),
        pytest.param(PoolQuota("2", "h100"), "2", [], id="id-and-name-agree"),
        pytest.param(PoolQuota(node_pool_id="9"), None, ["r[0].nodePool.id"], id="unknown-id"),
        pytest.param(
            PoolQuota(node_pool_name="a100"), None, ["r[0].nodePool.name"], id="unknown-name"
        ),
        pytest.param(PoolQuota("2", "default"), None, ["r[0].nodePool.name"], id="disagree"),
        pytest.param(
            PoolQuota(memory=Quota(100)), "1", ["r[0].memory.units"], id="memory-without-units"
        ),
        pytest.param(PoolQuota(cpu=Quota(-5)), "1", ["r[0].cpu.deserved"], id="bad-cpu"),
    ],
)
def test_resolve_resources(item: PoolQuota, expected_pool: str | None, problems: list[str]) -> None:
    resolved, issues = resolve_resources([item], POOLS, "r")
    assert fields(issues) == problems
    if expected_pool is None:
        assert resolved == ()
    else:
        (one,) = resolved
        assert one.node_pool_id == expected_pool
        assert one.node_pool_name == {p.id: p.name for p in POOLS}[expected_pool]


def test_a_node_pool_may_be_given_once() -> None:
    _, issues = resolve_resources([PoolQuota(), PoolQuota(node_pool_name="default")], POOLS, "r")
    assert [(i.field, i.details) for i in issues] == [
        ("r[1].nodePool", "node pool 'default' is given twice")
    ]


def test_merge_replaces_the_given_resources_of_the_given_pools() -> None:
    stored = (
        PoolQuota("1", "default", gpu=Quota(2), cpu=Quota(1000)),
        PoolQuota("2", "h100", gpu=Quota(1)),
    )
    change = (PoolQuota("1", "default", gpu=Quota(5, 8)),)
    merged = merge_resources(stored, change)
    assert merged == (
        PoolQuota("1", "default", gpu=Quota(5, 8), cpu=Quota(1000)),
        PoolQuota("2", "h100", gpu=Quota(1)),
    )
    added = merge_resources(stored[:1], (PoolQuota("2", "h100", gpu=Quota(3)),))
    assert [i.node_pool_id for i in added] == ["1", "2"]


def test_effective_resources_cover_every_pool_and_drop_gone_ones() -> None:
    stored = (PoolQuota("2", "h100", gpu=Quota(3)), PoolQuota("7", "gone", gpu=Quota(9)))
    effective = effective_resources(stored, POOLS)
    assert [(i.node_pool_id, i.node_pool_name, i.gpu) for i in effective] == [
        ("1", "default", Quota(0.0)),
        ("2", "h100", Quota(3)),
    ]
    assert effective[0].is_default
    assert not effective[1].is_default


# --- arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "kind", "total"),
    [
        pytest.param([gpus(1.5), gpus(2, "2")], "gpu", 3.5, id="gpus-over-pools"),
        pytest.param([gpus(1, cpu=Quota(500)), gpus(0, "2")], "cpu", 500, id="cpu-set-once"),
        pytest.param([gpus(1)], "cpu", None, id="cpu-not-set"),
        pytest.param([gpus(1, cpu=Quota(UNLIMITED))], "cpu", UNLIMITED, id="cpu-unlimited"),
        pytest.param(
            [PoolQuota("1", "default", memory=Quota(2), memory_units="GB")],
            "memory",
            2000,
            id="memory-in-mb",
        ),
        pytest.param(
            [PoolQuota("1", "default", memory=Quota(1000), memory_units="Mib")],
            "memory",
            1048.576,
            id="mib-in-mb",
        ),
        pytest.param([PoolQuota("1", "default")], "gpu", 0, id="gpu-defaults-to-0"),
    ],
)
def test_total_quota(items: list[PoolQuota], kind: str, total: float | None) -> None:
    assert total_quota(items, kind) == (pytest.approx(total) if total is not None else None)


def test_aggregate_sums_projects_per_pool() -> None:
    a = (gpus(2), gpus(1, "2"))
    b = (gpus(1.5, cpu=Quota(300)),)
    default, h100 = aggregate_resources([a, b], POOLS)
    assert (default.deserved("gpu"), default.deserved("cpu")) == (3.5, 300)
    assert (h100.deserved("gpu"), h100.deserved("cpu")) == (1, None)


def field_of(pool_id: str, kind: str) -> str:
    return f"{pool_id}.{kind}"


@pytest.mark.parametrize(
    ("department", "projects", "problems"),
    [
        pytest.param([gpus(4)], [("a", [gpus(3)]), ("b", [gpus(1)])], [], id="exactly-fits"),
        pytest.param(
            [gpus(0.3)], [("a", [gpus(0.1)]), ("b", [gpus(0.2)])], [], id="float-sum-fits"
        ),
        pytest.param([gpus(4)], [("a", [gpus(3)]), ("b", [gpus(2)])], ["1.gpu"], id="gpu-over"),
        pytest.param([], [("a", [gpus(1)])], ["1.gpu"], id="no-item-is-0-gpus"),
        pytest.param([gpus(4)], [("a", [gpus(3, "2")])], ["2.gpu"], id="other-pool"),
        pytest.param([gpus(UNLIMITED)], [("a", [gpus(100)])], [], id="department-unlimited"),
        pytest.param(
            [gpus(1, cpu=Quota(1000))],
            [("a", [gpus(1, cpu=Quota(UNLIMITED))])],
            ["1.cpu"],
            id="unlimited-project-cpu",
        ),
        pytest.param(
            [gpus(1)], [("a", [gpus(1, cpu=Quota(8000))])], [], id="department-cpu-not-set"
        ),
        pytest.param(
            [PoolQuota("1", "default", memory=Quota(1), memory_units="GB")],
            [("a", [PoolQuota("1", "default", memory=Quota(1001), memory_units="MB")])],
            ["1.memory"],
            id="memory-compared-in-mb",
        ),
        pytest.param(
            [gpus(2), gpus(1, "2")],
            [("a", [gpus(3), gpus(2, "2")])],
            ["1.gpu", "2.gpu"],
            id="every-shortfall-reported",
        ),
    ],
)
def test_quota_shortfalls(
    department: list[PoolQuota], projects: list[tuple[str, list[PoolQuota]]], problems: list[str]
) -> None:
    assert fields(quota_shortfalls(department, projects, POOLS, field_of)) == problems


def test_shortfall_names_the_numbers() -> None:
    (issue,) = quota_shortfalls(
        [gpus(4)],
        [("team-a", [gpus(3)]), ("team-b", [gpus(2)]), ("idle", [gpus(0)])],
        POOLS,
        field_of,
    )
    assert issue.details == (
        "node pool 'default': the department's gpu quota (4 GPUs) is less than the sum of its "
        "projects' quotas (5 GPUs: team-a 3, team-b 2)"
    )
    assert issue.rule == "min"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(4.0, "4", id="whole"),
        pytest.param(2.5, "2.5", id="half"),
        pytest.param(-1.0, "-1", id="unlimited"),
        pytest.param(0.1 + 0.2, "0.3", id="float-noise"),
    ],
)
def test_fmt(value: float, shown: str) -> None:
    assert fmt(value) == shown


def test_wire_shape_round_trips() -> None:
    item = PoolQuota(
        "2",
        "h100",
        gpu=Quota(2, 4, 1),
        cpu=Quota(500),
        memory=Quota(8, None, None),
        memory_units="GB",
        priority="High",
    )
    doc = pool_quota_json(item)
    assert doc == {
        "nodePool": {"id": "2", "name": "h100"},
        "gpu": {"deserved": 2, "limit": 4, "overQuotaWeight": 1},
        "cpu": {"deserved": 500, "limit": None, "overQuotaWeight": None},
        "memory": {"deserved": 8, "limit": None, "overQuotaWeight": None, "units": "GB"},
        "priority": "High",
    }
    assert pool_quota_from_json(doc) == item


# --- node pools ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "is_default", "problems"),
    [
        pytest.param("pool", "h100", False, [], id="simple"),
        pytest.param("nvidia.com/gpu.product", "NVIDIA-H100", False, [], id="prefixed-key"),
        pytest.param(None, "h100", False, ["labelKey"], id="no-key"),
        pytest.param("pool", None, False, ["labelValue"], id="no-value"),
        pytest.param("-pool", "h100", False, ["labelKey"], id="bad-key"),
        pytest.param("Bad_Prefix/pool", "x", False, ["labelKey"], id="bad-prefix"),
        pytest.param("pool", "h 100", False, ["labelValue"], id="bad-value"),
        pytest.param("pool", "v" * 64, False, ["labelValue"], id="value-too-long"),
        pytest.param(None, None, True, [], id="default-has-none"),
        pytest.param("pool", "x", True, ["labelKey", "labelValue"], id="default-refuses-one"),
    ],
)
def test_node_pool_labels(
    key: str | None, value: str | None, is_default: bool, problems: list[str]
) -> None:
    assert fields(validate_node_pool_labels(key, value, is_default=is_default)) == problems


def node(name: str, **labels: str) -> Node:
    return Node(name, 8, 81920, "H100", 128_000, 1 << 20, labels=labels)


def test_nodes_go_to_the_pool_whose_label_they_carry() -> None:
    nodes = [node("n0"), node("n1", pool="h100"), node("n2", pool="a100")]
    placed = place_nodes(nodes, POOLS, "c", NOW)
    assert [(p.node.name, p.pool) for p in placed] == [
        ("n0", "default"),
        ("n1", "h100"),
        ("n2", "default"),
    ]
    assert [(p.name, p.nodes) for p in with_nodes(POOLS, nodes)] == [
        ("default", ("n0", "n2")),
        ("h100", ("n1",)),
    ]


@pytest.mark.parametrize(
    ("names", "problems"),
    [
        pytest.param(None, [], id="not-given"),
        pytest.param(["h100", "default"], [], id="known"),
        pytest.param(["a100"], ["d[0]"], id="unknown"),
        pytest.param(["h100", "h100"], ["d[1]"], id="twice"),
    ],
)
def test_default_node_pools(names: list[str] | None, problems: list[str]) -> None:
    assert fields(validate_default_node_pools(names, POOLS, "d")) == problems
