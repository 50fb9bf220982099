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
    uid: str = ""
    """Immutable and never reused: what tokens are bound to (see `AccountBinding`)."""
    token_epoch: int = 0
    """Bumped by every change that revokes the account's tokens (`revokes_tokens`)."""


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
    uid: str = ""
    token_epoch: int = 0


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


@dataclass(frozen=True)
class AccountBinding:
    """What a token is bound to: the account's immutable uid and its token epoch when the
    token was issued. A token passes only while both still match the stored account, so a
    credential change, a disable or a delete (and a re-created account of the same name, which
    gets a new uid) ends every token issued before it."""

    uid: str
    epoch: int


def revokes_tokens(*, credentials_changed: bool, enabled: bool | None) -> bool:
    """Whether a change of an account ends the tokens issued before it: a new secret or
    password, or a disable. (A delete ends them as well: the uid is gone for good.)"""
    return credentials_changed or enabled is False


@dataclass(frozen=True)
class RefreshRecord:
    """A refresh token as the server tracks it: its sign-in (family), when that started,
    whether the token was exchanged already and whether the family was revoked."""

    token_id: str
    family_id: str
    subject_type: str
    account_uid: str
    family_started_at: datetime
    used_at: datetime | None
    family_revoked_at: datetime | None
