"""Every client command documents itself with an example (no server needed)."""

from __future__ import annotations

from typing import Any

import typer.main

from nimplane.cli.main import app

SERVER_SIDE = {"serve", "openapi", "render", "background-worker"}


def _leaves(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, command) of every command under a group (Typer's own click types)."""
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            found += _leaves(command, path)
        else:
            found.append((path, command))
    return found


def test_every_client_command_has_an_example_and_the_common_flags() -> None:
    root = typer.main.get_command(app)
    leaves = [(p, c) for p, c in _leaves(root) if p not in SERVER_SIDE]
    assert len(leaves) > 30
    for path, command in leaves:
        assert command.epilog, path
        assert command.epilog.startswith(f"Example:  nimplane {path}"), path
        names = {opt for param in command.params for opt in param.opts}
        assert {"-o", "-q", "-d", "--verbose", "--help"} <= names | {"--help"}, path
