"""The audit trail: record every mutating call, and show it to those allowed to read it."""

from __future__ import annotations

from nimplane.domain.audit import AuditEntry
from nimplane.domain.identity import Principal
from nimplane.domain.ports import Store
from nimplane.domain.rbac import Action, ResourceType, ScopePath
from nimplane.services.authz import require


class AuditService:
    def __init__(self, store: Store, tenant_id: int) -> None:
        self._store = store
        self._tenant = ScopePath(tenant_id=str(tenant_id))

    def record(self, entry: AuditEntry) -> None:
        self._store.write(lambda tx: tx.audit.record(entry))

    def page(self, principal: Principal, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        """Newest first; reading the whole tenant's trail takes `events-history` read there."""
        require(principal, ResourceType.events_history, Action.read, self._tenant, "the tenant")
        with self._store.read() as tx:
            return tx.audit.page(offset, limit)
