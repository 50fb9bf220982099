"""Local users: create and delete them, reset and change their passwords."""

from __future__ import annotations

from collections import defaultdict

from nimplane.domain.access import USER, ResolvedRule, password_issues, user_field, user_texts
from nimplane.domain.errors import AlreadyExists, ComplianceIssue, Conflict, Invalid, NotFound
from nimplane.domain.identity import Principal, User, revokes_tokens
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType
from nimplane.services.identity._common import (
    IdentityParts,
    _Subject,
    new_password,
    require_somewhere,
)
from nimplane.services.secrets_hashing import hash_secret, verify_secret


class UserOps(IdentityParts):
    """The local users' use cases."""

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
