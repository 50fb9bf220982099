"""A shell script's view: the `nimplane` executable in a subprocess, relying only on the
documented exit codes and `-o json`, submits, waits, scales and deletes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.server import CLIENT_ID, CLIENT_SECRET, ServerProcess
from tests.support.waiting import wait_until


def test_a_script_submits_waits_scales_and_deletes(
    cli_server: ServerProcess, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NIMPLANE_CONFIG_DIR": str(tmp_path / "config"),
        "NIMPLANE_CLIENT_ID": CLIENT_ID,
        "NIMPLANE_CLIENT_SECRET": CLIENT_SECRET,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nimplane", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def as_json(*args: str) -> Any:
        done = run(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run("login", "--url", cli_server.base_url, "-p", "default", "-q").returncode == 0
    created = as_json(
        "inference",
        "nim",
        "submit",
        "scripted",
        "-i",
        "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
        "--model-nim-cache",
        "name=c",
        "-g",
        "1",
        "--wait",
    )
    workload_id = created["metadata"]["id"]
    assert (
        as_json("inference", "nim", "scale", workload_id, "--replicas", "2")["spec"]["replicas"]
        == 2
    )
    wait_until(
        lambda: as_json("inference", "nim", "describe", "scripted")["workload"]["runningPods"] == 2,
        "two replicas run",
    )
    assert run("inference", "nim", "delete", "scripted", "--yes", "-q").returncode == 0
    wait_until(
        lambda: run("inference", "nim", "describe", "scripted").returncode == 3,
        "the service is gone (exit 3)",
    )
    assert run("inference", "nim", "submit", "x", "--no-such-flag").returncode == 2
