"""The session's kube-apiserver: started once for every test that asks for it (fresh run
folder per session, so parallel runs don't collide), with the CRDs of ../shared/crds/
installed, and stopped at the end. A server that cannot start is an error, not a skip: CI
must notice. `NIMPLANE_TEST_KUBE=0` switches these tests off explicitly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.support import kube


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kube.KubeServer]:
    if not kube.enabled():
        pytest.skip(f"{kube.SWITCH}=0: the kube-apiserver tests are switched off")
    run_dir = tmp_path_factory.mktemp("kube-run")
    server = kube.start(run_dir)
    try:
        kube.install_crds(server, tmp_path_factory.mktemp("crds"))
        yield server
    finally:
        kube.stop(run_dir)


@pytest.fixture(scope="session")
def kube_config(kube_server: kube.KubeServer) -> client.Configuration:
    """A client configuration for the session's kube-apiserver (admin)."""
    return kube_server.configuration


@pytest.fixture
def kube_api(kube_config: client.Configuration) -> Iterator[client.ApiClient]:
    with client.ApiClient(kube_config) as api:
        yield api
