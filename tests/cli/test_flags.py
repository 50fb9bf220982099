"""Run:ai's flag grammars to the API's spec sections (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from nimplane.cli import flags
from nimplane.cli.flags import SpecFlags, build_spec, create_issues, flag_rules


@pytest.mark.parametrize(
    ("given_flags", "expected"),
    [
        pytest.param(
            {"model_nim_cache": "name=c,profile=p"},
            {"modelStore": {"nimCache": {"name": "c", "profile": "p"}}},
            id="nim-cache",
        ),
        pytest.param(
            {"model_existing_pvc": "claimname=models"},
            {"modelStore": {"pvc": {"existingPvc": True, "claimName": "models"}}},
            id="existing-pvc",
        ),
        pytest.param(
            {"model_new_pvc": "claimname=m,size=100Gi,storageclass=fast,accessmode-rwo,ro"},
            {
                "modelStore": {
                    "pvc": {
                        "existingPvc": False,
                        "claimName": "m",
                        "readOnly": True,
                        "claimInfo": {
                            "size": "100Gi",
                            "storageClass": "fast",
                            "accessModes": {"readWriteOnce": True},
                        },
                    }
                }
            },
            id="new-pvc",
        ),
        pytest.param({"serving_port": "8000"}, {"servingPort": {"port": 8000}}, id="port-short"),
        pytest.param(
            {"serving_port": "port=8000,grpc-port=8001,expose-externally,exposed-protocol=grpc"},
            {
                "servingPort": {
                    "port": 8000,
                    "grpcPort": 8001,
                    "exposeExternally": True,
                    "exposedProtocol": "grpc",
                }
            },
            id="port-full",
        ),
        pytest.param(
            {"readiness_probe": "port=8000,path=/v1/health/ready,period=5,failure=3"},
            {
                "probes": {
                    "readiness": {
                        "handler": {"httpGet": {"port": 8000, "path": "/v1/health/ready"}},
                        "periodSeconds": 5,
                        "failureThreshold": 3,
                    }
                }
            },
            id="probe",
        ),
        pytest.param(
            {"tolerations": ["operator=Equal,key=gpu,value=h100,effect=NoSchedule,seconds=30"]},
            {
                "tolerations": [
                    {
                        "operator": "Equal",
                        "key": "gpu",
                        "value": "h100",
                        "effect": "NoSchedule",
                        "seconds": 30,
                    }
                ]
            },
            id="toleration",
        ),
        pytest.param(
            {
                "env": ["A=1=2"],
                "env_secret": ["KEY=ngc,key=api-key"],
                "env_configmap": ["MODE=settings,key=mode"],
            },
            {
                "environmentVariables": [
                    {"name": "A", "value": "1=2"},
                    {"name": "KEY", "secret": {"name": "ngc", "key": "api-key"}},
                    {"name": "MODE", "configMap": {"name": "settings", "key": "mode"}},
                ]
            },
            id="environment",
        ),
        pytest.param(
            {"gpu_portion_request": 0.5, "cpu_memory_request": "16Gi"},
            {
                "compute": {
                    "gpuPortionRequest": 0.5,
                    "gpuRequestType": "portion",
                    "cpuMemoryRequest": "16Gi",
                }
            },
            id="compute-portion",
        ),
        pytest.param(
            {"min_replicas": 1, "max_replicas": 4, "metric": "concurrency", "metric_threshold": 8},
            {
                "autoscaling": {
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "metric": "concurrency",
                    "metricThreshold": 8,
                }
            },
            id="autoscaling",
        ),
        pytest.param(
            {"labels": ["team=llm"], "annotations": ["note=a=b"], "node_pools": ["a", "b"]},
            {
                "labels": [{"name": "team", "value": "llm"}],
                "annotations": [{"name": "note", "value": "a=b"}],
                "nodePools": ["a", "b"],
            },
            id="labels-annotations-pools",
        ),
    ],
)
def test_flags_become_spec_sections(given_flags: dict[str, Any], expected: dict[str, Any]) -> None:
    assert build_spec(SpecFlags(**given_flags)) == expected


@pytest.mark.parametrize(
    "given_flags",
    [
        pytest.param({"model_new_pvc": "size=1Gi,accessmode-xyz"}, id="unknown-token"),
        pytest.param({"model_nim_cache": "name=a,name=b"}, id="key-twice"),
        pytest.param({"serving_port": "grpc-port=1"}, id="port-missing"),
        pytest.param({"readiness_probe": "port=1,period=soon"}, id="not-an-integer"),
        pytest.param({"env": ["NOVALUE"]}, id="env-without-equals"),
        pytest.param({"env_secret": ["A=s"]}, id="env-secret-without-key"),
        pytest.param({"labels": ["=v"]}, id="label-without-key"),
    ],
)
def test_a_value_off_its_grammar_is_a_usage_error(given_flags: dict[str, Any]) -> None:
    with pytest.raises(typer.BadParameter):
        build_spec(SpecFlags(**given_flags))


def test_the_local_check_uses_the_domain_rules() -> None:
    body = {
        "metadata": {"name": "Bad_Name", "projectId": "1"},
        "spec": {"modelStore": {"nimCache": {"name": "c"}}, "replicas": -1},
    }
    fields = {issue.field for issue in create_issues(body)}
    assert {"spec.image", "spec.replicas"} <= fields


def test_run_ais_rules_apply_to_flags_only_where_stated() -> None:
    assert [i.field for i in flag_rules(SpecFlags(), submit=True)] == ["modelStore"]
    assert flag_rules(SpecFlags(), submit=False) == []  # update: no store needed


@given(
    key=st.text(
        st.characters(blacklist_characters="=,", min_codepoint=33, max_codepoint=126), min_size=1
    ),
    value=st.text(st.characters(min_codepoint=32, max_codepoint=126)),
)
def test_key_value_splits_at_the_first_equals(key: str, value: str) -> None:
    assert flags.key_value("-e", f"{key}={value}") == (key, value)
