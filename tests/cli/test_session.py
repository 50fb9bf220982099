"""`nimplane login|logout|config`, the cached tokens and their refresh, and the error paths
every command shares (server down, 401, 403), against a real server."""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from nimplane.cli.client import Exit
from tests.cli.conftest import Cli, CliFactory
from tests.support.server import CLIENT_ID, CLIENT_SECRET, free_port


def test_login_caches_tokens_in_a_private_file_without_the_secret(cli: Cli) -> None:
    file = cli.config_dir / "config.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_dir.stat().st_mode) == 0o700
    assert CLIENT_SECRET not in file.read_text()
    session = cli.config()["contexts"]["default"]["session"]
    assert session["access_token"]
    assert session["refresh_token"]
    shown = cli.ok("config", "view").stdout
    assert "service-account/test-admin" in shown
    assert session["access_token"] not in shown
    assert session["access_token"] not in cli.ok("config", "view", "-o", "json").stdout


def test_login_from_the_environment(new_cli: CliFactory) -> None:
    shell = new_cli()
    result = shell(
        "login",
        "--url",
        shell.server.base_url,
        env={"NIMPLANE_CLIENT_ID": CLIENT_ID, "NIMPLANE_CLIENT_SECRET": CLIENT_SECRET},
    )
    assert result.exit_code == 0, result.output
    assert "Logged in" in result.stdout


def test_login_with_a_wrong_secret_fails_and_caches_nothing(new_cli: CliFactory) -> None:
    shell = new_cli()
    result = shell(
        "login",
        "--url",
        shell.server.base_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        "wrong",
    )
    assert result.exit_code == Exit.ERROR
    assert "401" in result.stderr
    assert not (shell.config_dir / "config.json").exists()


def test_user_login_prompts_for_the_password_without_echo(cli: Cli, new_cli: CliFactory) -> None:
    response = httpx.post(
        f"{cli.server.base_url}/api/v1/users",
        json={"email": "ada@example.com"},
        headers={"Authorization": f"Bearer {cli.server.token()}"},
    )
    response.raise_for_status()
    created = response.json()
    shell = new_cli()
    result = shell(
        "login",
        "--url",
        shell.server.base_url,
        "-u",
        "ada@example.com",
        input=created["tempPassword"] + "\n",
    )
    assert result.exit_code == 0, result.output
    assert created["tempPassword"] not in result.output
    assert "user ada@example.com" in result.stdout


def test_contexts_use_context_and_set_project(cli: Cli) -> None:
    cli.login(CLIENT_ID, CLIENT_SECRET, "--context", "other")
    assert cli.config()["currentContext"] == "other"
    cli.ok("config", "use-context", "default")
    assert cli.config()["currentContext"] == "default"
    cli.ok("config", "set-project", "llm", "--context", "other")
    assert cli.config()["contexts"]["other"]["project"] == "llm"
    missing = cli("config", "use-context", "nope")
    assert missing.exit_code == Exit.NOT_FOUND
    assert "no context named nope" in missing.stderr


def test_logout_forgets_the_tokens(cli: Cli) -> None:
    cli.ok("logout")
    assert cli.config()["contexts"]["default"]["session"] is None
    result = cli("inference", "nim", "list")
    assert result.exit_code == Exit.ERROR
    assert "not logged in" in result.stderr


def test_a_refused_token_is_refreshed_on_401_and_the_command_succeeds(cli: Cli) -> None:
    config = cli.config()
    session = config["contexts"]["default"]["session"]
    old_refresh = session["refresh_token"]
    session["access_token"] = "not-a-valid-token"  # what a token past its expiry gets: a 401
    (cli.config_dir / "config.json").write_text(json.dumps(config))
    result = cli("inference", "nim", "list", "-o", "json", "-d")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("< 401") == 1
    assert "Bearer" not in result.stderr
    assert "REDACTED" in result.stderr
    renewed = cli.config()["contexts"]["default"]["session"]
    assert renewed["access_token"] != "not-a-valid-token"
    assert renewed["refresh_token"] != old_refresh  # rotated


def test_an_expired_cached_token_is_refreshed_before_the_call(cli: Cli) -> None:
    config = cli.config()
    config["contexts"]["default"]["session"]["expires_at"] = 0  # long expired by any clock
    (cli.config_dir / "config.json").write_text(json.dumps(config))
    result = cli("inference", "nim", "list", "-d")
    assert result.exit_code == 0, result.output
    assert "< 401" not in result.stderr
    assert result.stderr.index("/api/v1/token") < result.stderr.index("/api/v1/workloads")


def test_a_used_refresh_token_ends_the_session_with_a_clear_message(cli: Cli) -> None:
    config = cli.config()
    session = config["contexts"]["default"]["session"]
    stale = dict(session)
    cli.ok("inference", "nim", "list")
    session["access_token"] = "not-a-valid-token"
    session["refresh_token"] = stale["refresh_token"]
    config["contexts"]["default"]["session"] = session
    (cli.config_dir / "config.json").write_text(json.dumps(config))
    cli_refresh = cli("inference", "nim", "list")  # first refresh: fine (unused token)
    assert cli_refresh.exit_code == 0
    config = cli.config()
    config["contexts"]["default"]["session"]["access_token"] = "not-a-valid-token"
    config["contexts"]["default"]["session"]["refresh_token"] = stale["refresh_token"]
    (cli.config_dir / "config.json").write_text(json.dumps(config))
    result = cli("inference", "nim", "list")  # the same refresh token again: refused
    assert result.exit_code == Exit.ERROR
    assert "run `nimplane login` again" in result.stderr


def test_server_down_is_exit_1_with_a_clear_message(new_cli: CliFactory) -> None:
    shell = new_cli()
    url = f"http://127.0.0.1:{free_port()}"
    result = shell("login", "--url", url, "--client-id", CLIENT_ID, "--client-secret", "x")
    assert result.exit_code == Exit.ERROR
    assert f"cannot reach nimplane at {url}" in result.stderr
    assert "Traceback" not in result.output


def test_a_viewer_gets_403(cli: Cli, new_cli: CliFactory) -> None:
    created = cli.json("service-account", "create", "viewer-sa")
    cli.ok(
        "access-rule",
        "create",
        "--subject",
        "viewer-sa",
        "--role",
        "Viewer",
        "--scope-type",
        "project",
        "--scope",
        "default",
    )
    viewer = new_cli()
    viewer.login("viewer-sa", created["clientSecret"], "-p", "default")
    assert viewer("inference", "nim", "list").exit_code == 0
    result = viewer(
        "inference",
        "nim",
        "submit",
        "denied",
        "-i",
        "nvcr.io/nim/meta/llama-3.1-8b-instruct:1",
        "--model-nim-cache",
        "name=c",
    )
    assert result.exit_code == Exit.ERROR
    assert result.stderr.startswith("error: 403")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["inference", "nim", "list", "--bogus"], id="unknown-flag"),
        pytest.param(["inference", "nim", "list", "-o", "xml"], id="bad-output-format"),
        pytest.param(["inference", "nim", "scale", "x"], id="missing-required-flag"),
    ],
)
def test_usage_errors_are_exit_2(cli: Cli, args: list[str]) -> None:
    assert cli(*args).exit_code == Exit.USAGE


def test_a_command_before_any_login_says_to_log_in(new_cli: CliFactory) -> None:
    result = new_cli()("inference", "nim", "list")
    assert result.exit_code == Exit.ERROR
    assert "not logged in (no context default): run `nimplane login`" in result.stderr
