"""Identity and authorization use cases: service accounts, local users, access rules, roles.

Every change is one write transaction that reads what it checks; the slow hashing of a new
secret or password happens before it (never inside the single writer), after a cheap check
that the caller may do such a thing at all. Secrets and passwords are returned once, to the
caller that made them, and stored only as scrypt hashes. After a change the subject's cached
principal is dropped (`Authenticator.forget`), so this process applies it at once.
"""

from __future__ import annotations

from nimplane.services.identity._common import (
    DENIED,
    INVALID_RULE,
    new_password,
    new_secret,
    require_somewhere,
)
from nimplane.services.identity.access_rules import AccessRuleOps
from nimplane.services.identity.roles import RoleOps
from nimplane.services.identity.service_accounts import ServiceAccountOps
from nimplane.services.identity.users import UserOps

__all__ = [
    "DENIED",
    "INVALID_RULE",
    "IdentityService",
    "new_password",
    "new_secret",
    "require_somewhere",
]


class IdentityService(ServiceAccountOps, UserOps, AccessRuleOps, RoleOps):
    """Service accounts, users, access rules and roles over one store and one clock."""
