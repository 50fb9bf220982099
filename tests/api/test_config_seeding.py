"""Configuration as code: the config file's `organisation:` and `simulator:` sections seed a
fresh database at start, a restart with the same file writes nothing, a changed file is
applied to what it names, and an invalid file fails the start naming every problem and
writing nothing. Each test has a database of its own (SQLite, or a PostgreSQL database next
to the session's)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.backends.simulated import default_nodes
from nimplane.cli.main import load_settings
from nimplane.services.seeding import ConfigError, seed_from_config
from nimplane.services.workloads import utc_now
from nimplane.settings import Settings
from nimplane.storage import tables
from nimplane.storage.db import create_db_engine
from nimplane.storage.store import SqlStore
from nimplane.wiring import build_state
from tests.support.server import CLIENT_ID, CLIENT_SECRET
from tests.support.tokens import issue_token

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nimplane.yaml"
DEPARTMENTS = "/api/v1/org-unit/departments"
PROJECTS = "/api/v1/org-unit/projects"
NODE_POOLS = "/api/v1/node-pools"
TOKEN = "/api/v1/token"
ALICE_PASSWORD = "alice-password-0123"

ORGANISATION: dict[str, Any] = {
    "nodePools": [
        {"name": "a100", "labelKey": "nimplane.io/gpu", "labelValue": "a100"},
        {"name": "l40s", "labelKey": "nimplane.io/gpu", "labelValue": "l40s"},
    ],
    "departments": [
        {
            "name": "research",
            "description": "Model research",
            "resources": [
                {
                    "nodePool": "default",
                    "gpu": {"deserved": 8, "limit": 16, "overQuotaWeight": 2},
                    "cpu": {"deserved": 64000},
                    "memory": {"deserved": 512, "units": "GB"},
                },
                {"nodePool": "a100", "gpu": {"deserved": 4}},
            ],
        },
        {
            "name": "product",
            "resources": [
                {"nodePool": "default", "gpu": {"deserved": 4}},
                {"nodePool": "l40s", "gpu": {"deserved": 2}},
            ],
        },
    ],
    "projects": [
        {
            "name": "llm-research",
            "department": "research",
            "resources": [
                {"nodePool": "default", "gpu": {"deserved": 6}},
                {"nodePool": "a100", "gpu": {"deserved": 2}},
            ],
        },
        {
            "name": "vision",
            "department": "research",
            "namespace": "team-vision",
            "resources": [{"nodePool": "a100", "gpu": {"deserved": 2}}],
        },
        {
            "name": "chat",
            "department": "product",
            "resources": [
                {"nodePool": "default", "gpu": {"deserved": 4}},
                {"nodePool": "l40s", "gpu": {"deserved": 2}},
            ],
        },
    ],
    "users": [{"username": "alice@example.com", "passwordFromEnv": "ALICE_PASSWORD"}],
    "serviceAccounts": [{"name": "ci-deployer", "secret": "ci-deployer-secret-0123"}],
    "accessRules": [
        {
            "subjectType": "user",
            "subjectId": "alice@example.com",
            "roleName": "ML engineer",
            "scopeType": "project",
            "scopeName": "llm-research",
        },
        {
            "subjectType": "service-account",
            "subjectId": "ci-deployer",
            "roleName": "Department administrator",
            "scopeType": "department",
            "scopeName": "product",
        },
    ],
}
SIMULATOR: dict[str, Any] = {
    "nodes": [
        {"count": 2, "namePrefix": "h100"},
        {
            "count": 2,
            "namePrefix": "a100",
            "gpus": 4,
            "gpuMemory": "40Gi",
            "gpuProduct": "NVIDIA-A100-SXM4-40GB",
            "cpu": 64,
            "memory": "512Gi",
            "labels": {"nimplane.io/gpu": "a100"},
            "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
        },
        {"count": 1, "namePrefix": "l40s", "gpus": 2, "labels": {"nimplane.io/gpu": "l40s"}},
    ]
}
ENVIRON = {"ALICE_PASSWORD": ALICE_PASSWORD}


# --- a database per test ---------------------------------------------------------------------


def _admin_engine(database_url: str) -> tuple[str, Any]:
    server, name = database_url.split("://", 1)[1].rsplit("/", 1)
    engine = create_engine(f"postgresql+psycopg://{server}/postgres", isolation_level="AUTOCOMMIT")
    return f"postgresql://{server}/{name}_config_seeding", engine


@pytest.fixture
def own_database(database_url: str | None) -> Iterator[str | None]:
    """None (SQLite in the test's data dir), or a fresh PostgreSQL database of its own."""
    if database_url is None:
        yield None
        return
    url, admin = _admin_engine(database_url)
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def settings_for(
    tmp_path: Path, database: str | None, organisation: Any = None, simulator: Any = None
) -> Settings:
    """The settings a config file with these sections gives (read as `serve --config` does)."""
    document: dict[str, Any] = {
        "server": {
            "data_dir": str(tmp_path / "data"),
            "database_url": database,
            "bootstrap_client_id": CLIENT_ID,
            "bootstrap_client_secret": CLIENT_SECRET,
            "sqlite_synchronous": "NORMAL",
            "auth": {"signing_key": "test-signing-key-not-secret-0123456789"},
        }
    }
    if organisation is not None:
        document["organisation"] = organisation
    if simulator is not None:
        document["simulator"] = simulator
    path = tmp_path / "nimplane.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_settings(path)


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order (what "writes nothing" is checked against)."""
    url = settings.resolved_database_url()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in tables.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def start(settings: Settings, environ: dict[str, str] | None = None) -> AppState:
    return build_state(settings, environ=ENVIRON if environ is None else environ)


def admin_headers(state: AppState) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(state, CLIENT_ID)}"}


def login(client: TestClient, username: str, password: str) -> Any:
    return client.post(
        TOKEN, json={"grantType": "password", "username": username, "password": password}
    )


def quotas(unit: dict[str, Any]) -> dict[str, float]:
    """A department's or project's deserved GPUs per node pool."""
    return {r["nodePool"]["name"]: r["gpu"]["deserved"] for r in unit["resources"]}


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


# --- seeding and restarting -----------------------------------------------------------------


def test_config_file_seeds_a_multi_department_organisation_and_a_restart_is_a_no_op(
    tmp_path: Path, own_database: str | None
) -> None:
    settings = settings_for(tmp_path, own_database, ORGANISATION, SIMULATOR)
    state = start(settings)
    admin = admin_headers(state)
    with TestClient(create_app(settings, state=state)) as client:
        departments = by_name(client.get(DEPARTMENTS, headers=admin).json()["departments"])
        assert {"default", "research", "product"} <= set(departments)
        research = client.get(f"{DEPARTMENTS}/{departments['research']['id']}", headers=admin)
        research_doc = research.json()
        assert quotas(research_doc) == {"default": 8, "a100": 4, "l40s": 0}
        default_item = research_doc["resources"][0]
        assert default_item["gpu"] == {"deserved": 8, "limit": 16, "overQuotaWeight": 2}
        assert default_item["cpu"]["deserved"] == 64000
        assert default_item["memory"] == {
            "deserved": 512,
            "limit": None,
            "overQuotaWeight": None,
            "units": "GB",
        }
        assert research_doc["description"] == "Model research"
        assert sorted(c["name"] for c in research_doc["children"]) == ["llm-research", "vision"]

        projects = by_name(client.get(PROJECTS, headers=admin).json()["projects"])
        assert quotas(projects["llm-research"]) == {"default": 6, "a100": 2, "l40s": 0}
        assert quotas(projects["chat"]) == {"default": 4, "a100": 0, "l40s": 2}
        assert projects["vision"]["parent"]["name"] == "research"
        # the default project still gets the (custom) cluster's GPUs: 2x8 + 2x4 + 1x2
        assert quotas(projects["default"])["default"] == 26

        pools = by_name(client.get(NODE_POOLS, headers=admin).json()["nodepools"])
        assert sorted(pools["a100"]["status"]["nodes"]) == ["a100-0", "a100-1"]
        assert pools["l40s"]["status"]["nodes"] == ["l40s-0"]
        assert sorted(pools["default"]["status"]["nodes"]) == ["h100-0", "h100-1"]
        nodes = by_name(
            client.get(f"/api/v1/clusters/{state.cluster_id}/nodes", headers=admin).json()["nodes"]
        )
        assert nodes["a100-0"]["gpuInfo"] == {"gpuType": "NVIDIA-A100-SXM4-40GB", "gpuCount": 4}
        assert nodes["a100-0"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]

        # the seeded user signs in with the password grant and sees only its project
        response = login(client, "alice@example.com", ALICE_PASSWORD)
        assert response.status_code == 200, response.text
        alice = {"Authorization": f"Bearer {response.json()['accessToken']}"}
        seen = client.get(PROJECTS, headers=alice).json()["projects"]
        assert [p["name"] for p in seen] == ["llm-research"]
        hidden = client.get(f"{PROJECTS}/{projects['chat']['id']}", headers=alice)
        assert hidden.status_code == 403
        # the seeded service account administers its department only
        grant = {
            "grantType": "client_credentials",
            "clientID": "ci-deployer",
            "clientSecret": "ci-deployer-secret-0123",
        }
        response = client.post(TOKEN, json=grant)
        assert response.status_code == 200, response.text
        ci = {"Authorization": f"Bearer {response.json()['accessToken']}"}
        seen = client.get(DEPARTMENTS, headers=ci).json()["departments"]
        assert [d["name"] for d in seen] == ["product"]
    state.close()

    before = snapshot(settings)
    again = start(settings)  # a restart with the same file writes nothing
    again.close()
    assert snapshot(settings) == before


def test_default_config_keeps_the_embedded_defaults(
    tmp_path: Path, own_database: str | None
) -> None:
    settings = settings_for(tmp_path, own_database)
    assert settings.organisation.is_empty
    assert settings.simulator.inventory() == default_nodes()
    state = start(settings)
    with TestClient(create_app(settings, state=state)) as client:
        projects = client.get(PROJECTS, headers=admin_headers(state)).json()["projects"]
    state.close()
    assert [(p["name"], quotas(p)) for p in projects] == [("default", {"default": 32})]


def test_a_changed_file_applies_to_what_it_names_and_keeps_the_rest(
    tmp_path: Path, own_database: str | None
) -> None:
    settings = settings_for(tmp_path, own_database, ORGANISATION, SIMULATOR)
    start(settings).close()
    changed = yaml.safe_load(yaml.safe_dump(ORGANISATION))
    # research and llm-research shrink together; `vision` leaves the file
    changed["departments"][0]["resources"] = [*_quota("default", 2), *_quota("a100", 2)]
    changed["projects"] = [
        {"name": "llm-research", "department": "research", "resources": []},
        changed["projects"][2],
    ]
    changed["users"][0] = {"username": "alice@example.com", "password": "a-new-password-456"}
    changed["accessRules"] = changed["accessRules"][1:]
    settings = settings_for(tmp_path, own_database, changed, SIMULATOR)
    state = start(settings)
    with TestClient(create_app(settings, state=state)) as client:
        admin = admin_headers(state)
        projects = by_name(client.get(PROJECTS, headers=admin).json()["projects"])
        departments = by_name(client.get(DEPARTMENTS, headers=admin).json()["departments"])
        assert quotas(departments["research"]) == {"default": 2, "a100": 2, "l40s": 0}
        assert quotas(projects["llm-research"]) == {"default": 0, "a100": 0, "l40s": 0}
        # not named any more: kept as it was
        assert quotas(projects["vision"]) == {"default": 0, "a100": 2, "l40s": 0}
        assert login(client, "alice@example.com", ALICE_PASSWORD).status_code == 401
        response = login(client, "alice@example.com", "a-new-password-456")
        assert response.status_code == 200
        alice = {"Authorization": f"Bearer {response.json()['accessToken']}"}
        # the rule left the file but stays (delete it through the API)
        seen = client.get(PROJECTS, headers=alice).json()["projects"]
        assert [p["name"] for p in seen] == ["llm-research"]
    state.close()


def test_the_example_file_loads_and_seeds(tmp_path: Path, own_database: str | None) -> None:
    settings = load_settings(
        EXAMPLE,
        data_dir=tmp_path,
        database_url=own_database,
        bootstrap_client_id=CLIENT_ID,
        bootstrap_client_secret=CLIENT_SECRET,
    )
    assert settings.port == 8080
    environ = {"NIMPLANE_ALICE_PASSWORD": ALICE_PASSWORD, "NIMPLANE_CI_SECRET": "ci-secret-789"}
    state = start(settings, environ)
    with TestClient(create_app(settings, state=state)) as client:
        admin = admin_headers(state)
        projects = by_name(client.get(PROJECTS, headers=admin).json()["projects"])
        assert {"llm-research", "vision", "chat"} <= set(projects)
        assert projects["vision"]["status"]["namespace"] == "team-vision"
        assert login(client, "alice@example.com", ALICE_PASSWORD).status_code == 200
    state.close()
    before = snapshot(settings)
    start(settings, environ).close()
    assert snapshot(settings) == before


def test_replicas_starting_at_once_seed_once(tmp_path: Path, own_database: str | None) -> None:
    """Two replicas (each its own engine) seed one database from the same file at the same
    moment: both succeed, and every object and access rule exists once."""
    settings = settings_for(tmp_path, own_database, ORGANISATION, SIMULATOR)
    first = start(settings_for(tmp_path, own_database))  # migrated, with the embedded org
    first.close()

    def seed(_: int) -> list[str]:
        store = SqlStore(create_db_engine(settings.resolved_database_url()))
        try:
            return seed_from_config(
                store,
                settings.organisation,
                tenant_id=settings.tenant_id,
                cluster_id=first.cluster_id,
                environ=ENVIRON,
                now=utc_now(),
            )
        finally:
            store.close()

    with ThreadPoolExecutor(2) as pool:
        changes = list(pool.map(seed, range(2)))
    assert sorted(len(c) for c in changes)[0] == 0  # the second found everything in place
    rows = snapshot(settings)
    names = [row[2] for row in rows["departments"]]  # (id, cluster_id, name, ...)
    assert sorted(names) == ["default", "product", "research"]
    rules = [row[1:6] for row in rows["access_rules"]]  # (id, subject..., scope_id, ...)
    assert len(rules) == len(set(rules))
    assert len(rows["users"]) == 1


# --- invalid files ---------------------------------------------------------------------------


def _with(section: str, *items: dict[str, Any], replace: bool = False) -> dict[str, Any]:
    """ORGANISATION with `items` added to (or replacing) one of its lists."""
    organisation = yaml.safe_load(yaml.safe_dump(ORGANISATION))
    organisation[section] = [*([] if replace else organisation[section]), *items]
    return dict(organisation)


def _quota(pool: str, gpus: float) -> list[dict[str, Any]]:
    return [{"nodePool": pool, "gpu": {"deserved": gpus}}]


INVALID = [
    pytest.param(
        _with("projects", {"name": "orphan", "department": "nope"}),
        ["projects[3] 'orphan': department 'nope' does not exist"],
        id="unknown-department",
    ),
    pytest.param(
        _with(
            "departments",
            {"name": "research", "resources": _quota("default", 5)},
            replace=True,
        ),
        [
            "department 'research': node pool 'default': the department's gpu quota (5 GPUs) "
            "is less than the sum of its projects' quotas (6 GPUs: llm-research 6)",
            "department 'research': node pool 'a100'",
        ],
        id="department-below-its-projects",
    ),
    pytest.param(
        _with(
            "departments",
            {"name": "default", "resources": _quota("default", 1)},
            replace=True,
        ),
        ["department 'default': node pool 'default': the department's gpu quota (1 GPUs)"],
        id="department-below-projects-the-file-does-not-name",
    ),
    pytest.param(
        _with("projects", {"name": "extra", "department": "product", "resources": _quota("x", 1)}),
        ["projects[3] 'extra': resources[0].nodePool.name: node pool 'x' does not exist"],
        id="unknown-node-pool-in-quota",
    ),
    pytest.param(
        _with("projects", {"name": "neg", "resources": [{"gpu": {"deserved": -2}}]}),
        ["projects[3] 'neg': resources[0].gpu.deserved: deserved must be -1 (unlimited)"],
        id="negative-quota",
    ),
    pytest.param(
        _with("users", {"username": "bob", "passwordFromEnv": "NOT_SET_ANYWHERE"}),
        ["users[1] 'bob': environment variable NOT_SET_ANYWHERE is not set"],
        id="password-variable-unset",
    ),
    pytest.param(
        _with("users", {"username": "bob", "password": "short"}),
        ["users[1] 'bob': password: must be at least"],
        id="password-too-short",
    ),
    pytest.param(
        _with(
            "accessRules",
            {
                "subjectType": "user",
                "subjectId": "ghost",
                "roleName": "Viewer",
                "scopeType": "project",
                "scopeName": "nowhere",
            },
        ),
        [
            "accessRules[2]: user 'ghost' does not exist",
            "accessRules[2]: project 'nowhere' does not exist",
        ],
        id="rule-with-unknown-subject-and-scope",
    ),
    pytest.param(
        _with("nodePools", {"name": "twin", "labelKey": "nimplane.io/gpu", "labelValue": "a100"}),
        ["nodePools[2] 'twin': node pool 'a100' already selects the nodes labelled"],
        id="node-pool-label-taken",
    ),
    pytest.param(
        _with("nodePools", {"name": "nolabel", "labelKey": "nimplane.io/gpu"}),
        ["nodePools[2] 'nolabel': labelValue: a node pool needs a label value"],
        id="node-pool-without-label-value",
    ),
    pytest.param(
        _with("nodePools", {"name": "default", "labelKey": "a", "labelValue": "b"}),
        ["nodePools[2] 'default': labelKey: the 'default' node pool has no label"],
        id="default-node-pool-with-label",
    ),
    pytest.param(
        _with("projects", {"name": "chat", "department": "research"}, replace=True),
        ["projects[0] 'chat': the project is in department 'product', not 'research'"],
        id="project-moves",
    ),
    pytest.param(
        _with("projects", {"name": "vision", "namespace": "other"}, replace=True),
        ["projects[0] 'vision': the project's namespace is 'team-vision', not 'other'"],
        id="namespace-changes",
    ),
    pytest.param(
        _with("projects", {"name": "copycat", "namespace": "team-vision"}),
        ["projects[3] 'copycat': namespace: 'team-vision' is the namespace of project 'vision'"],
        id="namespace-taken",
    ),
    pytest.param(
        _with("departments", {"name": "Bad_Name"}),
        ["departments[2] 'Bad_Name': name:"],
        id="invalid-department-name",
    ),
]


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[tuple[Path, str | None]]:
    """One database holding ORGANISATION, for the invalid files to fail against."""
    tmp_path = tmp_path_factory.mktemp("seeded")
    if database_url is None:
        database = None
    else:
        url, admin = _admin_engine(database_url)
        database = url + "_invalid"
        name = database.rsplit("/", 1)[1]
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    start(settings_for(tmp_path, database, ORGANISATION, SIMULATOR)).close()
    yield tmp_path, database
    if database is not None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.parametrize(("organisation", "expected"), INVALID)
def test_an_invalid_file_fails_the_start_naming_the_problem_and_writes_nothing(
    seeded: tuple[Path, str | None], organisation: dict[str, Any], expected: list[str]
) -> None:
    tmp_path, database = seeded
    settings = settings_for(tmp_path, database, organisation, SIMULATOR)
    before = snapshot(settings)
    with pytest.raises(ConfigError) as failure:
        start(settings)
    message = str(failure.value)
    for text_ in expected:
        assert text_ in message
    assert "nothing was written" in message
    assert snapshot(settings) == before
