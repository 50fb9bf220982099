"""The admin commands against a real server: projects and departments with quotas, node pools,
nodes (GPUs used and free), service accounts, access rules, the audit log."""

from __future__ import annotations

from nimplane.cli.client import Exit
from tests.cli.conftest import Cli, CliFactory

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"


def test_department_and_project_with_quotas(cli: Cli) -> None:
    created = cli.json("department", "create", "research", "--gpu", "0")
    assert created["name"] == "research"
    cli.ok("department", "set-quota", "research", "--gpu", "4", "--gpu-limit", "8")
    text = cli.ok("project", "create", "team-a", "--department", "research", "--gpu", "2").stdout
    assert "Project team-a created" in text
    listed = cli.ok("project", "list").stdout.splitlines()
    assert listed[0].split() == ["ID", "NAME", "DEPARTMENT", "GPU", "QUOTA", "AGE"]
    row = next(line.split() for line in listed if " team-a " in line)
    assert row[2:4] == ["research", "default=2"]
    cli.ok("project", "set-quota", "team-a", "--gpu", "3")
    project = next(p for p in cli.json("project", "list") if p["name"] == "team-a")
    assert project["resources"][0]["gpu"]["deserved"] == 3
    too_much = cli("project", "set-quota", "team-a", "--gpu", "100")
    assert too_much.exit_code == Exit.USAGE
    assert "does not fit in the quota of department 'research'" in too_much.stderr
    assert "research" in [d["name"] for d in cli.json("department", "list")]
    cli.ok("project", "delete", "team-a", "--yes")
    assert cli("project", "delete", "team-a", "--yes").exit_code == Exit.NOT_FOUND
    cli.ok("department", "delete", "research", "--yes")


def test_node_pools_and_nodes_show_gpus_used_and_free(cli: Cli) -> None:
    pools = cli.json("node-pool", "list")
    assert [p["name"] for p in pools] == ["default"]
    assert "default" in cli.ok("node-pool", "list").stdout
    cli.ok(
        "inference",
        "nim",
        "submit",
        "gpus",
        "-i",
        IMAGE,
        "--model-nim-cache",
        "name=c",
        "-g",
        "2",
        "--wait",
    )
    nodes = cli.json("node", "list")
    assert sum(n["gpusUsed"] for n in nodes) == 2
    assert sum(n["gpusFree"] for n in nodes) == sum(n["gpuInfo"]["gpuCount"] for n in nodes) - 2
    header = cli.ok("node", "list").stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "NODE", "POOL", "GPU", "TYPE", "GPUS", "USED", "FREE"]
    cli.ok("inference", "nim", "delete", "gpus", "--yes")


def test_service_account_lifecycle_with_an_access_rule(cli: Cli, new_cli: CliFactory) -> None:
    created = cli.json("service-account", "create", "ci")
    secret = created["clientSecret"]
    assert "ci" in [a["name"] for a in cli.json("service-account", "list")]
    rule = cli.json(
        "access-rule", "create", "--subject", "ci", "--role", "ML engineer", "--scope", "default"
    )
    assert rule["roleName"] == "ML engineer"
    rules = cli.json("access-rule", "list", "--subject", "ci")
    assert [r["id"] for r in rules] == [rule["id"]]
    assert "ML engineer" in cli.ok("access-rule", "list").stdout

    ci = new_cli()
    ci.login("ci", secret, "-p", "default")
    assert ci("inference", "nim", "list").exit_code == 0

    fresh = cli.json("service-account", "regenerate-secret", "ci")["clientSecret"]
    assert fresh != secret
    relogin = new_cli()
    assert (
        relogin(
            "login", "--url", cli.server.base_url, "--client-id", "ci", "--client-secret", secret
        ).exit_code
        == Exit.ERROR
    )
    relogin.login("ci", fresh)

    cli.ok("access-rule", "delete", str(rule["id"]))
    assert cli("access-rule", "delete", str(rule["id"])).exit_code == Exit.NOT_FOUND
    cli.ok("service-account", "delete", "ci", "--yes")
    assert cli("service-account", "delete", "ci", "--yes").exit_code == Exit.NOT_FOUND


def test_audit_log_lists_the_changes(cli: Cli) -> None:
    cli.ok("department", "create", "audited")
    entries = cli.json("audit-log", "--limit", "5")
    assert any(e["entityType"] == "department" and e["action"] == "create" for e in entries)
    assert "department" in cli.ok("audit-log").stdout
    cli.ok("department", "delete", "audited", "--yes")
