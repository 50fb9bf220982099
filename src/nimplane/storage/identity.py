"""IdentityRepo on SQLAlchemy Core: service accounts, local users, access rules, and the scopes
access rules may name (read from the organisation tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from nimplane.domain.access import Scope
from nimplane.domain.errors import AlreadyExists
from nimplane.domain.identity import AccessRule, ServiceAccount, User
from nimplane.domain.rbac import ScopePath, ScopeType
from nimplane.storage.tables import (
    access_rules,
    clusters,
    departments,
    projects,
    service_accounts,
    tenants,
    users,
)

_MAX_ID = 2**31 - 1

_ACCOUNT_BY_CLIENT_ID = select(service_accounts).where(
    service_accounts.c.client_id == bindparam("client_id")
)
_ACCOUNT_BY_ID = select(service_accounts).where(service_accounts.c.id == bindparam("id"))
_ACCOUNT_BY_NAME = select(service_accounts).where(service_accounts.c.name == bindparam("name"))
_USER_BY_USERNAME = select(users).where(users.c.username == bindparam("username"))
_USER_BY_ID = select(users).where(users.c.id == bindparam("id"))
_RULES_OF_SUBJECT = (
    select(access_rules)
    .where(
        access_rules.c.subject_type == bindparam("subject_type"),
        access_rules.c.subject_id == bindparam("subject_id"),
    )
    .order_by(access_rules.c.id)
)
_RULE_BY_ID = select(access_rules).where(access_rules.c.id == bindparam("id"))


def row_id(text: str) -> int | None:
    """An id as the INTEGER column holds it, or None (ASCII digits only, within range)."""
    digits = text.isascii() and text.isdigit() and len(text) <= 10
    return int(text) if digits and int(text) <= _MAX_ID else None


def storable(text: str) -> bool:
    """Whether a text can be a stored key: PostgreSQL text holds no NUL character, so a lookup
    by one finds nothing (instead of failing)."""
    return "\x00" not in text


def _account(row: Row[Any]) -> ServiceAccount:
    return ServiceAccount(
        id=str(row.id),
        name=row.name,
        client_id=row.client_id,
        secret_hash=row.secret_hash,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        uid=row.uid,
        token_epoch=row.token_epoch,
    )


def _user(row: Row[Any]) -> User:
    return User(
        id=str(row.id),
        username=row.username,
        password_hash=row.password_hash,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        uid=row.uid,
        token_epoch=row.token_epoch,
    )


def _new_uid() -> str:
    return str(uuid.uuid4())


def _rule(row: Row[Any]) -> AccessRule:
    return AccessRule(
        id=str(row.id),
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        role_name=row.role_name,
        scope_type=row.scope_type,
        scope_id=row.scope_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class SqlIdentityRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- service accounts ---------------------------------------------------------------------

    def service_account_by_client_id(self, client_id: str) -> ServiceAccount | None:
        if not storable(client_id):
            return None
        row = self._conn.execute(_ACCOUNT_BY_CLIENT_ID, {"client_id": client_id}).first()
        return None if row is None else _account(row)

    def service_account(self, account_id: str) -> ServiceAccount | None:
        key = row_id(account_id)
        if key is None:
            return None
        row = self._conn.execute(_ACCOUNT_BY_ID, {"id": key}).first()
        return None if row is None else _account(row)

    def service_account_by_name(self, name: str) -> ServiceAccount | None:
        if not storable(name):
            return None
        row = self._conn.execute(_ACCOUNT_BY_NAME, {"name": name}).first()
        return None if row is None else _account(row)

    def service_accounts(self) -> list[ServiceAccount]:
        rows = self._conn.execute(select(service_accounts).order_by(service_accounts.c.id))
        return [_account(row) for row in rows]

    def insert_service_account(
        self, name: str, client_id: str, secret_hash: str, now: datetime, by: str
    ) -> ServiceAccount:
        try:
            inserted = self._conn.execute(
                insert(service_accounts)
                .values(
                    name=name,
                    client_id=client_id,
                    secret_hash=secret_hash,
                    enabled=True,
                    created_at=now,
                    created_by=by,
                    updated_at=now,
                    updated_by=by,
                    uid=_new_uid(),
                )
                .returning(service_accounts.c.id)
            ).scalar_one()
        except IntegrityError as exc:  # the transaction rolls back as this propagates
            raise AlreadyExists(f"A service account with client id '{client_id}' exists") from exc
        account = self.service_account(str(inserted))
        assert account is not None
        return account

    def update_service_account(
        self,
        account_id: str,
        *,
        now: datetime,
        by: str,
        name: str | None = None,
        enabled: bool | None = None,
        secret_hash: str | None = None,
        revoke_tokens: bool = False,
    ) -> None:
        values: dict[str, Any] = {"updated_at": now, "updated_by": by}
        if revoke_tokens:
            values["token_epoch"] = service_accounts.c.token_epoch + 1
        if name is not None:
            values["name"] = name
        if enabled is not None:
            values["enabled"] = enabled
        if secret_hash is not None:
            values["secret_hash"] = secret_hash
        key = row_id(account_id)
        self._conn.execute(
            update(service_accounts).where(service_accounts.c.id == key).values(**values)
        )

    def delete_service_account(self, account_id: str) -> None:
        key = row_id(account_id)
        self._conn.execute(delete(service_accounts).where(service_accounts.c.id == key))

    def upsert_service_account(
        self, name: str, client_id: str, secret_hash: str, now: datetime, by: str
    ) -> ServiceAccount:
        existing = self.service_account_by_client_id(client_id)
        if existing is None:
            self._conn.execute(
                insert(service_accounts).values(
                    name=name,
                    client_id=client_id,
                    secret_hash=secret_hash,
                    enabled=True,
                    created_at=now,
                    created_by=by,
                    uid=_new_uid(),
                )
            )
        elif existing.secret_hash != secret_hash:
            self._conn.execute(
                update(service_accounts)
                .where(service_accounts.c.client_id == client_id)
                .values(
                    secret_hash=secret_hash,
                    enabled=True,
                    token_epoch=service_accounts.c.token_epoch + 1,
                )
            )
        account = self.service_account_by_client_id(client_id)
        assert account is not None
        return account

    # --- users --------------------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        key = row_id(user_id)
        if key is None:
            return None
        row = self._conn.execute(_USER_BY_ID, {"id": key}).first()
        return None if row is None else _user(row)

    def user_by_username(self, username: str) -> User | None:
        if not storable(username):
            return None
        row = self._conn.execute(_USER_BY_USERNAME, {"username": username}).first()
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        return [_user(row) for row in self._conn.execute(select(users).order_by(users.c.id))]

    def insert_user(self, username: str, password_hash: str, now: datetime, by: str) -> User:
        try:
            inserted = self._conn.execute(
                insert(users)
                .values(
                    username=username,
                    password_hash=password_hash,
                    enabled=True,
                    created_at=now,
                    created_by=by,
                    updated_at=now,
                    updated_by=by,
                    uid=_new_uid(),
                )
                .returning(users.c.id)
            ).scalar_one()
        except IntegrityError as exc:
            raise AlreadyExists(f"A user named '{username}' already exists") from exc
        user = self.user(str(inserted))
        assert user is not None
        return user

    def update_user(
        self,
        user_id: str,
        *,
        now: datetime,
        by: str,
        password_hash: str | None = None,
        enabled: bool | None = None,
        expected_password_hash: str | None = None,
        revoke_tokens: bool = False,
    ) -> bool:
        values: dict[str, Any] = {"updated_at": now, "updated_by": by}
        if revoke_tokens:
            values["token_epoch"] = users.c.token_epoch + 1
        if password_hash is not None:
            values["password_hash"] = password_hash
        if enabled is not None:
            values["enabled"] = enabled
        statement = update(users).where(users.c.id == row_id(user_id))
        if expected_password_hash is not None:
            statement = statement.where(users.c.password_hash == expected_password_hash)
        return self._conn.execute(statement.values(**values)).rowcount == 1

    def delete_user(self, user_id: str) -> None:
        self._conn.execute(delete(users).where(users.c.id == row_id(user_id)))

    def lock_subject(self, subject_type: str, subject_id: str) -> bool:
        """Whether the account exists; its row stays locked (PostgreSQL) until the transaction
        ends, so it cannot be deleted meanwhile (SQLite writes are serial anyway)."""
        if not storable(subject_id):
            return False
        if subject_type == "service-account":
            query = select(service_accounts.c.id).where(service_accounts.c.client_id == subject_id)
        elif subject_type == "user":
            query = select(users.c.id).where(users.c.username == subject_id)
        else:
            return False
        return self._conn.execute(query.with_for_update()).first() is not None

    # --- access rules -------------------------------------------------------------------------

    def access_rules_for(self, subject_type: str, subject_id: str) -> list[AccessRule]:
        if not storable(subject_id) or not storable(subject_type):
            return []
        rows = self._conn.execute(
            _RULES_OF_SUBJECT, {"subject_type": subject_type, "subject_id": subject_id}
        )
        return [_rule(r) for r in rows]

    def access_rules(self) -> list[AccessRule]:
        rows = self._conn.execute(select(access_rules).order_by(access_rules.c.id))
        return [_rule(r) for r in rows]

    def access_rule(self, rule_id: str) -> AccessRule | None:
        key = row_id(rule_id)
        if key is None:
            return None
        row = self._conn.execute(_RULE_BY_ID, {"id": key}).first()
        return None if row is None else _rule(row)

    def insert_access_rule(
        self,
        subject_type: str,
        subject_id: str,
        role_name: str,
        scope_type: str,
        scope_id: str,
        now: datetime,
        by: str,
    ) -> AccessRule:
        inserted = self._conn.execute(
            insert(access_rules)
            .values(
                subject_type=subject_type,
                subject_id=subject_id,
                role_name=role_name,
                scope_type=scope_type,
                scope_id=scope_id,
                created_at=now,
                created_by=by,
            )
            .returning(access_rules.c.id)
        ).scalar_one()
        rule = self.access_rule(str(inserted))
        assert rule is not None
        return rule

    def delete_access_rule(self, rule_id: str) -> None:
        self._conn.execute(delete(access_rules).where(access_rules.c.id == row_id(rule_id)))

    def delete_access_rules_of(self, subject_type: str, subject_id: str) -> int:
        result = self._conn.execute(
            delete(access_rules).where(
                access_rules.c.subject_type == subject_type,
                access_rules.c.subject_id == subject_id,
            )
        )
        return int(result.rowcount)

    def delete_access_rules_in_scope(self, scope_type: str, scope_id: str) -> list[str]:
        """Remove every rule on a scope that is going away; the subjects that had one."""
        where = (access_rules.c.scope_type == scope_type, access_rules.c.scope_id == scope_id)
        subjects = list(self._conn.execute(select(access_rules.c.subject_id).where(*where)))
        self._conn.execute(delete(access_rules).where(*where))
        return sorted({str(row.subject_id) for row in subjects})

    def ensure_access_rule(
        self,
        subject_type: str,
        subject_id: str,
        role_name: str,
        scope_type: str,
        scope_id: str,
        now: datetime,
        by: str,
    ) -> None:
        for rule in self.access_rules_for(subject_type, subject_id):
            if (rule.role_name, rule.scope_type, rule.scope_id) == (
                role_name,
                scope_type,
                scope_id,
            ):
                return
        self.insert_access_rule(subject_type, subject_id, role_name, scope_type, scope_id, now, by)

    # --- scopes -------------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        """Every tenant, cluster, department and project, each with its path and names."""
        found: list[Scope] = []
        tenant_names: dict[int, str] = {}
        for t in self._conn.execute(select(tenants.c.id, tenants.c.name)):
            tenant_names[t.id] = t.name
            path = ScopePath(tenant_id=str(t.id))
            found.append(Scope(ScopeType.tenant, str(t.id), t.name, path, (t.name,)))
        cluster_of: dict[str, tuple[ScopePath, tuple[str, ...]]] = {}
        for c in self._conn.execute(select(clusters.c.id, clusters.c.tenant_id, clusters.c.name)):
            path = ScopePath(tenant_id=str(c.tenant_id), cluster_id=c.id)
            names = (tenant_names.get(c.tenant_id, str(c.tenant_id)), c.name)
            cluster_of[c.id] = (path, names)
            found.append(Scope(ScopeType.cluster, c.id, c.name, path, names))
        department_of: dict[int, tuple[ScopePath, tuple[str, ...]]] = {}
        for d in self._conn.execute(
            select(departments.c.id, departments.c.cluster_id, departments.c.name)
        ):
            if d.cluster_id not in cluster_of:
                continue
            parent, parent_names = cluster_of[d.cluster_id]
            path = ScopePath(parent.tenant_id, parent.cluster_id, department_id=str(d.id))
            names = (*parent_names, d.name)
            department_of[d.id] = (path, names)
            found.append(Scope(ScopeType.department, str(d.id), d.name, path, names))
        for p in self._conn.execute(
            select(projects.c.id, projects.c.department_id, projects.c.name)
        ):
            if p.department_id not in department_of:
                continue
            parent, parent_names = department_of[p.department_id]
            path = ScopePath(
                parent.tenant_id, parent.cluster_id, parent.department_id, project_id=str(p.id)
            )
            found.append(Scope(ScopeType.project, str(p.id), p.name, path, (*parent_names, p.name)))
        return found
