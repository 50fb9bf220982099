"""docs/decisions.md D2: a PATCH replaces given sections whole, removes listed ones, and autoscaling
owns replicas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nimplane.domain.patch import (
    AUTOSCALING_DROPS_REPLICAS,
    AUTOSCALING_OWNS_REPLICAS,
    merge_spec,
    resolve_replicas_on_create,
)
from nimplane.domain.spec import SPEC_SECTIONS
from nimplane.domain.validation import ValidationContext, drop_nulls, validate_spec

Json = dict[str, Any]

AUTOSCALING: Json = {
    "minReplicas": 1,
    "maxReplicas": 4,
    "metric": "gpu_cache_usage_perc",
    "metricThreshold": 5,
}
STORED: Json = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "modelStore": {"nimCache": {"name": "cache-a"}},
    "compute": {"cpuCoreRequest": 1, "cpuMemoryRequest": "16Gi", "gpuDevicesRequest": 1},
    "environmentVariables": [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ],
    "labels": [{"name": "team", "value": "ml"}],
    "replicas": 2,
}
SCALED: Json = {**{k: v for k, v in STORED.items() if k != "replicas"}, "autoscaling": AUTOSCALING}


def changed(base: Json, *, without: tuple[str, ...] = (), **sections: Any) -> Json:
    out = {k: v for k, v in base.items() if k not in without}
    out.update(sections)
    return out


MERGE_CASES = [
    pytest.param(STORED, {}, [], STORED, [], [], id="empty-body-changes-nothing"),
    pytest.param(
        STORED,
        {"environmentVariables": [{"name": "X", "value": "9"}]},
        [],
        changed(STORED, environmentVariables=[{"name": "X", "value": "9"}]),
        [],
        [],
        id="one-env-var-sent-leaves-one",
    ),
    pytest.param(
        STORED,
        {"compute": {"cpuCoreRequest": 2}},
        [],
        changed(STORED, compute={"cpuCoreRequest": 2}),
        [],
        [],
        id="section-replaced-whole-no-deep-merge",
    ),
    pytest.param(
        STORED,
        {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0", "nodePools": ["pool-a"]},
        [],
        changed(STORED, image="nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0", nodePools=["pool-a"]),
        [],
        [],
        id="absent-sections-kept-new-ones-added",
    ),
    pytest.param(
        STORED,
        {},
        ["labels"],
        changed(STORED, without=("labels",)),
        [],
        [],
        id="fields-to-remove-removes",
    ),
    pytest.param(
        STORED,
        {},
        ["labels", "environmentVariables", "compute"],
        changed(STORED, without=("labels", "environmentVariables", "compute")),
        [],
        [],
        id="fields-to-remove-several",
    ),
    pytest.param(
        STORED, {}, ["tolerations"], STORED, [], [], id="removing-an-absent-section-is-fine"
    ),
    pytest.param(
        STORED,
        {"labels": [{"name": "x", "value": "y"}]},
        ["labels"],
        None,
        [],
        ["fieldsToRemove"],
        id="remove-and-give-the-same-section",
    ),
    pytest.param(
        STORED,
        {"labels": [], "compute": {}},
        ["labels", "compute", "tolerations"],
        None,
        [],
        ["fieldsToRemove", "fieldsToRemove"],
        id="each-conflict-reported",
    ),
    pytest.param(
        STORED,
        {"autoscaling": AUTOSCALING},
        [],
        SCALED,
        [],
        [],
        id="autoscaling-given-drops-stored-replicas",
    ),
    pytest.param(
        STORED,
        {"autoscaling": AUTOSCALING, "replicas": 3},
        [],
        SCALED,
        [AUTOSCALING_DROPS_REPLICAS],
        [],
        id="autoscaling-and-replicas-given",
    ),
    pytest.param(
        SCALED,
        {"replicas": 3},
        [],
        SCALED,
        [AUTOSCALING_OWNS_REPLICAS],
        [],
        id="replicas-given-autoscaling-stored-is-ignored",
    ),
    pytest.param(
        SCALED,
        {"replicas": 3, "labels": []},
        [],
        changed(SCALED, labels=[]),
        [AUTOSCALING_OWNS_REPLICAS],
        [],
        id="replicas-ignored-rest-applied",
    ),
    pytest.param(
        SCALED,
        {"replicas": 3},
        ["autoscaling"],
        changed(SCALED, without=("autoscaling",), replicas=3),
        [],
        [],
        id="replicas-with-autoscaling-removed-applies",
    ),
    pytest.param(
        SCALED,
        {},
        ["autoscaling"],
        changed(SCALED, without=("autoscaling",)),
        [],
        [],
        id="autoscaling-removed-alone",
    ),
    pytest.param(
        SCALED,
        {"autoscaling": {**AUTOSCALING, "maxReplicas": 8}},
        [],
        changed(SCALED, autoscaling={**AUTOSCALING, "maxReplicas": 8}),
        [],
        [],
        id="autoscaling-replaced",
    ),
    pytest.param(
        STORED,
        {"replicas": 5},
        [],
        changed(STORED, replicas=5),
        [],
        [],
        id="replicas-without-autoscaling-apply",
    ),
]


@pytest.mark.parametrize(
    ("stored", "given", "remove", "expected", "warnings", "issue_fields"), MERGE_CASES
)
def test_merge_spec(
    stored: Json,
    given: Json,
    remove: list[str],
    expected: Json | None,
    warnings: list[str],
    issue_fields: list[str],
) -> None:
    stored_before, given_before = copy.deepcopy(stored), copy.deepcopy(given)
    change = merge_spec(stored, given, remove)
    assert [issue.field for issue in change.issues] == issue_fields
    assert all(issue.details for issue in change.issues)
    # with issues the merged spec is thrown away (docs/decisions.md D2: nothing changes)
    if expected is not None:
        assert change.spec == expected
    assert change.warnings == warnings
    assert stored == stored_before, "the stored spec must never be mutated"
    assert given == given_before, "the request body must never be mutated"


@pytest.mark.parametrize("section", ["compute", "environmentVariables", "modelStore"])
def test_merged_spec_shares_nothing_with_its_inputs(section: str) -> None:
    stored = copy.deepcopy(STORED)
    given = {"labels": [{"name": "x", "value": "y"}]}
    change = merge_spec(stored, given, [])
    for value in (change.spec[section], change.spec["labels"]):
        if isinstance(value, dict):
            value.clear()
        else:
            value.append({"name": "mutated", "value": "!"})
    assert stored == STORED
    assert given == {"labels": [{"name": "x", "value": "y"}]}


def test_warning_says_how_to_switch_to_a_fixed_count() -> None:
    (warning,) = merge_spec(SCALED, {"replicas": 3}, []).warnings
    assert "autoscaling" in warning
    assert 'fieldsToRemove: ["autoscaling"]' in warning


def test_runapy_body_with_nulls_and_default_replicas() -> None:
    """runapy sends null for every field not given and replicas: 1 in every update."""
    body = dict.fromkeys(SPEC_SECTIONS)
    body.update({"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0", "replicas": 1})
    change = merge_spec(SCALED, drop_nulls(body), [])
    assert change.spec == changed(SCALED, image="nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0")
    assert change.warnings == [AUTOSCALING_OWNS_REPLICAS]
    assert change.issues == []


def test_merged_spec_must_still_pass_create_rules() -> None:
    """merge_spec settles docs/decisions.md D2 only; docs/decisions.md D6 runs on its result
    (multiNode cannot join autoscaling)."""
    ctx = ValidationContext(node_pools=frozenset({"default"}), categories=frozenset({"Deploy"}))
    change = merge_spec(SCALED, {"multiNode": {"workers": 1}}, [])
    assert change.issues == []
    assert [issue.field for issue in validate_spec(change.spec, ctx)] == ["spec.multiNode"]


CREATE_CASES = [
    pytest.param(
        {**SCALED, "replicas": 3}, SCALED, [AUTOSCALING_DROPS_REPLICAS], id="both-autoscaling-wins"
    ),
    pytest.param(SCALED, SCALED, [], id="autoscaling-only"),
    pytest.param(STORED, STORED, [], id="replicas-only"),
]


@pytest.mark.parametrize(("given", "expected", "warnings"), CREATE_CASES)
def test_resolve_replicas_on_create(given: Json, expected: Json, warnings: list[str]) -> None:
    before = copy.deepcopy(given)
    change = resolve_replicas_on_create(given)
    assert (change.spec, change.warnings, change.issues) == (expected, warnings, [])
    assert given == before
