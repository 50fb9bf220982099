"""Schemathesis against our own served OpenAPI document, in process: every operation, never a
5xx, every status code documented, every response body and header conforming to its schema,
schema-invalid input refused, and authentication enforced where the document declares it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.requests import Request

from nimplane.api.app import create_app
from nimplane.api.deps import parse_if_match
from nimplane.domain.validation import drop_nulls
from tests.support.server import CLIENT_ID, CLIENT_SECRET


class BoundApp:
    """The ASGI app schemathesis talks to: it forwards to the app the running test binds.

    Schemathesis loads the document and builds one pytest item per operation at import time,
    before any fixture exists; the test app (over the test database) comes from the `client`
    fixture. Until a test binds one, a stateless app serves /openapi.json (which reads only the
    routes). There is no lifespan here: the fixtures own the state, and an app that refuses the
    lifespan scope before reading from it is how ASGI says "no lifespan support".
    """

    def __init__(self) -> None:
        self.target: FastAPI = create_app()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan: the test fixtures own the app state")
        await self.target(scope, receive, send)


BOUND = BoundApp()
schema = schemathesis.openapi.from_asgi("/openapi.json", BOUND)

# Checks that do not apply, each with its reason (every other default check runs):
EXCLUDED_CHECKS = [
    # "Schema-valid input must be accepted." The document describes shapes, as Run:ai's does;
    # docs/decisions.md D6 adds rules across fields and against stored data (image required, one
    # model store, one source per environment variable, known node pools, ...), grants need
    # grant-specific fields, and dates in `filterBy` only take four operators. So a shape-valid
    # request is often a 400 by design. `negative_data_rejection` (shape-invalid input must be a
    # 4xx) and `not_a_server_error` still run on every case.
    positive_data_acceptance,
]


RICH_SPEC: dict[str, Any] = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "imagePullPolicy": "IfNotPresent",
    "imagePullSecrets": [{"name": "regcred"}],
    "modelStore": {
        "pvc": {"existingPvc": False, "claimInfo": {"size": "100Gi", "storageClass": "standard"}}
    },
    "ngcAuthSecret": "ngc-secret",
    "compute": {
        "gpuDevicesRequest": 2,
        "gpuRequestType": "portion",
        "gpuPortionRequest": 0.5,
        "gpuPortionLimit": 1,
        "cpuCoreRequest": 2,
        "cpuCoreLimit": 4.5,
        "cpuMemoryRequest": "8Gi",
        "cpuMemoryLimit": "16Gi",
    },
    "environmentVariables": [
        {"name": "A", "value": ""},
        {"name": "B", "secret": {"name": "s", "key": "k"}},
        {"name": "C", "configMap": {"name": "cm", "key": "k"}},
        {"name": "D", "podFieldRef": {"path": "metadata.name"}},
        {"name": "E", "userCredential": {"name": "u", "key": "k"}, "description": "e"},
    ],
    "labels": [{"name": "team", "value": "ml"}],
    "annotations": [{"name": "example.com/owner", "value": "someone"}],
    "tolerations": [
        {"name": "t1", "operator": "Exists", "key": "gpu", "effect": "NoExecute", "seconds": 30},
        {"name": "t2", "operator": "Equal", "key": "k", "value": "v", "effect": "Any"},
    ],
    "servingPort": {"port": 9000, "grpcPort": 9001, "metricsPort": 9002},
    "probes": {"readiness": {"handler": {"httpGet": {"path": "/v1/health/ready"}}}},
    "autoscaling": {
        "minReplicas": 1,
        "maxReplicas": 3,
        "metric": "concurrency",
        "metricThreshold": 5,
    },
    "nodePools": ["default"],
    "priorityClass": "medium",
    "category": "Build",
    "preemptibility": "preemptible",
    "security": {"runAsUid": 1000, "runAsGid": 1000},
}
"""A valid spec with every section, so that success responses carry every kind of field."""


def negative_at(case: schemathesis.Case, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _lossy_body(case: schemathesis.Case) -> bool:
    """Whether a body holds a `null` in an object: the server reads it as "not given"
    (docs/decisions.md D2), so a negative body may be valid as received (an unknown property
    that is null, say). Negative bodies without nulls still run."""
    body = case.body if isinstance(case.body, dict | list) else None
    return body is not None and drop_nulls(body) != body


def _is_array(parameter_schema: dict[str, Any]) -> bool:
    branches = parameter_schema.get("anyOf", [parameter_schema])
    return any(branch.get("type") == "array" for branch in branches)


ARRAY_QUERY_PARAMETERS = {
    parameter["name"]
    for path_item in schema.raw_schema["paths"].values()
    for operation in path_item.values()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and _is_array(parameter["schema"])
}


def _lossy_query(case: schemathesis.Case) -> bool:
    """Whether a query value is of a kind the wire cannot carry as generated, so that what the
    server receives may be valid: an array for a scalar parameter goes out as repeats of it
    (the last wins), a scalar for an array parameter as a one-item array, and an object as its
    keys. Negative cases of the right kind (`limit=abc`, `sortBy=bogus`, ...) still run."""

    def scalar(value: Any) -> bool:
        return not isinstance(value, dict | list)

    for name, value in (case.query or {}).items():
        if name in ARRAY_QUERY_PARAMETERS:
            if not isinstance(value, list) or not all(map(scalar, value)):
                return True
        elif not scalar(value):
            return True
    return False


@pytest.fixture
def bound(client: TestClient) -> Iterator[None]:
    BOUND.target = client.app  # type: ignore[assignment]
    yield
    BOUND.target = create_app()


@pytest.fixture
def existing_id(client: TestClient, admin: dict[str, str]) -> str:
    """A live workload with every spec section, for the cases that address an existing one."""
    body = {"metadata": {"name": "seeded", "projectId": "1"}, "spec": RICH_SPEC}
    response = client.post("/api/v2/workloads/nim-services", json=body, headers=admin)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


@schema.parametrize()
@schema.given(
    authenticated=st.sampled_from([True, True, True, False]),
    use_existing=st.booleans(),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@pytest.mark.usefixtures("bound")
def test_api_conforms_to_its_document(
    case: schemathesis.Case,
    authenticated: bool,
    use_existing: bool,
    existing_id: str,
    admin_token: str,
) -> None:
    """Three cases in four carry the administrator's token, the fourth none (`ignored_auth`
    also re-sends every accepted authenticated case without a token and with a bad one).
    Half the cases that name a workload name an existing one (random ids are all unknown)."""
    if use_existing and case.path_parameters:
        for name in case.path_parameters:
            case.path_parameters[name] = existing_id
    # Negative query values the wire cannot carry as generated (see `_lossy_query`).
    assume(not (negative_at(case, ParameterLocation.QUERY) and _lossy_query(case)))
    assume(not (negative_at(case, ParameterLocation.BODY) and _lossy_body(case)))
    # A case whose negative part is the Authorization header keeps the header as generated
    # (missing or malformed): adding a valid token would make it a valid request.
    if negative_at(case, ParameterLocation.HEADER):
        authenticated = False
    headers = {"Authorization": f"Bearer {admin_token}"} if authenticated else None
    if case.operation.path.endswith("/proxy/{path}"):
        # 503 is the documented answer of a service with no ready pod (none runs here); a
        # 500 still fails
        checks = [*EXCLUDED_CHECKS, not_a_server_error]
        response = case.call_and_validate(headers=headers, excluded_checks=checks)
        assert response.status_code in {*range(200, 500), 503}, response.text
        return
    case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)


# --- success responses with every field, checked against the document ------------------------


def test_success_responses_conform_to_the_document(
    client: TestClient, admin: dict[str, str]
) -> None:
    """Random input rarely passes every rule of docs/decisions.md D6, so the happy path is walked
    here on purpose, with a spec that has every section, and each answer is checked against the
    document."""
    nim = "/api/v2/workloads/nim-services"
    body = {"metadata": {"name": "rich", "projectId": 1}, "spec": RICH_SPEC}
    created = client.post(nim, json=body, headers=admin)
    assert created.status_code == 202, created.text
    wid = created.json()["metadata"]["id"]
    patch = {"spec": {"replicas": 2, "labels": None}, "fieldsToRemove": ["autoscaling"]}
    calls = [
        ("POST", nim, created),
        ("GET", nim + "/{WorkloadV2Id}", client.get(f"{nim}/{wid}", headers=admin)),
        ("PATCH", nim + "/{WorkloadV2Id}", client.patch(f"{nim}/{wid}", json=patch, headers=admin)),
        ("GET", "/api/v1/workloads", client.get("/api/v1/workloads", headers=admin)),
        ("GET", "/api/v1/workloads/count", client.get("/api/v1/workloads/count", headers=admin)),
        (
            "GET",
            "/api/v1/workloads/{workloadId}",
            client.get(f"/api/v1/workloads/{wid}", headers=admin),
        ),
        (
            "POST",
            "/api/v1/workloads/batch",
            client.post(
                "/api/v1/workloads/batch",
                json={"ids": [wid, "not-a-workload"], "action": "suspend"},
                headers=admin,
            ),
        ),
        (
            "GET",
            "/api/v1/workloads/{workloadId}/history",
            client.get(f"/api/v1/workloads/{wid}/history", params={"limit": 1}, headers=admin),
        ),
        (
            "DELETE",
            "/api/v2/workloads/{WorkloadV2Id}",
            client.delete(f"/api/v2/workloads/{wid}", headers=admin),
        ),
        (
            "GET",
            "/api/v1/workloads",
            client.get("/api/v1/workloads", params={"deleted": True}, headers=admin),
        ),
        (
            "POST",
            "/api/v1/token",
            client.post(
                "/api/v1/token",
                json={"grantType": "app_token", "AppId": CLIENT_ID, "AppSecret": CLIENT_SECRET},
            ),
        ),
        (
            "POST",
            "/api/v2/token",
            client.post(
                "/api/v2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            ),
        ),
    ]
    for method, path, response in calls:
        assert response.status_code in (200, 202), (method, path, response.text)
        schema[path][method].validate_response(response)
    assert (
        len(
            client.get("/api/v1/workloads", params={"deleted": True}, headers=admin).json()[
                "workloads"
            ]
        )
        == 1
    )


# --- regressions: 500s found while fuzzing ----------------------------------------------------


@pytest.mark.parametrize(
    "project_id",
    [
        pytest.param("²", id="superscript-two"),  # "²".isdigit() is True; int("²") raised
        pytest.param("\u0661", id="arabic-indic-one"),  # was taken as project 1
        pytest.param("9" * 20, id="beyond-64-bit"),  # overflowed the SQLite driver
        pytest.param("2147483648", id="beyond-int4"),  # out of range for PostgreSQL INTEGER
        pytest.param("9" * 5000, id="beyond-int-str-digits"),  # int() refuses > 4300 digits
    ],
)
def test_odd_project_ids_are_400_not_500(
    client: TestClient, admin: dict[str, str], project_id: str
) -> None:
    body = {"metadata": {"name": "odd", "projectId": project_id}, "spec": RICH_SPEC}
    response = client.post("/api/v2/workloads/nim-services", json=body, headers=admin)
    assert response.status_code == 400, response.text
    fields = [issue["field"] for issue in response.json()["complianceIssues"]]
    assert fields == ["metadata.projectId"]


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        pytest.param(b'"3"', 3, id="quoted"),
        pytest.param(b'W/"3"', 3, id="weak"),
        pytest.param(b"*", None, id="any"),
        pytest.param(b'"\xb2"', -1, id="latin-1-superscript"),  # raised ValueError: a 500
        pytest.param(b"9" * 5000, -1, id="5000-digits"),  # raised ValueError: a 500
        pytest.param(b'"abc"', -1, id="not-a-number"),
    ],
)
def test_if_match_parsing(raw: bytes, version: int | None) -> None:
    """On raw header bytes, as a server receives them (the test client re-encodes them)."""
    request = Request({"type": "http", "headers": [(b"if-match", raw)]})
    assert parse_if_match(request) == version
