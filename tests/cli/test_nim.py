"""`nimplane inference nim ...` against a real server: output as text and `-o json`, exit codes
and the error paths (invalid spec, the server's 400, 404, 409, a refused --dry-run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nimplane.cli.client import Exit
from tests.cli.conftest import Cli
from tests.support.waiting import wait_until

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
BASE = ["-i", IMAGE, "--model-nim-cache", "name=llama-cache", "-g", "1"]


def submit(cli: Cli, name: str, *extra: str) -> dict[str, Any]:
    created: dict[str, Any] = cli.json("inference", "nim", "submit", name, *BASE, *extra)
    return created


def workload(cli: Cli, name: str) -> dict[str, Any]:
    described: dict[str, Any] = cli.json("inference", "nim", "describe", name)
    return described


def phase_is(cli: Cli, name: str, phase: str) -> bool:
    return bool(workload(cli, name)["workload"]["phase"] == phase)


def test_submit_wait_list_describe(cli: Cli) -> None:
    result = cli(
        "inference",
        "nim",
        "submit",
        "alpha",
        *BASE,
        "--serving-port",
        "8000",
        "-e",
        "A=1",
        "--label",
        "team=llm",
        "--wait",
    )
    assert result.exit_code == Exit.OK, result.output
    assert "NIM service alpha submitted" in result.stdout
    assert "alpha: Running" in result.stdout

    listed = cli.ok("inference", "nim", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "PROJECT", "PHASE", "READY", "GPUS", "URL", "AGE"]
    row = next(line.split() for line in listed if line.startswith("alpha "))
    assert row[:5] == ["alpha", "default", "Running", "1/1", "1"]
    assert "svc.cluster.local:8000" in row[5]
    assert "ID" in cli.ok("inference", "nim", "list", "-o", "wide").stdout.splitlines()[0]
    names = [w["name"] for w in cli.json("inference", "nim", "list", "--phase", "Running")]
    assert "alpha" in names
    assert "alpha" in [w["name"] for w in cli.json("inference", "nim", "list", "-A")]
    assert "alpha" not in [
        w["name"] for w in cli.json("inference", "nim", "list", "--phase", "Failed")
    ]

    text = cli.ok("inference", "nim", "describe", "alpha").stdout
    for expected in (
        "Phase:        Running",
        "Pods:",
        "sim-node-",
        "Events:",
        "Ready=True",
        "team",
    ):
        assert expected in text
    described = workload(cli, "alpha")
    assert set(described) == {"workload", "nimService", "pods", "events"}
    assert described["nimService"]["spec"]["environmentVariables"] == [{"name": "A", "value": "1"}]
    assert described["pods"][0]["allocatedResources"]["gpu"] == 1
    by_id = cli.json("inference", "nim", "describe", described["workload"]["id"])
    assert by_id["workload"]["name"] == "alpha"
    yaml_text = cli.ok("inference", "nim", "describe", "alpha", "-o", "yaml").stdout
    assert "nimService:" in yaml_text


def test_scale_stop_resume_events_history_delete(cli: Cli) -> None:
    submit(cli, "beta")
    wait_until(lambda: phase_is(cli, "beta", "Running"), "beta runs")
    assert "scaled to 2" in cli.ok("inference", "nim", "scale", "beta", "--replicas", "2").stdout
    assert workload(cli, "beta")["nimService"]["spec"]["replicas"] == 2
    wait_until(lambda: workload(cli, "beta")["workload"]["runningPods"] == 2, "two replicas")

    assert "stopping" in cli.ok("inference", "nim", "stop", "beta").stdout
    wait_until(lambda: phase_is(cli, "beta", "Stopped"), "beta stops")
    cli.ok("inference", "nim", "resume", "beta")
    wait_until(lambda: phase_is(cli, "beta", "Running"), "beta runs again")

    events = cli.ok("inference", "nim", "events", "beta").stdout
    assert events.splitlines()[0].split() == ["AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Pod/beta-0" in events
    assert any(e["reason"] == "Scheduled" for e in cli.json("inference", "nim", "events", "beta"))
    watched = cli.ok("inference", "nim", "events", "beta", "--watch", "--watch-count", "2")
    assert "Pod/beta-0" in watched.stdout
    records = cli.json("inference", "nim", "history", "beta")
    phases = [
        r["spec"]["phaseUpdate"]["phase"] for r in records if r["meta"]["type"] == "PhaseUpdate"
    ]
    assert phases[0] == "Creating"
    assert "Stopped" in phases
    assert "PhaseUpdate" in cli.ok("inference", "nim", "history", "beta").stdout

    refused = cli("inference", "nim", "delete", "beta", input="n\n")
    assert refused.exit_code == Exit.ERROR
    assert phase_is(cli, "beta", "Running")
    cli.ok("inference", "nim", "delete", "beta", input="y\n")
    wait_until(
        lambda: cli("inference", "nim", "describe", "beta").exit_code == Exit.NOT_FOUND,
        "beta is gone",
    )


def test_scale_refuses_an_autoscaled_service_unless_forced(cli: Cli) -> None:
    submit(
        cli,
        "gamma",
        "--min-replicas",
        "1",
        "--max-replicas",
        "3",
        "--metric",
        "concurrency",
        "--metric-threshold",
        "10",
    )
    refused = cli("inference", "nim", "scale", "gamma", "--replicas", "2")
    assert refused.exit_code == Exit.USAGE
    assert "autoscaled (1-3 replicas): pass --force" in refused.stderr
    assert workload(cli, "gamma")["nimService"]["spec"]["autoscaling"]["maxReplicas"] == 3
    forced = cli.json("inference", "nim", "scale", "gamma", "--replicas", "2", "--force")
    assert forced["spec"]["replicas"] == 2
    assert "autoscaling" not in forced["spec"]
    cli.ok("inference", "nim", "delete", "gamma", "--yes")


def test_update_overwrites_each_section_given_and_removes_sections(cli: Cli) -> None:
    submit(cli, "delta", "-e", "A=1", "-e", "B=2", "--label", "x=y")
    cli.ok("inference", "nim", "update", "delta", "-e", "C=3")
    spec = workload(cli, "delta")["nimService"]["spec"]
    assert spec["environmentVariables"] == [{"name": "C", "value": "3"}]
    assert spec["labels"] == [{"name": "x", "value": "y"}]  # a section not given is kept
    cli.ok("inference", "nim", "update", "delta", "--remove", "labels")
    assert "labels" not in workload(cli, "delta")["nimService"]["spec"]
    bad = cli("inference", "nim", "update", "delta", "--remove", "nonsense")
    assert bad.exit_code == Exit.USAGE
    cli.ok("inference", "nim", "delete", "delta", "--yes")


def test_submit_from_a_yaml_file(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "nim.yaml"
    file.write_text(
        "metadata:\n  name: from-file\nspec:\n"
        f"  image: {IMAGE}\n  modelStore: {{nimCache: {{name: c}}}}\n  replicas: 1\n"
    )
    created = cli.json("inference", "nim", "submit", "-f", str(file))
    assert created["metadata"]["name"] == "from-file"
    assert created["spec"]["modelStore"] == {"nimCache": {"name": "c"}}
    cli.ok("inference", "nim", "delete", "from-file", "--yes")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param([], ["modelStore: give exactly one of"], id="no-model-store"),
        pytest.param(
            ["--model-nim-cache", "name=a", "--model-existing-pvc", "claimname=b"],
            ["modelStore: give exactly one of"],
            id="two-model-stores",
        ),
        pytest.param(
            [
                "--model-nim-cache",
                "name=a",
                "--replicas",
                "2",
                "--min-replicas",
                "1",
                "--max-replicas",
                "2",
                "--metric",
                "m",
                "--metric-threshold",
                "1",
            ],
            ["replicas: --replicas cannot be combined"],
            id="replicas-and-autoscaling",
        ),
        pytest.param(
            ["--model-nim-cache", "name=a", "--workers", "2", "--min-replicas", "1"],
            ["multiNode.workers: --workers cannot be combined with autoscaling"],
            id="workers-and-autoscaling",
        ),
        pytest.param(
            ["--model-nim-cache", "name=a", "--max-replicas", "3"],
            [
                "autoscaling.metric: --metric is required",
            ],
            id="metric-required",
        ),
        pytest.param(
            ["--model-nim-cache", "name=a", "--metric", "m", "--max-replicas", "3"],
            ["autoscaling.metricThreshold: --metric-threshold is required"],
            id="threshold-required",
        ),
        pytest.param(
            [
                "--model-nim-cache",
                "name=a",
                "-e",
                "A=1",
                "-e",
                "A=2",
                "--cpu-memory-request",
                "lots",
                "--priority",
                "urgent",
            ],
            ["spec.environmentVariables", "spec.compute.cpuMemoryRequest", "spec.priorityClass"],
            id="domain-rules-each-named",
        ),
    ],
)
def test_an_invalid_spec_names_each_violation_and_sends_nothing(
    cli: Cli, flags: list[str], expected: list[str]
) -> None:
    result = cli("inference", "nim", "submit", "invalid", "-i", IMAGE, *flags, "-d")
    assert result.exit_code == Exit.USAGE
    assert "invalid spec (nothing was sent)" in result.stderr
    for text in expected:
        assert text in result.stderr
    assert "nim-services" not in result.stderr  # -d shows every call: no create was sent


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        pytest.param("--model-new-pvc", "claimname=a", id="pvc-without-size"),
        pytest.param("--model-nim-cache", "profile=p", id="cache-without-name"),
        pytest.param("--serving-port", "port=x", id="port-not-a-number"),
        pytest.param("--toleration", "key=k", id="toleration-without-operator"),
        pytest.param("--readiness-probe", "path=/x,bogus=1", id="probe-unknown-key"),
    ],
)
def test_a_flag_value_against_its_grammar_is_a_usage_error(cli: Cli, flag: str, value: str) -> None:
    result = cli("inference", "nim", "submit", "x", "-i", IMAGE, flag, value)
    assert result.exit_code == Exit.USAGE
    assert flag in result.stderr


def test_the_servers_400_is_printed_one_line_per_violation(cli: Cli) -> None:
    result = cli("inference", "nim", "submit", "pools", *BASE, "--node-pools", "nope")
    assert result.exit_code == Exit.USAGE
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: 400")
    assert any(
        line.strip().startswith("error:   spec.nodePools[0]: node pool 'nope' does not exist")
        for line in lines
    )


def test_not_found_is_exit_3_and_a_taken_name_is_409(cli: Cli) -> None:
    missing = cli("inference", "nim", "describe", "nobody")
    assert missing.exit_code == Exit.NOT_FOUND
    assert "nobody not found in project default" in missing.stderr
    assert cli("inference", "nim", "scale", "nobody", "--replicas", "1").exit_code == 3
    assert cli("inference", "nim", "list", "-p", "no-such-project").exit_code == 3
    assert (
        cli("inference", "nim", "describe", "00000000-0000-4000-8000-000000000000").exit_code == 3
    )
    submit(cli, "epsilon")
    taken = cli("inference", "nim", "submit", "epsilon", *BASE)
    assert taken.exit_code == Exit.ERROR
    assert "409" in taken.stderr
    cli.ok("inference", "nim", "delete", "epsilon", "--yes")


def test_wait_exit_codes_failed_and_timeout(cli: Cli) -> None:
    failed = cli(
        "inference",
        "nim",
        "submit",
        "blocked",
        "-i",
        "blocked.example.com/nim/x:1",
        "--model-nim-cache",
        "name=c",
        "--wait",
    )
    assert failed.exit_code == Exit.ERROR
    assert "blocked: Failed" in failed.stdout
    timed_out = cli(
        "inference", "nim", "submit", "huge", *BASE[:-1], "64", "--wait", "--timeout", "0"
    )
    assert timed_out.exit_code == Exit.TIMEOUT
    assert "timed out" in timed_out.stderr
    wait_until(
        lambda: "Pending reasons:" in cli.ok("inference", "nim", "describe", "huge").stdout,
        "describe shows why huge is pending",
    )
    cli.ok("inference", "nim", "delete", "blocked", "--yes")
    cli.ok("inference", "nim", "delete", "huge", "--yes")


def test_dry_run_prints_the_manifests_and_creates_nothing(cli: Cli) -> None:
    result = cli("inference", "nim", "submit", "dry", *BASE, "--dry-run")
    assert result.exit_code == Exit.OK, result.stderr
    assert "nothing was created" in result.stdout
    assert "NIMService" in result.stdout
    assert cli("inference", "nim", "describe", "dry").exit_code == Exit.NOT_FOUND


def test_quiet_prints_nothing_on_success(cli: Cli) -> None:
    result = cli("inference", "nim", "submit", "zeta", *BASE, "-q")
    assert result.exit_code == 0
    assert result.stdout == ""
    cli.ok("inference", "nim", "delete", "zeta", "--yes", "-q")


def test_list_watch_yaml_and_a_project_by_id(cli: Cli) -> None:
    submit(cli, "eta")
    watched = cli.ok("inference", "nim", "list", "--watch", "--watch-count", "2")
    assert watched.stdout.count("NAME ") >= 1
    assert "eta " in watched.stdout
    assert "\n  name: eta\n" in cli.ok("inference", "nim", "list", "-o", "yaml").stdout
    assert "eta" in [w["name"] for w in cli.json("inference", "nim", "list", "-p", "1")]
    cli.ok("inference", "nim", "delete", "eta", "--yes")
