"""Reading the config file: settings, the strict `organisation:` and `simulator:` sections
(a typo is an error that names it), the node inventory, and `nimplane serve --config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from nimplane.backends.simulated import default_nodes
from nimplane.cli import main as cli
from nimplane.config_file import NodeGroupConfig, SimulatorConfig
from nimplane.domain.cluster import Taint
from nimplane.settings import Settings

ORGANISATION = """
organisation:
  nodePools:
    - {name: a100, labelKey: nimplane.io/gpu, labelValue: a100}
  departments:
    - name: research
      resources:
        - {nodePool: a100, gpu: {deserved: 4, overQuotaWeight: 2}}
  projects:
    - {name: llm, department: research}
  users:
    - {username: alice, passwordFromEnv: ALICE_PASSWORD}
  accessRules:
    - {subjectType: user, subjectId: alice, roleName: ML engineer,
       scopeType: project, scopeName: llm}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nimplane.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("server:\n  port: 9001\n" + ORGANISATION, id="server-section"),
        pytest.param("port: 9001\n" + ORGANISATION, id="top-level-settings"),
    ],
)
def test_the_file_gives_settings_and_the_organisation(tmp_path: Path, text: str) -> None:
    settings = cli.load_settings(write(tmp_path, text), host="0.0.0.0")
    assert (settings.port, settings.host) == (9001, "0.0.0.0")
    organisation = settings.organisation
    assert [d.name for d in organisation.departments] == ["research"]
    quota = organisation.departments[0].resources
    assert quota is not None
    assert quota[0].pool_quota().gpu is not None
    assert quota[0].pool_quota().gpu.over_quota_weight == 2  # type: ignore[union-attr]
    assert organisation.projects[0].department == "research"
    assert organisation.users[0].password_from_env == "ALICE_PASSWORD"
    assert organisation.access_rules[0].role_name == "ML engineer"


RULE = "{subjectType: user, subjectId: a, roleName: %s, scopeType: %s}"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param(
            "organisation:\n  departments:\n    - {name: d, resources: [{gpu: {deserveed: 1}}]}",
            "deserveed",
            id="typo-in-a-quota",
        ),
        pytest.param("organization:\n  departments: []", "organization", id="unknown-section"),
        pytest.param("server:\n  prot: 1\n", "server.prot", id="unknown-setting"),
        pytest.param(
            "organisation:\n  accessRules:\n    - " + RULE % ("ML Engineer", "tenant"),
            "unknown role 'ML Engineer'",
            id="unknown-role",
        ),
        pytest.param(
            "organisation:\n  accessRules:\n    - " + RULE % ("Viewer", "department"),
            "a department scope needs scopeName",
            id="scope-without-name",
        ),
        pytest.param(
            "organisation:\n  accessRules:\n    - " + RULE % ("Viewer", "system"),
            "scopeType",
            id="system-scope",
        ),
        pytest.param(
            "organisation:\n  users:\n    - {username: a, password: x1234567, passwordFromEnv: P}",
            "give exactly one of password and passwordFromEnv",
            id="two-passwords",
        ),
        pytest.param(
            "organisation:\n  serviceAccounts:\n    - {name: ci}",
            "give exactly one of secret and secretFromEnv",
            id="no-secret",
        ),
        pytest.param(
            "organisation:\n  departments:\n    - {name: d}\n    - {name: d}",
            "departments named more than once: d",
            id="duplicate-department",
        ),
        pytest.param(
            "organisation:\n  departments:\n    - {name: d, resources: [{memory: {deserved: 1}}]}",
            "units",
            id="memory-without-units",
        ),
        pytest.param(
            "simulator:\n  nodes:\n    - {gpuMemory: lots}",
            "'lots' is not a Kubernetes quantity",
            id="bad-quantity",
        ),
        pytest.param(
            "simulator:\n  nodes:\n    - {count: 2}\n    - {count: 1}",
            "nodes named more than once: sim-node-0",
            id="duplicate-node-names",
        ),
        pytest.param(
            "simulator:\n  nodes:\n    - {taints: [{key: k, effect: Sometimes}]}",
            "effect",
            id="bad-taint-effect",
        ),
    ],
)
def test_an_invalid_file_is_refused_naming_the_field(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(typer.BadParameter) as refused:
        cli.load_settings(write(tmp_path, text))
    assert named in str(refused.value)


def test_the_default_inventory_is_four_nodes_of_eight_h100() -> None:
    assert Settings().simulator.inventory() == default_nodes()
    assert sum(n.gpu_count for n in default_nodes()) == 32


def test_a_node_group_is_count_alike_nodes() -> None:
    group = NodeGroupConfig.model_validate(
        {
            "count": 2,
            "namePrefix": "a100",
            "gpus": 4,
            "gpuMemory": "40Gi",
            "cpu": "64000m",
            "memory": "512Gi",
            "labels": {"pool": "a100"},
            "taints": [{"key": "nvidia.com/gpu", "value": "x", "effect": "NoExecute"}],
        }
    )
    nodes = SimulatorConfig(nodes=[group]).inventory()
    assert [n.name for n in nodes] == ["a100-0", "a100-1"]
    node = nodes[1]
    assert (node.gpu_count, node.gpu_memory_mib, node.cpu_millicores, node.memory_mib) == (
        4,
        40 * 1024,
        64_000,
        512 * 1024,
    )
    assert node.labels == {"kubernetes.io/hostname": "a100-1", "pool": "a100"}
    assert node.taints == (Taint("nvidia.com/gpu", "x", "NoExecute"),)


class Closable:
    def close(self) -> None:
        pass


def test_serve_reads_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nimplane serve --config FILE` hands the file's settings and sections to the app (the
    server itself is not started)."""
    import uvicorn

    import nimplane.api.app
    import nimplane.wiring

    built: list[Settings] = []

    def build_state(settings: Settings) -> Closable:
        built.append(settings)
        return Closable()

    monkeypatch.setattr(nimplane.wiring, "build_state", build_state)
    monkeypatch.setattr(nimplane.api.app, "create_app", lambda s, state, run_workers: "app")
    monkeypatch.setenv("NIMPLANE_BACKGROUND_PROCESS", "false")  # the stub state runs no loops
    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: ran.append(kwargs))
    path = write(tmp_path, "server:\n  port: 9001\n" + ORGANISATION)
    result = CliRunner().invoke(cli.app, ["serve", "--config", str(path), "--port", "9002"])
    assert result.exit_code == 0, result.output
    assert ran[0]["port"] == 9002  # a flag wins over the file
    assert [p.name for p in built[0].organisation.node_pools] == ["a100"]

    bad = write(tmp_path, "organisation:\n  projects:\n    - {name: p, departmnet: d}\n")
    result = CliRunner().invoke(cli.app, ["serve", "--config", str(bad)])
    assert result.exit_code == 2
    assert "departmnet" in result.output


def test_serve_fails_at_once_on_an_organisation_it_cannot_apply(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"server:\n  data_dir: {tmp_path / 'data'}\n"
        "organisation:\n  projects:\n    - {name: p, department: nope}\n",
    )
    result = CliRunner().invoke(cli.app, ["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2
    assert "projects[0] 'p': department 'nope' does not exist" in result.output
