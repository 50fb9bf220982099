"""The CRD check on create and PATCH (a spec the API's own rules accept but that cannot render
to a `NIMService` the NIM Operator accepts is a 400 naming the API field, nothing stored),
`?dryRun=true`, and `GET .../{id}/manifests` in JSON or YAML. The suite's app checks against
NVIDIA's CRD (tests/conftest.py); a cluster's CRD may be stricter: `stricter_crd` plays one."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.kubernetes import ClusterSettings, CrdChecker, KubernetesManifests
from tests.conftest import nim_request
from tests.support.identity import ML_ENGINEER, VIEWER, Org, make_org, store_account
from tests.unit.kubernetes.support import crd

NIM = "/api/v2/workloads/nim-services"
LIST = "/api/v1/workloads"
NEW_PVC = {"existingPvc": False, "claimInfo": {"size": "10Gi"}}


def _stricter_crd() -> dict[str, Any]:
    """NVIDIA's CRD with tighter bounds, as a cluster's own version of it might have: at most
    4 GPUs a pod, 2 replicas, and (a CEL rule) a user id of at least 1000."""
    document = copy.deepcopy(crd())
    version = next(v for v in document["spec"]["versions"] if v.get("storage"))
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    spec["replicas"]["maximum"] = 2
    spec["resources"]["properties"]["limits"]["additionalProperties"]["maximum"] = 4
    spec["userID"]["x-kubernetes-validations"] = [
        {"rule": "self >= 1000", "message": "must be at least 1000"}
    ]
    return document


@pytest.fixture
def stricter_crd(state: AppState, monkeypatch: pytest.MonkeyPatch) -> None:
    checker = KubernetesManifests(ClusterSettings(), CrdChecker(_stricter_crd()))
    monkeypatch.setattr(state.workloads, "_manifests", checker)


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


def _names(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.get(LIST, headers=headers)
    assert response.status_code == 200, response.text
    return [w["name"] for w in response.json()["workloads"]]


def _fields(response: Any) -> set[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message", "complianceIssues"}
    return {issue["field"] for issue in body["complianceIssues"]}


# --- the CRD check on create ----------------------------------------------------------------

REFUSED_ON_CREATE = [
    pytest.param(nim_request("a" * 60), "metadata.name", id="name-of-60-characters"),
    pytest.param(nim_request("b" * 63), "metadata.name", id="name-of-63-characters"),
    pytest.param(
        {
            "metadata": {"name": "c" * 54, "projectId": "1", "useGivenNameAsPrefix": True},
            "spec": {
                "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                "modelStore": {"nimCache": {"name": "llama-cache"}},
            },
        },
        "metadata.name",
        id="prefix-whose-suffixed-name-is-60",
    ),
    pytest.param(
        nim_request(
            modelStore={"pvc": {**NEW_PVC, "claimInfo": {"size": "1Gi", "volumeMode": "Block"}}}
        ),
        "spec.modelStore.pvc.claimInfo.volumeMode",
        id="new-pvc-of-block-volume-mode",
    ),
]


@pytest.mark.parametrize(("body", "field"), REFUSED_ON_CREATE)
def test_a_create_that_cannot_render_to_a_valid_nim_service_is_a_400_storing_nothing(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post(NIM, json=body, headers=admin)
    assert _fields(response) == {field}
    assert all(i["rule"] == "kubernetes" for i in response.json()["complianceIssues"])
    assert _names(client, admin) == []


STRICTER_CRD_REFUSES = [
    pytest.param(
        {"compute": {"gpuDevicesRequest": 5}},
        "spec.compute.gpuDevicesRequest",
        "nvidia.com/gpu",
        id="schema-maximum-on-gpus",
    ),
    pytest.param(
        {"replicas": 3}, "spec.replicas", "spec.replicas", id="schema-maximum-on-replicas"
    ),
    pytest.param(
        {"security": {"runAsUid": 500}},
        "spec.security.runAsUid",
        "must be at least 1000",
        id="cel-rule-on-user-id",
    ),
]


@pytest.mark.parametrize(("spec", "field", "said"), STRICTER_CRD_REFUSES)
def test_a_create_the_crd_refuses_names_the_api_field(
    client: TestClient,
    admin: dict[str, str],
    stricter_crd: None,
    spec: dict[str, Any],
    field: str,
    said: str,
) -> None:
    response = client.post(NIM, json=nim_request("llama", **spec), headers=admin)
    assert _fields(response) == {field}
    (issue,) = response.json()["complianceIssues"]
    assert said in issue["details"]
    assert _names(client, admin) == []


# --- the CRD check on PATCH -------------------------------------------------------------------

REFUSED_ON_PATCH = [
    pytest.param(
        {
            "spec": {
                "modelStore": {
                    "pvc": {**NEW_PVC, "claimInfo": {"size": "1Gi", "volumeMode": "Block"}}
                }
            }
        },
        "spec.modelStore.pvc.claimInfo.volumeMode",
        False,
        id="block-volume-mode",
    ),
    pytest.param(
        {"spec": {"compute": {"gpuDevicesRequest": 8}}},
        "spec.compute.gpuDevicesRequest",
        True,
        id="stricter-crd-gpus",
    ),
    pytest.param(
        {"spec": {"security": {"runAsUid": 7}}},
        "spec.security.runAsUid",
        True,
        id="stricter-crd-cel",
    ),
]


@pytest.mark.parametrize(("patch", "field", "stricter"), REFUSED_ON_PATCH)
def test_a_patch_that_cannot_render_is_a_400_leaving_the_stored_spec_unchanged(
    client: TestClient,
    admin: dict[str, str],
    request: pytest.FixtureRequest,
    patch: dict[str, Any],
    field: str,
    stricter: bool,
) -> None:
    created = client.post(NIM, json=nim_request("llama"), headers=admin)
    assert created.status_code == 202, created.text
    wid = created.json()["metadata"]["id"]
    if stricter:
        request.getfixturevalue("stricter_crd")
    response = client.patch(f"{NIM}/{wid}", json=patch, headers=admin)
    assert _fields(response) == {field}
    after = client.get(f"{NIM}/{wid}", headers=admin)
    assert after.json() == created.json()
    assert after.headers["etag"] == '"1"'


# --- ?dryRun=true -------------------------------------------------------------------------------


def test_a_dry_run_answers_what_it_would_store_and_apply_and_stores_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = nim_request("llama", modelStore={"pvc": NEW_PVC})
    response = client.post(f"{NIM}?dryRun=true", json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert "etag" not in response.headers
    shown = response.json()
    assert set(shown) == {"workload", "manifests"}
    workload, manifests = shown["workload"], shown["manifests"]
    assert workload["metadata"]["name"] == "llama"
    assert workload["spec"]["replicas"] == 1  # defaults filled in as a create stores them
    assert [m["kind"] for m in manifests] == ["PersistentVolumeClaim", "NIMService"]
    nim = manifests[1]
    assert nim["metadata"]["namespace"] == "runai-default"
    assert nim["metadata"]["labels"]["nimplane.io/workload-id"] == workload["metadata"]["id"]
    assert nim["spec"]["storage"]["pvc"]["name"] == "llama-model-store"
    # nothing stored: the id it showed is unknown, the name is free
    assert _names(client, admin) == []
    assert client.get(f"{NIM}/{workload['metadata']['id']}", headers=admin).status_code == 404
    created = client.post(NIM, json=body, headers=admin)
    assert created.status_code == 202, created.text
    real = created.json()
    assert {k: v for k, v in real.items() if k != "metadata"} == {
        k: v for k, v in workload.items() if k != "metadata"
    }


def test_a_dry_run_passes_on_the_create_warnings(client: TestClient, admin: dict[str, str]) -> None:
    body = nim_request(
        "llama",
        replicas=3,
        autoscaling={"minReplicas": 1, "maxReplicas": 2, "metric": "m", "metricThreshold": 5},
    )
    response = client.post(NIM, params={"dryRun": "true"}, json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["warning"].startswith("299")
    assert "scale" in response.json()["manifests"][0]["spec"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("invalid-spec", 400, id="invalid-spec-is-400"),
        pytest.param("refused-by-the-crd", 400, id="refused-by-the-crd-is-400"),
        pytest.param("taken-name", 409, id="taken-name-is-409"),
        pytest.param("viewer", 403, id="viewer-may-not-create-403"),
        pytest.param("no-token", 401, id="no-token-401"),
    ],
)
def test_a_dry_run_refuses_what_a_create_refuses(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org, case: str, status: int
) -> None:
    body = nim_request("llama", org.project_id)
    headers = admin
    if case == "invalid-spec":
        body["spec"]["compute"] = {"gpuDevicesRequest": -1}
    elif case == "refused-by-the-crd":
        body["metadata"]["name"] = "d" * 61
    elif case == "taken-name":
        assert client.post(NIM, json=body, headers=admin).status_code == 202
    elif case == "viewer":
        headers = store_account(state, ((VIEWER, "project", org.project_id),)).headers
    else:
        headers = {}
    before = _names(client, admin)
    response = client.post(f"{NIM}?dryRun=true", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"code", "message"}
    assert _names(client, admin) == before


def test_dry_run_false_is_a_create(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(f"{NIM}?dryRun=false", json=nim_request("llama"), headers=admin)
    assert response.status_code == 202, response.text
    assert _names(client, admin) == ["llama"]


# --- GET .../{id}/manifests -------------------------------------------------------------------


def _created(client: TestClient, headers: dict[str, str], project: str = "1") -> str:
    response = client.post(NIM, json=nim_request("llama", project), headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        pytest.param(None, "application/json", id="no-accept-is-json"),
        pytest.param("*/*", "application/json", id="anything-is-json"),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("application/yaml", "application/yaml", id="yaml"),
        pytest.param("application/x-yaml", "application/yaml", id="x-yaml"),
        pytest.param(
            "application/json;q=0.5, application/yaml", "application/yaml", id="yaml-preferred"
        ),
        pytest.param("application/json;q=0, */*", "application/yaml", id="json-refused"),
    ],
)
def test_the_manifests_of_a_workload_in_json_or_yaml(
    client: TestClient, admin: dict[str, str], accept: str | None, media_type: str
) -> None:
    wid = _created(client, admin)
    headers = {**admin, **({"Accept": accept} if accept is not None else {})}
    response = client.get(f"{NIM}/{wid}/manifests", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    document = (
        response.json() if media_type == "application/json" else yaml.safe_load(response.text)
    )
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    (nim,) = document["items"]
    assert nim["kind"] == "NIMService"
    assert nim["metadata"]["name"] == "llama"
    assert nim["metadata"]["labels"]["nimplane.io/workload-id"] == wid
    assert nim["spec"]["replicas"] == 1
    assert nim["spec"]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_the_manifests_follow_the_stored_spec_and_desired_phase(
    client: TestClient, admin: dict[str, str]
) -> None:
    wid = _created(client, admin)
    patched = client.patch(f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=admin)
    assert patched.status_code == 202, patched.text
    url = f"{NIM}/{wid}/manifests"
    assert client.get(url, headers=admin).json()["items"][0]["spec"]["replicas"] == 2
    suspended = client.post(
        f"{LIST}/batch", json={"ids": [wid], "action": "suspend"}, headers=admin
    )
    assert suspended.status_code == 200, suspended.text
    assert client.get(url, headers=admin).json()["items"][0]["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    "accept", [pytest.param("text/html", id="html"), pytest.param("application/xml", id="xml")]
)
def test_manifests_in_another_format_are_a_406(
    client: TestClient, admin: dict[str, str], accept: str
) -> None:
    wid = _created(client, admin)
    response = client.get(f"{NIM}/{wid}/manifests", headers={**admin, "Accept": accept})
    assert response.status_code == 406
    body = response.json()
    assert body["code"] == 406
    assert "application/yaml" in body["message"]


def test_manifests_of_an_unknown_or_unreadable_workload_are_a_404(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org
) -> None:
    hidden = _created(client, admin, org.sibling_project_id)
    outsider = store_account(state, ((ML_ENGINEER, "project", org.project_id),))
    for wid in (hidden, str(uuid.uuid4()), "not-a-uuid"):
        response = client.get(f"{NIM}/{wid}/manifests", headers=outsider.headers)
        assert response.status_code == 404, response.text
    viewer = store_account(state, ((VIEWER, "project", org.sibling_project_id),))
    assert client.get(f"{NIM}/{hidden}/manifests", headers=viewer.headers).status_code == 200
    assert client.get(f"{NIM}/{hidden}/manifests").status_code == 401
