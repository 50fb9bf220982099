"""First-start seeding: the embedded organisation and the bootstrap administrator (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nimplane.domain.identity import SYSTEM_SUBJECT
from nimplane.domain.ports import Store, Transaction
from nimplane.domain.rbac import SYSTEM_ADMINISTRATOR, ScopeType
from nimplane.services.auth import SERVICE_ACCOUNT
from nimplane.services.secrets_hashing import hash_secret, verify_secret

SYSTEM = SYSTEM_SUBJECT


@dataclass(frozen=True)
class EmbeddedOrg:
    """What the single-tenant default installation consists of."""

    tenant_id: int
    cluster_name: str
    department: str = "default"
    project: str = "default"
    node_pool: str = "default"


def seed_organisation(store: Store, org: EmbeddedOrg, now: datetime) -> str:
    """Ensure tenant, cluster, `default` department (id 1), project (id 1) and node pool exist."""

    def seed(tx: Transaction) -> str:
        tx.org.ensure_tenant(org.tenant_id, f"tenant-{org.tenant_id}")
        cluster_id = tx.org.ensure_cluster(org.tenant_id, org.cluster_name, now)
        department_id = tx.org.ensure_department(cluster_id, org.department, now)
        tx.org.ensure_project(cluster_id, department_id, org.project, f"runai-{org.project}", now)
        tx.org.ensure_node_pool(cluster_id, org.node_pool, now)
        return cluster_id

    return store.write(seed)


def has_service_account(store: Store, client_id: str) -> bool:
    with store.read() as tx:
        return tx.identity.service_account_by_client_id(client_id) is not None


def ensure_bootstrap_admin(
    store: Store, tenant_id: int, client_id: str, secret: str, now: datetime
) -> None:
    """A service account with these credentials and the System administrator role on the tenant."""
    with store.read() as tx:
        existing = tx.identity.service_account_by_client_id(client_id)
    secret_hash = None
    if existing is None or not verify_secret(secret, existing.secret_hash):
        secret_hash = hash_secret(secret)  # slow on purpose, so done before the write

    def ensure(tx: Transaction) -> None:
        if secret_hash is not None:
            tx.identity.upsert_service_account(client_id, client_id, secret_hash, now, SYSTEM)
        tx.identity.ensure_access_rule(
            SERVICE_ACCOUNT,
            client_id,
            SYSTEM_ADMINISTRATOR,
            ScopeType.tenant.value,
            str(tenant_id),
            now,
            SYSTEM,
        )

    store.write(ensure)
