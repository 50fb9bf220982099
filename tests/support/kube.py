"""A real kube-apiserver for the tests: started and stopped with the shared script
`../shared/k8s/kube-apiserver.sh` (etcd + kube-apiserver on 127.0.0.1, nothing else of a
cluster), the CRDs of `../shared/crds/` installed and Established, and a client configuration
for the official `kubernetes` Python client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SCRIPT = SHARED / "k8s" / "kube-apiserver.sh"
CRD_COMPAT = SHARED / "k8s" / "crd_compat.py"
CRD_DIR = SHARED / "crds"

# The switch that turns the kube tests off (scripts/test reads it too).
SWITCH = "NIMPLANE_TEST_KUBE"
# How long `up` may take with the binary cached (about 8 s on 2 cores), and the CRDs to be
# Established: limits for a broken server, not timings a test depends on.
UP_TIMEOUT_S = 600
ESTABLISHED_TIMEOUT_S = 120
# The field manager nimplane applies with.
FIELD_MANAGER = "nimplane"
APPLY_PATCH = "application/apply-patch+yaml"


def enabled() -> bool:
    """False when the kube tests are switched off (`NIMPLANE_TEST_KUBE=0`)."""
    return os.environ.get(SWITCH, "1") != "0"


class KubeStartError(RuntimeError):
    """The script could not build or start the server: the tests that need it must fail."""


@dataclass(frozen=True)
class KubeServer:
    """One running etcd + kube-apiserver, its kubeconfig and what it supports."""

    run_dir: Path
    kubeconfig: Path
    configuration: client.Configuration
    version: tuple[int, int]

    @property
    def evaluates_cel(self) -> bool:
        """CRD CEL rules (x-kubernetes-validations) are enforced: GA in 1.29, on by default
        since 1.25; an older server is loaded with them dropped (crd_compat.py)."""
        return self.version >= (1, 25)

    @property
    def strict_field_validation(self) -> bool:
        """`fieldValidation=Strict` refuses unknown fields (on by default since 1.25); an
        older server ignores the parameter and prunes unknown fields silently."""
        return self.version >= (1, 25)

    def api_client(self) -> client.ApiClient:
        return client.ApiClient(self.configuration)


def _script_env(run_dir: Path) -> dict[str, str]:
    return {**os.environ, "NIMPLANE_K8S_RUN": str(run_dir)}


def start(run_dir: Path) -> KubeServer:
    """`kube-apiserver.sh up` with its state in `run_dir` (so parallel runs don't collide);
    builds the server first if it is not cached yet."""
    if not SCRIPT.is_file():
        raise KubeStartError(f"{SCRIPT} is missing: the repository must sit beside shared/")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), "up"],
            env=_script_env(run_dir),
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stop(run_dir)
        raise KubeStartError(f"kube-apiserver.sh up took over {UP_TIMEOUT_S} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        stop(run_dir)
        tail = "\n".join(done.stderr.strip().splitlines()[-30:])
        raise KubeStartError(f"kube-apiserver.sh up failed ({done.returncode}):\n{tail}")
    kubeconfig = Path(lines[-1])
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        info = client.VersionApi(api).get_code()
    return KubeServer(run_dir, kubeconfig, configuration, _version(info.major, info.minor))


def stop(run_dir: Path) -> None:
    """`kube-apiserver.sh down`: stops the etcd and kube-apiserver started in `run_dir`."""
    subprocess.run(
        ["bash", str(SCRIPT), "down"], env=_script_env(run_dir), capture_output=True, check=False
    )


def _version(major: str, minor: str) -> tuple[int, int]:
    # minor may carry a suffix ("20+" on some distributions)
    return int(major.rstrip("+")), int(minor.rstrip("+"))


def crd_documents(server: KubeServer, work_dir: Path) -> list[dict[str, Any]]:
    """The CRDs of ../shared/crds/, made loadable by the server: on a server that refuses CEL
    rules and empty-string defaults, through crd_compat.py (which drops them)."""
    documents: list[dict[str, Any]] = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        source = path
        if not server.evaluates_cel:
            source = work_dir / path.name
            subprocess.run(
                [sys.executable, str(CRD_COMPAT), str(path), str(source)],
                capture_output=True,
                check=True,
            )
        documents.extend(d for d in yaml.safe_load_all(source.read_text()) if d)
    return documents


def install_crds(server: KubeServer, work_dir: Path) -> list[str]:
    """Install every CRD and wait until each is Established; returns their names.

    A current server takes them by server-side apply; 1.20 by create (server-side apply is
    beta there, and the NIMService CRD is too big for client-side apply's annotation)."""
    documents = crd_documents(server, work_dir)
    names = [d["metadata"]["name"] for d in documents]
    with server.api_client() as api:
        crds = client.ApiextensionsV1Api(api)
        for document in documents:
            if server.version >= (1, 22):
                crds.patch_custom_resource_definition(
                    document["metadata"]["name"],
                    document,
                    field_manager=FIELD_MANAGER,
                    force=True,
                    _content_type=APPLY_PATCH,
                )
            else:
                crds.create_custom_resource_definition(document)
        _wait_established(crds, set(names))
    return names


def _wait_established(crds: client.ApiextensionsV1Api, names: set[str]) -> None:
    """Watch the CRDs until every one in `names` has condition Established=True."""
    pending = set(names)
    stream: Iterator[dict[str, Any]] = watch.Watch().stream(
        crds.list_custom_resource_definition, timeout_seconds=ESTABLISHED_TIMEOUT_S
    )
    for event in stream:
        crd = event["object"]
        conditions = (crd.status and crd.status.conditions) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            pending.discard(crd.metadata.name)
        if not pending:
            return
    raise KubeStartError(f"CRDs not Established after {ESTABLISHED_TIMEOUT_S} s: {pending}")


class PausedServer:
    """A kube-apiserver killed while its etcd keeps running, to be started again with the
    same command line (same address, certificates and data): an outage, not a new cluster.
    Killed, not terminated: a crash is the outage to survive, and a graceful stop waits a
    minute for the open watches to drain."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._pid_file = run_dir / "kube-apiserver.pid"
        pid = int(self._pid_file.read_text().strip())
        self._argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # not our child when the script started it: poll instead
        except ChildProcessError:
            _wait_gone(pid)

    def resume(self) -> None:
        """Start the same kube-apiserver again (readiness is the caller's to wait for)."""
        log = (self.run_dir / "kube-apiserver.log").open("ab")
        process = subprocess.Popen(
            [a.decode() for a in self._argv], stdout=log, stderr=log, start_new_session=True
        )
        self._pid_file.write_text(f"{process.pid}\n")


def _wait_gone(pid: int) -> None:
    from tests.support.waiting import wait_until

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_until(gone, f"kube-apiserver {pid} stopped")
