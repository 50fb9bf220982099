"""The web console in a real browser (Chromium through Playwright) against `nimplane serve`:
sign in, create a NIM service through the form (an invalid field first), watch it reach
Running without reloading, scale, stop, resume and delete it; a Viewer sees no write control;
a forged form post is refused; the GPU map shows the placement the API reports; a failed node
shows as failed. Each page is saved as a screenshot under the test's tmp dir."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import VIEWER_PASSWORD, VIEWER_USER
from tests.conftest import nim_request
from tests.support.server import CLIENT_ID, CLIENT_SECRET, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 30_000
"""Milliseconds an expectation may take (pods are ready in about a second at this speed)."""


def sign_in_as_admin(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.base_url}/workloads")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.get_by_label("Client id").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_role("button", name="Sign in").nth(1).click()
    expect(page.get_by_role("heading", name="NIM services")).to_be_visible()


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.token()}"}
    )


def phase(page: Page) -> Any:
    return page.locator("#live .facts [data-phase]")


def test_create_watch_scale_stop_resume_delete(
    page: Page, server: ServerProcess, shots: Path
) -> None:
    sign_in_as_admin(page, server)
    page.screenshot(path=shots / "workloads-empty.png", full_page=True)
    page.get_by_role("link", name="New NIM service").click()
    name = f"llama-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("NIM cache name").fill("llama-cache")
    page.get_by_label("GPU devices").fill("-1")
    page.get_by_role("button", name="Create").click()
    error = page.locator('[data-error-for="gpuDevices"]')
    expect(error).to_contain_text("spec.compute.gpuDevicesRequest")
    expect(page.get_by_label("GPU devices")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "new-invalid.png", full_page=True)

    page.get_by_label("GPU devices").fill("1")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=re.compile(name))).to_be_visible()
    expect(phase(page)).to_have_text("Running", timeout=WAIT)  # polled, never reloaded
    expect(page.locator("#live [data-ready]")).to_have_text("1 / 1", timeout=WAIT)
    page.screenshot(path=shots / "workload.png", full_page=True)

    page.get_by_label("Replicas").fill("2")
    page.get_by_role("button", name="Scale").click()
    expect(page.locator("#live [data-ready]")).to_have_text("2 / 2", timeout=WAIT)

    page.get_by_role("button", name="Stop").click()
    expect(phase(page)).to_have_text("Stopped", timeout=WAIT)
    page.get_by_role("button", name="Resume").click()
    expect(phase(page)).to_have_text("Running", timeout=WAIT)

    page.goto(f"{server.base_url}/workloads")
    row = page.locator(f'tr[data-workload="{name}"]')
    expect(row.locator("[data-phase]")).to_have_text("Running")
    page.screenshot(path=shots / "workloads.png", full_page=True)
    row.get_by_role("link", name=name).click()

    page.get_by_role("button", name="Delete").click()  # unconfirmed: the browser stops it
    expect(page.get_by_role("heading", name=re.compile(name))).to_be_visible()
    page.get_by_label(f"I want to delete {name}").check()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="NIM services")).to_be_visible()
    expect(page.locator(f'tr[data-workload="{name}"]')).to_have_count(0, timeout=WAIT)


def test_a_viewer_sees_no_write_control(page: Page, server: ServerProcess, shots: Path) -> None:
    with api(server) as client:
        created = client.post(
            "/api/v2/workloads/nim-services", json=nim_request(f"seen-{uuid.uuid4().hex[:6]}")
        )
        assert created.status_code == 202, created.text
        workload_id = created.json()["metadata"]["id"]
    page.goto(f"{server.base_url}/sign-in")
    page.get_by_label("Username").fill(VIEWER_USER)
    page.get_by_label("Password").fill(VIEWER_PASSWORD)
    page.get_by_role("button", name="Sign in").first.click()
    expect(page.get_by_role("heading", name="NIM services")).to_be_visible()
    for path in ("/workloads", f"/workloads/{workload_id}", "/projects", "/nodes", "/access"):
        page.goto(f"{server.base_url}{path}")
        expect(page.locator("main")).to_be_visible()
        expect(page.locator('main form[method="post"]')).to_have_count(0)
        expect(page.get_by_role("link", name="New NIM service")).to_have_count(0)
    page.screenshot(path=shots / "viewer-workload.png", full_page=True)


def test_a_forged_form_post_is_refused(page: Page, server: ServerProcess) -> None:
    with api(server) as client:
        created = client.post(
            "/api/v2/workloads/nim-services", json=nim_request(f"forged-{uuid.uuid4().hex[:6]}")
        )
        workload_id = created.json()["metadata"]["id"]
    sign_in_as_admin(page, server)
    page.goto(f"{server.base_url}/workloads/{workload_id}")
    # a form planted in the page, posting with the session cookie but without its CSRF token
    page.evaluate(
        """(id) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = `/workloads/${id}/stop`;
            document.body.appendChild(form);
            form.submit();
        }""",
        workload_id,
    )
    expect(page.get_by_role("heading", name="403")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    with api(server) as client:
        workload = client.get(f"/api/v1/workloads/{workload_id}").json()
    assert workload["phase"] != "Stopped"


def test_the_gpu_map_shows_the_placement_the_api_reports(
    page: Page, server: ServerProcess, shots: Path
) -> None:
    name = f"mapped-{uuid.uuid4().hex[:6]}"
    with api(server) as client:
        body = nim_request(name, compute={"gpuDevicesRequest": 2}, replicas=2)
        created = client.post("/api/v2/workloads/nim-services", json=body)
        assert created.status_code == 202, created.text
        workload_id = created.json()["metadata"]["id"]
        shared = nim_request(
            f"shared-{name}",
            compute={"gpuDevicesRequest": 1, "gpuRequestType": "portion", "gpuPortionRequest": 0.5},
        )
        assert client.post("/api/v2/workloads/nim-services", json=shared).status_code == 202
        sign_in_as_admin(page, server)
        page.goto(f"{server.base_url}/workloads/{workload_id}")
        expect(phase(page)).to_have_text("Running", timeout=WAIT)
        pods = client.get(f"/api/v1/workloads/{workload_id}/pods").json()["pods"]
    assert len(pods) == 2
    page.goto(f"{server.base_url}/nodes")
    for pod in pods:
        node = page.locator(f'[data-node="{pod["nodeName"]}"]')
        for device in pod["allocatedResources"]["gpuDevices"]:
            cell = node.locator(f'[data-gpu="{device}"]')
            expect(cell).to_have_attribute("data-holders", re.compile(rf"{name}:1\.0"))
    expect(page.locator(f'[data-holders*="{name}:1.0"]')).to_have_count(4)
    expect(page.locator(f'[data-holders*="shared-{name}:0.5"]')).to_have_count(1, timeout=WAIT)
    page.screenshot(path=shots / "gpu-map.png", full_page=True)
    page.goto(f"{server.base_url}/projects")
    expect(page.locator('[data-project="default"]')).to_be_visible()
    page.screenshot(path=shots / "projects.png", full_page=True)


def test_a_failed_node_shows_as_failed(page: Page, server: ServerProcess, shots: Path) -> None:
    sign_in_as_admin(page, server)
    page.goto(f"{server.base_url}/nodes")
    node = page.locator('[data-node="sim-node-3"]')
    expect(node).to_have_attribute("data-state", "ready")
    node.get_by_role("button", name="Fail sim-node-3").click()
    node = page.locator('[data-node="sim-node-3"]')
    expect(node).to_have_attribute("data-state", "failed")
    expect(node.locator(".nodestate")).to_have_text("failed")
    page.screenshot(path=shots / "node-failed.png", full_page=True)
    node.get_by_role("button", name="Recover sim-node-3").click()
    expect(page.locator('[data-node="sim-node-3"]')).to_have_attribute("data-state", "ready")
    for path in ("/access", "/audit"):
        page.goto(f"{server.base_url}{path}")
        page.screenshot(path=shots / f"{path.strip('/')}.png", full_page=True)


def test_sign_in_by_keyboard_and_every_page_fits_a_narrow_screen(
    page: Page, server: ServerProcess, shots: Path
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.base_url}/sign-in")
    for _ in range(3):  # the skip link, the home link, then the first field
        page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.get_by_label("Client id").focus()
    page.keyboard.type(CLIENT_ID)
    page.keyboard.press("Tab")
    page.keyboard.type(CLIENT_SECRET)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="NIM services")).to_be_visible()
    for path in ("/workloads", "/workloads/new", "/projects", "/nodes", "/access", "/audit"):
        page.goto(f"{server.base_url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than the screen"
    page.goto(f"{server.base_url}/workloads")
    page.screenshot(path=shots / "workloads-narrow.png", full_page=True)


def test_a_preview_shows_the_manifests_and_stores_nothing(
    page: Page, server: ServerProcess, shots: Path
) -> None:
    sign_in_as_admin(page, server)
    page.goto(f"{server.base_url}/workloads/new")
    name = f"preview-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("NIM cache name").fill("llama-cache")
    page.get_by_label("GPU devices").fill("-1")
    page.get_by_role("button", name="Preview").click()  # HTMX: the 400 swapped in place
    error = page.locator('[data-error-for="gpuDevices"]')
    expect(error).to_contain_text("spec.compute.gpuDevicesRequest")
    page.get_by_label("GPU devices").fill("1")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview [data-preview-name]")).to_have_text(name)
    expect(page.locator("#preview-manifests")).to_contain_text("kind: NIMService")
    expect(page.locator('[data-error-for="gpuDevices"]')).to_have_count(0)
    assert page.url.endswith("/workloads/new")
    page.screenshot(path=shots / "new-preview.png", full_page=True)
    with api(server) as client:
        listed = client.get("/api/v1/workloads", params={"search": name}).json()
    assert listed["workloads"] == []


def test_an_admin_adds_a_user_and_an_error_page_keeps_the_navigation(
    page: Page, server: ServerProcess, shots: Path
) -> None:
    sign_in_as_admin(page, server)
    page.goto(f"{server.base_url}/access")
    username = f"new-{uuid.uuid4().hex[:6]}@example.com"
    page.get_by_label("New user (email)").fill(username)
    page.get_by_label("Password", exact=True).fill("a-long-enough-password-42")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator(f'tr[data-user="{username}"]')).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    page.screenshot(path=shots / "access.png", full_page=True)
    page.goto(f"{server.base_url}/workloads/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_role("heading", name="404")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
