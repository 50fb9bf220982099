"""`nimplane serve` runs the API; `nimplane openapi` prints or checks the committed document;
the client commands (login, inference nim, admin) are registered from their own modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from nimplane.cli import admin, session, worker
from nimplane.cli.nim import inference_app
from nimplane.cli.render import render_command
from nimplane.logs import configure_logging
from nimplane.settings import Settings

app = typer.Typer(help="nimplane: a Run:ai-compatible control plane for NVIDIA NIM services.")


SECTIONS = ("organisation", "simulator")
"""Top-level sections of the config file besides the settings (see config_file.py)."""


def _file_values(config: Path) -> dict[str, Any]:
    """The settings a YAML config file gives: those of its `server:` section (or its top
    level), with its `organisation:` and `simulator:` sections. An unknown key is an error."""
    loaded = yaml.safe_load(config.read_text()) or {}
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{config} must hold a YAML mapping", param_hint="--config")
    known = set(Settings.model_fields)
    if "server" in loaded:
        server = loaded["server"] or {}
        if not isinstance(server, dict):
            raise typer.BadParameter(f"{config}: server must be a mapping", param_hint="--config")
        values = {**server, **{k: loaded[k] for k in SECTIONS if k in loaded}}
        unknown = sorted(set(loaded) - {"server", *SECTIONS}) + sorted(
            f"server.{k}" for k in set(server) - known - set(SECTIONS)
        )
    else:
        values = dict(loaded)
        unknown = sorted(set(loaded) - known)
    if unknown:
        raise typer.BadParameter(
            f"{config}: unknown key(s) {', '.join(unknown)}", param_hint="--config"
        )
    return values


def load_settings(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the environment, a YAML config file, then command-line flags (last wins)."""
    values = {} if config is None else _file_values(config)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = (
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise typer.BadParameter("\n".join(problems), param_hint="--config") from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where SQLite, keys and secrets live.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file: settings (a `server:` section or the top level), and the "
            "`organisation:` and `simulator:` sections.",
            exists=True,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql://... to use PostgreSQL (or NIMPLANE_DATABASE_URL)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(help="json (one object per line) or text.")] = "json",
) -> None:
    """Run the API server (SQLite in the data dir and the simulated cluster by default)."""
    import uvicorn

    from nimplane.allocator import limit_malloc_arenas
    from nimplane.api.app import create_app
    from nimplane.services.seeding import ConfigError
    from nimplane.wiring import build_state

    limit_malloc_arenas()  # before any thread: a long-running server's RSS stays bounded

    overrides = {"host": host, "port": port, "data_dir": data_dir, "database_url": database_url}
    settings = load_settings(config, **overrides)
    configure_logging(log_level, json_lines=log_format == "json")
    try:  # before listening: a config file that cannot be applied fails the start at once
        state = build_state(settings)
    except ConfigError as exc:
        typer.echo(f"nimplane: {exc}", err=True)
        raise typer.Exit(2) from exc
    if (
        settings.background_workers
        and settings.background_process
        and settings.backend == "simulated"
    ):  # the loops in a child process; on Kubernetes its watches feed the API's reads too
        child = worker.worker_process(config, overrides, log_level, log_format)
        state.workers.run_elsewhere(child)
        state.metrics.loops_from(child.metrics, lambda: child.starts)
    try:
        uvicorn.run(
            create_app(settings, state=state, run_workers=True),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            log_config=None,  # keep the JSON handlers configured above
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        state.close()


def openapi_document() -> dict[str, Any]:
    from nimplane.api.app import create_app

    return create_app(Settings()).openapi()


@app.command()
def openapi(
    check: Annotated[Path | None, typer.Option(help="Fail if this committed copy differs.")] = None,
) -> None:
    """Print the OpenAPI document, or check a committed copy for drift."""
    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if check is None:
        typer.echo(text, nl=False)
        return
    if check.read_text() != text:
        typer.echo(f"{check} is out of date: run `nimplane openapi > {check}`", err=True)
        raise typer.Exit(1)
    typer.echo(f"{check} is up to date")


app.command("render")(render_command)
app.command(worker.COMMAND, hidden=True)(worker.background_worker)

# The client commands (a client of the HTTP API only; see the README's "Command line").
session.register(app)
app.add_typer(inference_app, name="inference")
admin.register(app)


def main() -> None:
    app()
