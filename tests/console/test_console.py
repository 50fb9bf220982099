"""The web console's routes in process (TestClient): sign-in and the session cookie, CSRF
refusal, what a Viewer sees and may do, the server's 400 next to its form control, and the
actions reaching the same services as the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.domain.workloads import DesiredPhase, Workload
from tests.conftest import nim_request
from tests.support.identity import KNOWN_SECRET, store_account
from tests.support.lifecycle import Harness, harness_fixture  # noqa: F401 - fixture
from tests.support.org import DEPARTMENTS, clean_org_fixture, gpu, ok  # noqa: F401 - fixture
from tests.support.server import CLIENT_ID, CLIENT_SECRET

NIM = "/api/v2/workloads/nim-services"


def nonce_of(client: TestClient) -> str:
    page = client.get("/sign-in")
    assert page.status_code == 200
    match = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def sign_in(client: TestClient, client_id: str, secret: str) -> Any:
    return client.post(
        "/sign-in",
        data={
            "nonce": nonce_of(client),
            "kind": "service-account",
            "client_id": client_id,
            "client_secret": secret,
            "next": "/workloads",
        },
        follow_redirects=False,
    )


def csrf_of(client: TestClient, path: str = "/workloads") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def posting_forms(html: str) -> list[str]:
    """The actions of the page's POST forms, sign-out aside."""
    actions = re.findall(r'<form method="post" action="([^"]+)"', html)
    return [a for a in actions if a != "/sign-out"]


def stored(state: AppState, workload_id: str) -> Workload:
    with state.store.read() as tx:
        workload = tx.workloads.get(workload_id, include_deleted=True)
    assert workload is not None
    return workload


def created(state: AppState, client: TestClient, admin: dict[str, str], name: str) -> str:
    response = client.post(NIM, json=nim_request(name), headers=admin)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


# --- sign-in and the session -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/workloads", "/nodes", "/projects", "/access", "/audit"])
def test_anonymous_is_sent_to_sign_in(console: TestClient, path: str) -> None:
    response = console.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert "<h1>Sign in</h1>" in response.text


def test_an_htmx_poll_without_a_session_redirects_the_page(console: TestClient) -> None:
    response = console.get("/workloads/table", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/sign-in")


def test_sign_in_sets_a_strict_http_only_cookie_that_expires_with_the_token(
    console: TestClient, state: AppState
) -> None:
    response = sign_in(console, CLIENT_ID, CLIENT_SECRET)
    assert response.status_code == 303
    assert response.headers["location"] == "/workloads"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("nimplane_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http
    assert f"Max-Age={state.settings.auth.token_ttl_seconds}" in cookie
    assert "<h1>NIM services</h1>" in console.get("/workloads").text


def test_the_cookie_is_secure_over_https(state: AppState) -> None:
    client = TestClient(create_app(state.settings, state=state), base_url="https://testserver")
    response = sign_in(client, CLIENT_ID, CLIENT_SECRET)
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("client_id", "secret", "status", "message"),
    [
        pytest.param(CLIENT_ID, "wrong-secret", 401, "", id="wrong-secret"),
        pytest.param("nobody-here", "wrong-secret", 401, "", id="unknown-client"),
    ],
)
def test_a_failed_sign_in_sets_no_session(
    console: TestClient, client_id: str, secret: str, status: int, message: str
) -> None:
    response = sign_in(console, client_id, secret)
    assert response.status_code == status
    assert "nimplane_session" not in response.headers.get("set-cookie", "")
    assert 'role="alert"' in response.text


def test_a_sign_in_without_its_form_nonce_is_refused(console: TestClient) -> None:
    response = console.post(
        "/sign-in",
        data={"kind": "service-account", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "nimplane_session" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("https://evil.example/", id="absolute"),
        pytest.param("//evil.example/", id="scheme-relative"),
    ],
)
def test_sign_in_never_redirects_off_site(console: TestClient, target: str) -> None:
    response = console.post(
        "/sign-in",
        data={
            "nonce": nonce_of(console),
            "kind": "service-account",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/workloads"


def test_sign_out_ends_the_session(admin_console: TestClient) -> None:
    csrf = csrf_of(admin_console)
    response = admin_console.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert 'nimplane_session=""' in response.headers["set-cookie"]
    assert "<h1>Sign in</h1>" in admin_console.get("/workloads").text


def test_a_session_whose_token_is_forged_goes_to_sign_in(console: TestClient) -> None:
    console.cookies.set("nimplane_session", "not-a-token")
    assert "<h1>Sign in</h1>" in console.get("/workloads").text


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"csrf_token": "0" * 64}, id="wrong-token"),
    ],
)
def test_a_forged_post_is_refused_and_changes_nothing(
    admin_console: TestClient,
    state: AppState,
    client: TestClient,
    admin: dict[str, str],
    form: dict[str, str],
) -> None:
    workload_id = created(state, client, admin, "forged")
    response = admin_console.post(f"/workloads/{workload_id}/stop", data=form)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert stored(state, workload_id).desired_phase is DesiredPhase.Running


def test_another_sessions_csrf_token_is_refused(
    admin_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    workload_id = created(state, client, admin, "other-session")
    other = TestClient(create_app(state.settings, state=state))
    assert sign_in(other, CLIENT_ID, CLIENT_SECRET).status_code == 303
    stolen = csrf_of(other)
    if stolen == csrf_of(admin_console):  # same token twice: tokens identical within a second
        pytest.skip("both sessions hold the same access token")
    response = admin_console.post(f"/workloads/{workload_id}/stop", data={"csrf_token": stolen})
    assert response.status_code == 403


# --- a Viewer -----------------------------------------------------------------------------------


def test_a_viewer_sees_no_write_control(
    viewer_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    workload_id = created(state, client, admin, "viewed")
    for path in ("/workloads", f"/workloads/{workload_id}", "/projects", "/nodes", "/access"):
        page = viewer_console.get(path)
        assert page.status_code == 200, path
        assert posting_forms(page.text) == [], path
    assert "New NIM service" not in viewer_console.get("/workloads").text


@pytest.mark.parametrize("action", ["stop", "delete", "scale", "patch"])
def test_a_viewers_post_is_refused_by_the_service(
    viewer_console: TestClient,
    state: AppState,
    client: TestClient,
    admin: dict[str, str],
    action: str,
) -> None:
    workload_id = created(state, client, admin, f"viewer-{action}")
    form = {
        "csrf_token": csrf_of(viewer_console),
        "confirm": "yes",
        "replicas": "3",
        "patch": '{"spec": {"replicas": 3}}',
    }
    response = viewer_console.post(f"/workloads/{workload_id}/{action}", data=form)
    assert response.status_code == 403
    assert "permission" in response.text.lower()
    workload = stored(state, workload_id)
    assert workload.desired_phase is DesiredPhase.Running
    assert workload.resource_version == 1


# --- the new NIM service form -------------------------------------------------------------------


def new_form(**fields: str) -> dict[str, str]:
    form = {
        "mode": "form",
        "name": "console-llama",
        "project": "1",
        "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
        "gpuDevices": "1",
        "nimCache": "llama-cache",
    }
    form.update(fields)
    return form


@pytest.mark.parametrize(
    ("fields", "control", "says"),
    [
        pytest.param(
            {"gpuDevices": "-1"}, "gpuDevices", "spec.compute.gpuDevicesRequest", id="gpus"
        ),
        pytest.param({"name": "Bad_Name"}, "name", "metadata.name", id="name"),
        pytest.param({"nodePools": "no-such-pool"}, "nodePools", "spec.nodePools", id="pools"),
        pytest.param({"replicas": "many"}, "replicas", "spec.replicas", id="replicas-type"),
        pytest.param({"env": "=x"}, "env", "spec.environmentVariables", id="env"),
    ],
)
def test_the_servers_400_is_shown_next_to_its_control(
    admin_console: TestClient, state: AppState, fields: dict[str, str], control: str, says: str
) -> None:
    form = new_form(**fields) | {"csrf_token": csrf_of(admin_console)}
    response = admin_console.post("/workloads/new", data=form)
    assert response.status_code == 400
    match = re.search(rf'data-error-for="{control}">([^<]*)<', response.text)
    assert match, response.text
    assert says in match.group(1)
    assert f'id="f-{control}"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert sum(state.workloads.count_by_phase().values()) == 0


def test_the_form_creates_the_service_and_shows_its_page(
    admin_console: TestClient, state: AppState
) -> None:
    form = new_form() | {"csrf_token": csrf_of(admin_console)}
    response = admin_console.post("/workloads/new", data=form, follow_redirects=False)
    assert response.status_code == 303
    workload_id = response.headers["location"].rsplit("/", 1)[1]
    workload = stored(state, workload_id)
    assert workload.name == "console-llama"
    assert workload.spec["compute"]["gpuDevicesRequest"] == 1
    page = admin_console.get(response.headers["location"])
    assert "console-llama" in page.text
    assert f"/workloads/{workload_id}/stop" in page.text


def test_raw_json_mode_sends_the_body_as_written(
    admin_console: TestClient, state: AppState
) -> None:
    import json

    raw = json.dumps(nim_request("raw-llama", replicas=2))
    form = {"mode": "json", "raw": raw, "csrf_token": csrf_of(admin_console)}
    response = admin_console.post("/workloads/new", data=form, follow_redirects=False)
    assert response.status_code == 303
    workload_id = response.headers["location"].rsplit("/", 1)[1]
    assert stored(state, workload_id).spec["replicas"] == 2


# --- actions reach the services -----------------------------------------------------------------


def test_stop_resume_scale_and_delete(
    admin_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    workload_id = created(state, client, admin, "actions")
    csrf = csrf_of(admin_console)
    base = f"/workloads/{workload_id}"

    def post(action: str, **form: str) -> Any:
        return admin_console.post(
            f"{base}/{action}", data={"csrf_token": csrf, **form}, follow_redirects=False
        )

    assert post("stop").status_code == 303
    assert stored(state, workload_id).desired_phase is DesiredPhase.Stopped
    assert post("resume").status_code == 303
    assert stored(state, workload_id).desired_phase is DesiredPhase.Running
    assert post("scale", replicas="3").status_code == 303
    assert stored(state, workload_id).spec["replicas"] == 3
    refused = post("scale", replicas="-2")
    assert refused.status_code == 400
    assert "spec.replicas" in refused.text
    assert post("delete").status_code == 400  # not confirmed
    assert stored(state, workload_id).desired_phase is DesiredPhase.Running
    assert post("delete", confirm="yes").status_code == 303
    assert stored(state, workload_id).desired_phase is DesiredPhase.Deleted


def test_the_gpu_map_shows_the_placement(
    harness: Harness, console: TestClient, admin: dict[str, str]
) -> None:
    assert sign_in(console, CLIENT_ID, CLIENT_SECRET).status_code == 303
    workload_id = harness.create(nim_request("mapped", compute={"gpuDevicesRequest": 2}))
    harness.run_until(workload_id, "Running")
    placement = harness.workload(workload_id)
    assert placement["allocatedResources"]["gpu"] == 2
    page = console.get("/nodes").text
    cells = re.findall(r'data-gpu="(\d+)" data-holders="([^"]*)"', page)
    held = [(gpu, holders) for gpu, holders in cells if "mapped:" in holders]
    assert len(held) == 2
    assert all(holders == "mapped:1.0" for _, holders in held)
    pods = harness.pods(workload_id)
    (node,) = set(pods.values())
    section = page.split(f'data-node="{node}"', 1)[1].split("</section>", 1)[0]
    assert section.count("mapped:1.0") == 2


def test_a_running_workloads_page_lists_its_pods(
    harness: Harness, console: TestClient, admin: dict[str, str]
) -> None:
    assert sign_in(console, CLIENT_ID, CLIENT_SECRET).status_code == 303
    workload_id = harness.create(nim_request("podded", compute={"gpuDevicesRequest": 1}))
    harness.run_until(workload_id, "Running")
    (pod, node), *_ = harness.pods(workload_id).items()
    live = console.get(f"/workloads/{workload_id}/live")
    assert live.status_code == 200
    row = live.text.split(f'data-pod="{pod}"', 1)[1].split("</tr>", 1)[0]
    assert f"<td>{node}</td>" in row
    assert "<td>yes</td>" in row  # ready
    assert "Ready" in row


def test_console_actions_are_in_the_audit_trail(
    admin_console: TestClient, state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    workload_id = created(state, client, admin, "audited")
    csrf = csrf_of(admin_console)
    admin_console.post(f"/workloads/{workload_id}/stop", data={"csrf_token": csrf})
    admin_console.post(f"/workloads/{workload_id}/resume", data={})  # forged: refused
    entries, _ = state.audit.page(state.auth.authenticate(admin["Authorization"]), 0, 10)
    mine = [e for e in entries if e.resource_id == workload_id and e.url.startswith("/workloads")]
    assert {(e.url.rsplit("/", 1)[1], e.action, e.status_code) for e in mine} == {
        ("stop", "update", 303),
        ("resume", "update", 403),
    }
    assert {e.subject for e in mine} == {CLIENT_ID}
    assert f"/workloads/{workload_id}/stop" in admin_console.get("/audit").text


def test_an_admin_edits_a_quota_with_the_apis_rules(
    clean_org: AppState, admin_console: TestClient, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.put(f"{DEPARTMENTS}/1/resources", json=[gpu(8)], headers=admin))
    csrf = csrf_of(admin_console, "/projects")
    form = {"csrf_token": csrf, "pool": "default", "deserved": "4", "limit": "", "weight": "2"}
    response = admin_console.post("/projects/1/quota", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    (quota,) = clean_org.org.get_project(system(clean_org), "1").resources
    assert quota.gpu is not None
    assert (quota.gpu.deserved, quota.gpu.over_quota_weight) == (4, 2)

    too_much = form | {"deserved": "100000"}
    refused = admin_console.post("/projects/1/quota", data=too_much)
    assert refused.status_code == 400
    match = re.search(r'data-error-for="quota-default">([^<]*)<', refused.text)
    assert match, refused.text
    assert "100000" in match.group(1)
    (quota,) = clean_org.org.get_project(system(clean_org), "1").resources
    assert quota.gpu is not None
    assert quota.gpu.deserved == 4  # nothing half-written


def system(state: AppState) -> Any:
    from tests.support.tokens import issue_token

    return state.auth.authenticate(f"Bearer {issue_token(state, CLIENT_ID)}")


def test_console_sign_in_goes_through_the_sign_in_limits(state: AppState) -> None:
    import dataclasses

    from nimplane.wiring import sign_in_guard
    from tests.api.test_sign_in_limits import LIMITS, Clock

    auth = state.settings.auth.model_copy(update=LIMITS)  # 3 failures per account at once
    settings = state.settings.model_copy(update={"auth": auth})
    limited = dataclasses.replace(
        state, settings=settings, sign_in=sign_in_guard(auth, state.auth, Clock())
    )
    console = TestClient(create_app(settings, state=limited))
    account = store_account(state)
    statuses = [sign_in(console, account.client_id, "wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = sign_in(console, account.client_id, KNOWN_SECRET)  # the right secret, too late
    assert refused.status_code == 429
    assert refused.headers["retry-after"].isdigit()
    assert "Too many failed sign-in attempts for this client id" in refused.text
    assert "nimplane_session" not in refused.headers.get("set-cookie", "")
