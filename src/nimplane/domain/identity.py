"""Who is calling: service accounts, access rules, and the resolved principal of a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceAccount:
    id: str
    name: str
    client_id: str
    secret_hash: str
    enabled: bool


@dataclass(frozen=True)
class AccessRule:
    """`subject` is a `role` in `scope` (Run:ai's access rule)."""

    id: str
    subject_type: str
    subject_id: str
    role_name: str
    scope_type: str
    scope_id: str


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request and the rules that grant it permissions."""

    subject: str
    subject_type: str
    rules: tuple[AccessRule, ...]
