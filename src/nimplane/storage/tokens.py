"""TokenRepo on SQLAlchemy Core: token families (one per sign-in) and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from nimplane.domain.identity import RefreshRecord
from nimplane.storage.tables import refresh_tokens, token_families

_REFRESH_TOKEN = (
    select(
        refresh_tokens.c.id,
        refresh_tokens.c.family_id,
        refresh_tokens.c.used_at,
        token_families.c.subject_type,
        token_families.c.account_uid,
        token_families.c.started_at,
        token_families.c.revoked_at,
    )
    .join(token_families, token_families.c.id == refresh_tokens.c.family_id)
    .where(refresh_tokens.c.id == bindparam("id"))
)
_FAMILY_REVOKED = select(token_families.c.revoked_at).where(token_families.c.id == bindparam("id"))


class SqlTokenRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def start_family(
        self, family_id: str, subject_type: str, account_uid: str, token_id: str, now: datetime
    ) -> None:
        self._conn.execute(
            insert(token_families).values(
                id=family_id, subject_type=subject_type, account_uid=account_uid, started_at=now
            )
        )
        self.add_refresh_token(token_id, family_id, now)

    def refresh_token(self, token_id: str) -> RefreshRecord | None:
        # the family row is locked too: a concurrent exchange of a sibling waits (PostgreSQL)
        row = self._conn.execute(_REFRESH_TOKEN.with_for_update(), {"id": token_id}).first()
        if row is None:
            return None
        return RefreshRecord(
            token_id=row.id,
            family_id=row.family_id,
            subject_type=row.subject_type,
            account_uid=row.account_uid,
            family_started_at=row.started_at,
            used_at=row.used_at,
            family_revoked_at=row.revoked_at,
        )

    def use_refresh_token(self, token_id: str, now: datetime) -> bool:
        result = self._conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        return result.rowcount == 1

    def add_refresh_token(self, token_id: str, family_id: str, now: datetime) -> None:
        self._conn.execute(
            insert(refresh_tokens).values(id=token_id, family_id=family_id, issued_at=now)
        )

    def revoke_family(self, family_id: str, now: datetime) -> None:
        self._conn.execute(
            update(token_families)
            .where(token_families.c.id == family_id, token_families.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def family_revoked(self, family_id: str) -> bool:
        row = self._conn.execute(_FAMILY_REVOKED, {"id": family_id}).first()
        return row is None or row.revoked_at is not None

    def prune_families(self, started_before: datetime) -> int:
        old = select(token_families.c.id).where(token_families.c.started_at < started_before)
        self._conn.execute(delete(refresh_tokens).where(refresh_tokens.c.family_id.in_(old)))
        result = self._conn.execute(
            delete(token_families).where(token_families.c.started_at < started_before)
        )
        return int(result.rowcount)
