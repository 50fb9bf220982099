"""A NIM container's log on Kubernetes, for `ClusterBackend.logs`: one
`read_namespaced_pod_log` call (`GET /api/v1/namespaces/{ns}/pods/{pod}/log`, the API server
reading it from the pod's kubelet), with timestamps, the last `tail` lines.

A pod or container that is not there is a domain NotFound (the API server's 404, or its 400
for a container the pod lacks); every other refusal is a
`ClusterError` naming the pod and the API server's reason: a pod not yet bound to a node or a
container still waiting (400, retryable: it will start), a kubelet that cannot be reached
(5xx, retryable), forbidden (403, not retryable: RBAC must give `pods/log`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from nimplane.domain.backend import ClusterError
from nimplane.domain.errors import NotFound

DEFAULT_TIMEOUT: Final = 30.0
_NOT_RETRYABLE: Final = frozenset({401, 403, 422})
_NO_SUCH_CONTAINER: Final = "is not valid for pod"
"""The API server's 400 for a container the pod does not have."""


def _status(exc: ApiException) -> dict[str, Any]:
    """The API server's Status body ({} when there is none)."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _reason(exc: ApiException) -> str:
    """The API server's message, else the HTTP reason."""
    message = _status(exc).get("message")
    return " ".join(str(message or exc.reason or "no reason given").split())[:300]


def _names_the_pod(exc: ApiException, pod: str) -> bool:
    """A 404 about the pod itself (not about the node it is bound to, which the API server
    also reports as a 404)."""
    details = _status(exc).get("details")
    return not isinstance(details, dict) or details.get("name") in (None, pod)


def read_pod_log(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    *,
    tail: int | None,
    container: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """The container's log lines, oldest first, each starting with its RFC 3339 timestamp."""
    where = f"the log of container {container} of pod {namespace}/{pod}"
    try:
        text = core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            timestamps=True,
            tail_lines=tail,
            _request_timeout=timeout,
        )
    except ApiException as exc:
        status = int(exc.status or 0)
        reason = _reason(exc)
        if (status == 404 and _names_the_pod(exc, pod)) or (
            status == 400 and _NO_SUCH_CONTAINER in reason
        ):
            raise NotFound(f"Pod {pod} (container {container}) not found: {reason}") from exc
        raise ClusterError(
            f"{where}: {status} {reason}", retryable=status not in _NOT_RETRYABLE
        ) from exc
    except Exception as exc:  # the transport: refused, reset, timed out
        raise ClusterError(f"{where}: {type(exc).__name__}: {exc}", retryable=True) from exc
    if tail == 0 or not text:  # a pod not bound to a node yet has an empty log
        return []
    return str(text).splitlines()
