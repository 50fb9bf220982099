"""Sign-in limits: the token grants behind per-address and per-account rate limits and a bound
on concurrent secret hashing (brute-force and flood protection of the token endpoints).

- Every attempt counts against its peer address (`address` rate), whatever its outcome.
- A failed attempt counts against its account (`account` rate): the client id or username it
  names, whether or not that account exists, so the limit says nothing about existence. The
  attempt is counted before the secret is checked and given back when it succeeds, so
  concurrent guesses cannot slip past the limit, and a user who signs in often is never
  limited by it.
- A limited attempt is refused before any secret is checked: the right secret is refused too,
  so a limited client learns nothing from the answer.
- Grants that check a secret (scrypt, slow on purpose) take a slot of the `HashingGate`; with
  none free within its wait the attempt is refused (503) rather than queued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from nimplane.domain.errors import Overloaded, RateLimited, Unauthenticated
from nimplane.domain.ratelimit import Rate, whole_seconds
from nimplane.services.auth import Credentials, TokenGrant
from nimplane.services.rate_limits import Clock, HashingGate, KeyedLimiter

HASHING_GRANTS = frozenset({"app_token", "client_credentials", "password"})
_KEY_LIMIT = 128
"""Longer names are keyed by their digest, so a key's size is bounded too."""


@dataclass(frozen=True)
class SignInLimits:
    account: Rate
    """Failed attempts per client id or username."""
    address: Rate
    """All attempts per peer address."""
    max_keys: int
    """Keys kept per limiter (least recently used forgotten first)."""


def _bounded(key: str) -> str:
    if len(key) <= _KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _retry_after(seconds: int) -> str:
    return f"retry after {seconds} second{'' if seconds == 1 else 's'}."


def account_key(creds: Credentials) -> tuple[str, str] | None:
    """(what it is called, the key) of the account a grant names; None if it names none."""
    if creds.grant_type in ("app_token", "client_credentials") and creds.client_id:
        return "client id", "client:" + _bounded(creds.client_id)
    if creds.grant_type == "password" and creds.username:
        return "username", "user:" + _bounded(creds.username)
    return None


class SignInGuard:
    """Runs `grant` (the `Authenticator`'s) for an attempt from `peer`, within the limits."""

    def __init__(
        self,
        grant: Callable[[Credentials], TokenGrant],
        limits: SignInLimits,
        hashing: HashingGate,
        clock: Clock,
    ) -> None:
        self._grant = grant
        self._clock = clock
        self.hashing = hashing
        self.addresses = KeyedLimiter(limits.address, limits.max_keys)
        self.accounts = KeyedLimiter(limits.account, limits.max_keys)

    def grant(self, creds: Credentials, peer: str) -> TokenGrant:
        """Issue tokens for `creds`; RateLimited (429) or Overloaded (503) when over a limit."""
        now = self._clock()
        by_address = self.addresses.admit("addr:" + _bounded(peer), now)
        if not by_address.allowed:
            raise RateLimited(
                "Too many sign-in attempts from this address; "
                + _retry_after(whole_seconds(by_address.retry_after)),
                whole_seconds(by_address.retry_after),
            )
        account = account_key(creds)
        if account is not None:
            what, key = account
            by_account = self.accounts.admit(key, now)
            if not by_account.allowed:
                raise RateLimited(
                    f"Too many failed sign-in attempts for this {what}; "
                    + _retry_after(whole_seconds(by_account.retry_after)),
                    whole_seconds(by_account.retry_after),
                )
        failed = False
        try:
            if creds.grant_type not in HASHING_GRANTS:
                return self._grant(creds)
            with self.hashing.slot() as got:
                if not got:
                    raise Overloaded(
                        "The server is busy checking other sign-ins; " + _retry_after(1), 1
                    )
                return self._grant(creds)
        except Unauthenticated:
            failed = True
            raise
        finally:
            if account is not None and not failed:
                self.accounts.refund(account[1], self._clock())
