"""Run:ai's own Python client (`runapy`), unchanged, against a real nimplane server.

runapy gets its token with `grantType: app_token` (docs/decisions.md D9), sends an explicit `null`
for every field it was not given and `replicas: 1` unless told otherwise (docs/decisions.md D2), and
hands back the raw JSON; its generated models must be able to read every answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from runai import models
from runai.api_client import ApiClient
from runai.api_response import ApiResponse
from runai.configuration import Configuration
from runai.exceptions import ApiException
from runai.runai_client import RunaiClient

from tests.support.server import CLIENT_ID, CLIENT_SECRET, ServerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"


@pytest.fixture(scope="module")
def runai(server: ServerProcess) -> Iterator[RunaiClient]:
    config = Configuration(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, runai_base_url=server.base_url
    )
    client = RunaiClient(ApiClient(config))
    try:
        yield client
    finally:
        client.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def spec(**sections: Any) -> models.NimServiceSpec:
    """A spec built as runapy users build one from JSON: every other field set to null."""
    body: dict[str, Any] = {
        "image": IMAGE,
        "modelStore": {"nimCache": {"name": "llama-cache"}},
        "compute": {"gpuDevicesRequest": 1},
    }
    body.update(sections)
    built = models.NimServiceSpec.from_dict(body)
    assert built is not None
    return built


def create_request(name: str, nim_spec: models.NimServiceSpec) -> models.NimServiceCreateRequest:
    return models.NimServiceCreateRequest(
        metadata=models.NIMServiceMetadataCreateParams(name=name, project_id="1"),
        spec=nim_spec,
    )


def update_request(**sections: Any) -> models.NimServiceUpdateRequest:
    request = models.NimServiceUpdateRequest.from_dict({"spec": sections})
    assert request is not None
    return request


def nim_response(data: Any) -> models.NimServiceResponse:
    parsed = models.NimServiceResponse.from_dict(data)
    assert parsed is not None
    return parsed


def get_if_present(nim: Any, workload_id: str) -> models.NimServiceResponse | None:
    """The NIM service, or None once the client raises its 404."""
    try:
        return nim_response(nim.get_nim_service_by_id(workload_id).data)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def gone_or_deleted(nim: Any, workload_id: str) -> bool:
    """True once the NIM service is gone; until then it must show desiredPhase Deleted."""
    found = get_if_present(nim, workload_id)
    if found is None:
        return True
    assert found.desired_phase == models.DesiredPhase.DELETED
    return False


def warning_of(response: ApiResponse[Any]) -> str:
    """The Warning header (runapy hands headers back as a plain dict, names as sent)."""
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    return headers.get("warning", "")


def test_runapy_sends_nulls_and_default_replicas(runai: RunaiClient) -> None:
    """The premise of these tests (docs/decisions.md D2): what runapy puts on the wire for a sparse
    spec."""
    wire = runai.api_client.sanitize_for_serialization(update_request(labels=[]))
    assert wire["spec"]["replicas"] == 1
    assert wire["spec"]["image"] is None
    assert wire["spec"]["autoscaling"] is None
    assert wire["spec"]["modelStore"] is None


def test_create_get_update_list_delete(runai: RunaiClient) -> None:
    nim = runai.workloads.nvidia_nim
    name = unique_name("runapy")

    # create: explicit nulls everywhere, replicas 1 by default
    response = nim.create_nim_service(create_request(name, spec()))
    assert response.status_code == 202
    created = nim_response(response.data)
    workload_id = created.metadata.id
    assert uuid.UUID(workload_id).version == 4
    assert created.metadata.name == name
    assert created.metadata.project_id == "1"
    assert created.metadata.project_name == "default"
    assert created.metadata.created_by == CLIENT_ID
    assert created.metadata.deleted_at is None
    assert created.metadata.gvk.kind == "NIMService"
    assert created.desired_phase == models.DesiredPhase.RUNNING
    assert created.spec.image == IMAGE
    assert created.spec.replicas == 1
    assert created.spec.compute is not None
    assert created.spec.compute.gpu_devices_request == 1
    assert created.spec.model_store is not None
    assert created.spec.model_store.nim_cache is not None
    assert created.spec.model_store.nim_cache.name == "llama-cache"
    # defaults of docs/decisions.md D5 are stored and echoed
    assert created.spec.priority_class == "very-high"
    assert created.spec.serving_port is not None
    assert created.spec.serving_port.port == 8000
    assert created.spec.labels is None
    assert created.spec.autoscaling is None

    # get
    response = nim.get_nim_service_by_id(workload_id)
    assert response.status_code == 200
    assert nim_response(response.data) == created

    # update: one section given, every other one null (and replicas 1): the rest stays
    # (docs/decisions.md D2)
    response = nim.update_nim_service_spec(
        workload_id,
        update_request(
            labels=[{"name": "team", "value": "inference"}],
            priorityClass="high",
            compute={"gpuDevicesRequest": 2},
        ),
    )
    assert response.status_code == 202
    updated = nim_response(response.data)
    assert updated.metadata.id == workload_id
    assert updated.metadata.name == name
    assert updated.metadata.priority == "high"
    assert updated.spec.labels == [models.Label(name="team", value="inference")]
    assert updated.spec.priority_class == "high"
    assert updated.spec.compute is not None
    assert updated.spec.compute.gpu_devices_request == 2
    assert updated.spec.image == IMAGE
    assert updated.spec.model_store == created.spec.model_store
    assert updated.spec.serving_port == created.spec.serving_port
    assert updated.spec.replicas == 1
    assert updated.metadata.updated_at >= created.metadata.updated_at
    assert nim_response(nim.get_nim_service_by_id(workload_id).data) == updated

    # list (v1): ours is there, as a NIMService with the updated priority
    response = runai.workloads.workloads.get_workloads(filter_by=[f"name=={name}"])
    assert response.status_code == 200
    listed = models.GetWorkloads200Response.from_dict(response.data)
    assert listed is not None
    ours = [w for w in listed.workloads if w.id == workload_id]
    assert len(ours) == 1
    assert ours[0].name == name
    assert ours[0].type == "NIMService"
    assert ours[0].project_id == "1"
    assert ours[0].priority_class_name == "high"
    assert ours[0].images == [IMAGE]
    assert ours[0].deleted_at is None

    # get (v1, detailed)
    response = runai.workloads.workloads.get_workload(workload_id)
    detailed = models.WorkloadDetailed.from_dict(response.data)
    assert detailed is not None
    assert (detailed.id, detailed.name, detailed.type) == (workload_id, name, "NIMService")

    # delete (v2): accepted, desiredPhase Deleted
    response = runai.workloads.workloads_v2.delete_workload_v2(workload_id)
    assert response.status_code == 202
    deleted = models.WorkloadV2.from_dict(response.data)
    assert deleted is not None
    assert deleted.metadata.id == workload_id
    assert deleted.desired_phase == models.DesiredPhase.DELETED
    assert deleted.metadata.deleted_at is not None
    assert deleted.metadata.deleted_by == CLIENT_ID

    # docs/decisions.md D8: the NIM GET shows desiredPhase Deleted until teardown ends, then 404
    wait_until(lambda: gone_or_deleted(nim, workload_id), "the deleted NIM service went away")
    with pytest.raises(ApiException) as gone:
        nim.get_nim_service_by_id(workload_id)
    assert gone.value.status == 404

    # ... and the v1 list of deleted workloads still has it
    response = runai.workloads.workloads.get_workloads(deleted=True, filter_by=[f"name=={name}"])
    listed = models.GetWorkloads200Response.from_dict(response.data)
    assert listed is not None
    gone = [w for w in listed.workloads if w.id == workload_id]
    assert len(gone) == 1
    assert gone[0].deleted_at is not None


def test_replicas_one_sent_by_runapy_is_ignored_under_autoscaling(runai: RunaiClient) -> None:
    """runapy's default `replicas: 1` on a PATCH must not fight a stored autoscaling
    (docs/decisions.md D2)."""
    nim = runai.workloads.nvidia_nim
    autoscaling = {
        "minReplicas": 2,
        "maxReplicas": 4,
        "metric": "concurrency",
        "metricThreshold": 5,
    }
    response = nim.create_nim_service(
        create_request(unique_name("runapy-as"), spec(autoscaling=autoscaling))
    )
    assert response.status_code == 202
    created = nim_response(response.data)
    # autoscaling owns the count: runapy's 1 was dropped (the raw JSON, since runapy's model
    # fills in its own default of 1 when reading a spec without replicas)
    assert "replicas" not in response.data["spec"]
    assert "autoscaling" in warning_of(response)

    response = nim.update_nim_service_spec(
        created.metadata.id, update_request(labels=[{"name": "tier", "value": "gold"}])
    )
    assert response.status_code == 202
    updated = nim_response(response.data)
    assert "replicas" not in response.data["spec"]
    assert updated.spec.autoscaling == created.spec.autoscaling
    assert updated.spec.labels == [models.Label(name="tier", value="gold")]
    assert warning_of(response).startswith('299 - "')
    assert "fieldsToRemove" in warning_of(response)


def test_errors_reach_runapy_as_api_exceptions(runai: RunaiClient) -> None:
    nim = runai.workloads.nvidia_nim
    with pytest.raises(ApiException) as unknown:
        nim.get_nim_service_by_id(str(uuid.uuid4()))
    assert unknown.value.status == 404

    name = unique_name("runapy-twin")
    assert nim.create_nim_service(create_request(name, spec())).status_code == 202
    with pytest.raises(ApiException) as taken:
        nim.create_nim_service(create_request(name, spec()))
    assert taken.value.status == 409
    # the message names the project (docs/decisions.md D3)
    assert "default" in str(taken.value.body)

    with pytest.raises(ApiException) as invalid:
        nim.create_nim_service(create_request(unique_name("runapy-bad"), spec(priorityClass="x")))
    assert invalid.value.status == 400
    assert invalid.value.data is not None
    fields = [issue["field"] for issue in invalid.value.data["complianceIssues"]]
    assert fields == ["spec.priorityClass"]


def batch_response(data: Any) -> models.BatchResponse:
    parsed = models.BatchResponse.from_dict(data)
    assert parsed is not None
    return parsed


def test_batch_suspend_resume_delete_and_history(runai: RunaiClient) -> None:
    nim = runai.workloads.nvidia_nim
    batch = runai.workloads.workloads_batch
    created = nim_response(
        nim.create_nim_service(create_request(unique_name("runapy-batch"), spec())).data
    )
    workload_id = created.metadata.id
    unknown = str(uuid.uuid4())

    response = batch.batch_workloads(
        models.WorkloadBatch(ids=[workload_id, unknown], action=models.Action1.SUSPEND)
    )
    assert response.status_code == 200
    suspended = batch_response(response.data)
    assert uuid.UUID(suspended.id)
    assert suspended.succeeded == [workload_id]
    assert suspended.failed is not None
    assert [(f.id, f.code) for f in suspended.failed] == [(unknown, 404)]
    stopped = nim_response(nim.get_nim_service_by_id(workload_id).data)
    assert stopped.desired_phase == models.DesiredPhase.STOPPED

    resumed = batch_response(
        batch.batch_workloads(
            models.WorkloadBatch(ids=[workload_id], action=models.Action1.RESUME)
        ).data
    )
    assert resumed.succeeded == [workload_id]
    running = nim_response(nim.get_nim_service_by_id(workload_id).data)
    assert running.desired_phase == models.DesiredPhase.RUNNING

    deleted = batch_response(
        batch.batch_workloads(
            models.WorkloadBatch(ids=[workload_id], action=models.Action1.DELETE)
        ).data
    )
    assert deleted.succeeded == [workload_id]
    # docs/decisions.md D8: Deleted until the lifecycle engine has torn its pods down, then gone
    wait_until(lambda: gone_or_deleted(nim, workload_id), "the NIM service was torn down")

    history = models.GetWorkloadHistory200Response.from_dict(
        runai.workloads.events.get_workload_history(workload_id, offset=0, limit=100).data
    )
    assert history is not None
    phases = [r.spec.phase_update.phase for r in history.records if r.spec.phase_update]
    assert phases[0] == models.Phase.CREATING
    assert phases[-1] == models.Phase.DELETING
    # (whether Stopped shows depends on whether a lifecycle pass ran between the suspend and
    # the resume: the engine is level-based; tests/lifecycle covers the phases themselves)
    kinds = {r.meta.type for r in history.records}
    assert models.HistoryRecordType.PHASEUPDATE in kinds


def test_the_organisation_through_runapy(runai: RunaiClient) -> None:
    """Clusters, departments, node pools and a project's life through runapy's organisation
    API. runapy hands back the raw JSON; its generated `Project` model cannot read a project
    (its generator gave that name to another schema, with `metadata` and `current`), so the
    project answers are checked as JSON, as Run:ai's own document describes them."""
    org = runai.organizations
    (cluster,) = org.clusters.get_clusters().data
    departments = models.GetDepartments200Response.from_dict(org.departments.get_departments().data)
    assert departments is not None
    # (the session's database may hold other tests' departments and pools too)
    assert "default" in [d.name for d in departments.departments]
    pools = org.node_pools.get_nodepools().data["nodepools"]
    assert "default" in [pool["name"] for pool in pools]

    name = unique_name("team")
    request = models.ProjectCreationRequest.from_dict(
        {
            "name": name,
            "parentId": departments.departments[0].id,
            "clusterId": cluster["uuid"],
            "resources": [{"nodePool": {"id": pools[0]["id"]}, "gpu": {"deserved": 0}}],
        }
    )
    assert request is not None
    created = org.projects.create_project(request)
    assert created.status_code == 201
    project = created.data
    assert (project["name"], project["parentId"]) == (name, "1")
    assert project["status"]["namespace"] == f"runai-{name}"

    resources = [
        models.ResourcesNullable.from_dict(
            {"nodePool": {"id": pools[0]["id"]}, "gpu": {"deserved": 0, "overQuotaWeight": 3}}
        )
    ]
    assert org.projects.update_project_resources(project["id"], resources).status_code == 200
    fetched = org.projects.get_project(project["id"]).data
    assert fetched["resources"][0]["gpu"]["overQuotaWeight"] == 3
    listed = org.projects.get_projects(filter_by=[f"name=={name}"]).data["projects"]
    assert [p["id"] for p in listed] == [project["id"]]

    assert org.projects.delete_project(project["id"]).status_code in (200, 202, 204)
    with pytest.raises(ApiException) as missing:
        org.projects.get_project(project["id"])
    assert missing.value.status == 404
