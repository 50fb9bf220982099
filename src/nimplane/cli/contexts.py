"""The command line's config file: named contexts (server URL, default project, cached tokens).

One JSON file, `config.json`, in the user's config dir (`NIMPLANE_CONFIG_DIR` overrides it),
written atomically with mode 0600 in a 0700 directory: it holds access and refresh tokens,
never a client secret or a password.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer

CONFIG_DIR_ENV = "NIMPLANE_CONFIG_DIR"
CONFIG_FILE = "config.json"
DEFAULT_CONTEXT = "default"
DEFAULT_URL = "http://127.0.0.1:8080"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(typer.get_app_dir("nimplane"))


@dataclass
class Session:
    """Who is signed in on a context, and the tokens the server gave."""

    subject: str
    subject_type: str  # "service-account" or "user"
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    """Unix time when the access token expires (by the clock of the machine that signed in)."""


@dataclass
class Context:
    url: str = DEFAULT_URL
    project: str | None = None
    session: Session | None = None

    def public(self) -> dict[str, Any]:
        """What `config view` shows: never a token."""
        session = self.session
        return {
            "url": self.url,
            "project": self.project,
            "user": None if session is None else f"{session.subject_type}/{session.subject}",
        }


@dataclass
class Config:
    current: str = DEFAULT_CONTEXT
    contexts: dict[str, Context] = field(default_factory=dict)

    def context(self, name: str | None = None) -> Context:
        return self.contexts.setdefault(name or self.current, Context())


def _context(raw: dict[str, Any]) -> Context:
    session = raw.get("session")
    return Context(
        url=str(raw.get("url") or DEFAULT_URL),
        project=raw.get("project"),
        session=Session(**session) if isinstance(session, dict) else None,
    )


def path() -> Path:
    return config_dir() / CONFIG_FILE


def load() -> Config:
    file = path()
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError:
        return Config()
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    contexts = raw.get("contexts") or {}
    return Config(
        current=str(raw.get("currentContext") or DEFAULT_CONTEXT),
        contexts={str(name): _context(value) for name, value in contexts.items()},
    )


def save(config: Config) -> None:
    """Write the file atomically, mode 0600, whatever the umask."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "currentContext": config.current,
        "contexts": {name: asdict(context) for name, context in config.contexts.items()},
    }
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, directory / CONFIG_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
