"""`sees_physical`: a cluster, its node pools and its nodes are read at the cluster's scope or
above, and from beneath, from a department or project of that cluster."""

from __future__ import annotations

import pytest

from nimplane.domain.identity import AccessRule, Principal
from nimplane.domain.rbac import ResourceType, ScopePath, sees_physical

CLUSTER = ScopePath(tenant_id="1001", cluster_id="c1")
SCOPES = {("project", "p1"): "c1", ("department", "d1"): "c1", ("project", "p2"): "c2"}


def principal(role: str, scope_type: str, scope_id: str) -> Principal:
    rule = AccessRule("1", "user", "u", role, scope_type, scope_id)
    return Principal("u", "user", (rule,))


@pytest.mark.parametrize(
    ("role", "scope_type", "scope_id", "sees"),
    [
        pytest.param("ML engineer", "project", "p1", True, id="a-project-of-the-cluster"),
        pytest.param("Viewer", "department", "d1", True, id="a-department-of-the-cluster"),
        pytest.param("Viewer", "cluster", "c1", True, id="the-cluster-itself"),
        pytest.param("Viewer", "tenant", "1001", True, id="the-tenant"),
        pytest.param("ML engineer", "project", "p2", False, id="a-project-of-another-cluster"),
        pytest.param("ML engineer", "project", "gone", False, id="a-project-that-is-gone"),
        pytest.param("Viewer", "cluster", "c2", False, id="another-cluster"),
        pytest.param("No such role", "project", "p1", False, id="a-role-that-grants-nothing"),
    ],
)
@pytest.mark.parametrize(
    "resource_type",
    [ResourceType.cluster, ResourceType.nodepools, ResourceType.nodes],
    ids=lambda t: t.value,
)
def test_who_sees_a_clusters_physical_resources(
    resource_type: ResourceType, role: str, scope_type: str, scope_id: str, sees: bool
) -> None:
    def cluster_of(kind: str, found: str) -> str | None:
        return SCOPES.get((kind, found))

    caller = principal(role, scope_type, scope_id)
    assert sees_physical(caller, resource_type, CLUSTER, cluster_of) is sees


def test_only_physical_resources_are_read_from_beneath() -> None:
    with pytest.raises(ValueError, match="not a physical resource"):
        sees_physical(
            principal("Viewer", "project", "p1"), ResourceType.project, CLUSTER, lambda *_: "c1"
        )
