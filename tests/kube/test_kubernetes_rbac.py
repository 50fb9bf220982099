"""The ClusterRole of `deploy/kubernetes/` grants every call the adapter makes: the adapter runs
as a user bound to nothing else (by impersonation) against the RBAC-enforcing kube-apiserver,
and a verb missing from the role would be a 403."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from nimplane.backends.kubernetes import KubeApi, KubernetesCluster
from nimplane.backends.kubernetes.client import NODE
from nimplane.domain.backend import Observation
from nimplane.domain.kubernetes import ClusterSettings
from tests.kube.test_kubernetes_adapter import NOW, SPEC, make_workload, new_project, want
from tests.support.operator_double import OperatorDouble
from tests.support.waiting import wait_until
from tests.unit.kubernetes.test_queues import department, project

pytestmark = pytest.mark.kube

ROLE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "clusterrole.yaml"


def test_the_adapter_needs_no_more_than_the_deployed_cluster_role(
    kube_api: client.ApiClient, kube_config: client.Configuration
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_api)
    role = yaml.safe_load(ROLE.read_text())
    name = f"nimplane-test-{uuid.uuid4().hex[:6]}"
    role["metadata"]["name"] = name
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }
    )
    as_nimplane = client.ApiClient(kube_config, header_name="Impersonate-User", header_value=name)
    api = KubeApi(as_nimplane)
    cluster = KubernetesCluster(api, ClusterSettings())
    cluster.start()
    try:
        assert cluster.wait_synced(60)
        wait_until(
            lambda: all(i.synced.is_set() and i.last_error is None for i in cluster.informers),
            "every watch runs",
        )
        store = {"pvc": {"claimName": "rbac-store", "claimInfo": {"size": "1Gi"}}}
        workload = make_workload(new_project(), spec={**SPEC, "modelStore": store})
        result = cluster.sync([want(workload)], NOW)[workload.id]
        assert isinstance(result, Observation), result
        api.list(NODE)
        suffix = uuid.uuid4().hex[:6]
        dept = department(name=f"r-{suffix}", id_=f"r{suffix}")
        cluster.sync_queues([dept], [project(name=f"rq-{suffix}", department_id=dept.id)])
        gone = make_workload(
            workload.project, spec=workload.spec, deleted=True, workload_id=workload.id
        )
        with OperatorDouble(kube_config):
            wait_until(lambda: cluster.teardown(gone), "torn down")
    finally:
        cluster.stop()
