"""The OpenAPI document: served = committed, with Run:ai's names wherever Run:ai has them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from nimplane.cli.main import app as cli

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "openapi" / "openapi.json"
RUNAI = REPO / "tests" / "data" / "runai" / "runai-nim-subset.json"
REGENERATE = "nimplane openapi > openapi/openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@pytest.fixture(scope="module")
def runai() -> dict[str, Any]:
    return dict(json.loads(RUNAI.read_text()))


@pytest.fixture
def served(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/components/...`) to what it names."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def parameter_names(document: dict[str, Any], operation: dict[str, Any], where: str) -> set[str]:
    params = [resolve(document, p) for p in operation.get("parameters", [])]
    return {p["name"] for p in params if p["in"] == where}


def nimplane_additions(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """Query parameters marked as nimplane's own (`x-nimplane-addition`): Run:ai clients never
    send them, and without them the operation is Run:ai's."""
    params = [resolve(document, p) for p in operation.get("parameters", [])]
    return {p["name"] for p in params if p.get("schema", {}).get("x-nimplane-addition")}


# --- (a) the committed copy ------------------------------------------------------------------


def test_served_document_equals_the_committed_copy(served: dict[str, Any]) -> None:
    text = json.dumps(served, indent=2, sort_keys=True) + "\n"
    assert COMMITTED.exists(), f"{COMMITTED} is missing: run `{REGENERATE}` in {REPO}"
    assert text == COMMITTED.read_text(), (
        f"The served OpenAPI document differs from {COMMITTED.relative_to(REPO)}. If the API "
        f"change is intended, regenerate the committed copy: `{REGENERATE}` (from {REPO}), "
        "review the diff and commit it."
    )


def test_cli_check_accepts_the_committed_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["openapi", "--check", "openapi/openapi.json"])
    assert result.exit_code == 0, result.output


def test_cli_check_refuses_a_stale_copy(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(COMMITTED.read_text().replace('"grant_token"', '"grant_token_old"'))
    result = CliRunner().invoke(cli, ["openapi", "--check", str(stale)])
    assert result.exit_code == 1
    assert "nimplane openapi >" in result.output


def test_cli_prints_the_committed_copy() -> None:
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0
    assert result.stdout == COMMITTED.read_text()


# --- (b) Run:ai's names ----------------------------------------------------------------------


def test_shared_operations_use_runai_operation_ids_and_parameter_names(
    served: dict[str, Any], runai: dict[str, Any]
) -> None:
    ours, theirs = operations(served), operations(runai)
    shared = sorted(ours.keys() & theirs.keys())
    assert len(shared) >= 9, f"only {shared} are shared with Run:ai's document"
    problems = []
    for key in shared:
        mine, runais = ours[key], theirs[key]
        if mine.get("operationId") != runais.get("operationId"):
            problems.append(f"{key}: operationId {mine.get('operationId')!r}")
        path_params = parameter_names(served, mine, "path")
        if path_params != parameter_names(runai, runais, "path"):
            problems.append(f"{key}: path parameters {sorted(path_params)}")
        extra_query = (
            parameter_names(served, mine, "query")
            - parameter_names(runai, runais, "query")
            - nimplane_additions(served, mine)
        )
        if extra_query:
            problems.append(f"{key}: query parameters Run:ai does not have {sorted(extra_query)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("post", "/api/v2/workloads/nim-services", id="create"),
        pytest.param("get", "/api/v2/workloads/nim-services/{WorkloadV2Id}", id="get"),
        pytest.param("patch", "/api/v2/workloads/nim-services/{WorkloadV2Id}", id="patch"),
        pytest.param("delete", "/api/v2/workloads/{WorkloadV2Id}", id="delete"),
        pytest.param("get", "/api/v1/workloads", id="list"),
        pytest.param("get", "/api/v1/workloads/count", id="count"),
        pytest.param("get", "/api/v1/workloads/{workloadId}", id="get-v1"),
        pytest.param("get", "/api/v1/workloads/{workloadId}/history", id="history"),
        pytest.param("post", "/api/v1/workloads/batch", id="batch"),
        pytest.param("post", "/api/v1/token", id="token-v1"),
        pytest.param("post", "/api/v2/token", id="token-v2"),
    ],
)
def test_we_serve_runai_operation(
    served: dict[str, Any], runai: dict[str, Any], method: str, path: str
) -> None:
    assert (method, path) in operations(runai), "the table names a Run:ai operation"
    assert (method, path) in operations(served)


def test_protected_operations_declare_bearer_auth(served: dict[str, Any]) -> None:
    assert served["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    public = {"/healthz", "/readyz", "/api/v1/token", "/api/v2/token"}
    for (method, path), operation in operations(served).items():
        if path not in public:
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)


@pytest.mark.parametrize(
    "name",
    [
        "NimServiceCreateRequest",
        "NimServiceUpdateRequest",
        "NimServiceResponse",
        "NimServiceSpec",
        "WorkloadV2",
        "Workload",
        "WorkloadDetailed",
        "SubmissionErrorV2",
        "Error",
        "TokenRequest",
        "TokenResponse",
        "WorkloadBatch",
        "BatchResponse",
        "BatchResponseFailureItem",
        "HistoryRecord1",
        "HistoryRecordMeta",
        "PhaseUpdate",
    ],
)
def test_runai_schema_names_exist(served: dict[str, Any], runai: dict[str, Any], name: str) -> None:
    assert name in runai["components"]["schemas"]
    assert name in served["components"]["schemas"]


def test_no_422_anywhere(served: dict[str, Any]) -> None:
    """Bad input is a 400 (docs/decisions.md D6/D7); FastAPI's default 422 is never documented."""
    for key, operation in operations(served).items():
        assert "422" not in operation.get("responses", {}), key
    assert "HTTPValidationError" not in served["components"]["schemas"]


# --- (c) docs --------------------------------------------------------------------------------


def test_every_operation_documents_the_edges_400(
    served: dict[str, Any], client: TestClient
) -> None:
    """The edge refuses any request before its route (a Content-Length that is no number),
    so every operation lists a 400; a DELETE, whose own errors have none, answers it."""
    lacking = [
        f"{method.upper()} {path}"
        for path, item in served["paths"].items()
        for method, operation in item.items()
        if "400" not in operation["responses"]
    ]
    assert lacking == []
    refused = client.delete(
        "/api/v2/workloads/00000000-0000-0000-0000-000000000000",
        headers={"Content-Length": "ten"},
    )
    assert refused.status_code == 400
    assert "Content-Length" in refused.json()["message"]


def test_docs_serve_html(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
