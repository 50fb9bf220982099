"""`nimplane login|logout` and `nimplane config view|use-context|set-project`."""

from __future__ import annotations

from typing import Annotated

import typer

from nimplane.cli import contexts
from nimplane.cli.client import Client, CliError, Exit
from nimplane.cli.common import command, options
from nimplane.cli.output import Table, emit, message

config_app = typer.Typer(help="Named contexts: server URL, default project, who is logged in.")


def register(app: typer.Typer) -> None:
    command(
        app,
        "login",
        example="nimplane login --url http://127.0.0.1:8080 --client-id ci --client-secret S",
    )(login)
    command(app, "logout", example="nimplane logout")(logout)
    app.add_typer(config_app, name="config")


def login(
    url: Annotated[
        str | None, typer.Option(help="The nimplane server (kept in the context).")
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(envvar="NIMPLANE_CLIENT_ID", help="Service account client id."),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            envvar="NIMPLANE_CLIENT_SECRET",
            help="Service account secret (prefer the environment variable).",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Log in as a user (password prompted).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="NIMPLANE_PASSWORD", help="The user's password (else prompted, never echoed)."
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Default project of the context.")
    ] = None,
) -> None:
    """Log in: client credentials (flags or NIMPLANE_CLIENT_ID/SECRET) or a user's password.

    The tokens are cached in the context (file mode 0600) and refreshed when they expire;
    the secret or password is never stored."""
    opts = options()
    config = contexts.load()
    name = opts.context or config.current
    ctx = config.context(name)
    if url is not None:
        ctx.url = url.rstrip("/")
    if project is not None:
        ctx.project = project
    client = Client(config, name, debug=opts.debug)
    try:
        if client_id is not None:
            if client_secret is None:
                client_secret = typer.prompt("Client secret", hide_input=True)
            body = {
                "grantType": "client_credentials",
                "clientID": client_id,
                "clientSecret": client_secret,
            }
            client.sign_in(body, client_id, "service-account")
            subject = f"service account {client_id}"
        else:
            if username is None:
                username = typer.prompt("Username")
            if password is None:
                password = typer.prompt("Password", hide_input=True)
            body = {"grantType": "password", "username": username, "password": password}
            client.sign_in(body, username, "user")
            subject = f"user {username}"
    finally:
        client.close()
    config.current = name
    contexts.save(config)
    message(opts, f"Logged in to {ctx.url} as {subject} (context {name}).")


def logout() -> None:
    """Forget the cached tokens of the current context (or --context)."""
    opts = options()
    config = contexts.load()
    name = opts.context or config.current
    if name in config.contexts:
        config.contexts[name].session = None
        contexts.save(config)
    message(opts, f"Logged out (context {name}).")


@config_app.callback()
def _config() -> None:
    """Named contexts: server URL, default project, who is logged in."""


def view() -> None:
    """Show the contexts (never a token)."""
    opts = options()
    config = contexts.load()
    data = {
        "currentContext": config.current,
        "contexts": {name: ctx.public() for name, ctx in config.contexts.items()},
        "file": str(contexts.path()),
    }
    table = Table(["CURRENT", "NAME", "URL", "PROJECT", "USER"])
    for name, ctx in sorted(config.contexts.items()):
        public = ctx.public()
        table.rows.append(
            [
                "*" if name == config.current else "",
                name,
                public["url"],
                public["project"] or "-",
                public["user"] or "-",
            ]
        )
    emit(data, opts, table)


def use_context(name: Annotated[str, typer.Argument(help="A context from `config view`.")]) -> None:
    """Make a named context the current one."""
    opts = options()
    config = contexts.load()
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise CliError(f"no context named {name} (known: {known})", Exit.NOT_FOUND)
    config.current = name
    contexts.save(config)
    message(opts, f"Switched to context {name}.")


def set_project(
    project: Annotated[str, typer.Argument(help="Project name or id used when -p is not given.")],
) -> None:
    """Set the current context's default project."""
    opts = options()
    config = contexts.load()
    name = opts.context or config.current
    config.context(name).project = project
    contexts.save(config)
    message(opts, f"project {project} configured successfully (context {name})")


command(config_app, "view", example="nimplane config view -o yaml")(view)
command(config_app, "use-context", example="nimplane config use-context staging")(use_context)
command(config_app, "set-project", example="nimplane config set-project team-a")(set_project)
