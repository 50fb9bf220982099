"""The console's dry-run preview, a workload's manifests, departments' quotas, managing users,
access rules and service accounts, and error pages with the navigation bar (TestClient)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.access import RuleSelection
from nimplane.domain.audit import classify
from nimplane.domain.queries import ListQuery
from tests.console.test_console import (
    created,
    csrf_of,
    new_form,
    posting_forms,
    sign_in,
    system,
)
from tests.support.identity import DEPT_ADMIN, KNOWN_SECRET, store_account, unique
from tests.support.org import DEPARTMENTS, clean_org_fixture, gpu, ok  # noqa: F401 - fixture

NIM = "/api/v2/workloads/nim-services"
PASSWORD = "a-long-enough-password-42"


def nothing_stored(state: AppState) -> bool:
    return sum(state.workloads.count_by_phase().values()) == 0


def pre(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</pre>', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1))


# --- the dry-run preview ------------------------------------------------------------------------


def test_a_preview_shows_the_service_and_its_manifests_and_stores_nothing(
    admin_console: TestClient, state: AppState
) -> None:
    form = new_form(name="previewed") | {"csrf_token": csrf_of(admin_console)}
    response = admin_console.post(
        "/workloads/new/preview", data=form, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200, response.text
    assert "Preview: valid, nothing stored" in response.text
    spec = pre(response.text, "preview-spec")
    assert '"gpuDevicesRequest": 1' in spec
    manifests = list(yaml.safe_load_all(pre(response.text, "preview-manifests")))
    nim = next(m for m in manifests if m["kind"] == "NIMService")
    assert nim["metadata"]["name"] == "previewed"
    assert nothing_stored(state)
    # the form is shown again as filled, ready to create
    assert 'value="previewed"' in response.text


@pytest.mark.parametrize(
    ("fields", "control", "says"),
    [
        pytest.param(
            {"gpuDevices": "-1"}, "gpuDevices", "spec.compute.gpuDevicesRequest", id="gpus"
        ),
        pytest.param({"name": "Bad_Name"}, "name", "metadata.name", id="name"),
        pytest.param({"nodePools": "no-such-pool"}, "nodePools", "spec.nodePools", id="pools"),
    ],
)
def test_a_previews_400s_are_shown_next_to_their_controls(
    admin_console: TestClient, state: AppState, fields: dict[str, str], control: str, says: str
) -> None:
    form = new_form(**fields) | {"csrf_token": csrf_of(admin_console)}
    response = admin_console.post("/workloads/new/preview", data=form)
    assert response.status_code == 400
    match = re.search(rf'data-error-for="{control}">([^<]*)<', response.text)
    assert match, response.text
    assert says in match.group(1)
    assert "Preview: valid" not in response.text
    assert nothing_stored(state)


def test_a_preview_of_a_taken_name_is_the_apis_conflict(
    admin_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    created(state, client, admin, "taken")
    form = new_form(name="taken") | {"csrf_token": csrf_of(admin_console)}
    response = admin_console.post("/workloads/new/preview", data=form)
    assert response.status_code == 409
    assert sum(state.workloads.count_by_phase().values()) == 1


def test_a_forged_preview_is_refused(admin_console: TestClient, state: AppState) -> None:
    response = admin_console.post("/workloads/new/preview", data=new_form())
    assert response.status_code == 403
    assert nothing_stored(state)


# --- a workload's manifests ---------------------------------------------------------------------


def test_the_workload_page_shows_the_manifests_the_api_gives(
    admin_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    workload_id = created(state, client, admin, "manifested")
    page = admin_console.get(f"/workloads/{workload_id}")
    assert page.status_code == 200
    section = page.text.split('<details id="manifests">', 1)[1].split("</details>", 1)[0]
    shown = list(
        yaml.safe_load_all(html.unescape(section.split('"mono">', 1)[1].split("</pre>")[0]))
    )
    from_api = ok(client.get(f"{NIM}/{workload_id}/manifests", headers=admin))["items"]
    assert shown == from_api


# --- departments' quotas ------------------------------------------------------------------------


def department_form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "pool": "default", "deserved": "", "limit": "", "weight": ""} | (
        fields
    )


def test_an_admin_edits_a_departments_quota_with_the_apis_rules(
    clean_org: AppState, admin_console: TestClient, client: TestClient, admin: dict[str, str]
) -> None:
    page = admin_console.get("/projects").text
    assert "/departments/1/quota" in posting_forms(page)
    csrf = csrf_of(admin_console, "/projects")
    form = department_form(csrf, deserved="6", weight="3")
    response = admin_console.post("/departments/1/quota", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    (quota,) = clean_org.org.get_department(system(clean_org), "1").resources
    assert quota.gpu is not None
    assert (quota.gpu.deserved, quota.gpu.over_quota_weight) == (6, 3)

    # a project takes 4 of them: the department may not go below that (the API's message)
    projects = "/api/v1/org-unit/projects"
    ok(client.patch(f"{projects}/1/resources", json=[gpu(4)], headers=admin))
    refused = admin_console.post("/departments/1/quota", data=form | {"deserved": "1"})
    assert refused.status_code == 400
    match = re.search(r'data-error-for="department-quota-[^"]+">([^<]*)<', refused.text)
    assert match, refused.text
    assert "less than the sum of its projects' quotas" in html.unescape(match.group(1))
    (quota,) = clean_org.org.get_department(system(clean_org), "1").resources
    assert quota.gpu is not None
    assert quota.gpu.deserved == 6  # nothing half-written


def test_a_department_quota_beyond_the_pool_is_set_with_the_apis_warning(
    clean_org: AppState, admin_console: TestClient
) -> None:
    form = department_form(csrf_of(admin_console, "/projects"), deserved="100000")
    response = admin_console.post("/departments/1/quota", data=form)
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert "Quota set, with warnings" in text
    assert "deserved gpu 100000 GPUs in node pool 'default'" in text
    (quota,) = clean_org.org.get_department(system(clean_org), "1").resources
    assert quota.gpu is not None
    assert quota.gpu.deserved == 100000


def test_a_department_admin_may_not_set_its_own_departments_quota(
    clean_org: AppState, console: TestClient
) -> None:
    account = store_account(clean_org, ((DEPT_ADMIN, "department", "1"),))
    assert sign_in(console, account.client_id, KNOWN_SECRET).status_code == 303
    assert "/departments/1/quota" not in posting_forms(console.get("/projects").text)
    form = department_form(csrf_of(console, "/projects"), deserved="1000")
    response = console.post("/departments/1/quota", data=form)
    assert response.status_code == 403
    assert "belongs to cluster" in html.unescape(response.text)
    quotas = clean_org.org.get_department(system(clean_org), "1").resources
    assert all(q.gpu is None or q.gpu.deserved != 1000 for q in quotas)


# --- users, access rules and service accounts ---------------------------------------------------


def row_id(page: str, kind: str, key: str) -> str:
    match = re.search(
        rf'data-{kind}="{re.escape(key)}">.*?action="/access/[a-z-]+/([^/"]+)/delete"', page, re.S
    )
    assert match, key
    return match.group(1)


def test_an_admin_creates_a_user_who_signs_in_and_then_deletes_it(
    admin_console: TestClient, state: AppState, console: TestClient
) -> None:
    csrf = csrf_of(admin_console, "/access")
    ada = f"{unique('ada')}@example.com"
    form = {"csrf_token": csrf, "username": ada, "password": PASSWORD}
    response = admin_console.post("/access/users", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = admin_console.get("/access").text
    assert f'data-user="{ada}"' in page
    assert PASSWORD not in page

    other = TestClient(console.app)
    nonce = re.search(r'name="nonce" value="([^"]+)"', other.get("/sign-in").text)
    assert nonce
    signed_in = other.post(
        "/sign-in",
        data={"nonce": nonce.group(1), "kind": "user", "username": ada,
              "password": PASSWORD, "next": "/workloads"},
        follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303

    user_id = row_id(page, "user", ada)
    unconfirmed = admin_console.post(f"/access/users/{user_id}/delete", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 400
    deleted = admin_console.post(
        f"/access/users/{user_id}/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    assert f'data-user="{ada}"' not in admin_console.get("/access").text


@pytest.mark.parametrize(
    ("username", "password", "says"),
    [
        pytest.param("not-an-email", PASSWORD, "email", id="username"),
        pytest.param("bob@example.com", "short", "password: must be at least", id="password"),
    ],
)
def test_a_refused_user_is_the_apis_400_and_never_echoes_the_password(
    admin_console: TestClient, state: AppState, username: str, password: str, says: str
) -> None:
    form = {"csrf_token": csrf_of(admin_console, "/access"), "username": username,
            "password": password}  # fmt: skip
    response = admin_console.post("/access/users", data=form)
    assert response.status_code == 400
    text = html.unescape(re.sub(r"<[^>]+>", "", response.text))
    assert says in text
    assert f'value="{password}"' not in response.text
    assert f'data-user="{username}"' not in admin_console.get("/access").text


def test_an_admin_adds_and_deletes_an_access_rule(
    admin_console: TestClient, state: AppState
) -> None:
    account = store_account(state)
    page = admin_console.get("/access").text
    role = re.search(r'<option value="(\d+)"[^>]*>Viewer</option>', page)
    assert role
    csrf = csrf_of(admin_console, "/access")
    form = {"csrf_token": csrf, "subjectType": "service-account", "subjectId": account.client_id,
            "role": role.group(1), "scope": "project:1"}  # fmt: skip
    response = admin_console.post("/access/rules", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    principal = state.auth.authenticate(account.headers["Authorization"])
    assert [(r.role_name, r.scope_type, r.scope_id) for r in principal.rules] == [
        ("Viewer", "project", "1")
    ]
    mine = RuleSelection(subject_ids=frozenset({account.client_id}))
    ((rule,), _) = state.identity.list_access_rules(system(state), mine, ListQuery(limit=10))
    rule_id = rule.rule.id
    deleted = admin_console.post(
        f"/access/rules/{rule_id}/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    assert state.auth.authenticate(account.headers["Authorization"]).rules == ()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param({"subjectId": ""}, "subjectId", id="no-subject"),
        pytest.param({"role": "999"}, "roleId", id="no-such-role"),
        pytest.param({"role": "--1"}, "roleId", id="role-not-a-number"),
        pytest.param({"scope": "project:999"}, "scopeId", id="no-such-scope"),
        pytest.param({"subjectType": "group"}, "subjectType", id="subject-type"),
    ],
)
def test_a_refused_access_rule_names_the_field(
    admin_console: TestClient, state: AppState, changes: dict[str, str], says: str
) -> None:
    form = {"csrf_token": csrf_of(admin_console, "/access"), "subjectType": "user",
            "subjectId": "someone@example.com", "role": "1", "scope": "project:1"}  # fmt: skip
    form |= changes
    response = admin_console.post("/access/rules", data=form)
    assert response.status_code in (400, 404), response.text
    assert says in response.text


def test_an_admin_deletes_a_service_account(admin_console: TestClient, state: AppState) -> None:
    account = store_account(state)
    page = admin_console.get("/access").text
    account_id = row_id(page, "account", account.client_id)
    response = admin_console.post(
        f"/access/service-accounts/{account_id}/delete",
        data={"csrf_token": csrf_of(admin_console, "/access"), "confirm": "yes"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert f'data-account="{account.client_id}"' not in admin_console.get("/access").text


@pytest.mark.parametrize(
    ("path", "form"),
    [
        pytest.param("/access/users", {"username": "eve@example.com", "password": PASSWORD},
                     id="create-user"),
        pytest.param("/access/rules", {"subjectType": "user", "subjectId": "eve@example.com",
                                       "role": "1", "scope": "project:1"}, id="create-rule"),
        pytest.param("/departments/1/quota", {"pool": "default", "deserved": "1"},
                     id="department-quota"),
    ],
)  # fmt: skip
def test_a_viewers_access_post_is_refused_by_the_service(
    viewer_console: TestClient, state: AppState, path: str, form: dict[str, str]
) -> None:
    response = viewer_console.post(path, data=form | {"csrf_token": csrf_of(viewer_console)})
    assert response.status_code == 403
    assert "permission" in response.text.lower()
    users, _ = state.identity.list_users(system(state), ListQuery(limit=500))
    assert "eve@example.com" not in [u.username for u in users]


def test_the_viewer_is_offered_no_access_control(viewer_console: TestClient) -> None:
    page = viewer_console.get("/access").text
    assert posting_forms(page) == []
    assert 'name="password"' not in page


# --- error pages --------------------------------------------------------------------------------


def test_an_error_page_has_the_navigation_bar(admin_console: TestClient) -> None:
    response = admin_console.get("/workloads/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert '<nav aria-label="Main">' in response.text
    assert "not found" in response.text
    assert 'data-status="404"' in response.text


def test_a_forged_posts_error_page_has_the_navigation_bar(admin_console: TestClient) -> None:
    response = admin_console.post("/access/users", data={"username": "x@example.com"})
    assert response.status_code == 403
    assert '<nav aria-label="Main">' in response.text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/departments/7/quota", ("update", "department", "7"), id="dept-quota"),
        pytest.param("/access/users", ("create", "users", None), id="create-user"),
        pytest.param("/access/users/5/delete", ("delete", "users", "5"), id="delete-user"),
        pytest.param("/access/rules", ("create", "access_rules", None), id="create-rule"),
        pytest.param("/access/rules/9/delete", ("delete", "access_rules", "9"), id="delete-rule"),
        pytest.param(
            "/access/service-accounts/3/delete",
            ("delete", "service-account", "3"),
            id="delete-account",
        ),
        pytest.param("/workloads/new/preview", None, id="preview-stores-nothing"),
    ],
)
def test_the_consoles_new_posts_are_audited(path: str, expected: Any) -> None:
    assert classify("POST", path) == expected
