"""`nimplane inference nim ...`: Run:ai's NIM commands over nimplane's HTTP API."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml

from nimplane.cli import resolve
from nimplane.cli.client import Client, CliError, Exit
from nimplane.cli.common import client, command, options, resolved_signature
from nimplane.cli.flags import (
    SpecFlags,
    build_spec,
    create_issues,
    flag_rules,
    update_issues,
)
from nimplane.cli.forward import PortForward
from nimplane.cli.output import (
    Format,
    Table,
    age,
    cell,
    console,
    emit,
    error,
    is_tty,
    message,
    render_table,
)
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.requests import NimServiceSpecField

Json = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

inference_app = typer.Typer(help="Inference workloads.")
nim_app = typer.Typer(help="NVIDIA NIM services (Run:ai's `runai inference nim`).")
inference_app.add_typer(nim_app, name="nim")

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project name or id (default: the context's)."),
]
NameArg = Annotated[str, typer.Argument(help="The NIM service's name (or its id).")]

POLL_SECONDS = 1.0
TERMINAL = {"Running": Exit.OK, "Failed": Exit.ERROR}


# --- the spec flags, shared by submit and update -------------------------------------------


def _opt(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_SPEC_PARAMS = [
    _opt("image", Annotated[str | None, typer.Option("--image", "-i", help="Container image.")]),
    _opt(
        "image_pull_policy",
        Annotated[str | None, typer.Option(help="Always, IfNotPresent or Never.")],
    ),
    _opt(
        "image_pull_secrets",
        Annotated[
            list[str] | None,
            typer.Option("--image-pull-secret", help="Image pull secret name; repeatable."),
        ],
    ),
    _opt("ngc_auth_secret", Annotated[str | None, typer.Option(help="Secret with the NGC key.")]),
    _opt(
        "gpu_devices_request",
        Annotated[int | None, typer.Option("--gpu-devices-request", "-g", help="Whole GPUs.")],
    ),
    _opt("gpu_portion_request", Annotated[float | None, typer.Option(help="GPU fraction (0-1).")]),
    _opt("gpu_portion_limit", Annotated[float | None, typer.Option(help="GPU fraction limit.")]),
    _opt("gpu_memory_request", Annotated[str | None, typer.Option(help="GPU memory (e.g. 20Gi).")]),
    _opt("gpu_memory_limit", Annotated[str | None, typer.Option(help="GPU memory limit.")]),
    _opt("gpu_request_type", Annotated[str | None, typer.Option(help="portion or memory.")]),
    _opt("cpu_core_request", Annotated[float | None, typer.Option(help="CPU cores.")]),
    _opt("cpu_core_limit", Annotated[float | None, typer.Option(help="CPU core limit.")]),
    _opt("cpu_memory_request", Annotated[str | None, typer.Option(help="Memory (e.g. 16Gi).")]),
    _opt("cpu_memory_limit", Annotated[str | None, typer.Option(help="Memory limit.")]),
    _opt(
        "env",
        Annotated[
            list[str] | None,
            typer.Option("--environment-variable", "-e", help="NAME=VALUE; repeatable."),
        ],
    ),
    _opt(
        "env_secret",
        Annotated[
            list[str] | None,
            typer.Option(help="ENV_VARIABLE=SECRET_NAME,key=KEY (from a secret); repeatable."),
        ],
    ),
    _opt(
        "env_configmap",
        Annotated[
            list[str] | None,
            typer.Option(help="ENV_VARIABLE=CONFIGMAP,key=KEY (from a config map); repeatable."),
        ],
    ),
    _opt("model_nim_cache", Annotated[str | None, typer.Option(help="name=CACHE,[profile=P]")]),
    _opt("model_existing_pvc", Annotated[str | None, typer.Option(help="claimname=CLAIM")]),
    _opt(
        "model_new_pvc",
        Annotated[
            str | None,
            typer.Option(
                help="[claimname=C],size=SIZE,[storageclass=S],[accessmode-rwo|rwm|rom],[ro]"
            ),
        ],
    ),
    _opt(
        "serving_port",
        Annotated[
            str | None,
            typer.Option(
                help="PORT, or port=P,[grpc-port=],[metrics-port=],[expose-externally],"
                "[exposed-url=],[exposed-protocol=http|grpc],[service-type=]"
            ),
        ],
    ),
    _opt(
        "readiness_probe",
        Annotated[
            str | None,
            typer.Option(
                help="port=P,[path=],[scheme=],[initial-delay=],[period=],[timeout=],"
                "[success=],[failure=]"
            ),
        ],
    ),
    _opt("replicas", Annotated[int | None, typer.Option(help="Fixed number of replicas.")]),
    _opt("min_replicas", Annotated[int | None, typer.Option(help="Autoscaling floor.")]),
    _opt("max_replicas", Annotated[int | None, typer.Option(help="Autoscaling ceiling.")]),
    _opt("metric", Annotated[str | None, typer.Option(help="Autoscaling metric.")]),
    _opt("metric_threshold", Annotated[int | None, typer.Option(help="Metric target.")]),
    _opt(
        "scale_window_seconds",
        Annotated[int | None, typer.Option(help="Autoscaler look-back (s).")],
    ),
    _opt("workers", Annotated[int | None, typer.Option(help="Worker pods per leader.")]),
    _opt(
        "node_pools",
        Annotated[
            list[str] | None,
            typer.Option("--node-pools", help="Node pool, in order of preference; repeatable."),
        ],
    ),
    _opt("priority", Annotated[str | None, typer.Option(help="very-low ... very-high.")]),
    _opt(
        "preemptibility",
        Annotated[str | None, typer.Option(help="preemptible or non-preemptible.")],
    ),
    _opt("category", Annotated[str | None, typer.Option(help="Workload category.")]),
    _opt(
        "tolerations",
        Annotated[
            list[str] | None,
            typer.Option(
                "--toleration",
                help="operator=Equal|Exists,key=K,[value=],[effect=],[seconds=]; repeatable.",
            ),
        ],
    ),
    _opt(
        "labels",
        Annotated[list[str] | None, typer.Option("--label", help="KEY=VALUE; repeatable.")],
    ),
    _opt(
        "annotations",
        Annotated[list[str] | None, typer.Option("--annotation", help="KEY=VALUE; repeatable.")],
    ),
    _opt("run_as_uid", Annotated[int | None, typer.Option(help="UID of the container process.")]),
    _opt("run_as_gid", Annotated[int | None, typer.Option(help="GID of the container process.")]),
]


def with_spec_flags(fn: F) -> F:
    """Add the spec flags to `fn`'s signature; `fn` gets them as `flags: SpecFlags`."""
    signature = resolved_signature(fn)
    names = [p.name for p in _SPEC_PARAMS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **values: Any) -> Any:
        given: dict[str, Any] = {name: values.pop(name) for name in names}
        for name in _LIST_FLAGS:  # a repeatable flag not given is an empty list
            given[name] = given[name] or []
        flags = SpecFlags(**given)
        return fn(*args, flags=flags, **values)

    params = [p for p in signature.parameters.values() if p.name != "flags"]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params, *_SPEC_PARAMS]
    )
    hints = {p.name: p.annotation for p in params}
    wrapper.__annotations__ = {**hints, **{p.name: p.annotation for p in _SPEC_PARAMS}}
    return wrapper  # type: ignore[return-value]


_LIST_FLAGS = {
    "image_pull_secrets",
    "env",
    "env_secret",
    "env_configmap",
    "node_pools",
    "tolerations",
    "labels",
    "annotations",
}


def _refuse(issues: list[ComplianceIssue]) -> None:
    """Stop before sending when the flags or the spec break a rule: one line per violation
    (a rule the flags broke is not repeated in the domain's words)."""
    by_flags = [i.field for i in issues if not i.field.startswith(("spec.", "metadata."))]
    issues = [
        i
        for i in issues
        if not i.field.startswith("spec.")
        or not any(i.field.removeprefix("spec.").startswith(f) for f in by_flags)
    ]
    if issues:
        raise CliError(
            "invalid spec (nothing was sent):",
            Exit.USAGE,
            [f"{issue.field}: {issue.details}" for issue in issues],
        )


def _load_file(file: Path) -> Json:
    try:
        loaded = yaml.safe_load(file.read_text())  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="-f") from exc
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{file} must hold an object", param_hint="-f")
    return loaded


# --- submit --------------------------------------------------------------------------------


@with_spec_flags
def submit(
    name: Annotated[
        str | None, typer.Argument(help="The NIM service's name (or metadata.name of -f).")
    ] = None,
    project: ProjectOpt = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="YAML or JSON in the API's shape ({metadata, spec} or a spec)."
        ),
    ] = None,
    use_name_as_prefix: Annotated[
        bool, typer.Option(help="Add a generated suffix to the name.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate on the server; create nothing.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until Running or Failed.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 600.0,
    *,
    flags: SpecFlags,
) -> None:
    """Submit a NIM service, from Run:ai's flags or a file (flags override its sections)."""
    opts = options()
    base: Json = _load_file(file) if file is not None else {}
    spec: Json = (
        dict(base["spec"])
        if isinstance(base.get("spec"), dict)
        else ({} if "metadata" in base else dict(base))
    )
    metadata: Json = dict(base.get("metadata") or {})
    issues = flag_rules(flags, submit=file is None)
    spec.update(build_spec(flags))
    if name is not None:
        metadata["name"] = name
    if "name" not in metadata:
        raise typer.BadParameter("give the NIM service's name", param_hint="NAME")
    if use_name_as_prefix:
        metadata["useGivenNameAsPrefix"] = True
    api = client()
    try:
        if project is not None or "projectId" not in metadata:
            metadata["projectId"] = str(resolve.project(api, project)["id"])
        body = {"metadata": metadata, "spec": spec}
        _refuse(issues + create_issues(body))
        if dry_run:
            _dry_run(api, body)
            return
        response = api.request("POST", "/api/v2/workloads/nim-services", json=body)
        created = response.json()
        warning = response.headers.get("warning")
        if warning and not opts.quiet:
            print(f"warning: {warning}", file=sys.stderr)
        workload_id = created["metadata"]["id"]
        if opts.output in (Format.json, Format.yaml):
            emit(created, opts)
        else:
            message(
                opts, f"NIM service {created['metadata']['name']} submitted (id {workload_id})."
            )
        if wait:
            raise typer.Exit(int(_wait(api, workload_id, timeout)))
    finally:
        api.close()


def _dry_run(api: Client, body: Json) -> None:
    """`?dryRun=true`, only where the server documents it (a server that ignored the
    parameter would create the workload)."""
    opts = options()
    document = api.request("GET", "/openapi.json").json()
    operation = document.get("paths", {}).get("/api/v2/workloads/nim-services", {}).get("post", {})
    if not any(p.get("name") == "dryRun" for p in operation.get("parameters", [])):
        raise CliError(f"the server at {api.context.url} does not support --dry-run")
    try:
        response = api.request(
            "POST", "/api/v2/workloads/nim-services", json=body, params={"dryRun": "true"}
        )
    except CliError as exc:
        if exc.lines:
            raise
        raise CliError(f"the server refused --dry-run: {exc.message}") from exc
    result = response.json()
    if opts.output in (Format.json, Format.yaml):
        emit(result, opts)
    elif not opts.quiet:
        message(opts, "Valid (dry run: nothing was created).")
        workload = result.get("workload", result) if isinstance(result, dict) else result
        manifests = result.get("manifests", []) if isinstance(result, dict) else []
        print("# the NIM service as it would be created")
        print(yaml.safe_dump(workload, sort_keys=False), end="")
        for manifest in manifests:  # what would be applied on Kubernetes, in order
            print("---")
            print(yaml.safe_dump(manifest, sort_keys=False), end="")


def _wait(api: Client, workload_id: str, timeout: float) -> Exit:
    """Poll the phase until Running (0), Failed (1) or `timeout` seconds (4)."""
    opts = options()
    deadline = time.monotonic() + timeout
    live = is_tty() and not opts.quiet
    status = console().status("waiting") if live else None
    last = None
    try:
        if status is not None:
            status.start()
        while True:
            workload = api.get(f"/api/v1/workloads/{workload_id}")
            phase = workload.get("phase")
            line = f"{workload.get('name')}: {phase} {workload.get('phaseMessage') or ''}".strip()
            if status is not None:
                status.update(line)
            elif line != last and opts.verbose:
                print(line, file=sys.stderr)
            last = line
            if phase in TERMINAL:
                if status is not None:
                    status.stop()
                    status = None
                message(opts, line)
                return TERMINAL[phase]
            if time.monotonic() >= deadline:
                if status is not None:
                    status.stop()
                    status = None
                error(f"timed out after {timeout:.0f} s waiting for Running: {line}")
                return Exit.TIMEOUT
            time.sleep(POLL_SECONDS)
    finally:
        if status is not None:
            status.stop()


# --- update, scale -------------------------------------------------------------------------


@with_spec_flags
def update(
    name: NameArg,
    project: ProjectOpt = None,
    remove: Annotated[
        list[NimServiceSpecField] | None,
        typer.Option("--remove", help="Remove a spec section (e.g. autoscaling); repeatable."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="YAML or JSON spec sections to replace.")
    ] = None,
    *,
    flags: SpecFlags,
) -> None:
    """Update a NIM service: each section given replaces the stored one whole (Run:ai's
    overwrite semantics: `-e A=1` leaves A as the only variable)."""
    opts = options()
    base = _load_file(file) if file is not None else {}
    spec: Json = dict(base.get("spec", base))
    spec.update(build_spec(flags))
    issues = flag_rules(flags, submit=False)
    removed = [r.value for r in remove or []]
    if not spec and not removed:
        raise typer.BadParameter("nothing to update: give a flag, -f or --remove")
    body: Json = {"spec": spec}
    if removed:
        body["fieldsToRemove"] = removed
    _refuse(issues + update_issues(body))
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        updated = api.request(
            "PATCH", f"/api/v2/workloads/nim-services/{workload['id']}", json=body
        ).json()
        if opts.output in (Format.json, Format.yaml):
            emit(updated, opts)
        else:
            message(opts, f"NIM service {workload['name']} updated.")
    finally:
        api.close()


def scale(
    name: NameArg,
    replicas: Annotated[int, typer.Option(help="Number of replicas (required).")],
    project: ProjectOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Turn autoscaling off to set a fixed count.")
    ] = False,
) -> None:
    """Set a fixed number of replicas (refused while autoscaling is on, unless --force)."""
    opts = options()
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        path = f"/api/v2/workloads/nim-services/{workload['id']}"
        current = api.get(path)
        body: Json = {"spec": {"replicas": replicas}}
        scaling = current.get("spec", {}).get("autoscaling")
        if scaling:
            if not force:
                raise CliError(
                    f"{workload['name']} is autoscaled ({scaling.get('minReplicas')}-"
                    f"{scaling.get('maxReplicas')} replicas): pass --force to turn autoscaling "
                    "off and set a fixed count",
                    Exit.USAGE,
                )
            body["fieldsToRemove"] = ["autoscaling"]
        updated = api.request("PATCH", path, json=body).json()
        if opts.output in (Format.json, Format.yaml):
            emit(updated, opts)
        else:
            message(opts, f"NIM service {workload['name']} scaled to {replicas} replica(s).")
    finally:
        api.close()


# --- list, describe ------------------------------------------------------------------------


def _wanted(spec: Json) -> str:
    scaling = spec.get("autoscaling")
    if scaling:
        return f"{scaling.get('minReplicas', 1)}-{scaling.get('maxReplicas', '?')}"
    return str(spec.get("replicas", 1))


def _list_table(api: Client, workloads: list[Json]) -> Table:
    table = Table(
        ["NAME", "PROJECT", "PHASE", "READY", "GPUS", "URL", "AGE"],
        wide=["ID", "IMAGE", "NODE POOLS", "PREEMPTIBLE"],
    )
    for w in workloads:
        try:
            spec = api.get(f"/api/v2/workloads/nim-services/{w['id']}").get("spec", {})
        except CliError:
            spec = {}
        gpus = (w.get("allocatedResources") or {}).get("gpu")
        table.rows.append(
            [
                w["name"],
                w.get("projectName", "-"),
                w.get("phase", "-"),
                f"{w.get('runningPods', 0)}/{_wanted(spec)}",
                cell(gpus),
                cell(w.get("urls")),
                age(w.get("createdAt")),
                w["id"],
                cell(w.get("images")),
                cell(w.get("currentNodePools") or w.get("requestedNodePools")),
                cell(w.get("preemptible")),
            ]
        )
    return table


def list_services(
    project: ProjectOpt = None,
    all_projects: Annotated[
        bool, typer.Option("--all-projects", "-A", "--all", help="Every project.")
    ] = False,
    phase: Annotated[
        str | None, typer.Option("--phase", "--status", help="Only this phase (e.g. Running).")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Print again on change.")] = False,
    watch_count: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """List NIM services: name, project, phase, ready/wanted replicas, GPUs, URL, age."""
    opts = options()
    api = client()
    try:
        filters = ["type==NIMService"]  # the list endpoint holds every workload type
        if not all_projects:
            filters.append(f"projectId=={resolve.project(api, project)['id']}")
        if phase:
            filters.append(f"phase=={phase}")
        params = {"filterBy": ",".join(filters), "sortBy": "name", "limit": 500}
        shown = None
        count = 0
        while True:
            workloads = api.get("/api/v1/workloads", **params).get("workloads", [])
            table = _list_table(api, workloads)
            key = json.dumps([row[:5] for row in table.rows])
            if key != shown:
                if shown is not None and opts.output is Format.table and is_tty():
                    print()
                emit(workloads, opts, table)
                shown = key
            count += 1
            if not watch or (watch_count is not None and count >= watch_count):
                return
            time.sleep(POLL_SECONDS * 2)
    finally:
        api.close()


def describe(name: NameArg, project: ProjectOpt = None) -> None:
    """Show a NIM service: spec, phase and conditions, pods (node, GPUs), pending reasons,
    events, URL."""
    opts = options()
    api = client()
    try:
        wid = resolve.workload(api, name, project)["id"]
        workload = api.get(f"/api/v1/workloads/{wid}")  # detailed: with pending reasons
        nim = api.get(f"/api/v2/workloads/nim-services/{wid}")
        pods = api.get(f"/api/v1/workloads/{wid}/pods").get("pods", [])
        events = api.get(f"/api/v1/workloads/{wid}/events", limit=50).get("events", [])
    finally:
        api.close()
    data = {"workload": workload, "nimService": nim, "pods": pods, "events": events}
    if opts.output in (Format.json, Format.yaml):
        emit(data, opts)
        return
    out = [
        f"Name:         {workload['name']}",
        f"Id:           {wid}",
        f"Project:      {workload.get('projectName')}",
        f"Phase:        {workload.get('phase')}  {workload.get('phaseMessage') or ''}".rstrip(),
        f"Desired:      {nim.get('desiredPhase')}",
        f"Replicas:     {workload.get('runningPods', 0)}/{_wanted(nim.get('spec', {}))} running",
        f"URL:          {cell(workload.get('urls'))}",
        f"Created:      {workload.get('createdAt')} by {workload.get('submittedBy')}",
        "Conditions:",
    ]
    for c in workload.get("conditions") or []:
        out.append(
            f"  {c.get('type')}={c.get('status')}  {c.get('reason') or ''} "
            f"{c.get('message') or ''}".rstrip()
        )
    pending = workload.get("pendingSchedulingMessages") or []
    if pending:
        out.append("Pending reasons:")
        out += [
            f"  {p.get('nodePool') or '-'}: {p.get('userMessage') or p.get('reason')}"
            for p in pending
        ]
    out.append("Spec:")
    out += [
        "  " + line for line in yaml.safe_dump(nim.get("spec", {}), sort_keys=False).splitlines()
    ]
    out.append("Pods:")
    pod_table = Table(["NAME", "NODE", "GPUS", "READY", "STATE", "RESTARTS"])
    for pod in pods:
        container = (pod.get("containers") or [{}])[0]
        pod_table.rows.append(
            [
                pod["name"],
                cell(pod.get("nodeName")),
                cell((pod.get("allocatedResources") or {}).get("gpu")),
                cell(pod.get("ready")),
                cell(container.get("state")),
                cell(container.get("restartCount")),
            ]
        )
    out += ["  " + line for line in render_rows(pod_table)] if pods else ["  (none)"]
    out.append("Events:")
    out += ["  " + line for line in render_rows(_events_table(events))] if events else ["  (none)"]
    print("\n".join(out))


def render_rows(table: Table) -> list[str]:
    return render_table(table, False).splitlines()


# --- stop, resume, delete ------------------------------------------------------------------


def _batch(name: str, project: str | None, action: str, done: str) -> None:
    opts = options()
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        result = api.post("/api/v1/workloads/batch", {"ids": [workload["id"]], "action": action})
    finally:
        api.close()
    for failure in result.get("failed", []):
        code = Exit.NOT_FOUND if failure.get("code") == 404 else Exit.ERROR
        raise CliError(f"{failure.get('code')}: {failure.get('message')}", code)
    if opts.output in (Format.json, Format.yaml):
        emit(result, opts)
    else:
        message(opts, f"NIM service {workload['name']} {done}.")


def stop(name: NameArg, project: ProjectOpt = None) -> None:
    """Stop a NIM service: its pods go, its spec and name stay."""
    _batch(name, project, "suspend", "stopping")


def resume(name: NameArg, project: ProjectOpt = None) -> None:
    """Resume a stopped NIM service."""
    _batch(name, project, "resume", "resuming")


def delete(
    name: NameArg,
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a NIM service (asks first unless --yes)."""
    opts = options()
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        if not yes and not typer.confirm(
            f"Delete NIM service {workload['name']} in project {workload.get('projectName')}?"
        ):
            raise CliError("not deleted")
        api.delete(f"/api/v2/workloads/{workload['id']}")
    finally:
        api.close()
    if opts.output in (Format.json, Format.yaml):
        emit({"id": workload["id"], "name": workload["name"], "deleted": True}, opts)
    else:
        message(opts, f"NIM service {workload['name']} deleted.")


# --- events, history -----------------------------------------------------------------------


def _events_table(events: list[Json]) -> Table:
    table = Table(["AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"])
    for e in events:
        involved = e.get("involvedObject") or {}
        table.rows.append(
            [
                age(e.get("createdAt")),
                e.get("type", "-"),
                cell(e.get("reason")),
                f"{involved.get('kind', '-')}/{involved.get('name', '-')}",
                e.get("message", ""),
            ]
        )
    return table


def events(
    name: NameArg,
    project: ProjectOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep printing new events.")] = False,
    watch_count: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """A NIM service's events, oldest first."""
    opts = options()
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        seen: set[str] = set()
        count = 0
        while True:
            listed = api.get(
                f"/api/v1/workloads/{workload['id']}/events", sortOrder="asc", limit=500
            ).get("events", [])
            new = [e for e in listed if json.dumps(e, sort_keys=True) not in seen]
            seen.update(json.dumps(e, sort_keys=True) for e in new)
            if new or count == 0:
                table = _events_table(new)
                if count and opts.output in (Format.table, Format.wide):
                    if table.rows:
                        print(render_table_body(table))
                else:
                    emit(new, opts, table)
            count += 1
            if not watch or (watch_count is not None and count >= watch_count):
                return
            time.sleep(POLL_SECONDS * 2)
    finally:
        api.close()


def render_table_body(table: Table) -> str:
    return "\n".join(render_rows(table)[1:])


def history(name: NameArg, project: ProjectOpt = None) -> None:
    """A NIM service's phase changes and events, oldest first."""
    opts = options()
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        records = api.get(f"/api/v1/workloads/{workload['id']}/history", limit=500).get(
            "records", []
        )
    finally:
        api.close()
    table = Table(["TIME", "KIND", "WHAT"])
    for record in records:
        meta, spec = record.get("meta", {}), record.get("spec", {})
        if spec.get("phaseUpdate"):
            update_ = spec["phaseUpdate"]
            what = f"{update_.get('phase')}  {update_.get('phaseMessage') or ''}".rstrip()
        else:
            event = spec.get("event") or {}
            what = f"{event.get('reason') or '-'}: {event.get('message', '')}"
        table.rows.append([str(meta.get("creationTimestamp")), str(meta.get("type")), what])
    emit(records, opts, table)


# --- logs, port-forward --------------------------------------------------------------------


def logs(
    name: NameArg,
    project: ProjectOpt = None,
    pod: Annotated[
        str | None, typer.Option("--pod", help="The pod (default: the service's first).")
    ] = None,
    tail: Annotated[
        int | None, typer.Option("--tail", min=0, help="Only the last N lines.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
) -> None:
    """A NIM service's container log (its NIM container, one pod), oldest first."""
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        path = f"/api/v2/workloads/nim-services/{workload['id']}/logs"
        lines = _log_lines(api, path, pod, tail)
        _print_lines(lines)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a follow
            while follow:
                time.sleep(POLL_SECONDS * 2)
                new = _after(_log_lines(api, path, pod, None), lines[-1] if lines else None)
                _print_lines(new)
                lines += new
    finally:
        api.close()


def _log_lines(api: Client, path: str, pod: str | None, tail: int | None) -> list[str]:
    params = {k: v for k, v in {"pod": pod, "tail": tail}.items() if v is not None}
    return api.request("GET", path, params=params).text.splitlines()


def _after(lines: list[str], last: str | None) -> list[str]:
    """The lines after the last one printed (all of them when it is gone: a new container)."""
    if last is None or last not in lines:
        return lines
    return lines[len(lines) - lines[::-1].index(last) :]


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line, flush=True)


def port_forward(
    name: NameArg,
    project: ProjectOpt = None,
    port: Annotated[
        str,
        typer.Option(
            help="The local port (LOCAL, or Run:ai's LOCAL:REMOTE: the service's serving port "
            "is always the one reached); 0 picks a free one."
        ),
    ] = "8000",
) -> None:
    """Forward http://127.0.0.1:LOCAL to a NIM service through nimplane (HTTP GET and POST,
    with this context's token) until Ctrl-C."""
    local, _, _remote = port.partition(":")
    if not local.isdigit() or int(local) > 65535:
        raise CliError(f"--port {port}: LOCAL must be a port number (0-65535)", Exit.USAGE)
    api = client()
    try:
        workload = resolve.workload(api, name, project)
        forwarder = PortForward(api, str(workload["id"]), int(local))
        print(f"Forwarding {forwarder.url} -> NIM service {workload['name']}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            forwarder.serve_forever()
    finally:
        api.close()


command(
    nim_app,
    "submit",
    example="nimplane inference nim submit llama -p team-a -i nvcr.io/nim/meta/llama-3.1-8b-"
    "instruct:1.3.3 --model-nim-cache name=llama-cache -g 1 --serving-port 8000 --wait",
)(submit)
command(nim_app, "update", example="nimplane inference nim update llama -e LOG_LEVEL=debug")(update)
command(nim_app, "scale", example="nimplane inference nim scale llama --replicas 3")(scale)
command(nim_app, "list", example="nimplane inference nim list -A -o wide")(list_services)
command(nim_app, "describe", example="nimplane inference nim describe llama -p team-a")(describe)
command(nim_app, "stop", example="nimplane inference nim stop llama")(stop)
command(nim_app, "resume", example="nimplane inference nim resume llama")(resume)
command(nim_app, "delete", example="nimplane inference nim delete llama --yes")(delete)
command(nim_app, "events", example="nimplane inference nim events llama --watch")(events)
command(nim_app, "history", example="nimplane inference nim history llama -o json")(history)
command(nim_app, "logs", example="nimplane inference nim logs llama --follow")(logs)
command(nim_app, "port-forward", example="nimplane inference nim port-forward llama --port 8000")(
    port_forward
)
