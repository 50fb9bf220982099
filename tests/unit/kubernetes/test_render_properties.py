"""Every spec the API accepts (the valid-spec strategies of the validation and the API round-trip
properties) renders to a `NIMService` that passes NVIDIA's CRD, under every
cluster setting and desired phase (docs/decisions.md D2, D5, D6 give what is accepted)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nimplane.domain.kubernetes import ClusterSettings, admission_problems
from nimplane.domain.workloads import DesiredPhase
from tests.api.test_roundtrip_properties import spec as api_specs
from tests.unit.kubernetes.support import checker, nim_service, render_request
from tests.unit.test_validation_properties import specs

checker()  # built before Hypothesis runs: the CEL parser raises the recursion limit once

cluster_settings = st.builds(
    ClusterSettings,
    ingress_class=st.none() | st.just("nginx"),
    ingress_host_domain=st.none() | st.just("apps.example.com"),
    ingress_tls_secret=st.none() | st.just("tls"),
    node_pool_shard_label_key=st.none() | st.just("kai.scheduler/node-pool"),
    default_image_pull_secrets=st.sampled_from([(), ("ngc-pull",)]),
    multi_node_backend=st.sampled_from(["mpi", "ray"]),
)
exposed_url = (
    st.none()
    | st.sampled_from(
        [
            "https://llm.example.org",
            "http://llm.runai-team-a.example.com:8080/x",
            "https://llm.runai-team-a.1.2",
            "https://10.0.0.1",
            "http://[::1",
            "not a url",
        ]
    )
    | st.text(max_size=30).map(lambda text: "https://" + text)
)


@settings(max_examples=200, deadline=None)
@given(specs | api_specs, cluster_settings, st.sampled_from(list(DesiredPhase)), exposed_url)
def test_every_accepted_spec_renders_to_a_nim_service_the_crd_accepts(
    spec: dict[str, Any],
    cluster: ClusterSettings,
    desired: DesiredPhase,
    url: str | None,
) -> None:
    if url is not None:
        spec = {**spec, "servingPort": {**spec.get("servingPort", {}), "exposedUrl": url}}
    manifests = render_request(spec, name="llm", settings=cluster, desired=desired)
    nim = nim_service(manifests)
    assert checker().check(nim) == []
    assert admission_problems(nim) == []
    resources = nim["spec"].get("resources", {})
    gpu = resources.get("limits", {}).get("nvidia.com/gpu")
    assert gpu == resources.get("requests", {}).get("nvidia.com/gpu")
    sharing = {"gpu-fraction", "gpu-memory"} & set(nim["spec"].get("annotations", {}))
    assert not (gpu and sharing), "a GPU share never comes with whole devices"
    assert len(sharing) <= 1
    assert not ("replicas" in nim["spec"] and "scale" in nim["spec"])
