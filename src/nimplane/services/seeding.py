"""Configuration as code: make the organisation contain what the config file's
`organisation:` section names, at every start.

- What the file names is created when missing, and what it gives is applied: a node pool's
  label, a department's or project's description and quotas (`resources`, the whole list), a
  user's password, a service account's secret, an access rule. The file is the source of
  truth for what it names; a field it leaves out is left as it is.
- Nothing the file does not name is changed or deleted: removing an item from the file leaves
  the object (and a removed access rule) in place; delete it through the API.
- A start with an unchanged file writes nothing: every value is compared with the stored one
  first, and a password or secret is hashed anew only when it no longer verifies.
- All or nothing: passwords are hashed before the write; then one transaction checks every
  rule (names, labels, namespaces, quota bounds, a department's quota covering its projects',
  subjects and scopes of access rules) on the organisation as it would become, and either
  writes everything or raises `ConfigError` naming every problem, leaving the database as it
  was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from nimplane.config_file import OrganisationConfig, ResourcesConfig
from nimplane.domain.access import SERVICE_ACCOUNT, USER, password_issues
from nimplane.domain.cluster import DEFAULT_NODE_POOL
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.identity import revokes_tokens
from nimplane.domain.org import (
    Cluster,
    Department,
    NodePool,
    OrgProject,
    PoolQuota,
    project_namespace,
    quota_shortfalls,
    resolve_resources,
    validate_node_pool_labels,
    validate_org_name,
    validate_project_name,
)
from nimplane.domain.ports import Store, Transaction
from nimplane.domain.rbac import ScopeType
from nimplane.services.bootstrap import SYSTEM
from nimplane.services.secrets_hashing import hash_secret, verify_secret

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The organisation section cannot be applied; `problems` names each item and why."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "the configuration file's organisation section cannot be applied "
            "(nothing was written):\n  - " + "\n  - ".join(self.problems)
        )


@dataclass(frozen=True)
class _Credential:
    """A user's password or a service account's secret, checked against the stored hash
    before the write transaction (hashing is slow on purpose)."""

    subject_type: str
    name: str
    secret: str
    checked_hash: str | None
    """The stored hash the secret was verified against (None: no such account then)."""
    new_hash: str | None
    """The hash to store: None when the stored one verifies."""

    def hash_to_write(self, stored: str | None) -> str | None:
        """The hash to store given the stored one now (another replica may have changed it
        since the check), or None to keep the stored one."""
        if stored == self.checked_hash:
            return self.new_hash
        if stored is not None and verify_secret(self.secret, stored):
            return None
        return self.new_hash or hash_secret(self.secret)


def gives_quota_to(config: OrganisationConfig, department: str, project: str) -> bool:
    """Whether the file sets the quotas of this department or this project."""
    return any(d.name == department and d.resources is not None for d in config.departments) or any(
        p.name == project and p.resources is not None for p in config.projects
    )


def seed_from_config(
    store: Store,
    config: OrganisationConfig,
    *,
    tenant_id: int,
    cluster_id: str,
    environ: Mapping[str, str],
    now: datetime,
) -> list[str]:
    """Apply the organisation section (see the module docstring); the changes made, one line
    each (none when the database already held everything the file names)."""
    if config.is_empty:
        return []
    problems: list[str] = []
    credentials = _prepare_credentials(store, config, environ, problems)
    changes = store.write(
        lambda tx: _Seeding(tx, config, tenant_id, cluster_id, now).run(credentials, problems)
    )
    for change in changes:
        log.info("config file: %s", change)
    return changes


def _secret(
    given: str | None, env: str | None, where: str, environ: Mapping[str, str], problems: list[str]
) -> str | None:
    if given is not None:
        return given
    assert env is not None  # the model requires one of the two
    value = environ.get(env)
    if not value:
        problems.append(f"{where}: environment variable {env} is not set")
    return value or None


def _prepare_credentials(
    store: Store, config: OrganisationConfig, environ: Mapping[str, str], problems: list[str]
) -> list[_Credential]:
    wanted: list[tuple[str, str, str]] = []
    for i, user in enumerate(config.users):
        where = f"users[{i}] '{user.username}'"
        given = None if user.password is None else user.password.get_secret_value()
        password = _secret(given, user.password_from_env, where, environ, problems)
        if password is not None:
            problems += [
                f"{where}: {i.field}: {i.details}" for i in password_issues("password", password)
            ]
            wanted.append((USER, user.username, password))
    for i, account in enumerate(config.service_accounts):
        where = f"serviceAccounts[{i}] '{account.name}'"
        given = None if account.secret is None else account.secret.get_secret_value()
        secret = _secret(given, account.secret_from_env, where, environ, problems)
        if secret is not None:
            wanted.append((SERVICE_ACCOUNT, account.name, secret))
    with store.read() as tx:
        stored = {(kind, name): _stored_hash(tx, kind, name) for kind, name, _ in wanted}
    credentials = []
    for kind, name, secret in wanted:
        checked = stored[(kind, name)]
        verified = checked is not None and verify_secret(secret, checked)
        new_hash = None if verified else hash_secret(secret)
        credentials.append(_Credential(kind, name, secret, checked, new_hash))
    return credentials


def _stored_hash(tx: Transaction, subject_type: str, name: str) -> str | None:
    if subject_type == USER:
        user = tx.identity.user_by_username(name)
        return None if user is None else user.password_hash
    account = tx.identity.service_account_by_client_id(name)
    return None if account is None else account.secret_hash


def _what(
    unit: Department | OrgProject, description: str | None, resources: tuple[PoolQuota, ...]
) -> str:
    changed = [
        name
        for name, differs in (
            ("description", description != unit.description),
            ("quotas", resources != unit.resources),
        )
        if differs
    ]
    return " and ".join(changed)


def _issues(where: str, issues: Sequence[ComplianceIssue]) -> list[str]:
    return [f"{where}: {issue.field}: {issue.details}" for issue in issues]


class _Seeding:
    """One application of the organisation section, inside one write transaction."""

    def __init__(
        self,
        tx: Transaction,
        config: OrganisationConfig,
        tenant_id: int,
        cluster_id: str,
        now: datetime,
    ) -> None:
        self.tx = tx
        self.config = config
        self.tenant_id = tenant_id
        self.now = now
        tx.org.lock_seeding()  # another replica starting now waits, then finds all in place
        cluster = tx.org.cluster(cluster_id)
        assert cluster is not None  # seeded before
        self.cluster: Cluster = cluster
        self.problems: list[str] = []
        self.changes: list[str] = []
        self.pools = {p.name: p for p in tx.org.node_pools()}
        self.departments = {d.name: d for d in tx.org.departments()}
        self.projects = {p.name: p for p in tx.org.org_projects()}

    def run(self, credentials: Sequence[_Credential], problems: Sequence[str]) -> list[str]:
        self.problems += problems
        self._node_pools()
        self._departments()
        self._projects()
        quotas = self._quotas()
        self._check_subjects()
        if self.problems:
            raise ConfigError(self.problems)  # the transaction rolls back: nothing is kept
        self._write_units(quotas)
        self._credentials(credentials)
        self._access_rules()
        if self.problems:
            raise ConfigError(self.problems)
        return self.changes

    # --- node pools, departments and projects ---------------------------------------------------

    def _node_pools(self) -> None:
        for i, cfg in enumerate(self.config.node_pools):
            where = f"nodePools[{i}] '{cfg.name}'"
            is_default = cfg.name == DEFAULT_NODE_POOL
            issues = validate_org_name(cfg.name) + validate_node_pool_labels(
                cfg.label_key, cfg.label_value, is_default=is_default
            )
            if issues or is_default:
                self.problems += _issues(where, issues)
                continue
            label = (cfg.label_key, cfg.label_value)
            taken = [
                p.name
                for p in self.pools.values()
                if p.name != cfg.name and (p.label_key, p.label_value) == label
            ]
            if taken:
                self.problems.append(
                    f"{where}: node pool '{taken[0]}' already selects the nodes labelled "
                    f"{cfg.label_key}={cfg.label_value}"
                )
                continue
            existing = self.pools.get(cfg.name)
            if existing is None:
                pool = NodePool(
                    id="",
                    name=cfg.name,
                    cluster_id=self.cluster.id,
                    cluster_name=self.cluster.name,
                    tenant_id=self.cluster.tenant_id,
                    label_key=cfg.label_key,
                    label_value=cfg.label_value,
                    settings={},
                    created_at=self.now,
                    created_by=SYSTEM,
                    updated_at=self.now,
                    updated_by=SYSTEM,
                )
                self.pools[cfg.name] = replace(pool, id=self.tx.org.insert_node_pool(pool))
                self.changes.append(f"created node pool '{cfg.name}'")
            elif (existing.label_key, existing.label_value) != label:
                updated = replace(
                    existing,
                    label_key=cfg.label_key,
                    label_value=cfg.label_value,
                    updated_at=self.now,
                    updated_by=SYSTEM,
                )
                self.tx.org.update_node_pool(updated)
                self.pools[cfg.name] = updated
                self.changes.append(f"set the label of node pool '{cfg.name}'")

    def _departments(self) -> None:
        for i, cfg in enumerate(self.config.departments):
            if cfg.name in self.departments:
                continue
            issues = validate_org_name(cfg.name)
            if issues:
                self.problems += _issues(f"departments[{i}] '{cfg.name}'", issues)
                continue
            department = Department(
                id="",
                name=cfg.name,
                cluster_id=self.cluster.id,
                tenant_id=self.cluster.tenant_id,
                description=cfg.description,
                resources=(),
                scheduling_rules=None,
                default_node_pools=None,
                node_types=None,
                created_at=self.now,
                created_by=SYSTEM,
                updated_at=self.now,
                updated_by=SYSTEM,
            )
            department_id = self.tx.org.insert_department(department)
            self.departments[cfg.name] = replace(department, id=department_id)
            self.changes.append(f"created department '{cfg.name}'")

    def _projects(self) -> None:
        for i, cfg in enumerate(self.config.projects):
            where = f"projects[{i}] '{cfg.name}'"
            department = self.departments.get(cfg.department)
            existing = self.projects.get(cfg.name)
            if department is None:
                self.problems.append(
                    f"{where}: department '{cfg.department}' does not exist "
                    "(name it under departments)"
                )
                continue
            if existing is not None:
                if existing.department_id != department.id:
                    self.problems.append(
                        f"{where}: the project is in department '{existing.department_name}', "
                        f"not '{cfg.department}' (a project cannot move)"
                    )
                if cfg.namespace is not None and cfg.namespace != existing.namespace:
                    self.problems.append(
                        f"{where}: the project's namespace is '{existing.namespace}', not "
                        f"'{cfg.namespace}' (a namespace cannot change)"
                    )
                continue
            issues = validate_project_name(cfg.name, cfg.namespace)
            namespace = project_namespace(cfg.name, cfg.namespace)
            holder = next((p for p in self.projects.values() if p.namespace == namespace), None)
            if holder is not None:
                issues.append(
                    ComplianceIssue(
                        "namespace", f"'{namespace}' is the namespace of project '{holder.name}'"
                    )
                )
            if issues:
                self.problems += _issues(where, issues)
                continue
            project = OrgProject(
                id="",
                name=cfg.name,
                cluster_id=department.cluster_id,
                tenant_id=department.tenant_id,
                department_id=department.id,
                department_name=department.name,
                namespace=namespace,
                requested_namespace=cfg.namespace,
                description=cfg.description,
                resources=(),
                scheduling_rules=None,
                default_node_pools=None,
                node_types=None,
                enforce_runai_scheduler=True,
                created_at=self.now,
                created_by=SYSTEM,
                updated_at=self.now,
                updated_by=SYSTEM,
            )
            self.projects[cfg.name] = replace(project, id=self.tx.org.insert_project(project))
            self.changes.append(f"created project '{cfg.name}' in department '{department.name}'")

    # --- quotas -------------------------------------------------------------------------------

    def _resolve(
        self, where: str, given: list[ResourcesConfig] | None
    ) -> tuple[PoolQuota, ...] | None:
        if given is None:
            return None
        items = [item.pool_quota() for item in given]
        resolved, issues = resolve_resources(items, list(self.pools.values()))
        self.problems += _issues(where, issues)
        return None if issues else resolved

    def _quotas(self) -> dict[tuple[str, str], tuple[PoolQuota, ...]]:
        """The quotas the file gives, by (kind, name), checked against the organisation as it
        will be: per pool and resource, each department's quota covers its projects'."""
        wanted: dict[tuple[str, str], tuple[PoolQuota, ...]] = {}
        for i, d in enumerate(self.config.departments):
            resolved = self._resolve(f"departments[{i}] '{d.name}'", d.resources)
            if resolved is not None and d.name in self.departments:
                wanted[("department", d.name)] = resolved
        for i, p in enumerate(self.config.projects):
            resolved = self._resolve(f"projects[{i}] '{p.name}'", p.resources)
            if resolved is not None and p.name in self.projects:
                wanted[("project", p.name)] = resolved
        pools = sorted(self.pools.values(), key=lambda p: int(p.id))
        for department in self.departments.values():
            children = [p for p in self.projects.values() if p.department_id == department.id]
            touched = ("department", department.name) in wanted or any(
                ("project", p.name) in wanted for p in children
            )
            if not touched:
                continue
            own = wanted.get(("department", department.name), department.resources)
            parts = [(p.name, wanted.get(("project", p.name), p.resources)) for p in children]
            for issue in quota_shortfalls(own, parts, pools, lambda _pool, _kind: ""):
                self.problems.append(f"department '{department.name}': {issue.details}")
        return wanted

    def _write_units(self, quotas: Mapping[tuple[str, str], tuple[PoolQuota, ...]]) -> None:
        for d in self.config.departments:
            department = self.departments[d.name]
            description = department.description if d.description is None else d.description
            resources = quotas.get(("department", d.name), department.resources)
            if (description, resources) != (department.description, department.resources):
                self.tx.org.update_department(
                    replace(
                        department,
                        description=description,
                        resources=resources,
                        updated_at=self.now,
                        updated_by=SYSTEM,
                    )
                )
                self.changes.append(
                    f"set the {_what(department, description, resources)} of department '{d.name}'"
                )
        for p in self.config.projects:
            project = self.projects[p.name]
            description = project.description if p.description is None else p.description
            resources = quotas.get(("project", p.name), project.resources)
            if (description, resources) != (project.description, project.resources):
                self.tx.org.update_project(
                    replace(
                        project,
                        description=description,
                        resources=resources,
                        updated_at=self.now,
                        updated_by=SYSTEM,
                    )
                )
                self.changes.append(
                    f"set the {_what(project, description, resources)} of project '{p.name}'"
                )

    # --- users, service accounts and access rules ----------------------------------------------

    def _check_subjects(self) -> None:
        """Every subject an access rule names exists (or the file makes it), and a service
        account the file names does not take another account's name."""
        users = {u.username for u in self.config.users}
        accounts = {a.name for a in self.config.service_accounts}
        for name in sorted(accounts):
            other = self.tx.identity.service_account_by_name(name)
            if other is not None and other.client_id != name:
                self.problems.append(
                    f"service account '{name}': the name is taken by the service account with "
                    f"client id '{other.client_id}'"
                )
        for i, rule in enumerate(self.config.access_rules):
            where = f"accessRules[{i}]"
            if rule.subject_type == USER:
                known = rule.subject_id in users or (
                    self.tx.identity.user_by_username(rule.subject_id) is not None
                )
            else:
                known = rule.subject_id in accounts or (
                    self.tx.identity.service_account_by_client_id(rule.subject_id) is not None
                )
            if not known:
                self.problems.append(
                    f"{where}: {rule.subject_type} '{rule.subject_id}' does not exist "
                    f"(name it under {'users' if rule.subject_type == USER else 'serviceAccounts'})"
                )
            self._scope_id(where, rule.scope_type, rule.scope_name)

    def _scope_id(self, where: str, scope_type: str, scope_name: str | None) -> str | None:
        """The id of the scope a rule names, or None (and a problem)."""
        if scope_type == ScopeType.tenant:
            scope_id = str(self.tenant_id)
            tenants = [s for s in self.tx.identity.scopes() if s.type == ScopeType.tenant]
            name = next((s.name for s in tenants if s.id == scope_id), scope_id)
        elif scope_type == ScopeType.cluster:
            name, scope_id = self.cluster.name, self.cluster.id
        elif scope_type == ScopeType.department:
            department = self.departments.get(scope_name or "")
            name, scope_id = scope_name or "", department.id if department else ""
        else:
            project = self.projects.get(scope_name or "")
            name, scope_id = scope_name or "", project.id if project else ""
        if not scope_id:
            self.problems.append(f"{where}: {scope_type} '{scope_name}' does not exist")
            return None
        if scope_name is not None and scope_name != name:
            self.problems.append(f"{where}: the {scope_type} is '{name}', not '{scope_name}'")
            return None
        return scope_id

    def _credentials(self, credentials: Sequence[_Credential]) -> None:
        for c in credentials:
            if c.subject_type == USER:
                user = self.tx.identity.user_by_username(c.name)
                new_hash = c.hash_to_write(None if user is None else user.password_hash)
                if user is None:
                    assert new_hash is not None
                    self.tx.identity.insert_user(c.name, new_hash, self.now, SYSTEM)
                    self.changes.append(f"created user '{c.name}'")
                elif new_hash is not None:
                    self.tx.identity.update_user(
                        user.id,
                        now=self.now,
                        by=SYSTEM,
                        password_hash=new_hash,
                        revoke_tokens=revokes_tokens(credentials_changed=True, enabled=None),
                    )
                    self.changes.append(f"set the password of user '{c.name}'")
                continue
            account = self.tx.identity.service_account_by_client_id(c.name)
            new_hash = c.hash_to_write(None if account is None else account.secret_hash)
            if account is None:
                assert new_hash is not None
                self.tx.identity.insert_service_account(c.name, c.name, new_hash, self.now, SYSTEM)
                self.changes.append(f"created service account '{c.name}'")
            elif new_hash is not None:
                self.tx.identity.update_service_account(
                    account.id,
                    now=self.now,
                    by=SYSTEM,
                    secret_hash=new_hash,
                    revoke_tokens=revokes_tokens(credentials_changed=True, enabled=None),
                )
                self.changes.append(f"set the secret of service account '{c.name}'")

    def _access_rules(self) -> None:
        for i, rule in enumerate(self.config.access_rules):
            scope_id = self._scope_id(f"accessRules[{i}]", rule.scope_type, rule.scope_name)
            if scope_id is None:
                continue
            wanted = (rule.role_name, rule.scope_type, scope_id)
            stored = self.tx.identity.access_rules_for(rule.subject_type, rule.subject_id)
            if any((r.role_name, r.scope_type, r.scope_id) == wanted for r in stored):
                continue
            self.tx.identity.insert_access_rule(
                rule.subject_type, rule.subject_id, *wanted, self.now, SYSTEM
            )
            where = f"{rule.scope_type} '{rule.scope_name or scope_id}'"
            self.changes.append(
                f"gave {rule.subject_type} '{rule.subject_id}' the role {rule.role_name} in {where}"
            )
