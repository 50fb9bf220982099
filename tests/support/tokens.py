"""Tokens issued directly (no sign-in), bound to the account as stored now."""

from __future__ import annotations

import uuid

from nimplane.api.state import AppState
from nimplane.domain.identity import AccountBinding
from nimplane.services.auth import Authenticator


def binding_of(
    state: AppState, subject: str, subject_type: str = "service-account"
) -> AccountBinding:
    """The stored account's binding; a random one (matching nothing) if there is no account."""
    with state.store.read() as tx:
        if subject_type == "user":
            account = tx.identity.user_by_username(subject)
        else:
            account = tx.identity.service_account_by_client_id(subject)  # type: ignore[assignment]
    if account is None:
        return AccountBinding(str(uuid.uuid4()), 0)
    return AccountBinding(account.uid, account.token_epoch)


def issue_token(
    state: AppState,
    subject: str,
    subject_type: str = "service-account",
    *,
    token_use: str = "access",
    auth: Authenticator | None = None,
) -> str:
    """A token of the subject's current account, signed by `auth` (default: the state's)."""
    tokens = (auth or state.auth).tokens
    return tokens.issue(
        subject, subject_type, binding_of(state, subject, subject_type), token_use=token_use
    )
