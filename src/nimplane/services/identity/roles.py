"""Roles: the fixed table, readable by whoever may read roles somewhere."""

from __future__ import annotations

from nimplane.domain.errors import NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.rbac import ROLES, ROLES_BY_ID, Action, ResourceType, Role
from nimplane.services.identity._common import IdentityParts, require_somewhere


class RoleOps(IdentityParts):
    """The roles' use cases."""

    def roles(self, principal: Principal) -> tuple[Role, ...]:
        require_somewhere(principal, ResourceType.roles, Action.read)
        return ROLES

    def role(self, principal: Principal, role_id: int) -> Role:
        require_somewhere(principal, ResourceType.roles, Action.read)
        role = ROLES_BY_ID.get(role_id)
        if role is None:
            raise NotFound(f"Role {role_id} not found.")
        return role
