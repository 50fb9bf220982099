"""Access rules: create (scope and subject must exist, no escalation), list with Run:ai's
filters, get, delete, the caller's own rules; rules apply at once; the permission matrix; and
the issue's "Done when" flow, through the API."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from tests.conftest import nim_request
from tests.support.identity import (
    ALL_ROLES,
    CAN,
    DEPT_ADMIN,
    ML_ENGINEER,
    NIM,
    PLACEMENTS,
    ROLE_ID,
    RULES,
    SYSADMIN,
    TARGETS,
    VIEWER,
    Account,
    Org,
    api_account,
    expected,
    grant,
    make_department,
    make_org,
    make_project,
    matrix_actors,
    rule_body,
    scope_of,
    store_account,
    unique,
    validate,
)
from tests.support.server import CLIENT_ID

ME = "/api/v1/authorization/me/access-rules"


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


@pytest.fixture(scope="module")
def actors(app_state: AppState, org: Org) -> dict[tuple[str, str], Account]:
    return matrix_actors(app_state, org)


# --- create, get, delete ----------------------------------------------------------------------


def test_create_get_list_delete(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org
) -> None:
    subject = store_account(state)
    created = client.post(
        RULES,
        json=rule_body(subject.client_id, ML_ENGINEER, "project", org.project_id),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    validate(client.app, "POST", RULES, created)  # type: ignore[arg-type]
    rule = created.json()
    assert {k: rule[k] for k in ("subjectId", "subjectType", "roleId", "roleName")} == {
        "subjectId": subject.client_id,
        "subjectType": "service-account",
        "roleId": ROLE_ID[ML_ENGINEER],
        "roleName": ML_ENGINEER,
    }
    assert (rule["scopeType"], rule["scopeId"]) == ("project", org.project_id)
    assert rule["clusterId"] == org.cluster_id
    assert rule["tenantId"] == int(org.tenant_id)
    assert rule["createdBy"] == CLIENT_ID
    assert rule["status"] == {"phase": "Ready"}
    assert isinstance(rule["id"], int)

    got = client.get(f"{RULES}/{rule['id']}", headers=admin)
    assert got.status_code == 200
    validate(client.app, "GET", RULES + "/{accessRuleId}", got)  # type: ignore[arg-type]
    path = got.json()["scopePath"].split("/")
    assert len(path) == 4
    assert path[-1] == rule["scopeName"]

    listed = client.get(RULES, params={"subjectIds": subject.client_id}, headers=admin)
    validate(client.app, "GET", RULES, listed)  # type: ignore[arg-type]
    assert listed.json()["totalRecords"] == 1
    assert listed.json()["accessRules"][0] == {
        k: v for k, v in got.json().items() if k != "scopePath"
    }

    deleted = client.delete(f"{RULES}/{rule['id']}", headers=admin)
    assert deleted.status_code == 204
    assert client.get(f"{RULES}/{rule['id']}", headers=admin).status_code == 404
    assert client.delete(f"{RULES}/{rule['id']}", headers=admin).status_code == 404


def test_every_scope_type_that_exists_may_be_named(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org
) -> None:
    subject = store_account(state)
    for scope_type, scope_id in (
        ("tenant", org.tenant_id),
        ("cluster", org.cluster_id),
        ("department", org.department_id),
        ("project", org.sibling_project_id),
    ):
        rule = grant(client, admin, subject.client_id, VIEWER, scope_type, scope_id)
        assert rule["scopeName"]
        assert ("clusterId" in rule) is (scope_type != "tenant")


def test_app_is_the_deprecated_name_of_service_account(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    subject = store_account(state)
    rule = grant(client, admin, subject.client_id, VIEWER, "project", "1", subject_type="app")
    assert rule["subjectType"] == "service-account"


def test_users_are_subjects_too(client: TestClient, admin: dict[str, str]) -> None:
    username = f"{unique('u')}@example.com"
    assert client.post("/api/v1/users", json={"email": username}, headers=admin).status_code == 201
    rule = grant(client, admin, username, VIEWER, "project", "1", subject_type="user")
    assert rule["subjectType"] == "user"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"roleId": 999}, "roleId", id="unknown-role"),
        pytest.param({"scopeId": "999999"}, "scopeId", id="unknown-project"),
        pytest.param(
            {"scopeType": "department", "scopeId": "999999"}, "scopeId", id="unknown-dept"
        ),
        pytest.param(
            {"scopeType": "cluster", "scopeId": "00000000-0000-0000-0000-000000000000"},
            "scopeId",
            id="unknown-cluster",
        ),
        pytest.param({"scopeType": "tenant", "scopeId": "4242"}, "scopeId", id="another-tenant"),
        pytest.param({"scopeType": "system", "scopeId": "system"}, "scopeType", id="system-scope"),
        pytest.param({"scopeType": "galaxy"}, "scopeType", id="unknown-scope-type"),
        pytest.param({"subjectType": "group"}, "subjectType", id="groups-unsupported"),
        pytest.param({"subjectType": "robot"}, "subjectType", id="unknown-subject-type"),
        pytest.param({"subjectId": "nobody-at-all"}, "subjectId", id="unknown-service-account"),
        pytest.param(
            {"subjectType": "user", "subjectId": "nobody@example.com"},
            "subjectId",
            id="unknown-user",
        ),
        pytest.param(
            {"clusterId": "00000000-0000-0000-0000-000000000000"}, "clusterId", id="other-cluster"
        ),
        pytest.param({"roleId": "3"}, "roleId", id="role-id-a-string"),
        pytest.param({"roleId": 2**40}, "roleId", id="role-id-beyond-int32"),
        pytest.param({"subjectId": ""}, "subjectId", id="empty-subject"),
        pytest.param({"subjectId": "\u0000"}, "subjectId", id="nul-subject"),
        pytest.param({"scopeId": "1\u0000"}, "scopeId", id="nul-scope"),
        pytest.param({"scopeId": 1}, "scopeId", id="scope-id-a-number"),
        pytest.param({"comment": "hi"}, "comment", id="unknown-field"),
        pytest.param({"roleId": None}, "roleId", id="null-is-missing"),
    ],
)
def test_invalid_rules_are_400_naming_the_field(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    change: dict[str, Any],
    field: str,
) -> None:
    subject = store_account(state)
    body = {**rule_body(subject.client_id, VIEWER, "project", "1"), **change}
    response = client.post(RULES, json=body, headers=admin)
    assert response.status_code == 400, response.text
    issues = response.json()["complianceIssues"]
    assert field in [issue["field"] for issue in issues], issues
    assert (
        client.get(RULES, params={"subjectIds": subject.client_id}, headers=admin).json()[
            "totalRecords"
        ]
        == 0
    )


def test_every_problem_is_named_at_once(client: TestClient, admin: dict[str, str]) -> None:
    body = {
        "subjectId": "nobody-at-all",
        "subjectType": "service-account",
        "roleId": 999,
        "scopeId": "999999",
        "scopeType": "project",
    }
    response = client.post(RULES, json=body, headers=admin)
    assert response.status_code == 400
    fields = sorted(issue["field"] for issue in response.json()["complianceIssues"])
    assert fields == ["roleId", "scopeId", "subjectId"]


def test_a_duplicate_rule_is_409(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    subject = store_account(state)
    grant(client, admin, subject.client_id, VIEWER, "project", "1")
    again = client.post(
        RULES, json=rule_body(subject.client_id, VIEWER, "project", "1"), headers=admin
    )
    assert again.status_code == 409
    # the same subject may hold another role, or the same role elsewhere
    grant(client, admin, subject.client_id, ML_ENGINEER, "project", "1")


def test_rules_apply_at_once(client: TestClient, admin: dict[str, str], state: AppState) -> None:
    engineer = api_account(client, admin)
    assert (
        client.post(NIM, json=nim_request("at-once"), headers=engineer.headers).status_code == 403
    )
    rule = grant(client, admin, engineer.client_id, ML_ENGINEER, "project", "1")
    created = client.post(NIM, json=nim_request("at-once"), headers=engineer.headers)
    assert created.status_code == 202, created.text
    assert client.delete(f"{RULES}/{rule['id']}", headers=admin).status_code == 204
    wid = created.json()["metadata"]["id"]
    # no longer readable: as if missing (no existence oracle)
    assert client.get(f"{NIM}/{wid}", headers=engineer.headers).status_code == 404


def test_nobody_deletes_their_own_rule(client: TestClient, admin: dict[str, str]) -> None:
    mine = client.get(RULES, params={"subjectIds": CLIENT_ID}, headers=admin).json()["accessRules"]
    for rule in mine:
        response = client.delete(f"{RULES}/{rule['id']}", headers=admin)
        assert response.status_code == 403
        assert "own" in response.json()["message"]
    assert client.get(ME, headers=admin).json()["accessRules"]["totalRecords"] == len(mine)


def test_a_rule_whose_scope_is_gone_is_shown_to_tenant_admins_only(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    org: Org,
    actors: dict[tuple[str, str], Account],
) -> None:
    orphan = store_account(state, ((VIEWER, "project", "987654"),))
    listed = client.get(RULES, params={"subjectIds": orphan.client_id}, headers=admin).json()
    assert [r["status"]["phase"] for r in listed["accessRules"]] == ["NotReady"]
    dept_admin = actors[(DEPT_ADMIN, "department")]
    hidden = client.get(RULES, params={"subjectIds": orphan.client_id}, headers=dept_admin.headers)
    assert hidden.json()["totalRecords"] == 0
    assert (
        client.get(
            f"{RULES}/{listed['accessRules'][0]['id']}", headers=dept_admin.headers
        ).status_code
        == 403
    )


# --- list filters -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed_org(app_state: AppState) -> dict[str, Any]:
    """A department with two projects and three subjects holding known rules in them."""
    org = make_org(app_state)
    other_department = make_department(app_state)
    elsewhere = make_project(app_state, other_department)
    tag = unique("lst")
    alpha = store_account(app_state, ((VIEWER, "project", org.project_id),), name=f"{tag}-alpha")
    beta = store_account(
        app_state,
        (
            (ML_ENGINEER, "project", org.sibling_project_id),
            (VIEWER, "department", org.department_id),
        ),
        name=f"{tag}-beta",
    )
    gamma = store_account(app_state, ((ML_ENGINEER, "project", elsewhere),), name=f"{tag}-gamma")
    return {
        "org": org,
        "tag": tag,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "elsewhere": elsewhere,
    }


def _subjects(client: TestClient, admin: dict[str, str], params: dict[str, Any]) -> list[str]:
    response = client.get(RULES, params=params, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayRecords"] == len(body["accessRules"])
    return [f"{r['subjectId'].rsplit('-', 1)[1]}:{r['roleName']}" for r in body["accessRules"]]


@pytest.mark.parametrize(
    ("params", "want"),
    [
        pytest.param(
            {}, ["alpha:Viewer", "beta:ML engineer", "beta:Viewer", "gamma:ML engineer"], id="all"
        ),
        pytest.param({"roleId": 3}, ["beta:ML engineer", "gamma:ML engineer"], id="roleId"),
        pytest.param({"scopeType": "department"}, ["beta:Viewer"], id="scopeType"),
        pytest.param({"scopeId": "{project}"}, ["alpha:Viewer"], id="scopeId"),
        pytest.param(
            {"subjectIdFilter": "-bet"}, ["beta:ML engineer", "beta:Viewer"], id="subjectIdFilter"
        ),
        pytest.param({"subjectType": "user"}, [], id="subjectType-user"),
        pytest.param(
            {"subjectType": "app"},
            ["alpha:Viewer", "beta:ML engineer", "beta:Viewer", "gamma:ML engineer"],
            id="subjectType-app",
        ),
        pytest.param(
            {"filterBy": "roleName==Viewer"},
            ["alpha:Viewer", "beta:Viewer"],
            id="filterBy-roleName",
        ),
        pytest.param(
            {"filterBy": "roleName!=Viewer,scopeType==project"},
            ["beta:ML engineer", "gamma:ML engineer"],
            id="filterBy-two",
        ),
        pytest.param(
            {"filterBy": ["scopeName=@prj", "roleId<=4"]},
            ["beta:ML engineer", "gamma:ML engineer"],
            id="filterBy-repeated",
        ),
        pytest.param(
            {"filterBy": "createdAt>=2000-01-01T00:00:00Z"},
            ["alpha:Viewer", "beta:ML engineer", "beta:Viewer", "gamma:ML engineer"],
            id="filterBy-date",
        ),
        pytest.param({"filterBy": "createdAt<=2000-01-01"}, [], id="filterBy-old-date"),
        pytest.param({"search": "ML ENG"}, ["beta:ML engineer", "gamma:ML engineer"], id="search"),
        pytest.param(
            {"sortBy": "roleName", "sortOrder": "desc"},
            ["alpha:Viewer", "beta:Viewer", "beta:ML engineer", "gamma:ML engineer"],
            id="sort-desc",
        ),
        pytest.param({"limit": 2, "offset": 1}, ["beta:ML engineer", "beta:Viewer"], id="page"),
        pytest.param(
            {"lastUpdated": "2000-01-01T00:00:00Z"},
            ["alpha:Viewer", "beta:ML engineer", "beta:Viewer", "gamma:ML engineer"],
            id="lastUpdated",
        ),
        pytest.param(
            {"includeDeleted": True},
            ["alpha:Viewer", "beta:ML engineer", "beta:Viewer", "gamma:ML engineer"],
            id="includeDeleted",
        ),
    ],
)
def test_list_filters(
    client: TestClient,
    admin: dict[str, str],
    listed_org: dict[str, Any],
    params: dict[str, Any],
    want: list[str],
) -> None:
    tag = listed_org["tag"]
    ids = ",".join(f"{tag}-{n}" for n in ("alpha", "beta", "gamma"))
    resolved = {
        k: v.replace("{project}", listed_org["org"].project_id) if isinstance(v, str) else v
        for k, v in params.items()
    }
    assert _subjects(client, admin, {"subjectIds": ids, **resolved}) == want


def test_list_counts_and_pages(
    client: TestClient, admin: dict[str, str], listed_org: dict[str, Any]
) -> None:
    ids = ",".join(f"{listed_org['tag']}-{n}" for n in ("alpha", "beta", "gamma"))
    page = client.get(
        RULES, params={"subjectIds": ids, "limit": 3, "offset": 2}, headers=admin
    ).json()
    assert (page["totalRecords"], page["displayRecords"]) == (4, 2)


def test_list_by_cluster(
    client: TestClient, admin: dict[str, str], listed_org: dict[str, Any]
) -> None:
    ids = ",".join(f"{listed_org['tag']}-{n}" for n in ("alpha", "beta", "gamma"))
    org = listed_org["org"]
    params = {"subjectIds": ids, "clusterId": org.cluster_id}
    assert len(_subjects(client, admin, params)) == 4
    params["clusterId"] = "00000000-0000-0000-0000-000000000000"
    assert _subjects(client, admin, params) == []


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "colour==red"}, id="unknown-field"),
        pytest.param({"filterBy": "roleName~Viewer"}, id="unknown-operator"),
        pytest.param({"filterBy": "createdAt=@2024"}, id="date-with-contains"),
        pytest.param({"filterBy": "createdAt>=yesterday"}, id="not-a-date"),
        pytest.param({"lastUpdated": "yesterday"}, id="bad-lastUpdated"),
        pytest.param({"sortBy": "colour"}, id="unknown-sort"),
        pytest.param({"sortOrder": "up"}, id="unknown-order"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 501}, id="limit-501"),
        pytest.param({"offset": -1}, id="negative-offset"),
        pytest.param({"roleId": "three"}, id="role-id-not-a-number"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get(RULES, params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


@pytest.mark.parametrize(
    "rule_id",
    [
        pytest.param("-1", id="negative"),
        pytest.param("abc", id="text"),
        pytest.param("9" * 12, id="huge"),
    ],
)
def test_bad_rule_ids_are_400_and_unknown_ones_404(
    client: TestClient, admin: dict[str, str], rule_id: str
) -> None:
    assert client.get(f"{RULES}/{rule_id}", headers=admin).status_code == 400
    assert client.delete(f"{RULES}/{rule_id}", headers=admin).status_code == 400
    assert client.get(f"{RULES}/2147483647", headers=admin).status_code == 404


# --- the caller's own rules -------------------------------------------------------------------


def test_me_lists_exactly_the_callers_rules(
    client: TestClient, listed_org: dict[str, Any], admin: dict[str, str]
) -> None:
    beta: Account = listed_org["beta"]
    response = client.get(ME, headers=beta.headers)
    assert response.status_code == 200, response.text
    validate(client.app, "GET", ME, response)  # type: ignore[arg-type]
    page = response.json()["accessRules"]
    assert (page["totalRecords"], page["displayRecords"]) == (2, 2)
    assert {r["roleName"] for r in page["accessRules"]} == {ML_ENGINEER, VIEWER}
    assert {r["subjectId"] for r in page["accessRules"]} == {beta.client_id}
    searched = client.get(ME, params={"search": "viewer", "limit": 1}, headers=beta.headers).json()
    assert [r["roleName"] for r in searched["accessRules"]["accessRules"]] == [VIEWER]
    paged = client.get(ME, params={"limit": 1, "offset": 1}, headers=beta.headers).json()
    assert paged["accessRules"]["totalRecords"] == 2
    assert paged["accessRules"]["displayRecords"] == 1
    assert client.get(ME).status_code == 401


def test_me_needs_no_permission(client: TestClient, admin: dict[str, str], state: AppState) -> None:
    nobody = store_account(state)
    response = client.get(ME, headers=nobody.headers)
    assert response.status_code == 200
    assert response.json()["accessRules"]["totalRecords"] == 0
    assert client.get(RULES, headers=nobody.headers).status_code == 403


# --- no escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granter", "role", "where", "allowed"),
    [
        pytest.param(
            DEPT_ADMIN, ML_ENGINEER, "own-project", True, id="dept-admin-ml-engineer-project"
        ),
        pytest.param(
            DEPT_ADMIN, ML_ENGINEER, "sibling-project", True, id="dept-admin-ml-engineer-sibling"
        ),
        pytest.param(DEPT_ADMIN, VIEWER, "department", True, id="dept-admin-viewer-department"),
        pytest.param(
            DEPT_ADMIN, DEPT_ADMIN, "own-project", True, id="dept-admin-dept-admin-project"
        ),
        pytest.param(DEPT_ADMIN, SYSADMIN, "own-project", False, id="dept-admin-sysadmin-project"),
        pytest.param(
            DEPT_ADMIN, SYSADMIN, "department", False, id="dept-admin-sysadmin-department"
        ),
        pytest.param(DEPT_ADMIN, VIEWER, "tenant", False, id="dept-admin-viewer-tenant"),
        pytest.param(
            DEPT_ADMIN, VIEWER, "elsewhere", False, id="dept-admin-viewer-other-department"
        ),
        pytest.param(ML_ENGINEER, VIEWER, "own-project", False, id="ml-engineer-viewer"),
        pytest.param(SYSADMIN, SYSADMIN, "department", True, id="sysadmin-sysadmin"),
    ],
)
def test_no_escalation(
    client: TestClient,
    state: AppState,
    org: Org,
    granter: str,
    role: str,
    where: str,
    allowed: bool,
) -> None:
    """A Department administrator (of the department) may hand out roles whose permissions it
    holds, inside its department only; the System administrator (of the tenant) anything."""
    placement = {
        DEPT_ADMIN: ("department", org.department_id),
        ML_ENGINEER: ("department", org.department_id),
        SYSADMIN: ("tenant", org.tenant_id),
    }[granter]
    actor = store_account(state, ((granter, *placement),))
    if where == "elsewhere":
        scope = ("project", make_project(state, make_department(state)))
    else:
        scope = scope_of(org, where)
    subject = store_account(state)
    response = client.post(
        RULES, json=rule_body(subject.client_id, role, *scope), headers=actor.headers
    )
    assert response.status_code == (201 if allowed else 403), response.text


# --- the permission matrix --------------------------------------------------------------------

MATRIX = [
    pytest.param(role, placement, action, target, id=f"{role}@{placement}-{action}-{target}")
    for role, placement, action, target in itertools.product(
        ALL_ROLES, PLACEMENTS, ("create", "read", "delete"), TARGETS
    )
]


@pytest.mark.parametrize(("role", "placement", "action", "target"), MATRIX)
def test_permission_matrix(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    org: Org,
    actors: dict[tuple[str, str], Account],
    role: str,
    placement: str,
    action: str,
    target: str,
) -> None:
    """An actor with `role` in its own project or department creates, reads (get and list) or
    deletes a Viewer rule in the target scope."""
    actor = actors[(role, placement)]
    scope = scope_of(org, target)
    allowed = expected(role, placement, "access_rules", action, target)
    subject = store_account(state)
    if action == "create":
        response = client.post(
            RULES, json=rule_body(subject.client_id, VIEWER, *scope), headers=actor.headers
        )
        assert response.status_code == (201 if allowed else 403), response.text
        return
    rule = grant(client, admin, subject.client_id, VIEWER, *scope)
    if action == "read":
        response = client.get(f"{RULES}/{rule['id']}", headers=actor.headers)
        assert response.status_code == (200 if allowed else 403), response.text
        listed = client.get(RULES, params={"subjectIds": subject.client_id}, headers=actor.headers)
        may_list = "read" in CAN[role].get("access_rules", frozenset())
        assert listed.status_code == (200 if may_list else 403)
        if may_list:
            assert listed.json()["totalRecords"] == (1 if allowed else 0)
        return
    response = client.delete(f"{RULES}/{rule['id']}", headers=actor.headers)
    assert response.status_code == (204 if allowed else 403), response.text
    remaining = client.get(RULES, params={"subjectIds": subject.client_id}, headers=admin).json()
    assert remaining["totalRecords"] == (0 if allowed else 1)


@pytest.mark.parametrize(
    ("role", "placement", "target"),
    [
        pytest.param(r, p, t, id=f"{r}@{p}-{t}")
        for r, p, t in itertools.product(ALL_ROLES, PLACEMENTS, ("own-project", "sibling-project"))
    ],
)
@pytest.mark.parametrize("action", ["create", "read", "update", "delete"])
def test_nim_service_matrix(
    client: TestClient,
    admin: dict[str, str],
    org: Org,
    actors: dict[tuple[str, str], Account],
    role: str,
    placement: str,
    target: str,
    action: str,
) -> None:
    """docs/decisions.md D10: NIM services take the `inferences` permission on their project."""
    actor = actors[(role, placement)]
    project = scope_of(org, target)[1]
    allowed = expected(role, placement, "inferences", action, target)
    name = unique("nim")
    if action == "create":
        response = client.post(NIM, json=nim_request(name, project), headers=actor.headers)
        assert response.status_code == (202 if allowed else 403), response.text
        return
    made = client.post(NIM, json=nim_request(name, project), headers=admin)
    assert made.status_code == 202, made.text
    wid = made.json()["metadata"]["id"]
    if action == "read":
        response = client.get(f"{NIM}/{wid}", headers=actor.headers)
        listed = client.get(
            "/api/v1/workloads", params={"filterBy": f"name=={name}"}, headers=actor.headers
        )
        assert listed.status_code == 200
        assert len(listed.json()["workloads"]) == (1 if allowed else 0)
    elif action == "update":
        response = client.patch(
            f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=actor.headers
        )
    else:
        response = client.delete(f"/api/v2/workloads/{wid}", headers=actor.headers)
    success = {"read": 200, "update": 202, "delete": 202}[action]
    # one it may not even read answers as a missing one (no existence oracle)
    readable = expected(role, placement, "inferences", "read", target)
    assert response.status_code == (success if allowed else 403 if readable else 404), response.text


# --- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", RULES, None, id="list"),
        pytest.param("POST", RULES, rule_body(CLIENT_ID, VIEWER, "project", "1"), id="create"),
        pytest.param("POST", RULES, {"junk": True}, id="create-bad-body"),
        pytest.param("GET", f"{RULES}/1", None, id="get"),
        pytest.param("DELETE", f"{RULES}/1", None, id="delete"),
        pytest.param("GET", ME, None, id="me"),
        pytest.param("GET", "/api/v1/authorization/roles", None, id="roles"),
        pytest.param("GET", "/api/v1/authorization/roles/1", None, id="role"),
    ],
)
def test_every_endpoint_needs_a_valid_token(
    client: TestClient, admin: dict[str, str], method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = client.get(RULES, headers=admin).json()["totalRecords"]
    for headers in ({}, {"Authorization": "Bearer x.y.z"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == 401
    assert client.get(RULES, headers=admin).json()["totalRecords"] == before


# --- Done when --------------------------------------------------------------------------------


def test_done_when_each_project_account_manages_its_own_project_only(
    client: TestClient, admin: dict[str, str]
) -> None:
    """The acceptance scenario of docs/decisions.md A2: an administrator creates, through the API
    only, a department with two projects and quotas, a service account per project with the ML
    engineer role scoped to it, and each account can manage NIM services in its own project and gets
    403 in the other.
    """
    department = client.post(
        "/api/v1/org-unit/departments",
        json={"name": unique("team"), "resources": [{"gpu": {"deserved": 4}}]},
        headers=admin,
    )
    assert department.status_code == 201, department.text
    projects = []
    for colour in ("red", "blue"):
        body = {
            "name": unique(colour),
            "parentId": department.json()["id"],
            "resources": [{"nodePool": {"name": "default"}, "gpu": {"deserved": 2, "limit": 4}}],
        }
        made = client.post("/api/v1/org-unit/projects", json=body, headers=admin)
        assert made.status_code == 201, made.text
        assert made.json()["totalResources"]["gpuQuota"] == 2
        projects.append(str(made.json()["id"]))
    accounts = []
    for project in projects:
        account = api_account(client, admin)
        grant(client, admin, account.client_id, ML_ENGINEER, "project", project)
        accounts.append(account)

    for account, own, foreign in zip(accounts, projects, reversed(projects), strict=True):
        created = client.post(NIM, json=nim_request("llm", own), headers=account.headers)
        assert created.status_code == 202, created.text
        wid = created.json()["metadata"]["id"]
        assert client.get(f"{NIM}/{wid}", headers=account.headers).status_code == 200
        patched = client.patch(
            f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=account.headers
        )
        assert patched.status_code == 202, patched.text
        assert (
            client.post(NIM, json=nim_request("llm", foreign), headers=account.headers).status_code
            == 403
        )

    # each account's NIM service is out of the other's reach, and its list shows only its own
    listed = [
        client.get("/api/v1/workloads", headers=a.headers).json()["workloads"] for a in accounts
    ]
    assert [[w["projectId"] for w in page] for page in listed] == [[projects[0]], [projects[1]]]
    for account, theirs in ((accounts[0], listed[1][0]["id"]), (accounts[1], listed[0][0]["id"])):
        # not readable: as missing (no existence oracle)
        assert client.get(f"{NIM}/{theirs}", headers=account.headers).status_code == 404
        patch = client.patch(
            f"{NIM}/{theirs}", json={"spec": {"replicas": 3}}, headers=account.headers
        )
        assert patch.status_code == 404
        assert (
            client.delete(f"/api/v2/workloads/{theirs}", headers=account.headers).status_code == 404
        )
    for account, own in ((accounts[0], listed[0][0]["id"]), (accounts[1], listed[1][0]["id"])):
        assert client.delete(f"/api/v2/workloads/{own}", headers=account.headers).status_code == 202
