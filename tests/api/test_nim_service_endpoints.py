"""`GET .../nim-services/{id}/logs` and `GET|POST .../nim-services/{id}/proxy/{path}` on the
simulated cluster, driven by a manual clock: the container log over a pod's life, the
simulated NIM endpoint once a pod is ready (503 before), the parameters refused, and the
permissions (an unreadable workload answers as a missing one; a Viewer of its project reads)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from nimplane.backends.simulated import SimulatedCluster
from nimplane.services.workload_endpoints import WorkloadEndpoints
from tests.conftest import nim_request
from tests.support.identity import VIEWER, make_org
from tests.support.lifecycle import PODS_FAULTS, Harness, harness_fixture
from tests.support.org import NIM, caller, clean_org_fixture, ok

__all__ = ["clean_org_fixture", "harness_fixture"]

MODEL = "meta/llama-3.1-8b-instruct"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (INFO|WARNING|ERROR) ")


@pytest.fixture(name="h")
def endpoints_harness(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The harness, with the logs and the endpoint read at its clock."""
    cluster = harness.cluster.with_clock(harness.clock)
    endpoints = WorkloadEndpoints(harness.state.workloads, cluster)
    monkeypatch.setattr(harness.state, "endpoints", endpoints)
    return harness


def logs(
    h: Harness, workload_id: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    return h.client.get(f"{NIM}/{workload_id}/logs", params=params, headers=headers or h.headers)


def proxy(h: Harness, workload_id: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", h.headers)
    url = f"{NIM}/{workload_id}/proxy/{path}"
    return h.client.request(method, url, headers=headers, **kwargs)


def running(h: Harness) -> str:
    workload_id = h.create(nim_request())
    h.run_until(workload_id, "Running")
    return workload_id


def test_the_log_follows_the_pods_life(h: Harness) -> None:
    workload_id = h.create(nim_request())
    before = logs(h, workload_id)
    assert before.status_code == 404
    assert "has no pods yet" in before.json()["message"]

    h.run_until(workload_id, "Running")
    answer = logs(h, workload_id)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    stamps = [line.split(" ")[0] for line in lines]
    assert stamps == sorted(stamps)  # oldest first
    text = answer.text
    for expected in (
        "Starting NVIDIA NIM for LLMs (nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3)",
        f"Loading the model {MODEL} from the NIM cache",
        f"Model {MODEL} loaded in 10.0 s",
        '"GET /v1/health/ready HTTP/1.1" 200 OK',
        "the service is ready",
    ):
        assert expected in text, text

    pod = h.shown_pods(workload_id)[0]["name"]
    assert logs(h, workload_id, pod=pod).text == text
    assert logs(h, workload_id, tail=2).text.splitlines() == lines[-2:]
    assert logs(h, workload_id, tail=0).text == ""
    # the same log again: nothing new happened, nothing new is printed
    assert logs(h, workload_id).text == text


def test_a_crash_loop_shows_in_the_log(h: Harness) -> None:
    workload_id = running(h)
    pod = h.shown_pods(workload_id)[0]["name"]
    ok(
        h.client.post(
            PODS_FAULTS.format(workload=workload_id, pod=pod, action="crash-loop"),
            headers=h.headers,
        )
    )
    h.step(0)
    h.clock.advance(31)  # restarts at 10 and 30 s
    lines = logs(h, workload_id, pod=pod).text.splitlines()
    assert sum("CUDA error" in line for line in lines) == 3
    assert [line.split(" INFO ")[1] for line in lines if "Restarting" in line] == [
        "Restarting the container (restart 1)",
        "Restarting the container (restart 2)",
    ]
    assert "the service is ready" in lines[-9]  # then 3 crashes, 2 restarts: 8 lines


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        pytest.param({"tail": -1}, 400, "tail", id="negative-tail"),
        pytest.param({"tail": "ten"}, 400, "tail", id="tail-not-a-number"),
        pytest.param({"tail": 100_001}, 400, "tail", id="tail-too-large"),
        pytest.param({"pod": "no-such-pod"}, 404, "no-such-pod", id="unknown-pod"),
    ],
)
def test_refused_log_requests(h: Harness, params: dict[str, Any], status: int, field: str) -> None:
    workload_id = running(h)
    answer = logs(h, workload_id, **params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status
    assert field in str(body)


def test_the_endpoint_answers_once_a_pod_is_ready(h: Harness) -> None:
    workload_id = h.create(nim_request())
    h.step(0)
    early = proxy(h, workload_id, "GET", "v1/models")
    assert early.status_code == 503, early.text
    assert "no ready pod" in early.json()["message"]

    h.run_until(workload_id, "Running")
    assert proxy(h, workload_id, "GET", "v1/health/ready").status_code == 200
    models = proxy(h, workload_id, "GET", "v1/models").json()
    assert [m["id"] for m in models["data"]] == [MODEL]
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
    answer = proxy(h, workload_id, "POST", "v1/chat/completions", json=chat)
    assert answer.status_code == 200, answer.text
    completion = answer.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == MODEL
    assert "simulated response" in completion["choices"][0]["message"]["content"]
    # deterministic: the same request, the same answer
    assert proxy(h, workload_id, "POST", "v1/chat/completions", json=chat).json() == completion
    text = proxy(h, workload_id, "POST", "v1/completions", json={"model": MODEL, "prompt": "Hi"})
    assert text.json()["choices"][0]["text"] == completion["choices"][0]["message"]["content"]
    streamed = proxy(h, workload_id, "POST", "v1/chat/completions", json={**chat, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        pytest.param("GET", "v1/nothing", None, 404, id="unknown-path"),
        pytest.param("GET", "v1/chat/completions", None, 405, id="wrong-method"),
        pytest.param("POST", "v1/chat/completions", {"model": "other"}, 404, id="other-model"),
        pytest.param("POST", "v1/chat/completions", {"model": MODEL}, 400, id="no-messages"),
        pytest.param("POST", "v1/completions", {"model": MODEL}, 400, id="no-prompt"),
    ],
)
def test_the_services_own_refusals_are_passed_on(
    h: Harness, method: str, path: str, body: Any, status: int
) -> None:
    workload_id = running(h)
    answer = proxy(h, workload_id, method, path, json=body)
    assert answer.status_code == status, answer.text


def test_the_callers_token_is_not_forwarded(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    workload_id = running(h)
    seen: list[dict[str, str]] = []
    original = SimulatedCluster.forward

    def spy(self: SimulatedCluster, workload: Any, method: str, path: str, *rest: Any) -> Any:
        seen.append(dict(rest[1]))
        return original(self, workload, method, path, *rest)

    monkeypatch.setattr(SimulatedCluster, "forward", spy)
    headers = {**h.headers, "X-Other": "1", "Content-Type": "application/json"}
    assert proxy(h, workload_id, "GET", "v1/models", headers=headers).status_code == 200
    assert seen == [{"accept": "*/*", "content-type": "application/json"}]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "logs", id="logs"),
        pytest.param("GET", "proxy/v1/models", id="proxy-get"),
        pytest.param("POST", "proxy/v1/completions", id="proxy-post"),
    ],
)
def test_an_unreadable_workload_answers_as_a_missing_one(
    h: Harness, method: str, path: str
) -> None:
    workload_id = running(h)
    org = make_org(h.state)
    outsider = caller(h.state, VIEWER, "project", org.project_id)
    body = {"model": MODEL, "prompt": "Hi"}

    def call(wid: str, headers: dict[str, str]) -> tuple[int, str]:
        answer = h.client.request(method, f"{NIM}/{wid}/{path}", json=body, headers=headers)
        return answer.status_code, answer.text.replace(wid, "<id>")

    missing = call(str(uuid.uuid4()), outsider)
    assert missing[0] == 404
    assert call(workload_id, outsider) == missing
    viewer = caller(h.state, VIEWER, "project", "1")
    assert call(workload_id, viewer)[0] == 200
