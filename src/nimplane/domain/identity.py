"""Who is calling: service accounts, local users, access rules, and the resolved principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

SYSTEM_SUBJECT: Final = "system"
"""Who made what nimplane makes itself (the bootstrap administrator, the config file's
accounts and organisation). Not a caller: a service account may be *named* `system`, so no
rule may read "made by the caller" as the caller's right when the maker is this."""


@dataclass(frozen=True)
class ServiceAccount:
    """An organisation service account: its client id is the subject of its tokens and rules."""

    id: str
    name: str
    client_id: str
    secret_hash: str
    enabled: bool
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class User:
    """A local user: its username is the subject of its tokens and rules."""

    id: str
    username: str
    password_hash: str
    enabled: bool
    created_at: datetime
    created_by: str
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class AccessRule:
    """`subject` is a `role` in `scope` (Run:ai's access rule)."""

    id: str
    subject_type: str
    subject_id: str
    role_name: str
    scope_type: str
    scope_id: str
    created_at: datetime | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request and the rules that grant it permissions."""

    subject: str
    subject_type: str
    rules: tuple[AccessRule, ...]
