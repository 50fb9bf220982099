"""Service accounts: create, change, delete them and regenerate their secrets."""

from __future__ import annotations

from collections import defaultdict

from nimplane.domain.access import SERVICE_ACCOUNT, ResolvedRule
from nimplane.domain.errors import AlreadyExists, NotFound
from nimplane.domain.identity import Principal, ServiceAccount, revokes_tokens
from nimplane.domain.ports import Transaction
from nimplane.domain.rbac import Action, ResourceType
from nimplane.services.identity._common import (
    IdentityParts,
    _Subject,
    new_secret,
    require_somewhere,
)
from nimplane.services.secrets_hashing import hash_secret


class ServiceAccountOps(IdentityParts):
    """The service accounts' use cases."""

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
