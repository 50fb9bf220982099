"""The Kubernetes backend: the NIM Operator runs each workload's `NIMService`, KAI-Scheduler
places its pods; nimplane applies, watches and reports (`cluster.py`), through the API calls
of `client.py` and the watch cache of `cache.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubernetes.client import ApiClient

from nimplane.backends.kubernetes.client import KubeApi, KubeError, load_configuration
from nimplane.backends.kubernetes.cluster import KubernetesCluster
from nimplane.domain.ports import Store
from nimplane.settings import KubernetesSettings


def build_cluster(
    settings: KubernetesSettings,
    *,
    store: Store | None = None,
    on_change: Callable[[Iterable[str]], None] | None = None,
) -> KubernetesCluster:
    """The backend for `settings` (not started: `start()` runs its watches)."""
    configuration = load_configuration(settings.kubeconfig, settings.context)
    api = KubeApi(ApiClient(configuration))
    return KubernetesCluster(api, settings.cluster, store=store, on_change=on_change)


__all__ = ["KubeApi", "KubeError", "KubernetesCluster", "build_cluster", "load_configuration"]
