"""Workload properties: the workload types, priorities and categories, read-only, for anyone
holding `workload-properties` read somewhere (every predefined role does)."""

from __future__ import annotations

from nimplane.domain.identity import Principal
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType
from nimplane.domain.workload_properties import (
    CATEGORIES,
    PRIORITIES,
    WORKLOAD_TYPES,
    WorkloadCategory,
    WorkloadPriority,
    WorkloadType,
    priority_field,
    type_field,
)
from nimplane.services.identity import require_somewhere

_RESOURCE = ResourceType.workload_properties


class WorkloadPropertiesService:
    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id

    def types(
        self, principal: Principal, *, external_only: bool, query: ListQuery
    ) -> list[WorkloadType]:
        require_somewhere(principal, _RESOURCE, Action.read)
        candidates = [t for t in WORKLOAD_TYPES if t.external or not external_only]
        return run_query(candidates, query, type_field)[0]

    def priorities(self, principal: Principal, query: ListQuery) -> list[WorkloadPriority]:
        require_somewhere(principal, _RESOURCE, Action.read)
        return run_query(PRIORITIES, query, priority_field)[0]

    def categories(self, principal: Principal) -> tuple[WorkloadCategory, ...]:
        require_somewhere(principal, _RESOURCE, Action.read)
        return CATEGORIES
