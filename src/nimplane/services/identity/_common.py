"""What the identity parts share: their state, the account permission checks, new secrets."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nimplane.domain.access import (
    ResolvedRule,
    Scope,
    allowed_somewhere,
    dangling_scope,
    is_self,
    may_act_on_account,
    may_take_over,
)
from nimplane.domain.errors import Forbidden
from nimplane.domain.identity import AccessRule, Principal
from nimplane.domain.ports import Store, Transaction
from nimplane.domain.rbac import Action, ResourceType, ScopePath
from nimplane.services.workloads import Clock, utc_now

INVALID_RULE = "The access rule is invalid; see complianceIssues"
DENIED = "You do not have sufficient permissions"


def new_secret() -> str:
    """A client secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_password() -> str:
    """A temporary password: 96 random bits, URL-safe."""
    return secrets.token_urlsafe(12)


def require_somewhere(principal: Principal, resource_type: ResourceType, action: Action) -> None:
    """Forbidden unless some rule of the principal grants `action` on `resource_type`."""
    if not allowed_somewhere(principal, resource_type, action):
        raise Forbidden(f"{DENIED}: {action.value} {resource_type.value}.")


class _Org:
    """The scopes of the organisation, looked up by (type, id)."""

    def __init__(self, scopes: Iterable[Scope], tenant: ScopePath) -> None:
        self.tenant = tenant
        self._scopes = {(s.type, s.id): s for s in scopes}

    def find(self, scope_type: str, scope_id: str) -> Scope | None:
        scope = self._scopes.get((scope_type, scope_id))
        if scope is not None and scope.path.tenant_id != self.tenant.tenant_id:
            return None
        return scope

    def scope(self, scope_type: str, scope_id: str) -> Scope:
        """The rule's scope; one whose object is gone reaches only the tenant's admins."""
        return self.find(scope_type, scope_id) or dangling_scope(scope_type, scope_id, self.tenant)

    def resolve(self, rule: AccessRule) -> ResolvedRule:
        return ResolvedRule(rule, self.scope(rule.scope_type, rule.scope_id))


@dataclass(frozen=True)
class _Subject:
    """An account as the permission rules see it: its kind, who made it, where its rules are."""

    subject_type: str
    subject_id: str
    created_by: str | None
    rules: tuple[ResolvedRule, ...]

    @property
    def paths(self) -> list[ScopePath]:
        return [r.scope.path for r in self.rules]


class IdentityParts:
    """What every part of the identity use cases holds: one store, what to tell the
    authenticator to forget, the tenant and one clock; and the checks on an account."""

    def __init__(
        self,
        store: Store,
        forget: Callable[[str], None],
        tenant_id: int,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._forget = forget
        self._tenant = ScopePath(tenant_id=str(tenant_id))
        self._clock = clock

    def _org(self, tx: Transaction) -> _Org:
        return _Org(tx.identity.scopes(), self._tenant)

    def _subject(self, tx: Transaction, org: _Org, kind: str, sid: str, by: str | None) -> _Subject:
        rules = tuple(org.resolve(r) for r in tx.identity.access_rules_for(kind, sid))
        return _Subject(kind, sid, by, rules)

    def _may(
        self, principal: Principal, resource_type: ResourceType, action: Action, subject: _Subject
    ) -> bool:
        return may_act_on_account(
            principal,
            resource_type,
            action,
            subject.paths,
            tenant=self._tenant,
            created_by=subject.created_by,
        )

    def _require(
        self,
        principal: Principal,
        resource_type: ResourceType,
        action: Action,
        subject: _Subject,
        what: str,
    ) -> None:
        if not self._may(principal, resource_type, action, subject):
            raise Forbidden(f"{DENIED}: {action.value} {resource_type.value} {what}.")

    def _require_take_over(
        self, tx: Transaction, principal: Principal, subject: _Subject, what: str, doing: str
    ) -> None:
        """Forbidden unless the caller holds strictly more than the account (`may_take_over`)."""
        org = self._org(tx)
        own = ((r, org.scope(r.scope_type, r.scope_id).path) for r in principal.rules)
        if not may_take_over(principal, own, ((r.rule, r.scope.path) for r in subject.rules)):
            raise Forbidden(
                f"{DENIED}: {what} holds an access rule you may not grant, or one at your own "
                f"role and scope or above, so you may not {doing}."
            )

    @staticmethod
    def _refuse_self(principal: Principal, subject: _Subject, doing: str) -> None:
        if is_self(principal, subject.subject_type, subject.subject_id):
            raise Forbidden(f"You cannot {doing} the account you are signed in with.")
