"""A real `nimplane serve` per test module (SQLite in tmp, or the session's PostgreSQL), with
the simulated cluster sped up, and the command line invoked in-process against it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nimplane.cli.main import app
from tests.support.server import CLIENT_ID, CLIENT_SECRET, ServerProcess

SIMULATOR = "simulator:\n  speed: 200\n  unreachable: [blocked.example.com]\n"
"""Every simulated duration divided by 200 (a pod is Ready well within a second); pulls from
`blocked.example.com` fail."""


@pytest.fixture(scope="module")
def cli_server(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("cli-server")
    config = data_dir / "nimplane.yaml"
    config.write_text(SIMULATOR)
    process = ServerProcess(data_dir, database_url, config_file=config)
    try:
        process.start()
        yield process
    finally:
        process.stop()


@dataclass
class Cli:
    """The command line with its own config dir, as one user at one shell."""

    config_dir: Path
    server: ServerProcess

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        runner = CliRunner()
        return runner.invoke(
            app,
            list(args),
            input=input,
            env={"NIMPLANE_CONFIG_DIR": str(self.config_dir), **(env or {})},
            catch_exceptions=False,
        )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json").stdout)

    def login(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET, *extra: str) -> None:
        self.ok(
            "login",
            "--url",
            self.server.base_url,
            "--client-id",
            client_id,
            "--client-secret",
            secret,
            *extra,
        )

    def config(self) -> dict[str, Any]:
        return dict(json.loads((self.config_dir / "config.json").read_text()))


CliFactory = Callable[..., Cli]


@pytest.fixture
def cli(tmp_path: Path, cli_server: ServerProcess) -> Cli:
    """A logged-in command line (the bootstrap administrator, project `default`)."""
    shell = Cli(tmp_path / "nimplane-config", cli_server)
    shell.login(CLIENT_ID, CLIENT_SECRET, "-p", "default")
    return shell


@pytest.fixture
def new_cli(tmp_path_factory: pytest.TempPathFactory, cli_server: ServerProcess) -> CliFactory:
    """Another shell, not logged in."""

    def make() -> Cli:
        return Cli(tmp_path_factory.mktemp("nimplane-config"), cli_server)

    return make
