"""Properties over generated specs built only from valid components
(docs/decisions.md D2, D5, D6)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nimplane.domain.catalog import PRIORITY_CLASSES
from nimplane.domain.defaults import apply_defaults
from nimplane.domain.patch import merge_spec, resolve_replicas_on_create
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.validation import ValidationContext, validate_spec

Json = dict[str, Any]

CTX = ValidationContext(
    node_pools=frozenset({"default", "pool-a"}),
    categories=frozenset({"Build", "Train", "Deploy"}),
)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)

LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER + "0123456789"
HEX = "0123456789abcdef"


def _joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


# a DNS-1123 label: lower-case letters and digits, inner dashes
dns_label = _joined(
    st.text(ALNUM, min_size=1, max_size=1),
    st.text(ALNUM + "-", max_size=10),
    st.text(ALNUM, min_size=1, max_size=1),
) | st.text(ALNUM, min_size=1, max_size=1)

# images: [registry/]component(/component)*[:tag][@digest]
component = _joined(
    st.text(ALNUM, min_size=1, max_size=6),
    st.sampled_from(["", "-", ".", "_", "__"]),
    st.text(ALNUM, min_size=1, max_size=6),
)
repository = st.lists(component, min_size=1, max_size=3).map("/".join)
registry = st.sampled_from(["", "nvcr.io/", "localhost:5000/", "registry.example.com:443/"])
tag = st.sampled_from(["", ":latest", ":1.3.3", ":v2-rc.1", ":_x"])
digest = st.sampled_from(["", "@sha256:" + HEX * 4])
image = _joined(registry, repository, tag, digest)

# quantities in Mi so that a limit can be made no smaller than its request
mebibytes = st.integers(min_value=1, max_value=1 << 20)


def quantity_pair(prefix: str) -> st.SearchStrategy[Json]:
    return st.tuples(mebibytes, st.integers(0, 1 << 20), st.booleans()).map(
        lambda t: {
            f"{prefix}Request": f"{t[0]}Mi",
            **({f"{prefix}Limit": f"{t[0] + t[1]}Mi"} if t[2] else {}),
        }
    )


cpu = st.tuples(
    st.floats(0, 64, allow_nan=False), st.floats(0, 64, allow_nan=False), st.booleans()
).map(lambda t: {"cpuCoreRequest": t[0], **({"cpuCoreLimit": t[0] + t[1]} if t[2] else {})})
gpu = st.one_of(
    st.just({}),
    st.integers(0, 8).map(lambda n: {"gpuDevicesRequest": n}),
    st.tuples(st.floats(0.01, 1.0), st.floats(0, 1), st.integers(1, 8), st.booleans()).map(
        lambda t: {
            "gpuRequestType": "portion",
            "gpuPortionRequest": t[0],
            "gpuDevicesRequest": t[2],
            **({"gpuPortionLimit": t[0] + t[1]} if t[3] else {}),
        }
    ),
    st.tuples(quantity_pair("gpuMemory"), st.integers(0, 1)).map(
        lambda t: {"gpuRequestType": "memory", **t[0], "gpuDevicesRequest": t[1]}
    ),
)
compute = st.tuples(st.just({}) | cpu, st.just({}) | quantity_pair("cpuMemory"), gpu).map(
    lambda t: {**t[0], **t[1], **t[2]}
)

model_store = st.one_of(
    st.fixed_dictionaries(
        {"nimCache": st.fixed_dictionaries({"name": dns_label}, optional={"profile": dns_label})}
    ),
    st.fixed_dictionaries(
        {
            "pvc": st.fixed_dictionaries(
                {"existingPvc": st.just(True), "claimName": dns_label},
                optional={"readOnly": st.booleans()},
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "pvc": st.fixed_dictionaries(
                {
                    "claimInfo": st.fixed_dictionaries(
                        {"size": mebibytes.map(lambda n: f"{n}Mi")},
                        optional={
                            "storageClass": dns_label,
                            "volumeMode": st.sampled_from(["Filesystem", "Block"]),
                            "accessModes": st.fixed_dictionaries(
                                {},
                                optional={
                                    "readWriteOnce": st.booleans(),
                                    "readWriteMany": st.booleans(),
                                },
                            ),
                        },
                    )
                },
                optional={
                    "existingPvc": st.just(False),
                    "claimName": dns_label,
                    "readOnly": st.booleans(),
                },
            )
        }
    ),
)

metric = _joined(st.sampled_from(["_", ":", "n", "G"]), st.text(ALNUM + "_:", max_size=20))
autoscaling = st.tuples(st.integers(1, 20), st.integers(0, 20)).flatmap(
    lambda t: st.fixed_dictionaries(
        {"metric": metric, "metricThreshold": st.integers(1, 2**31 - 1)},
        optional={
            "minReplicas": st.just(t[0]),
            "maxReplicas": st.just(t[0] + t[1]),
            "scaleWindowSeconds": st.integers(60, 3600),
        },
    )
)
# a fixed count (maybe multi-node), autoscaling (maybe with replicas, then dropped), or neither
scaling: st.SearchStrategy[Json] = st.one_of(
    st.fixed_dictionaries(
        {"replicas": st.integers(0, 1000)},
        optional={"multiNode": st.fixed_dictionaries({"workers": st.integers(1, 1000)})},
    ),
    st.fixed_dictionaries(
        {"autoscaling": autoscaling}, optional={"replicas": st.integers(0, 1000)}
    ),
    st.just({}),
)

env_name = _joined(st.sampled_from(["_", "-", ".", "N", "x"]), st.text(ALNUM + "_-.", max_size=12))
env_source = st.one_of(
    st.fixed_dictionaries({"value": st.text(max_size=10)}),
    st.fixed_dictionaries(
        {"secret": st.fixed_dictionaries({"name": dns_label, "key": st.text(min_size=1)})}
    ),
    st.fixed_dictionaries(
        {"configMap": st.fixed_dictionaries({"name": dns_label, "key": st.text(min_size=1)})}
    ),
    st.fixed_dictionaries(
        {"podFieldRef": st.fixed_dictionaries({"path": st.just("metadata.name")})}
    ),
    st.fixed_dictionaries(
        {
            "userCredential": st.fixed_dictionaries(
                {"name": st.text(min_size=1), "key": st.text(min_size=1)}
            )
        }
    ),
)
environment = st.lists(
    st.tuples(env_name, env_source), max_size=4, unique_by=lambda item: item[0]
).map(lambda items: [{"name": name, **source} for name, source in items])

qualified_name = _joined(st.sampled_from(["", "example.com/", "a.b-c/"]), dns_label)


def named_pairs(value: st.SearchStrategy[str]) -> st.SearchStrategy[list[Json]]:
    return st.lists(
        st.tuples(qualified_name, value), max_size=3, unique_by=lambda item: item[0]
    ).map(lambda items: [{"name": name, "value": v} for name, v in items])


toleration = st.one_of(
    st.fixed_dictionaries(
        {"operator": st.just("Exists")},
        optional={
            "key": dns_label,
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "Any"]),
        },
    ),
    st.fixed_dictionaries(
        {"key": dns_label, "value": dns_label},
        optional={
            "operator": st.just("Equal"),
            "effect": st.sampled_from(["NoSchedule", "NoExecute"]),
        },
    ),
    st.fixed_dictionaries(
        {"key": dns_label, "effect": st.just("NoExecute"), "seconds": st.integers(1, 3600)},
        optional={"operator": st.just("Equal"), "value": dns_label},
    ),
)

port = st.integers(1, 65535)
readiness = st.fixed_dictionaries(
    {
        "handler": st.fixed_dictionaries(
            {
                "httpGet": st.fixed_dictionaries(
                    {},
                    optional={
                        "path": st.sampled_from(["/", "/v1/health/ready", "/ready"]),
                        "port": port,
                        "scheme": st.sampled_from(["HTTP", "HTTPS"]),
                    },
                )
            }
        )
    },
    optional={
        "initialDelaySeconds": st.integers(0, 600),
        "periodSeconds": st.integers(1, 600),
        "timeoutSeconds": st.integers(1, 600),
        "successThreshold": st.integers(1, 10),
        "failureThreshold": st.integers(1, 10),
    },
)
serving_port = st.fixed_dictionaries(
    {},
    optional={
        "port": port,
        "grpcPort": port,
        "metricsPort": port,
        "serviceType": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        "exposeExternally": st.booleans(),
        "exposedProtocol": st.sampled_from(["http", "grpc"]),
    },
)

base = st.fixed_dictionaries(
    {"image": image},
    optional={
        "compute": compute,
        "environmentVariables": environment,
        "labels": named_pairs(dns_label),
        "annotations": named_pairs(st.text(max_size=20)),
        "tolerations": st.lists(toleration, max_size=3),
        "probes": st.fixed_dictionaries({}, optional={"readiness": readiness}),
        "nodePools": st.lists(st.sampled_from(["default", "pool-a"]), unique=True),
        "priorityClass": st.sampled_from(sorted(PRIORITY_CLASSES)),
        "preemptibility": st.sampled_from(["preemptible", "non-preemptible"]),
        "category": st.sampled_from(["Build", "Train", "Deploy"]),
        "imagePullPolicy": st.sampled_from(["Always", "Never", "IfNotPresent"]),
        "imagePullSecrets": st.lists(st.fixed_dictionaries({"name": dns_label}), max_size=2),
        "servingPort": serving_port,
        "security": st.fixed_dictionaries(
            {}, optional={"runAsUid": st.integers(0, 2**31), "runAsGid": st.integers(0, 2**31)}
        ),
    },
)
stores = st.one_of(
    model_store.map(lambda store: {"modelStore": store}),
    st.fixed_dictionaries({"ngcAuthSecret": dns_label}),
    st.fixed_dictionaries({"modelStore": model_store, "ngcAuthSecret": dns_label}),
)
specs = st.tuples(base, stores, scaling).map(lambda t: {**t[0], **t[1], **t[2]})


def stored_form(spec: Json) -> Json:
    """What a create stores: replicas settled against autoscaling, then every default."""
    return apply_defaults(resolve_replicas_on_create(spec).spec)


@PROPERTY_SETTINGS
@given(specs)
def test_valid_components_make_a_valid_spec(spec: Json) -> None:
    NimServiceSpec.model_validate(spec)
    assert validate_spec(spec, CTX) == []


@PROPERTY_SETTINGS
@given(specs)
def test_defaults_are_idempotent_and_keep_the_spec_valid(spec: Json) -> None:
    before = copy.deepcopy(spec)
    once = apply_defaults(spec)
    assert apply_defaults(once) == once
    assert spec == before
    NimServiceSpec.model_validate(once)
    assert validate_spec(once, CTX) == []


@PROPERTY_SETTINGS
@given(specs)
def test_empty_patch_leaves_the_stored_spec_unchanged(spec: Json) -> None:
    stored = stored_form(spec)
    before = copy.deepcopy(stored)
    change = merge_spec(stored, {}, [])
    assert (change.spec, change.warnings, change.issues) == (stored, [], [])
    assert stored == before


@PROPERTY_SETTINGS
@given(specs, st.data())
def test_resending_stored_sections_changes_nothing(spec: Json, data: st.DataObject) -> None:
    stored = stored_form(spec)
    sections = data.draw(st.lists(st.sampled_from(sorted(stored)), unique=True))
    change = merge_spec(stored, {name: copy.deepcopy(stored[name]) for name in sections}, [])
    assert (change.spec, change.warnings, change.issues) == (stored, [], [])
