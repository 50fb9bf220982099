"""Names or ids, as the user types them, to the API's objects: projects, departments, NIM
services (by name within a project, or by id)."""

from __future__ import annotations

import re
from typing import Any

from nimplane.cli.client import Client, CliError, Exit

Json = dict[str, Any]

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def project_name_or_default(client: Client, project: str | None) -> str:
    chosen = project or client.context.project
    if not chosen:
        raise CliError(
            "no project: pass -p/--project or run `nimplane config set-project NAME`", Exit.USAGE
        )
    return chosen


def org_unit(client: Client, kind: str, name_or_id: str) -> Json:
    """A project or department (`kind`: projects, departments) by name or id."""
    base = f"/api/v1/org-unit/{kind}"
    if name_or_id.isdigit():
        found = client.get(f"{base}/{name_or_id}")
        return found if isinstance(found, dict) else {}
    listed = client.get(base, filterBy=f"name=={name_or_id}")
    items = listed.get(kind, []) if isinstance(listed, dict) else []
    if not items:
        raise CliError(f"{kind[:-1]} {name_or_id} not found", Exit.NOT_FOUND)
    return dict(items[0])


def project(client: Client, project: str | None) -> Json:
    return org_unit(client, "projects", project_name_or_default(client, project))


def workload(client: Client, name_or_id: str, project_flag: str | None) -> Json:
    """The v1 workload of a NIM service: by id, or by name in the project (-p or the context's)."""
    if UUID_RE.match(name_or_id):
        return dict(client.get(f"/api/v1/workloads/{name_or_id}"))
    proj = project(client, project_flag)
    listed = client.get("/api/v1/workloads", filterBy=f"name=={name_or_id},projectId=={proj['id']}")
    items = listed.get("workloads", []) if isinstance(listed, dict) else []
    if not items:
        raise CliError(
            f"NIM service {name_or_id} not found in project {proj['name']}", Exit.NOT_FOUND
        )
    return dict(items[0])
