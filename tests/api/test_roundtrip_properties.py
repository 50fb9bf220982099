"""Property: a valid spec comes back from create and from GET exactly as sent, plus defaults of
docs/decisions.md D5.

Specs are generated from the valid value space of each section (docs/decisions.md D5, D6), over the
real HTTP API and database.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Json = dict[str, Any]
NIM = "/api/v2/workloads/nim-services"

LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
ALNUM = LOWER + DIGITS
PRIORITY_CLASSES = ["very-low", "low", "medium-low", "medium", "medium-high", "high", "very-high"]
NON_PREEMPTIBLE = {"high", "very-high"}


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


NO_NUL = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
"""Any character the API accepts: no NUL and no lone surrogate, which the edge refuses in every
string (tests/api/test_edge.py)."""


def one(alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=1)


dns_label = one(ALNUM) | joined(one(ALNUM), st.text(ALNUM + "-", max_size=12), one(ALNUM))

# image: [registry/]repository[:tag][@digest], as Docker parses it
component = joined(
    st.text(ALNUM, min_size=1, max_size=8),
    st.sampled_from(["", "-", ".", "_", "__", "--"]),
    st.text(ALNUM, min_size=1, max_size=8),
)
image = joined(
    st.sampled_from(["", "nvcr.io/nim/", "localhost:5000/", "registry.example.com:443/team/"]),
    st.lists(component, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["", ":latest", ":1.3.3", ":v2-rc.1", ":_x", ":A.b-C"]),
    st.sampled_from(["", "@sha256:" + "0123456789abcdef" * 4]),
)

# compute: requests with limits at least as large
mebibytes = st.integers(1, 1 << 20)
cpu = st.fixed_dictionaries(
    {},
    optional={
        "cpuCore": st.tuples(st.floats(0, 128, allow_nan=False), st.floats(0, 64)),
        "cpuMemory": st.tuples(mebibytes, st.integers(0, 1 << 20)),
        "withLimits": st.booleans(),
    },
).map(
    lambda d: {
        **({"cpuCoreRequest": d["cpuCore"][0]} if "cpuCore" in d else {}),
        **({"cpuMemoryRequest": f"{d['cpuMemory'][0]}Mi"} if "cpuMemory" in d else {}),
        **(
            {"cpuCoreLimit": d["cpuCore"][0] + d["cpuCore"][1]}
            if "cpuCore" in d and d.get("withLimits")
            else {}
        ),
        **(
            {"cpuMemoryLimit": f"{d['cpuMemory'][0] + d['cpuMemory'][1]}Gi"}
            if "cpuMemory" in d and d.get("withLimits")
            else {}
        ),
    }
)
compute = st.tuples(cpu, st.integers(0, 16)).map(lambda t: {**t[0], "gpuDevicesRequest": t[1]})

# environment variables: valid unique names, exactly one source each
env_name = joined(one(LOWER.upper() + "_"), st.text(LOWER.upper() + DIGITS + "_.-", max_size=15))
env_source = st.one_of(
    st.fixed_dictionaries({"value": st.text(NO_NUL, max_size=20)}),
    st.fixed_dictionaries(
        {"secret": st.fixed_dictionaries({"name": dns_label, "key": st.text(NO_NUL, min_size=1)})}
    ),
    st.fixed_dictionaries(
        {
            "configMap": st.fixed_dictionaries(
                {"name": dns_label, "key": st.text(NO_NUL, min_size=1)}
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "podFieldRef": st.fixed_dictionaries(
                {"path": st.sampled_from(["metadata.name", "status.podIP"])}
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "userCredential": st.fixed_dictionaries(
                {
                    "name": st.text(NO_NUL, min_size=1, max_size=10),
                    "key": st.text(NO_NUL, min_size=1, max_size=10),
                }
            )
        }
    ),
)
environment = st.lists(env_name, max_size=6, unique=True).flatmap(
    lambda names: st.tuples(
        *(
            st.tuples(env_source, st.none() | st.text(NO_NUL, max_size=10)).map(
                lambda t, name=name: {
                    "name": name,
                    **t[0],
                    **({"description": t[1]} if t[1] is not None else {}),
                }
            )
            for name in names
        )
    ).map(list)
)

# labels: Kubernetes qualified names, unique; label values
qualified = joined(one(ALNUM), st.text(ALNUM + "-_.", max_size=20), one(ALNUM)) | one(ALNUM)
label_name = joined(st.sampled_from(["", "example.com/", "apps.nvidia.com/"]), qualified)
label_value = st.just("") | qualified
labels = st.lists(label_name, min_size=1, max_size=4, unique=True).flatmap(
    lambda names: st.tuples(*(label_value for _ in names)).map(
        lambda values, names=names: [
            {"name": n, "value": v} for n, v in zip(names, values, strict=True)
        ]
    )
)

# tolerations (docs/decisions.md D6): Exists takes no value, Equal needs a key, seconds only with
# NoExecute
toleration = st.one_of(
    st.fixed_dictionaries(
        {"operator": st.just("Exists")},
        optional={
            "key": qualified,
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "Any"]),
            "name": dns_label,
        },
    ),
    st.fixed_dictionaries(
        {"operator": st.just("Equal"), "key": qualified},
        optional={"value": label_value, "effect": st.sampled_from(["NoSchedule", "Any"])},
    ),
    st.fixed_dictionaries(
        {"key": qualified, "effect": st.just("NoExecute")},
        optional={"seconds": st.integers(1, 86400), "operator": st.just("Equal")},
    ),
)

port = st.integers(1, 65535)
serving_port = st.fixed_dictionaries(
    {},
    optional={
        "port": port,
        "grpcPort": port,
        "metricsPort": port,
        "serviceType": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        "exposeExternally": st.booleans(),
    },
)
probes = st.fixed_dictionaries(
    {
        "readiness": st.fixed_dictionaries(
            {
                "handler": st.fixed_dictionaries(
                    {
                        "httpGet": st.fixed_dictionaries(
                            {},
                            optional={
                                "path": st.sampled_from(["/", "/v1/health/ready", "/a-b_c.d/"]),
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
                "timeoutSeconds": st.integers(1, 60),
                "successThreshold": st.integers(1, 10),
                "failureThreshold": st.integers(1, 10),
            },
        )
    }
)

metric = joined(one(LOWER + "_:"), st.text(ALNUM + "_:", max_size=20))
autoscaling = st.tuples(
    st.integers(1, 10),
    st.none() | st.integers(0, 10),
    metric,
    st.integers(1, 10_000),
    st.none() | st.integers(60, 3600),
).map(
    lambda t: {
        "minReplicas": t[0],
        **({"maxReplicas": t[0] + t[1]} if t[1] is not None else {}),
        "metric": t[2],
        "metricThreshold": t[3],
        **({"scaleWindowSeconds": t[4]} if t[4] is not None else {}),
    }
)
scaling = st.one_of(
    st.just({}),
    st.integers(0, 1000).map(lambda n: {"replicas": n}),
    autoscaling.map(lambda a: {"autoscaling": a}),
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
                {"claimInfo": st.fixed_dictionaries({"size": mebibytes.map(lambda n: f"{n}Mi")})},
                optional={"existingPvc": st.just(False), "readOnly": st.booleans()},
            )
        }
    ),
)

spec = st.tuples(
    st.fixed_dictionaries(
        {"image": image, "modelStore": model_store},
        optional={
            "compute": compute,
            "environmentVariables": environment,
            "labels": labels,
            "tolerations": st.lists(toleration, min_size=1, max_size=3),
            "servingPort": serving_port,
            "probes": probes,
            "nodePools": st.just(["default"]),
            "priorityClass": st.sampled_from(PRIORITY_CLASSES),
            "category": st.sampled_from(["Build", "Train", "Deploy"]),
            "imagePullPolicy": st.sampled_from(["Always", "Never", "IfNotPresent"]),
            "ngcAuthSecret": dns_label,
            "security": st.fixed_dictionaries(
                {}, optional={"runAsUid": st.integers(0, 65535), "runAsGid": st.integers(0, 65535)}
            ),
        },
    ),
    scaling,
).map(lambda t: {**t[0], **t[1]})


def effective_defaults(sent: Json) -> Json:
    """The defaults of docs/decisions.md D5, written out: what a GET shows for each field that was
    not sent."""
    priority = sent.get("priorityClass", "very-high")
    # as Kubernetes defaults it: `:latest` (even with a digest) or neither tag nor digest
    name, at, _digest = sent["image"].partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    pull = "Always" if tag == "latest" or (tag is None and not at) else "IfNotPresent"
    port = {**sent.get("servingPort", {})}
    serving = {
        "port": 8000,
        "serviceType": "ClusterIP",
        "exposeExternally": True,
        "exposedProtocol": "grpc" if "grpcPort" in port else "http",
    }
    out: Json = {
        "priorityClass": "very-high",
        "preemptibility": "non-preemptible" if priority in NON_PREEMPTIBLE else "preemptible",
        "category": "Deploy",
        "imagePullPolicy": pull,
        "servingPort": serving,
    }
    if "autoscaling" in sent:
        minimum = sent["autoscaling"]["minReplicas"]
        out["autoscaling"] = {"maxReplicas": minimum, "scaleWindowSeconds": 300}
    else:
        out["replicas"] = 1
    if "probes" in sent:
        out["probes"] = {
            "readiness": {
                "initialDelaySeconds": 0,
                "periodSeconds": 10,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
                "handler": {
                    "httpGet": {
                        "path": "/",
                        "scheme": "HTTP",
                        "port": port.get("port", 8000),  # the serving port
                    }
                },
            }
        }
    pvc = sent["modelStore"].get("pvc")
    if pvc is not None:
        pvc_defaults: Json = {"existingPvc": False, "readOnly": False}
        if "claimInfo" in pvc:
            pvc_defaults["claimInfo"] = {
                "accessModes": {"readWriteOnce": True},
                "volumeMode": "Filesystem",
            }
        out["modelStore"] = {"pvc": pvc_defaults}
    return out


def unexplained(sent: Any, got: Any, defaults: Any, path: str = "spec") -> list[str]:
    """Where `got` differs from `sent` other than by a default of docs/decisions.md D5 for a field
    not sent."""
    if isinstance(got, dict) and isinstance(sent, dict):
        problems = []
        defaults = defaults if isinstance(defaults, dict) else {}
        for key in sent.keys() - got.keys():
            problems.append(f"{path}.{key}: sent, not returned")
        for key, value in got.items():
            if key in sent:
                problems += unexplained(sent[key], value, defaults.get(key), f"{path}.{key}")
            elif key not in defaults:
                problems.append(f"{path}.{key}: returned {value!r}, neither sent nor a default")
            else:
                problems += unexplained({}, value, defaults[key], f"{path}.{key}")
        return problems
    if isinstance(got, list) or isinstance(sent, list):
        return [] if got == sent else [f"{path}: sent {sent!r}, returned {got!r}"]
    if sent == {}:  # a defaulted scalar: it must be the value of docs/decisions.md D5
        return [] if got == defaults else [f"{path}: default {got!r}, expected {defaults!r}"]
    if got != sent or type(got) is not type(sent):
        return [f"{path}: sent {sent!r}, returned {got!r}"]
    return []


@given(sent=spec, prefix=st.sampled_from(["rt", "round-trip", "x"]))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_valid_spec_round_trips_create_and_get(
    client: TestClient, admin: dict[str, str], sent: Json, prefix: str
) -> None:
    body = {"metadata": {"name": prefix, "useGivenNameAsPrefix": True, "projectId": "1"}}
    response = client.post(NIM, json={**body, "spec": sent}, headers=admin)
    assert response.status_code == 202, response.text
    created = response.json()
    problems = unexplained(sent, created["spec"], effective_defaults(sent))
    assert not problems, "\n".join(problems)
    fetched = client.get(f"{NIM}/{created['metadata']['id']}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json() == created
    meta = created["metadata"]
    effective = created["spec"]
    assert (meta["priority"], meta["category"], meta["preemptibility"]) == (
        effective["priorityClass"],
        effective["category"],
        effective["preemptibility"],
    )
