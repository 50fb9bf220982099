"""Administration over the API: projects, departments (with quotas), node pools, nodes (GPUs
used and free), service accounts, access rules and the audit log."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import typer

from nimplane.cli import resolve
from nimplane.cli.client import Client, CliError, Exit
from nimplane.cli.common import client, command, options
from nimplane.cli.output import Format, Table, age, cell, emit, message

Json = dict[str, Any]

project_app = typer.Typer(help="Projects and their quotas.")
department_app = typer.Typer(help="Departments and their quotas.")
node_pool_app = typer.Typer(help="Node pools.")
node_app = typer.Typer(help="Nodes and their GPUs.")
service_account_app = typer.Typer(help="Service accounts (client credentials).")
access_rule_app = typer.Typer(help="Access rules: a role for a subject in a scope.")


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
    app.add_typer(department_app, name="department")
    app.add_typer(node_pool_app, name="node-pool")
    app.add_typer(node_app, name="node")
    app.add_typer(service_account_app, name="service-account")
    app.add_typer(access_rule_app, name="access-rule")
    command(app, "audit-log", example="nimplane audit-log --limit 20")(audit_log)


def _emit_result(data: Any, text: str) -> None:
    opts = options()
    if opts.output in (Format.json, Format.yaml):
        emit(data, opts)
    else:
        message(opts, text)


# --- projects and departments --------------------------------------------------------------


GpuOpt = Annotated[float | None, typer.Option("--gpu", help="Deserved GPUs (quota).")]
GpuLimitOpt = Annotated[float | None, typer.Option(help="GPU limit (-1: none).")]
CpuOpt = Annotated[float | None, typer.Option("--cpu", help="Deserved CPU, millicores.")]
MemoryOpt = Annotated[float | None, typer.Option("--memory", help="Deserved memory, MB.")]
PoolOpt = Annotated[str, typer.Option("--node-pool", help="The node pool of the quota.")]


def _resources(
    pool: str, gpu: float | None, gpu_limit: float | None, cpu: float | None, memory: float | None
) -> list[Json]:
    entry: Json = {"nodePool": {"name": pool}}
    if gpu is not None or gpu_limit is not None:
        entry["gpu"] = {
            k: v for k, v in {"deserved": gpu or 0, "limit": gpu_limit}.items() if v is not None
        }
    if cpu is not None:
        entry["cpu"] = {"deserved": cpu}
    if memory is not None:
        entry["memory"] = {"deserved": memory, "units": "MB"}
    return [entry]


def _quota_text(unit: Json) -> str:
    parts = []
    for r in unit.get("resources") or []:
        gpu = (r.get("gpu") or {}).get("deserved")
        parts.append(f"{(r.get('nodePool') or {}).get('name')}={cell(gpu)}")
    return ",".join(parts) or "-"


def _unit_table(units: list[Json], with_parent: bool) -> Table:
    columns = ["ID", "NAME"] + (["DEPARTMENT"] if with_parent else []) + ["GPU QUOTA", "AGE"]
    table = Table(columns)
    for u in units:
        row = [str(u["id"]), u["name"]]
        if with_parent:
            row.append(cell(u.get("parentName") or (u.get("parent") or {}).get("name")))
        row += [_quota_text(u), age(u.get("createdAt"))]
        table.rows.append(row)
    return table


def _unit_commands(app: typer.Typer, kind: str, noun: str) -> None:
    """list, create, delete and set-quota for projects or departments (`kind`)."""
    base = f"/api/v1/org-unit/{kind}"

    def list_units() -> None:
        opts = options()
        api = client()
        try:
            units = api.get(base, limit=500).get(kind, [])
        finally:
            api.close()
        emit(units, opts, _unit_table(units, kind == "projects"))

    def create(
        name: Annotated[str, typer.Argument(help="The new name.")],
        department: Annotated[
            str | None,
            typer.Option(help="Parent department, name or id (projects; default: default)."),
        ] = None,
        gpu: GpuOpt = None,
        gpu_limit: GpuLimitOpt = None,
        cpu: CpuOpt = None,
        memory: MemoryOpt = None,
        node_pool: PoolOpt = "default",
    ) -> None:
        api = client()
        try:
            body: Json = {"name": name}
            if department is not None:
                if kind != "projects":
                    raise typer.BadParameter(
                        "only a project has a department", param_hint="--department"
                    )
                body["parentId"] = str(resolve.org_unit(api, "departments", department)["id"])
            if any(v is not None for v in (gpu, gpu_limit, cpu, memory)):
                body["resources"] = _resources(node_pool, gpu, gpu_limit, cpu, memory)
            created = api.post(base, body)
        finally:
            api.close()
        _emit_result(created, f"{noun.capitalize()} {name} created (id {created['id']}).")

    def delete(
        name: Annotated[str, typer.Argument(help="Its name or id.")],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    ) -> None:
        api = client()
        try:
            unit = resolve.org_unit(api, kind, name)
            if not yes and not typer.confirm(f"Delete {noun} {unit['name']}?"):
                raise CliError("not deleted")
            api.delete(f"{base}/{unit['id']}")
        finally:
            api.close()
        _emit_result({"id": unit["id"], "deleted": True}, f"{noun.capitalize()} {name} deleted.")

    def set_quota(
        name: Annotated[str, typer.Argument(help="Its name or id.")],
        gpu: GpuOpt = None,
        gpu_limit: GpuLimitOpt = None,
        cpu: CpuOpt = None,
        memory: MemoryOpt = None,
        node_pool: PoolOpt = "default",
    ) -> None:
        if all(v is None for v in (gpu, gpu_limit, cpu, memory)):
            raise typer.BadParameter("give --gpu, --gpu-limit, --cpu or --memory")
        api = client()
        try:
            unit = resolve.org_unit(api, kind, name)
            updated = api.request(
                "PATCH",
                f"{base}/{unit['id']}/resources",
                json=_resources(node_pool, gpu, gpu_limit, cpu, memory),
            ).json()
        finally:
            api.close()
        _emit_result(updated, f"Quota of {noun} {unit['name']} on {node_pool} set.")

    list_units.__doc__ = f"List {kind}: id, name, GPU quota per node pool, age."
    create.__doc__ = f"Create a {noun}, optionally with a quota on one node pool."
    delete.__doc__ = f"Delete a {noun} (asks unless --yes)."
    set_quota.__doc__ = f"Set a {noun}'s quota on one node pool (others are kept)."
    command(app, "list", example=f"nimplane {noun} list -o json")(list_units)
    command(
        app,
        "create",
        example=f"nimplane {noun} create team-a --gpu 4"
        + (" --department research" if kind == "projects" else ""),
    )(create)
    command(app, "delete", example=f"nimplane {noun} delete team-a --yes")(delete)
    command(app, "set-quota", example=f"nimplane {noun} set-quota team-a --gpu 8 --gpu-limit 16")(
        set_quota
    )


_unit_commands(project_app, "projects", "project")
_unit_commands(department_app, "departments", "department")


# --- node pools and nodes ------------------------------------------------------------------


def node_pool_list() -> None:
    """List node pools with their nodes."""
    opts = options()
    api = client()
    try:
        pools = api.get("/api/v1/node-pools").get("nodepools", [])
    finally:
        api.close()
    table = Table(["ID", "NAME", "LABEL", "NODES", "PHASE"])
    for p in pools:
        table.rows.append(
            [
                str(p["id"]),
                p["name"],
                f"{p.get('labelKey')}={p.get('labelValue')}",
                cell((p.get("status") or {}).get("nodes")),
                cell(p.get("phase")),
            ]
        )
    emit(pools, opts, table)


def _gpus_used(api: Client) -> dict[str, float]:
    """GPUs held per node, from the pods of every workload the caller may read."""
    used: dict[str, float] = defaultdict(float)
    workloads = api.get("/api/v1/workloads", limit=500).get("workloads", [])
    for w in workloads:
        if not w.get("runningPods") and not (w.get("allocatedResources") or {}).get("gpu"):
            continue
        for pod in api.get(f"/api/v1/workloads/{w['id']}/pods").get("pods", []):
            if pod.get("nodeName"):
                used[pod["nodeName"]] += float(
                    (pod.get("allocatedResources") or {}).get("gpu") or 0
                )
    return used


def node_list() -> None:
    """List nodes: status, node pool, GPU type, GPUs in all, used and free."""
    opts = options()
    api = client()
    try:
        clusters = api.get("/api/v1/clusters")
        nodes: list[Json] = []
        for cluster in clusters:
            nodes += api.get(f"/api/v1/clusters/{cluster['uuid']}/nodes").get("nodes", [])
        used = _gpus_used(api)
    finally:
        api.close()
    table = Table(["NAME", "STATUS", "NODE POOL", "GPU TYPE", "GPUS", "USED", "FREE"])
    for n in nodes:
        info = n.get("gpuInfo") or {}
        total = float(info.get("gpuCount") or 0)
        held = used.get(n["name"], 0.0)
        n["gpusUsed"], n["gpusFree"] = held, max(0.0, total - held)
        table.rows.append(
            [
                n["name"],
                cell(n.get("status")),
                cell(n.get("nodePool")),
                cell(info.get("gpuType")),
                cell(total),
                cell(held),
                cell(n["gpusFree"]),
            ]
        )
    emit(nodes, opts, table)


command(node_pool_app, "list", example="nimplane node-pool list")(node_pool_list)
command(node_app, "list", example="nimplane node list -o wide")(node_list)


# --- service accounts ----------------------------------------------------------------------


def _service_account(api: Client, name_or_id: str) -> Json:
    for account in api.get("/api/v1/service-accounts"):
        if name_or_id in (account.get("name"), account.get("id"), account.get("clientId")):
            return dict(account)
    raise CliError(f"service account {name_or_id} not found", Exit.NOT_FOUND)


def sa_create(name: Annotated[str, typer.Argument(help="Name (also its client id).")]) -> None:
    """Create a service account; its secret is shown once."""
    opts = options()
    api = client()
    try:
        created = api.post("/api/v1/service-accounts", {"name": name})
    finally:
        api.close()
    if opts.output in (Format.json, Format.yaml):
        emit(created, opts)
    else:
        print(f"client id:     {created.get('clientId')}")
        print(f"client secret: {created.get('clientSecret')}   (shown once: keep it now)")


def sa_list() -> None:
    """List service accounts."""
    opts = options()
    api = client()
    try:
        accounts = api.get("/api/v1/service-accounts")
    finally:
        api.close()
    table = Table(["ID", "NAME", "CLIENT ID", "ENABLED", "CREATED BY", "AGE"])
    for a in accounts:
        table.rows.append(
            [
                str(a["id"]),
                a["name"],
                a.get("clientId", "-"),
                cell(a.get("enabled")),
                cell(a.get("createdBy")),
                age(a.get("createdAt")),
            ]
        )
    emit(accounts, opts, table)


def sa_regenerate(name: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Give a service account a new secret (shown once); its old tokens stop working."""
    opts = options()
    api = client()
    try:
        account = _service_account(api, name)
        result = api.post(f"/api/v1/service-accounts/{account['id']}/secret")
    finally:
        api.close()
    if opts.output in (Format.json, Format.yaml):
        emit(result, opts)
    else:
        print(f"client secret: {result.get('clientSecret')}   (shown once: keep it now)")


def sa_delete(
    name: Annotated[str, typer.Argument(help="Name or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a service account (asks unless --yes)."""
    api = client()
    try:
        account = _service_account(api, name)
        if not yes and not typer.confirm(f"Delete service account {account['name']}?"):
            raise CliError("not deleted")
        api.delete(f"/api/v1/service-accounts/{account['id']}")
    finally:
        api.close()
    _emit_result({"id": account["id"], "deleted": True}, f"Service account {name} deleted.")


command(service_account_app, "create", example="nimplane service-account create ci")(sa_create)
command(service_account_app, "list", example="nimplane service-account list")(sa_list)
command(
    service_account_app,
    "regenerate-secret",
    example="nimplane service-account regenerate-secret ci",
)(sa_regenerate)
command(service_account_app, "delete", example="nimplane service-account delete ci --yes")(
    sa_delete
)


# --- access rules --------------------------------------------------------------------------


def _role_id(api: Client, role: str) -> int:
    if role.lstrip("-").isdigit():
        return int(role)
    for r in api.get("/api/v1/authorization/roles"):
        if str(r.get("name")).lower() == role.lower():
            return int(r["id"])
    raise CliError(f"role {role} not found (see GET /api/v1/authorization/roles)", Exit.NOT_FOUND)


def _scope_id(api: Client, scope_type: str, scope: str | None) -> str:
    if scope_type in ("project", "department"):
        if scope is None:
            raise typer.BadParameter(f"a {scope_type} scope needs --scope", param_hint="--scope")
        return str(resolve.org_unit(api, f"{scope_type}s", scope)["id"])
    if scope is not None:
        return scope
    if scope_type == "cluster":
        return str(api.get("/api/v1/clusters")[0]["uuid"])
    return "1"  # the tenant


def rule_create(
    subject: Annotated[str, typer.Option(help="Username or service account client id.")],
    role: Annotated[str, typer.Option(help="Role name (e.g. 'ML engineer') or id.")],
    scope_type: Annotated[
        str, typer.Option(help="tenant, cluster, department or project.")
    ] = "project",
    scope: Annotated[
        str | None, typer.Option(help="The department or project (name or id).")
    ] = None,
    subject_type: Annotated[str, typer.Option(help="service-account or user.")] = "service-account",
) -> None:
    """Give a subject a role in a scope."""
    api = client()
    try:
        body = {
            "subjectId": subject,
            "subjectType": subject_type,
            "roleId": _role_id(api, role),
            "scopeType": scope_type,
            "scopeId": _scope_id(api, scope_type, scope),
        }
        created = api.post("/api/v1/authorization/access-rules", body)
    finally:
        api.close()
    _emit_result(created, f"Access rule {created.get('id')} created.")


def rule_list(
    subject: Annotated[str | None, typer.Option(help="Only this subject's rules.")] = None,
) -> None:
    """List access rules."""
    opts = options()
    api = client()
    try:
        params: Json = {"limit": 500}
        if subject is not None:
            params["subjectIds"] = subject
        rules = api.get("/api/v1/authorization/access-rules", **params).get("accessRules", [])
    finally:
        api.close()
    table = Table(["ID", "SUBJECT", "TYPE", "ROLE", "SCOPE"])
    for r in rules:
        table.rows.append(
            [
                str(r["id"]),
                r["subjectId"],
                r["subjectType"],
                cell(r.get("roleName")),
                f"{r.get('scopeType')}/{r.get('scopeName') or r.get('scopeId')}",
            ]
        )
    emit(rules, opts, table)


def rule_delete(rule_id: Annotated[int, typer.Argument(help="The rule's id.")]) -> None:
    """Delete an access rule."""
    api = client()
    try:
        api.delete(f"/api/v1/authorization/access-rules/{rule_id}")
    finally:
        api.close()
    _emit_result({"id": rule_id, "deleted": True}, f"Access rule {rule_id} deleted.")


command(
    access_rule_app,
    "create",
    example="nimplane access-rule create --subject ci --role 'ML engineer' --scope team-a",
)(rule_create)
command(access_rule_app, "list", example="nimplane access-rule list --subject ci")(rule_list)
command(access_rule_app, "delete", example="nimplane access-rule delete 7")(rule_delete)


# --- audit log -----------------------------------------------------------------------------


def audit_log(
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
) -> None:
    """The audit trail of authenticated changes, newest first."""
    opts = options()
    api = client()
    try:
        entries = api.get("/api/v1/audit-logs", limit=limit, offset=offset).get("auditLogs", [])
    finally:
        api.close()
    table = Table(["TIME", "SUBJECT", "ACTION", "ENTITY", "STATUS"], wide=["URL"])
    for e in entries:
        table.rows.append(
            [
                str(e.get("timestamp")),
                cell(e.get("subject")),
                e.get("action", "-"),
                f"{e.get('entityType')}/{e.get('entityName') or e.get('entityId') or '-'}",
                str(e.get("statusCode")),
                e.get("url", ""),
            ]
        )
    emit(entries, opts, table)
