"""Concurrent PATCHes of one NIM service on a real server: no lost update, and `If-Match`
lets exactly one of several writers of the same version through."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import nim_request
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

NIM = "/api/v2/workloads/nim-services"
TIMEOUT = httpx.Timeout(120.0)

Json = dict[str, Any]

# 20 PATCHes, each giving spec sections no other one gives (docs/decisions.md D2: a given section
# replaces the stored one whole), except the two `labels` writers: of those, the later one must win.
# `autoscaling` is left out: it owns `replicas` and excludes `multiNode` (docs/decisions.md D2, D6).
PATCHES: dict[str, Json] = {
    "annotations": {"annotations": [{"name": "example.com/owner", "value": "p01"}]},
    "labels": {"labels": [{"name": "team", "value": "blue"}]},
    "labels-again": {
        "labels": [{"name": "team", "value": "green"}, {"name": "tier", "value": "1"}]
    },
    "environmentVariables": {
        "environmentVariables": [
            {"name": "NIM_LOG_LEVEL", "value": "debug"},
            {"name": "NGC_API_KEY", "secret": {"name": "ngc-api", "key": "key"}},
        ]
    },
    "tolerations": {
        "tolerations": [
            {"name": "gpu", "operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"}
        ]
    },
    "imagePullSecrets": {"imagePullSecrets": [{"name": "ngc-pull"}]},
    "nodePools": {"nodePools": ["default"]},
    "probes": {
        "probes": {
            "readiness": {
                "periodSeconds": 5,
                "handler": {"httpGet": {"path": "/v1/health/ready", "port": 8000}},
            }
        }
    },
    "security": {"security": {"runAsUid": 1000, "runAsGid": 2000}},
    "servingPort": {"servingPort": {"port": 9000, "serviceType": "NodePort"}},
    "compute": {"compute": {"gpuDevicesRequest": 2, "cpuCoreRequest": 4}},
    "category": {"category": "Build"},
    "priorityClass": {"priorityClass": "medium"},
    "preemptibility": {"preemptibility": "preemptible"},
    "replicas": {"replicas": 3},
    "image": {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.4"},
    "imagePullPolicy": {"imagePullPolicy": "Always"},
    "modelStore": {"modelStore": {"nimCache": {"name": "other-cache", "profile": "tp2"}}},
    "ngcAuthSecret": {"ngcAuthSecret": "ngc-api"},
    "multiNode": {"multiNode": {"workers": 2}},
}


@dataclass
class Answer:
    """One PATCH: what it sent and what it got."""

    key: str
    sent: Json
    status: int
    version: int | None
    body: Json


def etag_version(response: httpx.Response) -> int:
    return int(response.headers["etag"].strip('"'))


def concurrently(
    server: ServerProcess, token: str, calls: list[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    """Run each call in its own thread and connection, all released at once."""
    start = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)
    failures: list[BaseException] = []
    headers = {"Authorization": f"Bearer {token}"}

    def run(index: int) -> None:
        try:
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=TIMEOUT) as http:
                http.get("/readyz")  # connect before the start line
                start.wait(timeout=120)
                responses[index] = calls[index](http)
        except BaseException as exc:
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a PATCH thread hung"
    assert not failures, failures
    return [r for r in responses if r is not None]


def patch_call(
    workload_id: str, spec: Json, if_match: str | None = None
) -> Callable[[httpx.Client], httpx.Response]:
    headers = {"If-Match": if_match} if if_match else {}
    return lambda http: http.patch(f"{NIM}/{workload_id}", json={"spec": spec}, headers=headers)


def contains(stored: Any, sent: Any) -> bool:
    """`stored` holds everything `sent` gave (stored objects may add defaults)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(contains(stored.get(k), v) for k, v in sent.items())
    return bool(stored == sent)


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    return server.token()


@pytest.fixture
def http(server: ServerProcess, token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=TIMEOUT) as client:
        yield client


def create(http: httpx.Client, prefix: str) -> httpx.Response:
    response = http.post(NIM, json=nim_request(f"{prefix}-{uuid.uuid4().hex[:8]}"))
    assert response.status_code == 202, response.text
    return response


def test_concurrent_patches_of_distinct_sections_lose_no_update(
    server: ServerProcess, token: str, http: httpx.Client
) -> None:
    created = create(http, "race")
    workload_id = created.json()["metadata"]["id"]
    original: Json = created.json()["spec"]
    assert etag_version(created) == 1

    keys = list(PATCHES)
    responses = concurrently(
        server,
        token,
        [patch_call(workload_id, PATCHES[key]) for key in keys],
    )
    answers = [
        Answer(
            key=key,
            sent=PATCHES[key],
            status=r.status_code,
            version=etag_version(r) if r.status_code == 202 else None,
            body=r.json(),
        )
        for key, r in zip(keys, responses, strict=True)
    ]
    assert {a.status for a in answers} <= {202, 409}, [(a.key, a.status, a.body) for a in answers]
    won = sorted((a for a in answers if a.status == 202), key=lambda a: a.version or 0)
    assert won, "every PATCH lost"

    # each accepted PATCH changed something and committed as its own version: 2, 3, ...
    assert [a.version for a in won] == list(range(2, 2 + len(won)))
    for answer in won:
        for section, value in answer.sent.items():
            assert contains(answer.body["spec"].get(section), value), (answer.key, section)

    sections = {section for spec in PATCHES.values() for section in spec}

    def expected(section: str, version: int) -> Any:
        """The section as the last accepted writer up to `version` left it."""
        writers = [a for a in won if section in a.sent and (a.version or 0) <= version]
        if not writers:
            return original.get(section)
        return writers[-1].body["spec"].get(section)

    # every accepted PATCH saw all earlier ones (serial order = version order) ...
    for answer in won:
        for section in sections:
            assert answer.body["spec"].get(section) == expected(section, answer.version or 0), (
                answer.key,
                section,
            )

    # ... and the final state holds every accepted change and no refused one
    final = http.get(f"{NIM}/{workload_id}")
    assert final.status_code == 200
    assert etag_version(final) == 1 + len(won)
    for section in sections:
        assert final.json()["spec"].get(section) == expected(section, etag_version(final)), section
    for answer in answers:
        if answer.status == 409:
            only_theirs = [s for s in answer.sent if not any(s in a.sent for a in won)]
            for section in only_theirs:
                assert final.json()["spec"].get(section) == original.get(section), answer.key


def test_if_match_lets_one_of_two_writers_of_a_version_through(
    server: ServerProcess, token: str, http: httpx.Client
) -> None:
    created = create(http, "ifmatch")
    workload_id = created.json()["metadata"]["id"]
    for round_ in range(3):
        current = http.get(f"{NIM}/{workload_id}")
        version = etag_version(current)
        assert version == 1 + round_
        etag = current.headers["etag"]
        bodies = {
            "labels": {"labels": [{"name": "round", "value": str(round_)}]},
            "annotations": {"annotations": [{"name": "round", "value": str(round_)}]},
        }
        responses = concurrently(
            server, token, [patch_call(workload_id, body, etag) for body in bodies.values()]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [202, 409], [r.text for r in responses]
        winner, loser = sorted(zip(bodies, responses, strict=True), key=lambda p: p[1].status_code)
        assert etag_version(winner[1]) == version + 1
        assert loser[1].json()["code"] == 409

        final = http.get(f"{NIM}/{workload_id}").json()["spec"]
        assert final[winner[0]] == bodies[winner[0]][winner[0]]
        assert final.get(loser[0]) == current.json()["spec"].get(loser[0])
