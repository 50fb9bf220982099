"""The NIM services endpoints: every documented status code and the metadata Run:ai fills."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.backend import ClusterError
from tests.conftest import nim_request

NIM = "/api/v2/workloads/nim-services"


def create(client: TestClient, headers: dict[str, str], body: dict | None = None) -> dict:
    response = client.post(NIM, json=body or nim_request(), headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_create_answers_202_with_filled_metadata_and_defaults(
    client: TestClient, admin: dict
) -> None:
    response = client.post(NIM, json=nim_request("llama", 1), headers=admin)
    assert response.status_code == 202, response.text
    body = response.json()
    meta = body["metadata"]
    assert uuid.UUID(meta["id"]).version == 4
    assert meta["name"] == "llama"
    # an integer projectId is echoed as a string (docs/decisions.md D4)
    assert meta["projectId"] == "1"
    assert meta["projectName"] == "default"
    assert meta["departmentId"] == "1"
    assert meta["departmentName"] == "default"
    assert isinstance(meta["tenantId"], int)
    assert uuid.UUID(meta["clusterId"])
    assert meta["gvk"] == {"group": "apps.nvidia.com", "version": "v1alpha1", "kind": "NIMService"}
    assert meta["createdBy"] == meta["updatedBy"] == "test-admin"
    assert meta["createdAt"].endswith("Z")
    assert meta["deletedAt"] is None
    assert meta["deletedBy"] is None
    assert (meta["priority"], meta["category"], meta["preemptibility"]) == (
        "very-high",
        "Deploy",
        "non-preemptible",
    )
    assert body["desiredPhase"] == "Running"
    assert body["spec"]["replicas"] == 1
    assert body["spec"]["servingPort"]["port"] == 8000
    assert response.headers["etag"] == '"1"'


def test_get_returns_what_create_returned(client: TestClient, admin: dict) -> None:
    created = create(client, admin)
    response = client.get(f"{NIM}/{created['metadata']['id']}", headers=admin)
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    "workload_id",
    [
        pytest.param(str(uuid.uuid4()), id="unknown-uuid"),
        pytest.param("not-a-uuid", id="not-a-uuid"),
        pytest.param("1", id="digits"),
    ],
)
def test_get_unknown_is_404(client: TestClient, admin: dict, workload_id: str) -> None:
    response = client.get(f"{NIM}/{workload_id}", headers=admin)
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert response.json()["message"]


def test_duplicate_name_in_project_is_409_naming_the_project(
    client: TestClient, admin: dict
) -> None:
    create(client, admin, nim_request("twin"))
    response = client.post(NIM, json=nim_request("twin"), headers=admin)
    assert response.status_code == 409
    assert "default" in response.json()["message"]
    listed = client.get("/api/v1/workloads", params={"filterBy": "name==twin"}, headers=admin)
    assert len(listed.json()["workloads"]) == 1  # the refused request left nothing behind


def test_name_is_free_again_after_delete(client: TestClient, admin: dict) -> None:
    first = create(client, admin, nim_request("again"))
    assert (
        client.delete(f"/api/v2/workloads/{first['metadata']['id']}", headers=admin).status_code
        == 202
    )
    second = create(client, admin, nim_request("again"))
    assert second["metadata"]["id"] != first["metadata"]["id"]


def test_use_given_name_as_prefix_appends_five_characters(client: TestClient, admin: dict) -> None:
    body = nim_request("svc")
    body["metadata"]["useGivenNameAsPrefix"] = True
    names = {create(client, admin, body)["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3
    assert all(re.fullmatch(r"svc-[a-z0-9]{5}", name) for name in names)


@pytest.mark.parametrize(
    ("name", "as_prefix", "ok"),
    [
        # the API's rule allows 63 (57 for a prefix); the NIM Operator's container
        # `<name>-ctr` allows 59 (53 for a prefix, which gets "-" and five characters)
        pytest.param("a" * 59, False, True, id="59-chars"),
        pytest.param("a" * 60, False, False, id="60-chars-too-long-for-the-operator"),
        pytest.param("a" * 63, False, False, id="63-chars-too-long-for-the-operator"),
        pytest.param("a" * 64, False, False, id="64-chars"),
        pytest.param("a" * 53, True, True, id="53-char-prefix"),
        pytest.param("a" * 54, True, False, id="54-char-prefix-too-long-for-the-operator"),
        pytest.param("a" * 58, True, False, id="58-char-prefix"),
        pytest.param("1abc", False, False, id="starts-with-digit"),
        pytest.param("Abc", False, False, id="upper-case"),
        pytest.param("abc-", False, False, id="ends-with-dash"),
    ],
)
def test_name_rules(client: TestClient, admin: dict, name: str, as_prefix: bool, ok: bool) -> None:
    body = nim_request(name)
    body["metadata"]["useGivenNameAsPrefix"] = as_prefix
    response = client.post(NIM, json=body, headers=admin)
    assert response.status_code == (202 if ok else 400), response.text
    if not ok:
        assert {i["field"] for i in response.json()["complianceIssues"]} == {"metadata.name"}


def test_unknown_project_is_400_naming_the_field(client: TestClient, admin: dict) -> None:
    response = client.post(NIM, json=nim_request(project_id="999"), headers=admin)
    assert response.status_code == 400
    assert [i["field"] for i in response.json()["complianceIssues"]] == ["metadata.projectId"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="malformed-json"),
        pytest.param(b"[1, 2]", "application/json", id="array-body"),
        pytest.param(b'"text"', "application/json", id="string-body"),
        pytest.param(b"name=x", "application/x-www-form-urlencoded", id="form-content-type"),
        pytest.param(b"{}", "text/plain", id="text-content-type"),
        pytest.param(b"", "application/json", id="empty-body"),
    ],
)
def test_bad_bodies_are_400_not_422(
    client: TestClient, admin: dict, content: bytes, content_type: str
) -> None:
    response = client.post(NIM, content=content, headers={**admin, "Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert response.json()["message"]


def test_unknown_fields_are_named_by_path(client: TestClient, admin: dict) -> None:
    body = nim_request()
    body["extra"] = 1
    body["metadata"]["nickname"] = "x"
    body["spec"]["compute"]["gpus"] = 2
    response = client.post(NIM, json=body, headers=admin)
    assert response.status_code == 400
    fields = {i["field"] for i in response.json()["complianceIssues"]}
    assert fields == {"extra", "metadata.nickname", "spec.compute.gpus"}


def test_nulls_mean_not_given_on_create(client: TestClient, admin: dict) -> None:
    body = nim_request(replicas=None, autoscaling=None, labels=None, priorityClass=None)
    body["metadata"]["useGivenNameAsPrefix"] = None
    created = create(client, admin, body)
    assert created["spec"]["replicas"] == 1
    assert created["spec"]["priorityClass"] == "very-high"
    assert "labels" not in created["spec"]
    assert "autoscaling" not in created["spec"]


def test_replicas_with_autoscaling_on_create_is_dropped_with_a_warning(
    client: TestClient, admin: dict
) -> None:
    body = nim_request(
        replicas=1,
        autoscaling={
            "minReplicas": 2,
            "maxReplicas": 4,
            "metric": "concurrency",
            "metricThreshold": 5,
        },
    )
    response = client.post(NIM, json=body, headers=admin)
    assert response.status_code == 202
    assert "replicas" not in response.json()["spec"]
    assert response.headers["warning"].startswith('299 - "')
    assert "autoscaling" in response.headers["warning"]


def test_example_request_is_refused_naming_each_conflict(
    client: TestClient, admin: dict, example_request: dict
) -> None:
    response = client.post(NIM, json=example_request, headers=admin)
    assert response.status_code == 400
    fields = {i["field"] for i in response.json()["complianceIssues"]}
    assert {
        "spec.modelStore",
        "spec.multiNode",
        "spec.autoscaling.metricThreshold",
        "spec.environmentVariables[0]",
        "spec.environmentVariables[0].secret.name",
        "spec.tolerations[0].seconds",
        "spec.priorityClass",
        "spec.category",
        "spec.nodePools[0]",
        "spec.nodePools[1]",
    } <= fields


def test_corrected_example_request_is_accepted(
    client: TestClient, admin: dict, example_request: dict
) -> None:
    spec = example_request["spec"]
    del spec["modelStore"]["pvc"]
    del spec["multiNode"]
    spec["autoscaling"]["metricThreshold"] = 10
    env = spec["environmentVariables"][0]
    for source in ("secret", "configMap", "podFieldRef", "userCredential"):
        del env[source]
    spec["tolerations"][0]["effect"] = "NoExecute"
    spec["priorityClass"] = "high"
    spec["category"] = "Deploy"
    spec["nodePools"] = ["default"]
    response = client.post(NIM, json=example_request, headers=admin)
    assert response.status_code == 202, response.text
    stored = response.json()["spec"]
    assert "replicas" not in stored  # autoscaling owns the count (docs/decisions.md D2)
    assert response.headers.get("warning")
    assert response.json()["metadata"]["name"].startswith("my-workload-name-")


def test_patch_replaces_given_sections_and_keeps_the_rest(client: TestClient, admin: dict) -> None:
    created = create(
        client,
        admin,
        nim_request(
            environmentVariables=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            labels=[{"name": "team", "value": "a"}],
        ),
    )
    wid = created["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}",
        json={"spec": {"environmentVariables": [{"name": "C", "value": "3"}]}},
        headers=admin,
    )
    assert response.status_code == 202, response.text
    spec = response.json()["spec"]
    assert spec["environmentVariables"] == [{"name": "C", "value": "3"}]
    assert spec["labels"] == [{"name": "team", "value": "a"}]
    assert response.headers["etag"] == '"2"'
    assert client.get(f"{NIM}/{wid}", headers=admin).json()["spec"] == spec


def test_patch_with_nulls_changes_nothing(client: TestClient, admin: dict) -> None:
    created = create(client, admin)
    wid = created["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}", json={"spec": {"image": None, "labels": None}}, headers=admin
    )
    assert response.status_code == 202
    assert response.json()["spec"] == created["spec"]


def test_patch_fields_to_remove(client: TestClient, admin: dict) -> None:
    created = create(client, admin, nim_request(labels=[{"name": "a", "value": "b"}]))
    wid = created["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}", json={"spec": {}, "fieldsToRemove": ["labels"]}, headers=admin
    )
    assert response.status_code == 202
    assert "labels" not in response.json()["spec"]


def test_patch_removing_and_giving_a_section_is_400(client: TestClient, admin: dict) -> None:
    wid = create(client, admin)["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}",
        json={"spec": {"labels": [{"name": "a"}]}, "fieldsToRemove": ["labels"]},
        headers=admin,
    )
    assert response.status_code == 400
    assert [i["field"] for i in response.json()["complianceIssues"]] == ["fieldsToRemove"]


def test_patch_replicas_while_autoscaling_is_ignored_with_a_warning(
    client: TestClient, admin: dict
) -> None:
    scaling = {"minReplicas": 1, "maxReplicas": 3, "metric": "concurrency", "metricThreshold": 4}
    wid = create(client, admin, nim_request(autoscaling=scaling))["metadata"]["id"]
    response = client.patch(f"{NIM}/{wid}", json={"spec": {"replicas": 5}}, headers=admin)
    assert response.status_code == 202
    assert "replicas" not in response.json()["spec"]
    assert 'fieldsToRemove: ["autoscaling"]' in response.headers["warning"]
    switched = client.patch(
        f"{NIM}/{wid}",
        json={"spec": {"replicas": 5}, "fieldsToRemove": ["autoscaling"]},
        headers=admin,
    )
    assert switched.status_code == 202
    assert switched.json()["spec"]["replicas"] == 5
    assert "autoscaling" not in switched.json()["spec"]
    assert "warning" not in switched.headers


def test_patch_giving_autoscaling_drops_replicas(client: TestClient, admin: dict) -> None:
    wid = create(client, admin, nim_request(replicas=3))["metadata"]["id"]
    scaling = {"minReplicas": 2, "metric": "concurrency", "metricThreshold": 4}
    response = client.patch(f"{NIM}/{wid}", json={"spec": {"autoscaling": scaling}}, headers=admin)
    assert response.status_code == 202
    spec = response.json()["spec"]
    assert "replicas" not in spec
    assert spec["autoscaling"]["maxReplicas"] == 2


def test_invalid_patch_is_400_and_changes_nothing(client: TestClient, admin: dict) -> None:
    created = create(client, admin)
    wid = created["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}",
        json={
            "spec": {
                "modelStore": {
                    "nimCache": {"name": "a"},
                    "pvc": {"existingPvc": True, "claimName": "b"},
                }
            }
        },
        headers=admin,
    )
    assert response.status_code == 400
    assert [i["field"] for i in response.json()["complianceIssues"]] == ["spec.modelStore"]
    assert client.get(f"{NIM}/{wid}", headers=admin).json() == created


def test_patch_cannot_change_metadata(client: TestClient, admin: dict) -> None:
    wid = create(client, admin)["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}", json={"spec": {}, "metadata": {"name": "other"}}, headers=admin
    )
    assert response.status_code == 400
    assert [i["field"] for i in response.json()["complianceIssues"]] == ["metadata"]


def test_patch_without_spec_is_400(client: TestClient, admin: dict) -> None:
    wid = create(client, admin)["metadata"]["id"]
    response = client.patch(f"{NIM}/{wid}", json={}, headers=admin)
    assert response.status_code == 400
    assert [i["field"] for i in response.json()["complianceIssues"]] == ["spec"]


def test_patch_unknown_is_404(client: TestClient, admin: dict) -> None:
    response = client.patch(f"{NIM}/{uuid.uuid4()}", json={"spec": {}}, headers=admin)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        pytest.param('"1"', 202, id="current-version"),
        pytest.param("1", 202, id="unquoted-current"),
        pytest.param("*", 202, id="any-version"),
        pytest.param('"7"', 409, id="stale-version"),
        pytest.param('"abc"', 409, id="garbage-version"),
    ],
)
def test_patch_if_match(client: TestClient, admin: dict, if_match: str, status: int) -> None:
    wid = create(client, admin)["metadata"]["id"]
    response = client.patch(
        f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers={**admin, "If-Match": if_match}
    )
    assert response.status_code == status, response.text
    expected_replicas = 2 if status == 202 else 1
    assert client.get(f"{NIM}/{wid}", headers=admin).json()["spec"]["replicas"] == expected_replicas


def test_delete_then_get_is_404_and_listed_as_deleted(client: TestClient, admin: dict) -> None:
    wid = create(client, admin)["metadata"]["id"]
    response = client.delete(f"/api/v2/workloads/{wid}", headers=admin)
    assert response.status_code == 202
    body = response.json()
    assert body["desiredPhase"] == "Deleted"
    assert body["metadata"]["deletedBy"] == "test-admin"
    assert body["metadata"]["deletedAt"]
    assert body["workloadManifest"]["kind"] == "NIMService"
    assert client.get(f"{NIM}/{wid}", headers=admin).status_code == 404
    assert client.get(f"/api/v1/workloads/{wid}", headers=admin).status_code == 404
    assert client.delete(f"/api/v2/workloads/{wid}", headers=admin).status_code == 404
    live = client.get("/api/v1/workloads", headers=admin).json()["workloads"]
    assert wid not in {w["id"] for w in live}
    deleted = client.get("/api/v1/workloads", params={"deleted": "true"}, headers=admin).json()[
        "workloads"
    ]
    [entry] = [w for w in deleted if w["id"] == wid]
    assert entry["deletedAt"]


def test_delete_unknown_is_404(client: TestClient, admin: dict) -> None:
    assert client.delete(f"/api/v2/workloads/{uuid.uuid4()}", headers=admin).status_code == 404
    assert client.delete("/api/v2/workloads/nope", headers=admin).status_code == 404


@pytest.mark.parametrize("method", ["post", "patch"])
def test_token_is_checked_before_the_body(client: TestClient, method: str) -> None:
    path = NIM if method == "post" else f"{NIM}/{uuid.uuid4()}"
    response = client.request(
        method, path, content=b"{broken", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_a_cluster_that_cannot_be_reached_is_503_for_pods_and_leaves_a_delete_to_the_engine(
    client: TestClient, admin: dict, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend raising ClusterError (Kubernetes down, or not listed yet): reading the
    pods is a 503 naming the workload; a delete is still accepted, and the lifecycle engine
    tears the workload down once the cluster answers."""
    wid = create(client, admin, nim_request("unreachable"))["metadata"]["id"]

    def refuse(*_: object, **__: object) -> None:
        raise ClusterError("connection refused", retryable=True)

    backend = state.workloads._backend
    monkeypatch.setattr(backend, "observe", refuse)
    monkeypatch.setattr(backend, "teardown", refuse)
    pods = client.get(f"/api/v1/workloads/{wid}/pods", headers=admin)
    assert pods.status_code == 503
    assert "unreachable" in pods.json()["message"]
    deleted = client.delete(f"/api/v2/workloads/{wid}", headers=admin)
    assert deleted.status_code == 202, deleted.text
    stored = state.workloads._store
    with stored.read() as tx:
        workload = tx.workloads.get(wid, include_deleted=True)
    assert workload is not None
    assert workload.deleted_at is not None
    assert workload.torn_down_at is None


def test_a_delete_asks_the_cluster_to_tear_down_only_after_the_mark_is_stored(
    client: TestClient, admin: dict, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teardown (on Kubernetes, API server round trips) runs outside the write: when the
    backend is asked, the workload is already stored as deleted, read by another
    transaction; once it says nothing is left, the workload is torn down (gone from GET)."""
    wid = create(client, admin, nim_request("teardown-after"))["metadata"]["id"]
    store = state.workloads._store
    seen: list[object] = []

    def teardown(workload: object) -> bool:
        with store.read() as tx:
            stored = tx.workloads.get(wid, include_deleted=True)
        seen.append(stored.deleted_at if stored is not None else None)
        return True

    monkeypatch.setattr(state.workloads._backend, "teardown", teardown)
    assert client.delete(f"/api/v2/workloads/{wid}", headers=admin).status_code == 202
    assert len(seen) == 1
    assert seen[0] is not None
    assert client.get(f"{NIM}/{wid}", headers=admin).status_code == 404
    with store.read() as tx:
        gone = tx.workloads.get(wid, include_deleted=True)
    assert gone is not None
    assert gone.torn_down_at is not None
