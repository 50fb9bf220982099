"""A real nimplane server in a subprocess, for tests that need a socket, a client or a SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.waiting import SAFETY_TIMEOUT, wait_until

CLIENT_ID = "test-admin"
CLIENT_SECRET = "test-admin-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One `nimplane serve` child process and how to reach it."""

    data_dir: Path
    database_url: str | None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    config_file: Path | None = None
    """Passed as `--config`."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment (settings as `NIMPLANE_...`), applied last."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = SAFETY_TIMEOUT) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            NIMPLANE_BOOTSTRAP_CLIENT_ID=CLIENT_ID,
            NIMPLANE_BOOTSTRAP_CLIENT_SECRET=CLIENT_SECRET,
            NIMPLANE_DATA_DIR=str(self.data_dir),
        )
        if self.database_url:
            env["NIMPLANE_DATABASE_URL"] = self.database_url
        else:
            env.pop("NIMPLANE_DATABASE_URL", None)
        env.update(self.env)
        config = [] if self.config_file is None else ["--config", str(self.config_file)]
        self.log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nimplane",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *config,
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._ready, "the server became ready", timeout)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited early: {(self.data_dir / 'server.log').read_text()}")
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=10.0).status_code == 200
        except httpx.HTTPError:
            return False

    def token(self) -> str:
        response = httpx.post(
            f"{self.base_url}/api/v1/token",
            json={
                "grantType": "client_credentials",
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
            },
        )
        response.raise_for_status()
        return str(response.json()["accessToken"])

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
