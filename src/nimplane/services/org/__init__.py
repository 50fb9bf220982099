"""Organisation use cases: departments and projects with their per-node-pool quotas, node
pools, and the cluster with its nodes (read-only), each checked against the caller's rules.

Every change is one write transaction. A change to the quotas of a department or of one of its
projects first locks the department's row, so that the rule "a department's quota covers the
sum of its projects'" holds however the changes interleave (PostgreSQL; SQLite has one writer).
Deleting a department or project also removes the access rules on it; the subjects that had
one are forgotten by the authenticator once the change is committed.
"""

from __future__ import annotations

from nimplane.services.org._common import INVALID_MESSAGE, Unit
from nimplane.services.org.clusters import ClusterOps
from nimplane.services.org.departments import DepartmentOps
from nimplane.services.org.node_pools import NodePoolOps
from nimplane.services.org.projects import ProjectOps
from nimplane.services.org.quotas import QuotaSeeding, set_unit_resources

__all__ = ["INVALID_MESSAGE", "OrgService", "Unit", "set_unit_resources"]


class OrgService(ClusterOps, NodePoolOps, DepartmentOps, ProjectOps, QuotaSeeding):
    """The organisation's use cases over one store, one cluster backend and one clock."""
