"""What the Kubernetes backend relies on, checked against the real kube-apiserver with the
real CRDs: server-side apply of a `NIMService` (field manager `nimplane`, strict field
validation), the CRD schema refusing an invalid one with the field named, KAI `Queue`
objects, watches from a resource version, and the status subresource."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.support.kube import APPLY_PATCH, FIELD_MANAGER, KubeServer

pytestmark = pytest.mark.kube

NIM_GROUP, NIM_VERSION, NIM_PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
QUEUE_GROUP, QUEUE_VERSION, QUEUE_PLURAL = "scheduling.run.ai", "v2", "queues"
WATCH_TIMEOUT_S = 30


def nim_service(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """A minimal valid NIMService, by hand from the CRD (only `spec.image` is required, with
    `repository` and `tag`); keyword arguments replace or add spec fields."""
    body: dict[str, Any] = {
        "apiVersion": f"{NIM_GROUP}/{NIM_VERSION}",
        "kind": "NIMService",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
            "storage": {"nimCache": {"name": "llama-cache"}},
            "replicas": 1,
            "resources": {"limits": {"nvidia.com/gpu": 1}},
            "expose": {"service": {"type": "ClusterIP", "port": 8000}},
        },
    }
    body["spec"].update(spec)
    return body


@pytest.fixture
def custom(kube_api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


@pytest.fixture
def namespace(kube_api: client.ApiClient) -> str:
    """A fresh namespace per test (no namespace controller runs: it is never emptied, only
    left behind with the session's server)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(kube_api).create_namespace(client.V1Namespace(metadata={"name": name}))
    return name


def apply_nim(
    custom: client.CustomObjectsApi, server: KubeServer, body: dict[str, Any]
) -> dict[str, Any]:
    """Server-side apply as nimplane will: field manager `nimplane`, forced, strict field
    validation where the server supports it."""
    strict = "Strict" if server.strict_field_validation else None
    response = custom.patch_namespaced_custom_object(
        NIM_GROUP,
        NIM_VERSION,
        body["metadata"]["namespace"],
        NIM_PLURAL,
        body["metadata"]["name"],
        body,
        field_manager=FIELD_MANAGER,
        field_validation=strict,
        force=True,
        _content_type=APPLY_PATCH,
        _preload_content=False,
    )
    return read_body(response)


def read_body(response: Any) -> dict[str, Any]:
    """The object a PATCH answered. Read raw: the client (37.0.2) maps only a 200 of a PATCH
    to the object, so an apply that creates (201) would come back as None."""
    result: dict[str, Any] = json.loads(response.data)
    return result


def refusal(exc: ApiException) -> tuple[int, str]:
    """The status code and the whole message (with every cause's field) of a refusal."""
    body = json.loads(exc.body)
    causes = body.get("details", {}).get("causes", [])
    parts = [body.get("message", "")] + [
        f"{c.get('field', '')}: {c.get('message', '')}" for c in causes
    ]
    return int(exc.status), "\n".join(parts)


def test_a_minimal_nimservice_is_applied_by_nimplane(
    kube_server: KubeServer, custom: client.CustomObjectsApi, namespace: str
) -> None:
    applied = apply_nim(custom, kube_server, nim_service("llama", namespace))

    assert applied["spec"]["image"] == {
        "repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct",
        "tag": "1.3.3",
    }
    managers = {(m["manager"], m["operation"]) for m in applied["metadata"]["managedFields"]}
    assert (FIELD_MANAGER, "Apply") in managers
    # applying the same object again changes nothing
    again = apply_nim(custom, kube_server, nim_service("llama", namespace))
    assert again["metadata"]["resourceVersion"] == applied["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1


# Server-side apply converts the object to its typed form before it validates it: a value of
# the wrong type, or a field the schema does not declare, is refused there with a 500 ("failed
# to create typed patch object", the field named), not a 422. The adapter must treat that 500
# as permanent, never retry it; nimplane's own CRD check refuses such specs before any apply.
TYPED = 500
SCHEMA = 422


@pytest.mark.parametrize(
    ("spec", "field", "status"),
    [
        pytest.param({"replicas": "two"}, "spec.replicas", TYPED, id="wrong-type"),
        pytest.param({"replicas": -1}, "spec.replicas", SCHEMA, id="below-minimum"),
        pytest.param(
            {"image": {"repository": "nvcr.io/nim/x"}}, "spec.image.tag", SCHEMA, id="required"
        ),
        pytest.param(
            {"storage": {"nimCache": {"name": 7}}},
            "spec.storage.nimCache.name",
            TYPED,
            id="nested-type",
        ),
        pytest.param(
            {"expose": {"service": {"type": "ClusterIP", "port": "http"}}},
            "spec.expose.service.port",
            TYPED,
            id="port-type",
        ),
        pytest.param(
            {"imagePullPolicyTypo": "Always"}, "spec.imagePullPolicyTypo", TYPED, id="unknown-field"
        ),
    ],
)
def test_an_invalid_nimservice_is_refused_with_the_field_named(
    kube_server: KubeServer,
    custom: client.CustomObjectsApi,
    namespace: str,
    spec: dict[str, Any],
    field: str,
    status: int,
) -> None:
    if field.endswith("Typo") and not kube_server.strict_field_validation:
        # before 1.25 there is no strict field validation: an unknown field is either refused
        # by apply's typed conversion or pruned silently; either way nimplane checks it itself
        message, applied = "", {}
        try:
            applied = apply_nim(custom, kube_server, nim_service("pruned", namespace, **spec))
        except ApiException as exc:
            message = refusal(exc)[1]
        if message:
            assert field in message
        else:
            assert "imagePullPolicyTypo" not in applied["spec"]
        return
    with pytest.raises(ApiException) as refused:
        apply_nim(custom, kube_server, nim_service("bad", namespace, **spec))

    code, message = refusal(refused.value)
    assert field in message
    if kube_server.version >= (1, 25):
        assert code == status, message
        if status == TYPED:
            assert "failed to create typed patch object" in message
    else:
        assert code in (TYPED, SCHEMA), message
    with pytest.raises(ApiException) as missing:
        custom.get_namespaced_custom_object(NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "bad")
    assert missing.value.status == 404


def test_create_with_strict_validation_answers_400_or_422_for_the_same_mistakes(
    kube_server: KubeServer, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """A plain create (POST) validates before any conversion: the schema's 422, and 400 for an
    unknown field under strict validation."""
    wrong_type = nim_service("post", namespace, replicas="two")
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(
            NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, wrong_type, field_manager=FIELD_MANAGER
        )
    code, message = refusal(refused.value)
    assert (code, "spec.replicas" in message) == (422, True)
    if kube_server.strict_field_validation:
        unknown = nim_service("post", namespace, imagePullPolicyTypo="Always")
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                NIM_GROUP,
                NIM_VERSION,
                namespace,
                NIM_PLURAL,
                unknown,
                field_manager=FIELD_MANAGER,
                field_validation="Strict",
            )
        code, message = refusal(refused.value)
        assert (code, "spec.imagePullPolicyTypo" in message) == (400, True)


def test_a_cel_rule_of_the_crd_is_enforced_where_the_server_evaluates_cel(
    kube_server: KubeServer, custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = nim_service("cel", namespace, scale={"enabled": True, "hpa": {"maxReplicas": 2}})

    if not kube_server.evaluates_cel:
        # the CRD was loaded without its CEL rules (crd_compat.py): nimplane checks them
        apply_nim(custom, kube_server, body)
        return
    with pytest.raises(ApiException) as refused:
        apply_nim(custom, kube_server, body)
    status, message = refusal(refused.value)
    assert status == 422
    assert "spec.replicas cannot be set when spec.scale.enabled is true" in message


def test_a_queue_can_be_created_and_updated(kube_api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(kube_api)
    name = f"project-{uuid.uuid4().hex[:8]}"
    queue: dict[str, Any] = {
        "apiVersion": f"{QUEUE_GROUP}/{QUEUE_VERSION}",
        "kind": "Queue",
        "metadata": {"name": name, "labels": {"nimplane.io/project-id": "1"}},
        "spec": {
            "displayName": "team-a",
            "parentQueue": "department-1",
            "resources": {
                "gpu": {"quota": 2, "limit": -1, "overQuotaWeight": 1},
                "cpu": {"quota": -1, "limit": -1, "overQuotaWeight": 1},
                "memory": {"quota": -1, "limit": -1, "overQuotaWeight": 1},
            },
        },
    }

    def apply(body: dict[str, Any]) -> dict[str, Any]:
        response = custom.patch_cluster_custom_object(
            QUEUE_GROUP,
            QUEUE_VERSION,
            QUEUE_PLURAL,
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY_PATCH,
            _preload_content=False,
        )
        return read_body(response)

    created = apply(queue)
    changed = copy.deepcopy(queue)
    changed["spec"]["resources"]["gpu"] = {"quota": 4.5, "limit": 8, "overQuotaWeight": 2}
    updated = apply(changed)

    assert created["spec"]["resources"]["gpu"]["quota"] == 2
    assert updated["spec"]["resources"]["gpu"] == {"quota": 4.5, "limit": 8, "overQuotaWeight": 2}
    assert updated["metadata"]["generation"] == created["metadata"]["generation"] + 1
    read = custom.get_cluster_custom_object(QUEUE_GROUP, QUEUE_VERSION, QUEUE_PLURAL, name)
    assert read["spec"] == updated["spec"]


def test_a_watch_from_a_resource_version_sees_every_change(
    kube_server: KubeServer, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Changes made before the watch starts are replayed from the listed resource version:
    what nimplane relies on to miss nothing across a restart."""
    listed = custom.list_namespaced_custom_object(NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL)
    since = listed["metadata"]["resourceVersion"]

    apply_nim(custom, kube_server, nim_service("watched", namespace))
    apply_nim(custom, kube_server, nim_service("watched", namespace, replicas=2))
    custom.patch_namespaced_custom_object_status(
        NIM_GROUP,
        NIM_VERSION,
        namespace,
        NIM_PLURAL,
        "watched",
        {"status": {"state": "Ready"}},
    )
    custom.delete_namespaced_custom_object(NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "watched")

    seen: list[tuple[str, int | None, str | None]] = []
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        NIM_GROUP,
        NIM_VERSION,
        namespace,
        NIM_PLURAL,
        resource_version=since,
        timeout_seconds=WATCH_TIMEOUT_S,
    )
    for event in stream:
        obj = event["object"]
        seen.append(
            (event["type"], obj["spec"].get("replicas"), obj.get("status", {}).get("state"))
        )
        if event["type"] == "DELETED":
            break

    assert seen == [
        ("ADDED", 1, None),
        ("MODIFIED", 2, None),
        ("MODIFIED", 2, "Ready"),
        ("DELETED", 2, "Ready"),
    ]


def test_the_status_subresource_is_patched_apart_from_the_spec(
    kube_server: KubeServer, custom: client.CustomObjectsApi, namespace: str
) -> None:
    applied = apply_nim(custom, kube_server, nim_service("status", namespace))
    status = {
        "state": "NotReady",
        "availableReplicas": 0,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "ImagePullBackOff",
                "message": "pulling nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }

    patched = custom.patch_namespaced_custom_object_status(
        NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "status", {"status": status}
    )
    # status written through the main resource is ignored, and the spec through /status
    custom.patch_namespaced_custom_object(
        NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "status", {"status": {"state": "Failed"}}
    )
    custom.patch_namespaced_custom_object_status(
        NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "status", {"spec": {"replicas": 5}}
    )
    read = custom.get_namespaced_custom_object(
        NIM_GROUP, NIM_VERSION, namespace, NIM_PLURAL, "status"
    )

    assert patched["status"] == status
    assert read["status"] == status
    assert read["spec"]["replicas"] == 1
    assert read["metadata"]["generation"] == applied["metadata"]["generation"]
