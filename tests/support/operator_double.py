"""An operator double: what the NIM Operator, the kubelets and the controller manager would
do to nimplane's objects on a real cluster, played against the test kube-apiserver (which runs
none of them).

It watches `NIMService` objects (nimplane's, by the managed-by label) and, for each:
- keeps as many pods as the spec asks (`replicas`, or `scale.hpa.minReplicas`), made from its
  pod labels, annotations, image, resources and scheduler name, bound to a fake node
  (`node`), labelled `app.kubernetes.io/name: <service>` as the operator's Deployment labels
  them; a pod of an older template (another template-hash label) is replaced, surplus pods
  are deleted (at once, as a kubelet confirms), and every pod goes when the service scales to
  0 or is deleted;
- writes the pods' status and the service's status subresource as the test drives it:
  `make_ready` (Ready, `status.model` endpoints), `not_ready(reason)`, `fail(reason)`; until
  then the pods are `ContainerCreating` and the service `NotReady`;
- as the garbage collector would, finishes a foreground deletion (deletes the dependents,
  then removes the `foregroundDeletion` finalizer; a nimplane PVC has no dependents) and, as
  the PVC protection controller, the `pvc-protection` finalizer of a deleted nimplane PVC.

What it does not do: no Deployment, Service, HPA, LeaderWorkerSet or ingress is made (pods are
created directly), no scheduling (KAI's part: pods are bound to the fake node at once, no
PodGroups unless `unschedulable` makes one), no image pulls, probes, restarts or autoscaling,
no multi-node groups (one pod per replica), and nothing answers on the URLs it reports.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
PG_GROUP, PG_VERSION, PG_PLURAL = "scheduling.run.ai", "v2alpha2", "podgroups"
MANAGED = "app.kubernetes.io/managed-by=nimplane"
NAME_LABEL = "app.kubernetes.io/name"
MERGE = "application/merge-patch+json"
FOREGROUND = "foregroundDeletion"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
T0 = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Wanted:
    state: str  # Ready | NotReady | Failed | Unschedulable
    reason: str = ""
    message: str = ""
    template: str | None = None
    """The template hash the state was set on (bound at the first reconcile after it)."""


class OperatorDouble:
    """Run with `start()` / `stop()` (or as a context manager)."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        node: str = "double-node-0",
        template_label: str = "nimplane.io/template-hash",
    ) -> None:
        self._api = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self._api)
        self.custom = client.CustomObjectsApi(self._api)
        self.node = node
        self.template_label = template_label
        self._wanted: dict[tuple[str, str], Wanted] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ignored: set[str] = set()
        """Namespaces left alone (a test that plays the controllers itself)."""

    # --- what the test drives ----------------------------------------------------------------

    def make_ready(self, namespace: str, name: str) -> None:
        self._set(namespace, name, Wanted("Ready"))

    def not_ready(self, namespace: str, name: str, reason: str, message: str = "") -> None:
        self._set(namespace, name, Wanted("NotReady", reason, message))

    def fail(self, namespace: str, name: str, reason: str, message: str = "") -> None:
        self._set(namespace, name, Wanted("Failed", reason, message))

    def unschedulable(self, namespace: str, name: str, message: str) -> None:
        """KAI cannot place the pods: they stay unbound, in a PodGroup whose condition says
        why (what KAI's pod-grouper and scheduler would write)."""
        self._set(namespace, name, Wanted("Unschedulable", "Unschedulable", message))

    def _set(self, namespace: str, name: str, wanted: Wanted) -> None:
        with self._lock:
            self._wanted[(namespace, name)] = wanted
        self.reconcile(namespace, name)

    # --- running ---------------------------------------------------------------------------

    def start(self) -> OperatorDouble:
        self._stop.clear()
        for target in (self._watch_services, self._watch_pvcs):
            thread = threading.Thread(target=self._forever, args=(target,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        self._threads = []
        self._api.close()

    def __enter__(self) -> OperatorDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forever(self, target: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                target()
            except Exception:
                log.exception("operator double: watch failed")
                self._stop.wait(0.5)

    def _watch_services(self) -> None:
        listed = self.custom.list_cluster_custom_object(
            GROUP, VERSION, PLURAL, label_selector=MANAGED
        )
        for item in listed["items"]:
            self.reconcile(item["metadata"]["namespace"], item["metadata"]["name"])
        stream = watch.Watch().stream(
            self.custom.list_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            label_selector=MANAGED,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=2,
        )
        for event in stream:
            meta = event["object"]["metadata"]
            self.reconcile(meta["namespace"], meta["name"])
            if self._stop.is_set():
                return

    def _watch_pvcs(self) -> None:
        listed = self.core.list_persistent_volume_claim_for_all_namespaces(label_selector=MANAGED)
        for pvc in listed.items:
            self._release_pvc(pvc)
        stream = watch.Watch().stream(
            self.core.list_persistent_volume_claim_for_all_namespaces,
            label_selector=MANAGED,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=2,
        )
        for event in stream:
            self._release_pvc(event["object"])
            if self._stop.is_set():
                return

    def _release_pvc(self, pvc: Any) -> None:
        finalizers = pvc.metadata.finalizers or []
        released = {PVC_PROTECTION, FOREGROUND}  # it has no dependents: nothing to wait for
        if pvc.metadata.deletion_timestamp is not None and released & set(finalizers):
            rest = [f for f in finalizers if f not in released]
            with contextlib.suppress(ApiException):
                self.core.patch_namespaced_persistent_volume_claim(
                    pvc.metadata.name,
                    pvc.metadata.namespace,
                    {"metadata": {"finalizers": rest or None}},
                    _content_type=MERGE,
                )

    # --- the operator's reconcile ----------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        with self._lock:
            try:
                self._reconcile(namespace, name)
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise

    def _reconcile(self, namespace: str, name: str) -> None:
        try:
            nim = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self._scale_pods(namespace, name, None, 0)
            return
        meta, spec = nim["metadata"], nim["spec"]
        if namespace in self.ignored:
            return
        if meta.get("deletionTimestamp"):
            self._scale_pods(namespace, name, None, 0)
            finalizers = meta.get("finalizers") or []
            if FOREGROUND in finalizers:  # the garbage collector's part, once pods are gone
                rest = [f for f in finalizers if f != FOREGROUND]
                self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    name,
                    {"metadata": {"finalizers": rest or None}},
                    _content_type=MERGE,
                )
            return
        template = (spec.get("labels") or {}).get(self.template_label)
        wanted = self._wanted.get((namespace, name), Wanted("Pending"))
        if wanted.template is None:
            wanted = self._wanted[(namespace, name)] = replace(wanted, template=template)
        replicas = _replicas(spec)
        rolling = wanted.template != template and wanted.state == "Ready"
        fresh = replace(wanted, state="Pending") if rolling else wanted
        surge = wanted.template if rolling else None
        pods = self._scale_pods(namespace, name, spec, replicas, fresh, surge=surge)
        for pod in pods:
            self._pod_status(pod, fresh)
        self._service_status(nim, replicas, wanted)

    def _pods(self, namespace: str, name: str) -> list[Any]:
        listed = self.core.list_namespaced_pod(namespace, label_selector=f"{NAME_LABEL}={name}")
        return sorted(listed.items, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))

    def _scale_pods(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any] | None,
        replicas: int,
        wanted: Wanted | None = None,
        *,
        surge: str | None = None,
    ) -> list[Any]:
        """Delete old-template and surplus pods, create missing ones; the pods of the
        current template. Pods of the `surge` template are kept too (a rollout under way)."""
        template = ((spec or {}).get("labels") or {}).get(self.template_label)
        kept, surging = [], 0
        for pod in self._pods(namespace, name):
            hashed = (pod.metadata.labels or {}).get(self.template_label)
            if len(kept) < replicas and hashed == template:
                kept.append(pod)
            elif surge is not None and surging < replicas and hashed == surge:
                surging += 1
            else:
                self._delete_pod(namespace, pod.metadata.name)
        while spec is not None and len(kept) < replicas:
            kept.append(self._create_pod(namespace, name, spec, wanted))
        return kept

    def _delete_pod(self, namespace: str, pod: str) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)

    def _create_pod(
        self, namespace: str, name: str, spec: dict[str, Any], wanted: Wanted | None
    ) -> Any:
        image = spec["image"]
        container: dict[str, Any] = {
            "name": f"{name}-ctr",
            "image": f"{image['repository']}:{image['tag']}",
        }
        if spec.get("resources"):  # quantities as strings, as a pod spec has them
            container["resources"] = {
                part: {k: str(v) for k, v in values.items()}
                for part, values in spec["resources"].items()
                if isinstance(values, dict)
            }
        pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
        annotations = dict(spec.get("annotations") or {})
        unschedulable = wanted is not None and wanted.state == "Unschedulable"
        if unschedulable:
            annotations["pod-group-name"] = f"pg-{name}"
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": namespace,
                "labels": {**(spec.get("labels") or {}), NAME_LABEL: name},
                "annotations": annotations,
            },
            "spec": {
                "schedulerName": spec.get("schedulerName", "default-scheduler"),
                "containers": [container],
            },
        }
        if not unschedulable:
            body["spec"]["nodeName"] = self.node
        return self.core.create_namespaced_pod(namespace, body)

    def _pod_status(self, pod: Any, wanted: Wanted) -> None:
        container = pod.spec.containers[0].name
        if wanted.state == "Unschedulable":
            self._pod_group(pod, wanted)
            status: dict[str, Any] = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": wanted.message,
                    }
                ],
            }
        elif wanted.state == "Ready":
            status = {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T0}],
                "containerStatuses": [
                    _container(container, pod, ready=True, state={"running": {"startedAt": T0}})
                ],
            }
        elif wanted.state in ("NotReady", "Failed"):
            status = {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": T0}],
                "containerStatuses": [
                    _container(container, pod, ready=False, state={"running": {"startedAt": T0}})
                ],
            }
        else:
            waiting = {"waiting": {"reason": "ContainerCreating"}}
            status = {
                "phase": "Pending",
                "containerStatuses": [_container(container, pod, ready=False, state=waiting)],
            }
        current = pod.status.phase if pod.status is not None else None
        ready_now = any(
            c.type == "Ready" and c.status == "True"
            for c in (pod.status.conditions or [] if pod.status else [])
        )
        if (
            current == status["phase"]
            and ready_now == (wanted.state == "Ready")
            and (pod.status.container_statuses or wanted.state == "Unschedulable")
        ):
            return
        self.core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": status}, _content_type=MERGE
        )

    def _pod_group(self, pod: Any, wanted: Wanted) -> None:
        namespace = pod.metadata.namespace
        name = (pod.metadata.annotations or {})["pod-group-name"]
        body = {
            "apiVersion": f"{PG_GROUP}/{PG_VERSION}",
            "kind": "PodGroup",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"minMember": 1, "queue": "q"},
        }
        with contextlib.suppress(ApiException):
            self.custom.create_namespaced_custom_object(
                PG_GROUP, PG_VERSION, namespace, PG_PLURAL, body
            )
        condition = {
            "type": "UnschedulableOnNodePool",
            "status": "True",
            "reason": "Unschedulable",
            "message": wanted.message,
            "transitionID": "0",
            "lastTransitionTime": T0,
        }
        self.custom.patch_namespaced_custom_object_status(
            PG_GROUP,
            PG_VERSION,
            namespace,
            PG_PLURAL,
            name,
            {"status": {"conditions": [condition]}},
            _content_type=MERGE,
        )

    def _service_status(self, nim: dict[str, Any], replicas: int, wanted: Wanted) -> None:
        meta = nim["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if wanted.state == "Ready" and replicas > 0:
            endpoint = f"{name}.{namespace}.svc.cluster.local:8000"
            status: dict[str, Any] = {
                "state": "Ready",
                "conditions": [
                    _condition("Ready", "True", "Ready", "", meta),
                    _condition("Failed", "False", "Ready", "", meta),
                ],
                "model": {"name": name, "clusterEndpoint": endpoint, "externalEndpoint": ""},
            }
        elif wanted.state == "Failed":
            status = {
                "state": "Failed",
                "conditions": [
                    _condition("Ready", "False", "Failed", wanted.message, meta),
                    _condition("Failed", "True", wanted.reason, wanted.message, meta),
                ],
                "model": None,
            }
        else:
            reason = wanted.reason if wanted.state == "NotReady" else "NotReady"
            message = wanted.message or f"Waiting for deployment {name} rollout to finish"
            status = {
                "state": "NotReady",
                "conditions": [
                    _condition("Ready", "False", reason, message, meta),
                    _condition("Failed", "False", reason, "", meta),
                ],
                "model": None,
            }
        old = nim.get("status") or {}
        if old.get("state") == status["state"] and _plain(old.get("conditions")) == _plain(
            status["conditions"]
        ):
            return
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": status}, _content_type=MERGE
        )


def _replicas(spec: dict[str, Any]) -> int:
    scale = spec.get("scale") or {}
    if scale.get("enabled"):
        return int((scale.get("hpa") or {}).get("minReplicas") or 1)
    return int(spec.get("replicas", 1))


def _container(name: str, pod: Any, *, ready: bool, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": 0,
        "image": pod.spec.containers[0].image,
        "imageID": "",
        "state": state,
    }


def _condition(
    type_: str, status: str, reason: str, message: str, meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason or type_,
        "message": message,
        "lastTransitionTime": T0,
        "observedGeneration": int(meta.get("generation") or 0),
    }


def _plain(conditions: Any) -> list[tuple[Any, ...]]:
    return [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
        for c in conditions or []
    ]


__all__ = ["OperatorDouble"]
