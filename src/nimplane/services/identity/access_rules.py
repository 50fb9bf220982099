"""Access rules: grant and remove them, checked against what the caller may grant."""

from __future__ import annotations

from nimplane.domain.access import (
    GRANTABLE_SCOPES,
    SUBJECT_ALIASES,
    SUPPORTED_SUBJECT_TYPES,
    ResolvedRule,
    RuleSelection,
    Scope,
    is_self,
    rule_field,
    rule_texts,
)
from nimplane.domain.errors import AlreadyExists, ComplianceIssue, Forbidden, Invalid, NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import ROLES_BY_ID, Action, ResourceType, Role, can_grant, is_allowed
from nimplane.services.identity._common import (
    DENIED,
    INVALID_RULE,
    IdentityParts,
    require_somewhere,
)


class AccessRuleOps(IdentityParts):
    """The access rules' use cases."""

    def list_access_rules(
        self, principal: Principal, selection: RuleSelection, query: ListQuery
    ) -> tuple[list[ResolvedRule], int]:
        """The page of access rules the principal may read, and how many match in all."""
        require_somewhere(principal, ResourceType.access_rules, Action.read)
        with self._store.read() as tx:
            org = self._org(tx)
            rules = [org.resolve(r) for r in tx.identity.access_rules()]
        readable = (
            r
            for r in rules
            if selection.keeps(r)
            and is_allowed(principal, ResourceType.access_rules, Action.read, r.scope.path)
        )
        return run_query(readable, query, rule_field, rule_texts)

    def get_access_rule(self, principal: Principal, rule_id: str) -> ResolvedRule:
        with self._store.read() as tx:
            return self._load_rule(tx, principal, rule_id, Action.read)

    def _load_rule(
        self, tx: Transaction, principal: Principal, rule_id: str, action: Action
    ) -> ResolvedRule:
        rule = tx.identity.access_rule(rule_id)
        if rule is None:
            raise NotFound(f"Access rule {rule_id} not found.")
        resolved = self._org(tx).resolve(rule)
        if not is_allowed(principal, ResourceType.access_rules, action, resolved.scope.path):
            raise Forbidden(
                f"{DENIED}: {action.value} access rules in {rule.scope_type} "
                f"'{resolved.scope.name}'."
            )
        return resolved

    def create_access_rule(
        self,
        principal: Principal,
        *,
        subject_type: str,
        subject_id: str,
        role_id: int,
        scope_type: str,
        scope_id: str,
        cluster_id: str | None = None,
    ) -> ResolvedRule:
        """Give a subject a role in a scope. The scope and the subject must exist, and the
        caller must be able to grant the role there: it holds every permission the role
        grants, in that scope (no escalation)."""
        require_somewhere(principal, ResourceType.access_rules, Action.create)
        subject_type = SUBJECT_ALIASES.get(subject_type, subject_type)
        role = ROLES_BY_ID.get(role_id)
        now = self._clock()

        def insert(tx: Transaction) -> ResolvedRule:
            issues: list[ComplianceIssue] = []
            if subject_type not in SUPPORTED_SUBJECT_TYPES:
                issues.append(
                    ComplianceIssue(
                        "subjectType",
                        f"'{subject_type}' subjects are not supported; use "
                        + " or ".join(SUPPORTED_SUBJECT_TYPES),
                        "options",
                    )
                )
            if role is None:
                issues.append(
                    ComplianceIssue(
                        "roleId",
                        f"role {role_id} does not exist (see GET /api/v1/authorization/roles)",
                        "options",
                    )
                )
            scope = None
            if scope_type not in GRANTABLE_SCOPES:
                issues.append(
                    ComplianceIssue(
                        "scopeType",
                        f"'{scope_type}' is not a scope rules may name; use "
                        + ", ".join(GRANTABLE_SCOPES),
                        "options",
                    )
                )
            else:
                scope = self._org(tx).find(scope_type, scope_id)
                if scope is None:
                    issues.append(
                        ComplianceIssue("scopeId", f"{scope_type} '{scope_id}' does not exist")
                    )
            if scope is not None:
                self._require_grant(principal, role, scope)
                if cluster_id is not None and cluster_id != scope.cluster_id:
                    issues.append(
                        ComplianceIssue(
                            "clusterId",
                            f"{scope_type} '{scope.name}' is not in cluster {cluster_id}",
                        )
                    )
            if subject_type in SUPPORTED_SUBJECT_TYPES and not tx.identity.lock_subject(
                subject_type, subject_id
            ):
                issues.append(
                    ComplianceIssue("subjectId", f"{subject_type} '{subject_id}' does not exist")
                )
            if issues or role is None or scope is None:
                raise Invalid(INVALID_RULE, issues)
            for existing in tx.identity.access_rules_for(subject_type, subject_id):
                if (existing.role_name, existing.scope_type, existing.scope_id) == (
                    role.name,
                    scope_type,
                    scope_id,
                ):
                    raise AlreadyExists(
                        f"{subject_type} '{subject_id}' already is {role.name} in "
                        f"{scope_type} '{scope.name}' (access rule {existing.id})."
                    )
            rule = tx.identity.insert_access_rule(
                subject_type, subject_id, role.name, scope_type, scope_id, now, principal.subject
            )
            return ResolvedRule(rule, scope)

        created = self._store.write(insert)
        self._forget(subject_id)
        return created

    @staticmethod
    def _require_grant(principal: Principal, role: Role | None, scope: Scope) -> None:
        where = f"{scope.type} '{scope.name}'"
        if not is_allowed(principal, ResourceType.access_rules, Action.create, scope.path):
            raise Forbidden(f"{DENIED}: create access rules in {where}.")
        if role is not None and not can_grant(principal, role, scope.path):
            raise Forbidden(
                f"{DENIED}: you may not grant {role.name} in {where}: it grants permissions "
                "you do not hold there."
            )

    def delete_access_rule(self, principal: Principal, rule_id: str) -> None:
        """Remove an access rule; nobody removes their own (ask another administrator)."""

        def remove(tx: Transaction) -> str:
            resolved = self._load_rule(tx, principal, rule_id, Action.delete)
            rule = resolved.rule
            if is_self(principal, rule.subject_type, rule.subject_id):
                raise Forbidden("You cannot delete your own access rule.")
            tx.identity.delete_access_rule(rule.id)
            return rule.subject_id

        self._forget(self._store.write(remove))

    def my_access_rules(
        self, principal: Principal, query: ListQuery
    ) -> tuple[list[ResolvedRule], int]:
        """The caller's own access rules, as stored now."""
        with self._store.read() as tx:
            org = self._org(tx)
            rules = [
                org.resolve(r)
                for r in tx.identity.access_rules_for(principal.subject_type, principal.subject)
            ]
        return run_query(rules, query, rule_field, rule_texts)
