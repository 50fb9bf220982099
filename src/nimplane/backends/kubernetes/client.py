"""The Kubernetes API as the adapter uses it: configuration (kubeconfig and context, or
in-cluster), server-side apply (field manager `nimplane`, forced, strict field validation),
get, delete, list and watch of the kinds nimplane touches, read as plain JSON, every call with
a client-side timeout, and every failure translated to a `ClusterError` that says whether it
is worth retrying."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from nimplane.domain.backend import ClusterError

FIELD_MANAGER: Final = "nimplane"
APPLY_PATCH: Final = "application/apply-patch+yaml"
DEFAULT_TIMEOUT: Final = 10.0
"""Seconds: every call but a watch (whose server-side timeout is its own)."""
# Server-side apply converts the patch to its typed form first: a wrong type or an unknown
# field answers 500 with this text on current releases. The cluster will refuse it again.
TYPED_PATCH_FAILURE: Final = "failed to create typed patch object"
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


_NOT_YAML_PRINTABLE: Final = re.compile("[\x7f-\x9f\ufffe\uffff]")


def apply_body(manifest: dict[str, Any]) -> bytes:
    """An apply patch as the server decodes it (as YAML): JSON in UTF-8, with DEL and the C1
    controls escaped (NEL too: raw, it is a line break and folds away). The client's own
    serialiser writes a character beyond the BMP as a surrogate pair, which that decoder
    refuses (a 400)."""
    text = json.dumps(manifest, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def load_configuration(kubeconfig: Path | None, context: str | None) -> client.Configuration:
    """A client configuration: the kubeconfig file (and context) when given; else in-cluster
    when running in a pod; else `$KUBECONFIG` or `~/.kube/config`."""
    configuration = client.Configuration()
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig is not None else None,
            context=context,
            client_configuration=configuration,
        )
    return configuration


@dataclass(frozen=True)
class Kind:
    """One resource type: its API group/version/plural, and whether it lives in namespaces."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def core(self) -> bool:
        return self.group == ""


NAMESPACE: Final = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
POD: Final = Kind("", "v1", "pods", "Pod", namespaced=True)
PVC: Final = Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", namespaced=True)
EVENT: Final = Kind("", "v1", "events", "Event", namespaced=True)
NODE: Final = Kind("", "v1", "nodes", "Node", namespaced=False)
NIM_SERVICE: Final = Kind("apps.nvidia.com", "v1alpha1", "nimservices", "NIMService", True)
QUEUE: Final = Kind("scheduling.run.ai", "v2", "queues", "Queue", namespaced=False)
POD_GROUP: Final = Kind("scheduling.run.ai", "v2alpha2", "podgroups", "PodGroup", True)
KINDS: Final = {k.kind: k for k in (NAMESPACE, POD, PVC, EVENT, NODE, NIM_SERVICE, QUEUE)}


class KubeError(ClusterError):
    """A `ClusterError` that knows the HTTP status the API server answered (0: none)."""

    def __init__(self, message: str, *, retryable: bool, status: int = 0) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


def _object_path(kind: Kind, namespace: str | None, name: str) -> str:
    base = "/api/v1" if kind.core else f"/apis/{kind.group}/{kind.version}"
    where = f"/namespaces/{namespace}" if kind.namespaced else ""
    return f"{base}{where}/{kind.plural}/{name}"


class Gone(Exception):
    """A watch's resource version is too old (410): list again."""


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def api_error(exc: ApiException, what: str) -> KubeError:
    """An answer of the API server as a `ClusterError` naming the object and the cause."""
    status = int(exc.status or 0)
    message = exc.reason or ""
    try:
        body = json.loads(exc.body or exc.data or "{}")
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
    typed = TYPED_PATCH_FAILURE in message
    retryable = status == 0 or status in RETRYABLE_STATUSES or (status >= 500 and not typed)
    return KubeError(one_line(f"{what}: {status} {message}"), retryable=retryable, status=status)


def transport_error(exc: Exception, what: str) -> KubeError:
    """No answer (refused, reset, timed out): always worth retrying."""
    return KubeError(one_line(f"{what}: {type(exc).__name__}: {exc}"), retryable=True)


def _describe(kind: Kind, namespace: str | None, name: str | None) -> str:
    where = f"{namespace}/" if namespace else ""
    return f"{kind.kind} {where}{name}" if name else f"{kind.kind} list"


class KubeApi:
    """The calls of the adapter; raises `ClusterError` only."""

    def __init__(self, api: client.ApiClient, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.api = api
        self.timeout = timeout
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    def _call(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        try:
            response = call()
            data = response.data
        except ApiException as exc:
            raise api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise transport_error(exc, what) from exc
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    # --- writes ----------------------------------------------------------------------------

    def apply(self, manifest: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """Server-side apply of one object (forced: a field another manager changed is taken
        back), strict field validation. Sent through the client's generic call with the body
        of `apply_body`, and read raw (the client maps only a 200 of a PATCH to an object; an
        apply that creates is a 201)."""
        kind = KINDS[manifest["kind"]]
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        what = f"apply {_describe(kind, namespace, name)}"
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if strict:
            query.append(("fieldValidation", "Strict"))
        body = apply_body(manifest)

        def patch() -> Any:
            method, url, headers, _, _ = self.api.param_serialize(
                "PATCH",
                _object_path(kind, namespace, name),
                query_params=query,
                header_params={"Content-Type": APPLY_PATCH, "Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            response.read()  # type: ignore[no-untyped-call]
            if not 200 <= response.status <= 299:
                ApiException.from_response(http_resp=response, body=None, data=None)
            return response

        return self._call(what, patch)

    def delete(
        self, kind: Kind, namespace: str | None, name: str, *, foreground: bool = True
    ) -> bool:
        """Delete, by default with foreground propagation (the object stays until its
        dependents are gone); False when it was gone already."""
        ns = namespace or ""
        options: dict[str, Any] = {
            "propagation_policy": "Foreground" if foreground else "Background",
            "_preload_content": False,
            "_request_timeout": self.timeout,
        }
        what = f"delete {_describe(kind, namespace, name)}"
        try:
            if kind is PVC:
                self._call(
                    what,
                    lambda: self._core.delete_namespaced_persistent_volume_claim(
                        name, ns, **options
                    ),
                )
            elif kind.namespaced:
                self._call(
                    what,
                    lambda: self._custom.delete_namespaced_custom_object(
                        kind.group, kind.version, ns, kind.plural, name, **options
                    ),
                )
            else:
                self._call(
                    what,
                    lambda: self._custom.delete_cluster_custom_object(
                        kind.group, kind.version, kind.plural, name, **options
                    ),
                )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- reads -----------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ns = namespace or ""
        what = f"get {_describe(kind, namespace, name)}"
        options: dict[str, Any] = {"_preload_content": False, "_request_timeout": self.timeout}
        try:
            if kind is PVC:
                return self._call(
                    what,
                    lambda: self._core.read_namespaced_persistent_volume_claim(name, ns, **options),
                )
            if kind.namespaced:
                return self._call(
                    what,
                    lambda: self._custom.get_namespaced_custom_object(
                        kind.group, kind.version, ns, kind.plural, name, **options
                    ),
                )
            return self._call(
                what,
                lambda: self._custom.get_cluster_custom_object(
                    kind.group, kind.version, kind.plural, name, **options
                ),
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def _lister(self, kind: Kind) -> Callable[..., Any]:
        if kind is POD:
            return self._core.list_pod_for_all_namespaces
        if kind is PVC:
            return self._core.list_persistent_volume_claim_for_all_namespaces
        if kind is EVENT:
            return self._core.list_event_for_all_namespaces
        if kind is NODE:
            return self._core.list_node
        if kind is NAMESPACE:
            return self._core.list_namespace

        def custom(**options: Any) -> Any:
            return self._custom.list_cluster_custom_object(
                kind.group, kind.version, kind.plural, **options
            )

        return custom

    def list(
        self, kind: Kind, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object (in all namespaces), paged, and the list's resource version."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        lister = self._lister(kind)
        while True:
            options: dict[str, Any] = {
                "limit": 500,
                "_preload_content": False,
                "_request_timeout": self.timeout,
            }
            if label_selector:
                options["label_selector"] = label_selector
            if token:
                options["_continue"] = token
            page = self._call(f"list {kind.kind}", lambda: lister(**options))  # noqa: B023
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items, str((page.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        kind: Kind,
        resource_version: str,
        *,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The changes after `resource_version` as watch events (`type`, `object`), with
        bookmarks; ends when the server closes the watch. Raises `Gone` on a 410."""
        options: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            "_request_timeout": (self.timeout, timeout_seconds + self.timeout),
        }
        if label_selector:
            options["label_selector"] = label_selector
        what = f"watch {kind.kind}"
        try:
            response = self._lister(kind)(**options)
        except ApiException as exc:
            if exc.status == 410:
                raise Gone(what) from exc
            raise api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise transport_error(exc, what) from exc
        if on_open is not None:
            on_open(response)
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise Gone(what)
                    message = str(status.get("message", ""))
                    code = int(status.get("code") or 500)
                    raise KubeError(
                        one_line(f"{what}: {code} {message}"), retryable=code >= 500, status=code
                    )
                yield event
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise transport_error(exc, what) from exc
        finally:
            response.release_conn()


__all__ = [
    "APPLY_PATCH",
    "EVENT",
    "FIELD_MANAGER",
    "NAMESPACE",
    "NIM_SERVICE",
    "NODE",
    "POD",
    "POD_GROUP",
    "PVC",
    "QUEUE",
    "Gone",
    "Kind",
    "KubeApi",
    "KubeError",
    "load_configuration",
]
