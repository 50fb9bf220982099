"""`nimplane inference nim logs` and `port-forward` against a real server (the simulated
cluster sped up): the container log as text, its exit codes, `--follow`, and a local port
forwarded to the simulated NIM endpoint, started in a thread and stopped as Ctrl-C would."""

from __future__ import annotations

import threading

import httpx
import pytest
from click.testing import Result

from nimplane.cli import nim
from nimplane.cli.client import Exit
from nimplane.cli.forward import PortForward
from tests.cli.conftest import Cli
from tests.support.server import CLIENT_ID, CLIENT_SECRET, ServerProcess
from tests.support.waiting import wait_until

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
MODEL = "meta/llama-3.1-8b-instruct"
BASE = ["-i", IMAGE, "--model-nim-cache", "name=llama-cache", "-g", "1"]


@pytest.fixture(scope="module")
def service(cli_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A running NIM service `logs-svc`, submitted once for the module."""
    shell = Cli(tmp_path_factory.mktemp("nimplane-config"), cli_server)
    shell.login(CLIENT_ID, CLIENT_SECRET, "-p", "default")
    shell.ok("inference", "nim", "submit", "logs-svc", *BASE, "--wait")
    return "logs-svc"


def test_logs_prints_the_nim_containers_log(cli: Cli, service: str) -> None:
    result = cli.ok("inference", "nim", "logs", service)
    lines = result.stdout.splitlines()
    assert "Starting NVIDIA NIM for LLMs" in lines[0]
    assert any("the service is ready" in line for line in lines)
    tail = cli.ok("inference", "nim", "logs", service, "--tail", "1").stdout.splitlines()
    assert tail == lines[-1:]
    assert cli.ok("inference", "nim", "logs", service, "--pod", f"{service}-0").stdout == (
        result.stdout
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(["no-such-service"], Exit.NOT_FOUND, "no-such-service", id="unknown-name"),
        pytest.param(["logs-svc", "--pod", "nope"], Exit.NOT_FOUND, "nope", id="unknown-pod"),
        pytest.param(["logs-svc", "--tail", "-1"], Exit.USAGE, "--tail", id="negative-tail"),
    ],
)
def test_logs_refusals_exit_with_their_code(
    cli: Cli, service: str, args: list[str], code: Exit, says: str
) -> None:
    result = cli("inference", "nim", "logs", *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert says in result.stderr


def test_follow_prints_each_line_once_until_interrupted(
    cli: Cli, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[float] = []

    def sleep(seconds: float) -> None:  # one poll, then Ctrl-C
        polls.append(seconds)
        if len(polls) > 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(nim.time, "sleep", sleep)
    result = cli.ok("inference", "nim", "logs", service, "-f")
    whole = cli.ok("inference", "nim", "logs", service).stdout
    assert result.stdout == whole
    assert len(polls) == 2


def _forward_in_thread(cli: Cli, *args: str) -> tuple[threading.Thread, list[Result]]:
    results: list[Result] = []
    thread = threading.Thread(
        target=lambda: results.append(cli("inference", "nim", "port-forward", *args)),
        daemon=True,
    )
    thread.start()
    wait_until(lambda: bool(PortForward.running) or not thread.is_alive(), "port-forward listens")
    return thread, results


def test_port_forward_reaches_the_simulated_nim(cli: Cli, service: str) -> None:
    thread, results = _forward_in_thread(cli, service, "--port", "0")
    assert PortForward.running, results
    forwarder = PortForward.running[0]
    try:
        with httpx.Client(base_url=forwarder.url, timeout=30) as local:
            assert local.get("/v1/health/ready").status_code == 200
            assert [m["id"] for m in local.get("/v1/models").json()["data"]] == [MODEL]
            chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
            answer = local.post("/v1/chat/completions", json=chat)
            assert answer.status_code == 200, answer.text
            content = answer.json()["choices"][0]["message"]["content"]
            assert "simulated response from meta/llama-3.1-8b-instruct" in content
            assert local.get("/v1/nothing").status_code == 404  # the service's own answer
    finally:
        forwarder.shutdown()
        thread.join(timeout=30)
    assert not thread.is_alive()
    (result,) = results
    assert result.exit_code == Exit.OK, result.stderr
    assert f"Forwarding {forwarder.url} -> NIM service {service}" in result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["logs-svc", "--port", "http"], Exit.USAGE, id="not-a-port"),
        pytest.param(["logs-svc", "--port", "70000"], Exit.USAGE, id="port-too-large"),
        pytest.param(["no-such-service", "--port", "0"], Exit.NOT_FOUND, id="unknown-name"),
    ],
)
def test_port_forward_refusals(cli: Cli, service: str, args: list[str], code: Exit) -> None:
    result = cli("inference", "nim", "port-forward", *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
