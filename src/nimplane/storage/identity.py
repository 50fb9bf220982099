"""IdentityRepo on SQLAlchemy Core: service accounts and access rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from nimplane.domain.identity import AccessRule, ServiceAccount
from nimplane.storage.tables import access_rules, service_accounts

_ACCOUNT_BY_CLIENT_ID = select(service_accounts).where(
    service_accounts.c.client_id == bindparam("client_id")
)
_RULES_OF_SUBJECT = select(access_rules).where(
    access_rules.c.subject_type == bindparam("subject_type"),
    access_rules.c.subject_id == bindparam("subject_id"),
)


def _account(row: Row[Any]) -> ServiceAccount:
    return ServiceAccount(
        id=str(row.id),
        name=row.name,
        client_id=row.client_id,
        secret_hash=row.secret_hash,
        enabled=bool(row.enabled),
    )


class SqlIdentityRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def service_account_by_client_id(self, client_id: str) -> ServiceAccount | None:
        row = self._conn.execute(_ACCOUNT_BY_CLIENT_ID, {"client_id": client_id}).first()
        return None if row is None else _account(row)

    def access_rules_for(self, subject_type: str, subject_id: str) -> list[AccessRule]:
        rows = self._conn.execute(
            _RULES_OF_SUBJECT, {"subject_type": subject_type, "subject_id": subject_id}
        )
        return [
            AccessRule(
                id=str(r.id),
                subject_type=r.subject_type,
                subject_id=r.subject_id,
                role_name=r.role_name,
                scope_type=r.scope_type,
                scope_id=r.scope_id,
            )
            for r in rows
        ]

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
                )
            )
        elif existing.secret_hash != secret_hash:
            self._conn.execute(
                update(service_accounts)
                .where(service_accounts.c.client_id == client_id)
                .values(secret_hash=secret_hash, enabled=True)
            )
        account = self.service_account_by_client_id(client_id)
        assert account is not None
        return account

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
        self._conn.execute(
            insert(access_rules).values(
                subject_type=subject_type,
                subject_id=subject_id,
                role_name=role_name,
                scope_type=scope_type,
                scope_id=scope_id,
                created_at=now,
                created_by=by,
            )
        )
