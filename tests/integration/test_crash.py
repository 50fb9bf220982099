"""Durability: a server SIGKILLed in the middle of a burst of creates loses no acknowledged
workload, keeps none it refused, and leaves no half-written row behind."""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import nim_request
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.slow

NIM = "/api/v2/workloads/nim-services"
TOTAL = 200
THREADS = 8
KILL_AFTER_ACKS = 50
TIMEOUT = httpx.Timeout(60.0)


def burst_request(name: str, index: int) -> dict[str, Any]:
    """A valid create whose spec says which request it came from."""
    return nim_request(
        name,
        labels=[{"name": "burst-index", "value": str(index)}],
        environmentVariables=[{"name": "BURST_NAME", "value": name}],
    )


@dataclass
class Burst:
    """What each request of the burst got back."""

    prefix: str
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> 202 body
    refused: dict[str, int] = field(default_factory=dict)  # name -> error status
    unsent: set[str] = field(default_factory=set)  # connection refused: never reached it
    in_flight: set[str] = field(default_factory=set)  # sent, no answer: may or may not exist
    lock: threading.Lock = field(default_factory=threading.Lock)

    def name(self, index: int) -> str:
        return f"{self.prefix}-{index}"


def run_burst(base_url: str, token: str, burst: Burst, kill: threading.Event) -> None:
    """Send TOTAL creates from THREADS threads; set `kill` at the KILL_AFTER_ACKS-th 202."""
    indices = iter(range(TOTAL))
    take = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}

    def worker() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
            while True:
                with take:
                    index = next(indices, None)
                if index is None:
                    return
                name = burst.name(index)
                try:
                    response = http.post(NIM, json=burst_request(name, index))
                except httpx.ConnectError:
                    with burst.lock:
                        burst.unsent.add(name)
                    continue
                except httpx.TransportError:
                    with burst.lock:
                        burst.in_flight.add(name)
                    continue
                with burst.lock:
                    if response.status_code == 202:
                        burst.acked[name] = response.json()
                        if len(burst.acked) == KILL_AFTER_ACKS:
                            kill.set()
                    else:
                        burst.refused[name] = response.status_code

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a burst thread hung"


def listed_names(http: httpx.Client, prefix: str) -> list[dict[str, Any]]:
    """Every live workload whose name starts with `prefix`, across pages."""
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = http.get(
            "/api/v1/workloads",
            params={"filterBy": f"name=^{prefix}-", "limit": 500, "offset": offset},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["workloads"]
        offset = page.get("next")
    return found


def test_sigkill_mid_burst_loses_no_acknowledged_create(server_factory: ServerFactory) -> None:
    first = server_factory()
    token = first.token()
    burst = Burst(prefix=f"crash-{uuid.uuid4().hex[:8]}")
    kill = threading.Event()

    def killer() -> None:
        kill.wait(timeout=300)
        first.kill()  # SIGKILL: no shutdown handler, no flush

    killer_thread = threading.Thread(target=killer, daemon=True)
    killer_thread.start()
    run_burst(first.base_url, token, burst, kill)
    kill.set()  # in case fewer than KILL_AFTER_ACKS were acknowledged
    killer_thread.join(timeout=30)

    outcomes = len(burst.acked) + len(burst.refused) + len(burst.unsent) + len(burst.in_flight)
    assert outcomes == TOTAL
    assert len(burst.acked) >= KILL_AFTER_ACKS, f"refused: {burst.refused}"
    assert len(burst.acked) < TOTAL, "the kill came after the burst: nothing was tested"

    second = server_factory(first.data_dir)
    headers = {"Authorization": f"Bearer {second.token()}"}
    with httpx.Client(base_url=second.base_url, headers=headers, timeout=TIMEOUT) as http:
        # every acknowledged create survived, as acknowledged
        for name, body in burst.acked.items():
            response = http.get(f"{NIM}/{body['metadata']['id']}")
            assert response.status_code == 200, f"acknowledged {name} was lost"
            assert response.json()["metadata"]["name"] == name
            assert response.json()["spec"] == body["spec"]

        # nothing else exists but what was in flight at the kill
        listed = listed_names(http, burst.prefix)
        names = [w["name"] for w in listed]
        assert len(names) == len(set(names)), "a name was stored twice"
        assert set(names) >= set(burst.acked)
        unexplained = set(names) - set(burst.acked) - burst.in_flight
        assert not unexplained & set(burst.refused), "a refused create was stored anyway"
        assert not unexplained & burst.unsent, "a create that never arrived was stored"
        assert not unexplained

        # no half-written rows: each one reads back whole, with the spec its request asked for
        template = next(iter(burst.acked.values()))["spec"]
        for workload in listed:
            name = workload["name"]
            assert workload["images"] == [template["image"]]
            response = http.get(f"{NIM}/{workload['id']}")
            assert response.status_code == 200, f"{name} is listed but cannot be read"
            body = response.json()
            assert body["metadata"]["name"] == name
            index = int(name.rsplit("-", 1)[1])
            expected = copy.deepcopy(template)
            expected["labels"] = [{"name": "burst-index", "value": str(index)}]
            expected["environmentVariables"] = [{"name": "BURST_NAME", "value": name}]
            assert body["spec"] == expected
            assert body["desiredPhase"] == "Running"
