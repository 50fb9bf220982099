"""The background worker process of `nimplane serve` (docs: ARCHITECTURE.md, "Processes"):
how `serve` describes it (`worker_process`), and the hidden command it runs as
(`nimplane background-worker`), which reads the same settings as `serve` from its start-up
line and runs the scheduler and the lifecycle engine until its stdin ends, answering the API
process's requests for their metrics on its stdout."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from nimplane.logs import configure_logging
from nimplane.workers.process import WorkerProcess, read_hello, serve_loops

COMMAND = "background-worker"


def worker_process(
    config: Path | None, overrides: dict[str, Any], log_level: str, log_format: str
) -> WorkerProcess:
    """The child `serve` starts: the same interpreter, environment, config file and flags
    (`overrides`, None for a flag not given), so it loads the settings `serve` loaded."""
    hello = {
        "config": None if config is None else str(config.resolve()),
        "overrides": {k: str(v) for k, v in overrides.items() if v is not None},
        "log_level": log_level,
        "log_format": log_format,
    }
    return WorkerProcess(
        [sys.executable, "-m", "nimplane", COMMAND], json.dumps(hello).encode(), env=os.environ
    )


def background_worker() -> None:
    """(internal) The background loops' process that `nimplane serve` starts."""
    from nimplane.cli.main import load_settings
    from nimplane.wiring import build_state

    raw = read_hello()
    if not raw:
        typer.echo("nimplane background-worker: started by `nimplane serve` only", err=True)
        raise typer.Exit(2)
    # stdout carries the metrics answers only: anything else printed goes to stderr
    answers = os.dup(1)
    os.dup2(2, 1)
    hello = json.loads(raw)
    configure_logging(hello["log_level"], json_lines=hello["log_format"] == "json")
    config = hello["config"]
    settings = load_settings(None if config is None else Path(config), **hello["overrides"])
    state = build_state(settings, seed=False)
    try:
        asyncio.run(
            serve_loops(state.workers, metrics=state.metrics.render_loops, answer_fd=answers)
        )
    finally:
        state.close()
