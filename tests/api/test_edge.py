"""The edge (`api/edge.py`, `api/deps.py`, `domain/bodies.py`): bounded body depth and size,
no NUL anywhere in a request, and an unexpected error logged once, on one line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.domain.bodies import check_body
from nimplane.domain.errors import Invalid
from nimplane.domain.validation import drop_nulls
from nimplane.storage import tables
from tests.conftest import nim_request
from tests.support.identity import VIEWER
from tests.support.org import caller

MAX_DEPTH = 32  # the default `request.max_body_depth`
MAX_BYTES = 1_048_576  # the default `request.max_body_bytes`
DEPTH_MESSAGE = f"request body: nested deeper than {MAX_DEPTH} levels"
SIZE_MESSAGE = f"request body: larger than {MAX_BYTES} bytes"
NUL_DETAILS = "contains a NUL character (\\u0000)"


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _body_types(route: APIRoute) -> set[str]:
    return set((route.openapi_extra or {}).get("requestBody", {}).get("content", {}))


def _write_routes() -> list[Any]:
    """Every write route, read from the app itself (a new one is covered without touching
    this list), with whether it takes a JSON body."""
    return [
        pytest.param(
            method,
            route.path,
            "application/json" in _body_types(route),
            id=f"{method} {route.path}",
        )
        for route in create_app().routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods & WRITES)
    ]


WRITE_ROUTES = _write_routes()
FORM_ROUTES = [
    pytest.param(method, route.path, id=f"{method} {route.path}")
    for route in create_app().routes
    if isinstance(route, APIRoute) and "application/x-www-form-urlencoded" in _body_types(route)
    for method in sorted(route.methods)
]


def _concrete(path: str) -> str:
    """The path with every parameter filled (the body is refused before anything is looked up)."""
    out, _, rest = path.partition("{")
    while rest:
        _, _, tail = rest.partition("}")
        head, _, rest = tail.partition("{")
        out += "999999999" + head  # no such object: a route without a body changes nothing
    return out


def _nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _deep_body(depth: int = 600) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


def test_the_route_tables_are_not_empty() -> None:
    """Guards the enumeration: 16 write routes took JSON when the issue was filed."""
    assert sum(1 for p in WRITE_ROUTES if p.values[2]) >= 16
    assert len(FORM_ROUTES) == 1


# --- depth ---------------------------------------------------------------------------------


@pytest.fixture(params=["admin", "viewer"])
def headers(request: pytest.FixtureRequest, state: AppState, admin: dict[str, str]) -> Any:
    if request.param == "admin":
        return admin
    return caller(state, VIEWER, "tenant", str(state.settings.tenant_id))


@pytest.mark.parametrize(("method", "path", "takes_json"), WRITE_ROUTES)
def test_a_deeply_nested_body_is_400_naming_the_limit_on_every_write_route(
    client: TestClient, headers: dict[str, str], method: str, path: str, takes_json: bool
) -> None:
    response = client.request(
        method,
        _concrete(path),
        content=_deep_body(),
        headers={**headers, "Content-Type": "application/json"},
    )
    if takes_json:
        assert response.status_code == 400, response.text
        assert response.json()["message"] == DEPTH_MESSAGE
    else:  # the route reads no body
        assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    "depth",
    [
        pytest.param(MAX_DEPTH + 1, id="just-over"),
        pytest.param(600, id="600"),
        pytest.param(5000, id="past-orjson's-own-limit"),
    ],
)
def test_depth_is_refused_at_any_depth_past_the_limit(
    client: TestClient, admin: dict[str, str], depth: int
) -> None:
    # the object around the list is one level itself
    response = client.post(
        "/api/v1/org-unit/departments",
        content=_deep_body(depth - 1),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == DEPTH_MESSAGE


def test_a_body_at_the_depth_limit_passes_the_edge(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/org-unit/departments",
        content=_deep_body(MAX_DEPTH - 1),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] != DEPTH_MESSAGE  # refused by the model, not the edge
    assert any(i["field"] == "name" for i in response.json()["complianceIssues"])


def test_a_deep_body_without_a_token_is_still_401(client: TestClient) -> None:
    response = client.post(
        "/api/v2/workloads/nim-services",
        content=_deep_body(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401


# --- the walkers, far past the interpreter's recursion limit --------------------------------

WALKER_DEPTH = 10_000


def test_drop_nulls_handles_any_depth() -> None:
    deep: Any = {"k": None, "keep": 1}
    for i in range(WALKER_DEPTH):
        deep = {"k": deep, "none": None} if i % 2 else [deep, None]
    cleaned = drop_nulls(deep)
    probe = cleaned
    for _ in range(WALKER_DEPTH):
        if isinstance(probe, dict):
            assert "none" not in probe
            probe = probe["k"]
        else:
            assert probe[1] is None  # nulls inside lists are values, kept
            probe = probe[0]
    assert probe == {"keep": 1}


def test_drop_nulls_keeps_order_and_copies() -> None:
    given = {"b": {"y": None, "x": [1, None, {"z": None}]}, "a": None, "c": 3}
    assert drop_nulls(given) == {"b": {"x": [1, None, {}]}, "c": 3}
    assert list(drop_nulls(given)) == ["b", "c"]
    assert given["a"] is None  # the input is left alone


def test_check_body_refuses_any_depth_past_its_limit() -> None:
    with pytest.raises(Invalid, match="nested deeper than 32 levels"):
        check_body(_nested(WALKER_DEPTH), 32)


def test_check_body_walks_any_depth_and_names_a_nul_at_the_bottom() -> None:
    with pytest.raises(Invalid) as raised:
        check_body({"a": _nested(WALKER_DEPTH, "bad\x00")}, WALKER_DEPTH + 1)
    assert raised.value.issues[0].field == "a" + "[0]" * WALKER_DEPTH


# --- size ----------------------------------------------------------------------------------


def test_a_body_declared_larger_than_the_limit_is_400(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = b'{"name": "' + b"x" * MAX_BYTES + b'"}'
    response = client.post(
        "/api/v1/org-unit/departments",
        content=body,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": SIZE_MESSAGE}


def test_a_form_body_larger_than_the_limit_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/v2/token",
        content=b"grant_type=password&password=" + b"x" * MAX_BYTES,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == SIZE_MESSAGE


def _drive(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int, bytes]:
    """Send an endless chunked body of 64 KiB chunks straight to the ASGI app: the status,
    how many chunks it took, and the response body."""
    chunk = b"x" * 65536
    taken = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        if taken > 10_000:  # 640 MiB: the app is reading without bound
            raise AssertionError("the body was read without a bound")
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"transfer-encoding", b"chunked"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), taken, body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        pytest.param("/api/v1/org-unit/departments", b"application/json", id="json"),
        pytest.param("/api/v2/token", b"application/x-www-form-urlencoded", id="form"),
    ],
)
def test_a_chunked_body_is_cut_off_at_the_limit(
    state: AppState, admin: dict[str, str], path: str, content_type: bytes
) -> None:
    app = create_app(state.settings, state=state)
    headers = [
        (b"content-type", content_type),
        (b"authorization", admin["Authorization"].encode()),
    ]
    status, taken, body = _drive(app, path, headers)
    assert status == 400
    assert SIZE_MESSAGE.encode() in body
    assert taken <= MAX_BYTES // 65536 + 1


# --- NUL -----------------------------------------------------------------------------------

DEPARTMENTS = "/api/v1/org-unit/departments"
NUL_CASES = [
    pytest.param("POST", DEPARTMENTS, {"name": "a\x00b"}, "name", id="department-name"),
    pytest.param(
        "POST",
        DEPARTMENTS,
        {"name": "dep-nul", "description": "\x00"},
        "description",
        id="department-description",
    ),
    pytest.param(
        "PUT",
        DEPARTMENTS + "/1",
        {"description": "x\x00"},
        "description",
        id="department-update-description",
    ),
    pytest.param(
        "POST",
        "/api/v1/org-unit/projects",
        {"name": "prj-nul", "parentId": "1", "description": "x\x00y"},
        "description",
        id="project-description",
    ),
    pytest.param(
        "POST",
        "/api/v2/workloads/nim-services",
        nim_request("nul", image="a\x00"),
        "spec.image",
        id="nim-spec-image",
    ),
    pytest.param(
        "POST",
        "/api/v2/workloads/nim-services",
        {**nim_request("nul"), "metadata": {"projectId": "1", "na\x00me": "x"}},
        "metadata.na\\u0000me",
        id="nim-key",
    ),
    pytest.param(
        "POST",
        "/api/v1/service-accounts",
        {"name": "sa\x00"},
        "name",
        id="service-account",
    ),
    pytest.param(
        "POST",
        "/api/v1/users",
        {"email": "u\x00@example.com"},
        "email",
        id="user-email",
    ),
    pytest.param(
        "POST",
        "/api/v1/token",
        {"grantType": "client_credentials", "clientID": "a\x00", "clientSecret": "s"},
        "clientID",
        id="token-v1",
    ),
    pytest.param("GET", "/api/v1/clusters/%00", None, "path", id="cluster-path"),
    pytest.param("GET", DEPARTMENTS + "/1%00", None, "path", id="department-path"),
    pytest.param(
        "DELETE",
        "/api/v2/workloads/%00",
        None,
        "path",
        id="delete-path",
    ),
    pytest.param(
        "GET",
        DEPARTMENTS + "?filterBy=name%3D%3Da%00",
        None,
        "query parameter filterBy",
        id="query-filter",
    ),
    pytest.param(
        "GET",
        "/api/v1/workloads?search=%00",
        None,
        "query parameter search",
        id="query-search",
    ),
]


def _departments(state: AppState) -> int:
    with state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.departments)).scalar())


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_CASES)
def test_a_nul_anywhere_is_400_naming_where(
    client: TestClient,
    state: AppState,
    admin: dict[str, str],
    method: str,
    path: str,
    body: Any,
    field: str,
) -> None:
    before = _departments(state)
    response = client.request(method, path, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == f"{field}: {NUL_DETAILS}"
    assert _departments(state) == before


SURROGATE_DETAILS = "contains a lone surrogate (\\ud800-\\udfff), which is not a Unicode character"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            nim_request("lone", env=[{"name": "A", "value": "x\udc00"}]),
            "The request body is not valid JSON: invalid high surrogate in string",
            id="value-refused-by-the-parser",
        ),
        pytest.param(
            {**nim_request("lone"), "metadata": {"projectId": "1", "k\udfff": "x"}},
            "The request body is not valid JSON: invalid high surrogate in string",
            id="key-refused-by-the-parser",
        ),
    ],
)
def test_a_lone_surrogate_is_400(
    client: TestClient, admin: dict[str, str], body: Any, message: str
) -> None:
    """JSON may escape half of a surrogate pair (`\\ud800`): that is no character, and
    neither database nor a Kubernetes object can hold it. The JSON parser refuses it; what
    reaches `check_body` by another way is refused there (below)."""
    response = client.post(
        "/api/v2/workloads/nim-services",
        content=json.dumps(body).encode(),  # ASCII, the surrogate escaped as JSON allows
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)
    listed = client.get("/api/v1/workloads", params={"filterBy": "name==lone"}, headers=admin)
    assert listed.json()["workloads"] == []


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb"])
def test_check_body_names_a_lone_surrogate(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_body({"spec": {"env": [{"value": text}]}}, MAX_DEPTH)
    assert str(refused.value) == f"spec.env[0].value: {SURROGATE_DETAILS}"


def test_a_nul_in_a_form_field_is_400_naming_it(client: TestClient) -> None:
    response = client.post(
        "/api/v2/token",
        content=b"grant_type=client_credentials&client_id=a%00&client_secret=s",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"client_id: {NUL_DETAILS}",
    }


# --- unexpected errors -----------------------------------------------------------------------


def _raise_deep(depth: int) -> Callable[..., Any]:
    def boom(*_args: object, **_kwargs: object) -> Any:
        def dig(n: int) -> None:
            if n == 0:
                raise ValueError("secret internals\nsecond line")
            dig(n - 1)

        dig(depth)

    return boom


def test_an_unexpected_error_is_logged_once_on_one_line_with_the_request_id(
    client: TestClient,
    state: AppState,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(state.org, "list_departments", _raise_deep(400))
    caplog.set_level(logging.INFO)
    # the default client re-raises what escapes the app: nothing must escape
    response = client.get(DEPARTMENTS, headers={**admin, "X-Request-ID": "edge-rid-1"})
    assert response.status_code == 500
    assert response.json() == {"code": 500, "message": "Something went wrong."}
    assert response.headers["x-request-id"] == "edge-rid-1"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage()[:200] for r in errors]
    line = errors[0].getMessage()
    assert errors[0].exc_info is None  # no traceback attached
    assert "\n" not in line
    assert len(line) < 1000
    assert "edge-rid-1" in line
    assert "ValueError: secret internals second line" in line
    assert "in dig" in line  # the innermost frames
    assert "GET /api/v1/org-unit/departments" in line
