"""Access rules and the accounts they name: which subjects and scopes a rule may name, what a
scope resolves to, and who may manage an account (no escalation through its credentials).

A service account or user is not itself placed in the organisation; its place is where its
access rules are. Managing one therefore takes the permission at every scope its rules name
(reading it, at one of them); an account without rules belongs to the tenant and to whoever
created it. Handing an account's powers to the caller (a new secret or password), or enabling
or disabling it, takes strictly more than the account holds (`may_take_over`): the right to
grant each of its rules (`rbac.can_grant`), and each of its rules strictly beneath one of the
caller's (`rbac.outranks`), so no administrator takes over or locks out a peer or a superior.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.identity import SYSTEM_SUBJECT, AccessRule, Principal, User
from nimplane.domain.rbac import (
    ROLES_BY_NAME,
    Action,
    PlacedRole,
    ResourceType,
    ScopePath,
    ScopeType,
    can_grant,
    is_allowed,
    outranks,
    role_allows,
)

USER: Final = "user"
SERVICE_ACCOUNT: Final = "service-account"
SUBJECT_ALIASES: Final[dict[str, str]] = {"app": SERVICE_ACCOUNT}
"""Run:ai's deprecated `app` subject type is a service account."""
SUPPORTED_SUBJECT_TYPES: Final = (USER, SERVICE_ACCOUNT)
GRANTABLE_SCOPES: Final = (
    ScopeType.tenant,
    ScopeType.cluster,
    ScopeType.department,
    ScopeType.project,
)
"""`system` is Run:ai's internal scope: no rule may name it through the API."""


@dataclass(frozen=True)
class Scope:
    """A scope an access rule names, resolved against the organisation."""

    type: str
    id: str
    name: str
    path: ScopePath
    names: tuple[str, ...]
    """The names from the tenant down to this scope (Run:ai's `scopePath`)."""
    exists: bool = True

    @property
    def cluster_id(self) -> str | None:
        return self.path.cluster_id

    @property
    def full_name(self) -> str:
        return "/".join(self.names)


def dangling_scope(scope_type: str, scope_id: str, tenant: ScopePath) -> Scope:
    """The scope of a rule whose object is gone: only the tenant's administrators reach it."""
    return Scope(scope_type, scope_id, scope_id, tenant, (scope_id,), exists=False)


def allowed_somewhere(principal: Principal, resource_type: ResourceType, action: Action) -> bool:
    """Whether some rule of the principal grants `action` on `resource_type`, in any scope:
    for what is not placed in the organisation (roles, the workload vocabularies)."""
    return any(role_allows(rule.role_name, resource_type, action) for rule in principal.rules)


def is_self(principal: Principal, subject_type: str, subject_id: str) -> bool:
    return principal.subject_type == subject_type and principal.subject == subject_id


def may_act_on_account(
    principal: Principal,
    resource_type: ResourceType,
    action: Action,
    scopes: Sequence[ScopePath],
    *,
    tenant: ScopePath,
    created_by: str | None,
) -> bool:
    """Whether the principal may do `action` on an account whose rules sit at `scopes`."""
    if not scopes:
        if is_allowed(principal, resource_type, action, tenant):
            return True
        made_by_caller = created_by == principal.subject and created_by != SYSTEM_SUBJECT
        return made_by_caller and allowed_somewhere(principal, resource_type, action)
    if action is Action.read:
        return any(is_allowed(principal, resource_type, action, p) for p in scopes)
    return all(is_allowed(principal, resource_type, action, p) for p in scopes)


def may_hand_over(principal: Principal, rules: Iterable[tuple[AccessRule, ScopePath]]) -> bool:
    """No escalation: whoever obtains an account's credentials (or re-enables it) obtains its
    rules, so the caller must be able to grant every one of them where it applies."""
    for rule, path in rules:
        role = ROLES_BY_NAME.get(rule.role_name)
        if role is None or not can_grant(principal, role, path):
            return False
    return True


def placed(rules: Iterable[tuple[AccessRule, ScopePath]]) -> list[PlacedRole]:
    """The rules as roles held in scopes (a rule naming an unknown role holds nothing)."""
    return [
        PlacedRole(ROLES_BY_NAME[rule.role_name], rule.scope_type, rule.scope_id, path)
        for rule, path in rules
        if rule.role_name in ROLES_BY_NAME
    ]


def may_take_over(
    principal: Principal,
    own: Iterable[tuple[AccessRule, ScopePath]],
    rules: Iterable[tuple[AccessRule, ScopePath]],
) -> bool:
    """Whether the principal (whose rules, placed, are `own`) may manage the credentials of an
    account holding `rules`, or enable or disable it: strictly more than the account holds.
    It can grant each of them, and none is at one of its own roles and scopes or above
    (`rbac.outranks`): a Department administrator manages an ML engineer of its department,
    but not another Department administrator of it, nor a System administrator there."""
    rules = list(rules)
    return may_hand_over(principal, rules) and outranks(placed(own), placed(rules))


# --- access rules as listed -------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedRule:
    """An access rule with its role and scope looked up (what the API shows)."""

    rule: AccessRule
    scope: Scope

    @property
    def role_id(self) -> int | None:
        role = ROLES_BY_NAME.get(self.rule.role_name)
        return None if role is None else role.id


RULE_FIELDS: Final = (
    "subjectId",
    "subjectType",
    "roleId",
    "scopeId",
    "scopeType",
    "roleName",
    "scopeName",
    "createdAt",
    "deletedAt",
    "createdBy",
    "phase",
)
"""Run:ai's `AccessRulesSortFilterFields`: what `filterBy` and `sortBy` may name."""
RULE_DATE_FIELDS: Final = frozenset({"createdAt", "deletedAt"})


def rule_field(item: ResolvedRule, name: str) -> object:
    """The value of one of `RULE_FIELDS` for a rule (None when it has none)."""
    rule = item.rule
    return {
        "subjectId": rule.subject_id,
        "subjectType": rule.subject_type,
        "roleId": item.role_id,
        "scopeId": rule.scope_id,
        "scopeType": rule.scope_type,
        "roleName": rule.role_name,
        "scopeName": item.scope.name,
        "createdAt": rule.created_at,
        "deletedAt": None,
        "createdBy": rule.created_by,
        "phase": "Ready",
    }.get(name)


def rule_texts(item: ResolvedRule) -> tuple[str, ...]:
    """What a free-text `search` looks in."""
    return (item.rule.subject_id, item.rule.role_name, item.scope.name, item.scope.full_name)


@dataclass(frozen=True)
class RuleSelection:
    """The narrowing parameters of Run:ai's access-rule list (besides `filterBy`/`search`)."""

    subject_type: str | None = None
    subject_id_part: str | None = None
    subject_ids: frozenset[str] | None = None
    scope_type: str | None = None
    scope_id: str | None = None
    cluster_id: str | None = None
    role_id: int | None = None
    created_since: datetime | None = None

    def keeps(self, item: ResolvedRule) -> bool:
        rule = item.rule
        checks = (
            self.subject_type is None
            or rule.subject_type == SUBJECT_ALIASES.get(self.subject_type, self.subject_type),
            self.subject_id_part is None or self.subject_id_part in rule.subject_id,
            self.subject_ids is None or rule.subject_id in self.subject_ids,
            self.scope_type is None or rule.scope_type == self.scope_type,
            self.scope_id is None or rule.scope_id == self.scope_id,
            self.cluster_id is None or item.scope.cluster_id == self.cluster_id,
            self.role_id is None or item.role_id == self.role_id,
            self.created_since is None
            or (rule.created_at is not None and rule.created_at >= self.created_since),
        )
        return all(checks)


# --- credentials ------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 256


def password_issues(field: str, password: str) -> list[ComplianceIssue]:
    """What is wrong with a password a user chose (generated ones are always fine)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [ComplianceIssue(field, f"must be at least {MIN_PASSWORD_LENGTH} characters", "min")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [ComplianceIssue(field, f"must be at most {MAX_PASSWORD_LENGTH} characters", "max")]
    return []


# --- users as listed --------------------------------------------------------------------------

USER_FILTER_FIELDS: Final = (
    "username",
    "createdBy",
    "lastLogin",
    "creationTime",
    "lastUpdated",
    "isLocal",
)
USER_SORT_FIELDS: Final = (
    "username",
    "createdBy",
    "lastLogin",
    "creationTime",
    "lastUpdated",
    "type",
)
USER_DATE_FIELDS: Final = frozenset({"lastLogin", "creationTime", "lastUpdated"})


def user_field(user: User, name: str) -> object:
    """The value of a user field for `filterBy` and `sortBy` (None when it has none)."""
    return {
        "username": user.username,
        "createdBy": user.created_by,
        "lastLogin": None,
        "creationTime": user.created_at,
        "lastUpdated": user.updated_at or user.created_at,
        "isLocal": True,
        "type": "local",
    }.get(name)


def user_texts(user: User) -> tuple[str, ...]:
    return (user.username,)
