"""The CRD check finds what the API server (with strict field validation) would refuse, and
names the field and the reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from nimplane.domain.kubernetes import CrdChecker, CrdProblem
from tests.unit.kubernetes.support import checker, crd, nim_service, render_request

Json = dict[str, Any]


def _valid() -> Json:
    return nim_service(
        render_request(
            {
                "image": "nim/llm:1",
                "modelStore": {"nimCache": {"name": "c"}},
                "compute": {"gpuDevicesRequest": 1, "cpuCoreRequest": 1},
                "autoscaling": {"maxReplicas": 2, "metric": "m", "metricThreshold": 1},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "servingPort": {"exposeExternally": True},
            },
            name="llm",
        )
    )


def _set(path: str, value: Any) -> Callable[[Json], None]:
    def change(manifest: Json) -> None:
        *parents, last = path.split(".")
        node = manifest
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _multi_node(manifest: Json) -> None:
    manifest["spec"]["multiNode"] = {"parallelism": {"pipeline": 2}, "mpi": {}, "ray": {}}


CASES = [
    pytest.param(
        _set("spec.image.tag", 3.8), "spec.image.tag", "is not of type 'string'", id="float-tag"
    ),
    pytest.param(
        _set("spec.resources.requests.cpu", 0.5),
        "spec.resources.requests.cpu",
        "not valid under any",
        id="float-cpu",
    ),
    pytest.param(
        _set("spec.replicas", 2),
        "spec",
        "spec.replicas cannot be set when spec.scale.enabled is true",
        id="cel-replicas-with-scale",
    ),
    pytest.param(
        _set("spec.multiNode", {"parallelism": {"pipeline": 2}}),
        "spec",
        "autoScaling must be nil or disabled when multiNode is set",
        id="cel-multinode-with-scale",
    ),
    pytest.param(
        _set("spec.expose.service.grpcport", 1),
        "spec.expose.service.grpcport",
        "unknown field",
        id="unknown-field",
    ),
    pytest.param(
        _set("spec.nodePools", ["a"]),
        "spec.nodePools",
        "unknown field",
        id="node-pools-are-no-field",
    ),
    pytest.param(
        _set("spec.expose.service.port", 70000),
        "spec.expose.service.port",
        "maximum",
        id="port-range",
    ),
    pytest.param(
        _set("spec.expose.router.hostDomainName", "My_URL.com"),
        "spec.expose.router.hostDomainName",
        "does not match",
        id="pattern",
    ),
    pytest.param(
        _set("spec.expose.router.ingress.ingressClass", ""),
        "spec.expose.router.ingress.ingressClass",
        "should be non-empty",
        id="min-length",
    ),
    pytest.param(_set("spec.userID", 2**70), "spec.userID", "int64", id="int64-range"),
    pytest.param(
        _set("spec.image", {"tag": "1"}),
        "spec.image",
        "'repository' is a required property",
        id="required",
    ),
    pytest.param(
        _set("spec.inferencePlatform", "knative"),
        "spec.inferencePlatform",
        "is not one of",
        id="enum",
    ),
    pytest.param(
        _set("spec.resources.claims", [{"name": "a"}, {"name": "a"}]),
        "spec.resources.claims[1]",
        "duplicate entry with name='a'",
        id="list-map-keys-unique",
    ),
    pytest.param(
        _set("metadata.name", "a" * 60),
        "metadata.name",
        "at most 59",
        id="name-too-long-for-the-container",
    ),
    pytest.param(_set("kind", "Deployment"), "kind", "must be NIMService", id="kind"),
]


@pytest.mark.parametrize(("change", "path", "reason"), CASES)
def test_a_broken_manifest_is_refused_naming_the_field(
    change: Callable[[Json], None], path: str, reason: str
) -> None:
    manifest = copy.deepcopy(_valid())
    assert checker().check(manifest) == []
    change(manifest)
    problems = checker().check(manifest)
    assert any(p.path == path and reason in p.reason for p in problems), problems


def test_cel_rules_run_only_once_the_schema_passes() -> None:
    manifest = copy.deepcopy(_valid())
    manifest["spec"]["replicas"] = 2  # a CEL violation
    manifest["spec"]["userID"] = "root"  # a schema violation
    assert [p.path for p in checker().check(manifest)] == ["spec.userID"]


def test_defaults_are_applied_before_the_required_fields_are_checked() -> None:
    manifest = copy.deepcopy(_valid())
    del manifest["spec"]["scale"]
    manifest["spec"]["multiNode"] = {"parallelism": {"pipeline": 2}, "mpi": {}}
    assert checker().check(manifest) == []  # mpiStartTimeout is required, and defaulted
    _multi_node(manifest)
    assert checker().check(manifest) == [
        CrdProblem("spec.multiNode", "mpi and ray are mutually exclusive")
    ]


def test_preserve_unknown_fields_subtrees_take_any_key() -> None:
    manifest = copy.deepcopy(_valid())
    manifest["spec"]["expose"]["router"]["eppConfig"] = {
        "containerSpec": {"image": {"repository": "epp", "tag": "1"}, "name": "epp"},
        "config": {"plugins": [], "schedulingProfiles": [], "anything": {"goes": 1}},
    }
    assert checker().check(manifest) == []


def test_every_create_rule_of_the_crd_compiles_and_transition_rules_are_left_out() -> None:
    rules = checker().rules
    assert len(rules) == 11  # 12 in the CRD; draResources' immutability reads oldSelf
    assert all("oldSelf" not in rule.rule for rule in rules)


def test_the_nimcache_crd_loads_too() -> None:
    nimcache = CrdChecker(crd("apps.nvidia.com_nimcaches.yaml"))
    assert nimcache.kind == "NIMCache"
    manifest = {
        "apiVersion": nimcache.api_version,
        "kind": "NIMCache",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "source": {
                "ngc": {"modelPuller": "nvcr.io/nim/x:1", "pullSecret": "p", "authSecret": "a"}
            },
            "storage": {
                "pvc": {"create": True, "size": "1Gi", "volumeAccessMode": "ReadWriteOnce"}
            },
            "unknownField": 1,
        },
    }
    problems = nimcache.check(manifest)
    assert CrdProblem("spec.unknownField", "unknown field") in problems
