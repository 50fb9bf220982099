"""Identity and authorization use cases: service accounts, local users, access rules, roles.

Every change is one write transaction that reads what it checks; the slow hashing of a new
secret or password happens before it (never inside the single writer), after a cheap check
that the caller may do such a thing at all. Secrets and passwords are returned once, to the
caller that made them, and stored only as scrypt hashes. After a change the subject's cached
principal is dropped (`Authenticator.forget`), so this process applies it at once.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nimplane.domain.access import (
    GRANTABLE_SCOPES,
    SERVICE_ACCOUNT,
    SUBJECT_ALIASES,
    SUPPORTED_SUBJECT_TYPES,
    USER,
    ResolvedRule,
    RuleSelection,
    Scope,
    allowed_somewhere,
    dangling_scope,
    is_self,
    may_act_on_account,
    may_take_over,
    password_issues,
    rule_field,
    rule_texts,
    user_field,
    user_texts,
)
from nimplane.domain.errors import (
    AlreadyExists,
    ComplianceIssue,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
)
from nimplane.domain.identity import AccessRule, Principal, ServiceAccount, User, revokes_tokens
from nimplane.domain.ports import Store, Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import (
    ROLES,
    ROLES_BY_ID,
    Action,
    ResourceType,
    Role,
    ScopePath,
    can_grant,
    is_allowed,
)
from nimplane.services.secrets_hashing import hash_secret, verify_secret
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


class IdentityService:
    """Service accounts, users, access rules and roles over one store and one clock."""

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

    # --- shared -------------------------------------------------------------------------------

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

    # --- service accounts ---------------------------------------------------------------------

    def list_service_accounts(self, principal: Principal) -> list[ServiceAccount]:
        """The service accounts the principal may read."""
        require_somewhere(principal, ResourceType.service_account, Action.read)
        with self._store.read() as tx:
            accounts = tx.identity.service_accounts()
            rules = tx.identity.access_rules()
            org = self._org(tx)
        by_subject: dict[str, list[ResolvedRule]] = defaultdict(list)
        for rule in rules:
            if rule.subject_type == SERVICE_ACCOUNT:
                by_subject[rule.subject_id].append(org.resolve(rule))
        return [
            a
            for a in accounts
            if self._may(
                principal,
                ResourceType.service_account,
                Action.read,
                _Subject(
                    SERVICE_ACCOUNT, a.client_id, a.created_by, tuple(by_subject[a.client_id])
                ),
            )
        ]

    def _load_account(
        self, tx: Transaction, principal: Principal, account_id: str, action: Action
    ) -> tuple[ServiceAccount, _Subject]:
        account = tx.identity.service_account(account_id)
        if account is None:
            raise NotFound(f"Service account {account_id} not found.")
        subject = self._subject(
            tx, self._org(tx), SERVICE_ACCOUNT, account.client_id, account.created_by
        )
        self._require(principal, ResourceType.service_account, action, subject, f"'{account.name}'")
        return account, subject

    def get_service_account(self, principal: Principal, account_id: str) -> ServiceAccount:
        with self._store.read() as tx:
            return self._load_account(tx, principal, account_id, Action.read)[0]

    def create_service_account(self, principal: Principal, name: str) -> tuple[ServiceAccount, str]:
        """A new, enabled service account named `name` (also its client id) and its secret."""
        require_somewhere(principal, ResourceType.service_account, Action.create)
        secret = new_secret()
        secret_hash = hash_secret(secret)
        now = self._clock()

        def insert(tx: Transaction) -> ServiceAccount:
            self._check_account_name(tx, name, None)
            # a new account starts with no rules, whatever a predecessor's deletion raced with
            tx.identity.delete_access_rules_of(SERVICE_ACCOUNT, name)
            return tx.identity.insert_service_account(
                name, name, secret_hash, now, principal.subject
            )

        return self._store.write(insert), secret

    @staticmethod
    def _check_account_name(tx: Transaction, name: str, account_id: str | None) -> None:
        """A name is taken by another account's name, or by its client id (which a renamed
        account keeps, and which a new account with this name would need)."""
        for other in (
            tx.identity.service_account_by_name(name),
            tx.identity.service_account_by_client_id(name),
        ):
            if other is not None and other.id != account_id:
                raise AlreadyExists(f"A service account named '{name}' already exists.")

    def update_service_account(
        self, principal: Principal, account_id: str, *, name: str | None, enabled: bool | None
    ) -> ServiceAccount:
        """Rename, enable or disable an account. Enabling or disabling one takes strictly more
        than it holds (`may_take_over`); nobody disables the account they are signed in with."""
        now = self._clock()

        def apply(tx: Transaction) -> ServiceAccount:
            account, subject = self._load_account(tx, principal, account_id, Action.update)
            if enabled is False:
                self._refuse_self(principal, subject, "disable")
            if enabled is not None and enabled != account.enabled:
                self._require_take_over(
                    tx,
                    principal,
                    subject,
                    f"service account '{account.name}'",
                    "enable it" if enabled else "disable it",
                )
            new_name = name if name is not None and name != account.name else None
            new_enabled = enabled if enabled is not None and enabled != account.enabled else None
            if new_name is None and new_enabled is None:
                return account
            if new_name is not None:
                self._check_account_name(tx, new_name, account.id)
            tx.identity.update_service_account(
                account.id,
                now=now,
                by=principal.subject,
                name=new_name,
                enabled=new_enabled,
                revoke_tokens=revokes_tokens(credentials_changed=False, enabled=new_enabled),
            )
            updated = tx.identity.service_account(account.id)
            assert updated is not None
            return updated

        account = self._store.write(apply)
        self._forget(account.client_id)
        return account

    def delete_service_account(self, principal: Principal, account_id: str) -> None:
        """Delete an account and its access rules; its tokens stop working at once (its uid,
        which they are bound to, is gone for good)."""

        def remove(tx: Transaction) -> str:
            account, subject = self._load_account(tx, principal, account_id, Action.delete)
            self._refuse_self(principal, subject, "delete")
            # the row first: a rule being made for it waits for this (`lock_subject`), then
            # is removed with the others
            tx.identity.delete_service_account(account.id)
            tx.identity.delete_access_rules_of(SERVICE_ACCOUNT, account.client_id)
            return account.client_id

        self._forget(self._store.write(remove))

    def regenerate_secret(self, principal: Principal, account_id: str) -> str:
        """A new secret for the account (shown once); the old one stops working at once."""
        require_somewhere(principal, ResourceType.service_account, Action.update)
        secret = new_secret()
        secret_hash = hash_secret(secret)
        now = self._clock()

        def apply(tx: Transaction) -> str:
            account, subject = self._load_account(tx, principal, account_id, Action.update)
            self._refuse_self(principal, subject, "regenerate the secret of")
            self._require_take_over(
                tx, principal, subject, f"service account '{account.name}'", "obtain its secret"
            )
            tx.identity.update_service_account(
                account.id,
                now=now,
                by=principal.subject,
                secret_hash=secret_hash,
                revoke_tokens=revokes_tokens(credentials_changed=True, enabled=None),
            )
            return account.client_id

        self._forget(self._store.write(apply))
        return secret

    # --- users --------------------------------------------------------------------------------

    def list_users(self, principal: Principal, query: ListQuery) -> tuple[list[User], int]:
        """The page of users the principal may read, and how many match in all."""
        require_somewhere(principal, ResourceType.users, Action.read)
        with self._store.read() as tx:
            found = tx.identity.users()
            rules = tx.identity.access_rules()
            org = self._org(tx)
        by_subject: dict[str, list[ResolvedRule]] = defaultdict(list)
        for rule in rules:
            if rule.subject_type == USER:
                by_subject[rule.subject_id].append(org.resolve(rule))
        readable = [
            u
            for u in found
            if self._may(
                principal,
                ResourceType.users,
                Action.read,
                _Subject(USER, u.username, u.created_by, tuple(by_subject[u.username])),
            )
        ]
        return run_query(readable, query, user_field, user_texts)

    def _load_user(
        self, tx: Transaction, principal: Principal, user_id: str, action: Action
    ) -> tuple[User, _Subject]:
        user = tx.identity.user(user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        subject = self._subject(tx, self._org(tx), USER, user.username, user.created_by)
        self._require(principal, ResourceType.users, action, subject, f"'{user.username}'")
        return user, subject

    def get_user(self, principal: Principal, user_id: str) -> User:
        with self._store.read() as tx:
            return self._load_user(tx, principal, user_id, Action.read)[0]

    def create_user(
        self, principal: Principal, username: str, password: str | None = None
    ) -> tuple[User, str]:
        """A new, enabled local user and its password: the one given, or a generated one."""
        require_somewhere(principal, ResourceType.users, Action.create)
        if password is not None and (issues := password_issues("password", password)):
            raise Invalid("The password does not meet the password policy.", issues)
        password = password if password is not None else new_password()
        password_hash = hash_secret(password)
        now = self._clock()

        def insert(tx: Transaction) -> User:
            if tx.identity.user_by_username(username) is not None:
                raise AlreadyExists(f"A user named '{username}' already exists.")
            tx.identity.delete_access_rules_of(USER, username)
            return tx.identity.insert_user(username, password_hash, now, principal.subject)

        return self._store.write(insert), password

    def delete_user(self, principal: Principal, user_id: str) -> None:
        """Delete a user and its access rules; its tokens stop working at once."""

        def remove(tx: Transaction) -> str:
            user, subject = self._load_user(tx, principal, user_id, Action.delete)
            self._refuse_self(principal, subject, "delete")
            tx.identity.delete_user(user.id)
            tx.identity.delete_access_rules_of(USER, user.username)
            return user.username

        self._forget(self._store.write(remove))

    def reset_password(self, principal: Principal, user_id: str) -> str:
        """A new temporary password for a user (shown once); the old one stops working."""
        require_somewhere(principal, ResourceType.users, Action.update)
        password = new_password()
        password_hash = hash_secret(password)
        now = self._clock()

        def apply(tx: Transaction) -> str:
            user, subject = self._load_user(tx, principal, user_id, Action.update)
            self._refuse_self(principal, subject, "reset the password of")
            self._require_take_over(
                tx, principal, subject, f"user '{user.username}'", "set its password"
            )
            tx.identity.update_user(
                user.id,
                now=now,
                by=principal.subject,
                password_hash=password_hash,
                revoke_tokens=revokes_tokens(credentials_changed=True, enabled=None),
            )
            return user.username

        self._forget(self._store.write(apply))
        return password

    def change_own_password(self, principal: Principal, current: str, new: str) -> None:
        """The calling user replaces its password, proving it knows the current one."""
        if principal.subject_type != USER:
            raise Invalid("Only users have passwords; service accounts regenerate secrets.")
        with self._store.read() as tx:
            user = tx.identity.user_by_username(principal.subject)
        if user is None:
            raise NotFound(f"User {principal.subject} not found.")
        issues = password_issues("newPassword", new)
        if not verify_secret(current, user.password_hash):
            issues.insert(0, ComplianceIssue("currentPassword", "is not the current password"))
        elif current == new:
            issues.append(ComplianceIssue("newPassword", "must differ from the current one"))
        if issues:
            raise Invalid("The password was not changed; see complianceIssues", issues)
        password_hash = hash_secret(new)
        now = self._clock()

        def apply(tx: Transaction) -> None:
            changed = tx.identity.update_user(
                user.id,
                now=now,
                by=principal.subject,
                password_hash=password_hash,
                expected_password_hash=user.password_hash,
                revoke_tokens=revokes_tokens(credentials_changed=True, enabled=None),
            )
            if not changed:
                raise Conflict("The password changed meanwhile; try again.")

        self._store.write(apply)
        self._forget(user.username)

    # --- access rules -------------------------------------------------------------------------

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

    # --- roles --------------------------------------------------------------------------------

    def roles(self, principal: Principal) -> tuple[Role, ...]:
        require_somewhere(principal, ResourceType.roles, Action.read)
        return ROLES

    def role(self, principal: Principal, role_id: int) -> Role:
        require_somewhere(principal, ResourceType.roles, Action.read)
        role = ROLES_BY_ID.get(role_id)
        if role is None:
            raise NotFound(f"Role {role_id} not found.")
        return role
