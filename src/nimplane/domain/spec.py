"""The NIM service spec, field for field as Run:ai's `NimServiceSpec` (OpenAPI 2.24 "latest").

These models carry the types, enums, patterns and bounds that Run:ai's schema declares, so
that a request is checked field by field and the OpenAPI document shows Run:ai's shapes.
Rules that span fields or need context (docs/decisions.md D6) live in `validation.py`; defaults
(docs/decisions.md D5) live in `defaults.py`. Every field is optional and nullable, as in Run:ai's
schema: `null` means "not given" (docs/decisions.md D2).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
QUANTITY = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
HTTP_PATH = r"^(/[a-zA-Z0-9\-_./]*)?$"
ATTR_KEY = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"

Port = Annotated[int, Field(ge=1, le=65535)]
Quantity = Annotated[str, Field(pattern=QUANTITY)]
DnsLabel = Annotated[str, Field(min_length=1, pattern=DNS_LABEL)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ImagePullPolicy(StrEnum):
    Always = "Always"
    Never = "Never"
    IfNotPresent = "IfNotPresent"


class GpuRequestType(StrEnum):
    portion = "portion"
    memory = "memory"


class ServingPortServiceType(StrEnum):
    ClusterIP = "ClusterIP"
    NodePort = "NodePort"
    LoadBalancer = "LoadBalancer"
    ExternalName = "ExternalName"


class ServingPortExposedProtocol(StrEnum):
    http = "http"
    grpc = "grpc"


class ProbeHandlerScheme(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class TolerationOperator(StrEnum):
    Equal = "Equal"
    Exists = "Exists"


class TolerationEffect(StrEnum):
    NoSchedule = "NoSchedule"
    NoExecute = "NoExecute"
    PreferNoSchedule = "PreferNoSchedule"
    Any = "Any"


class PvcVolumeMode(StrEnum):
    Filesystem = "Filesystem"
    Block = "Block"


class Preemptibility(StrEnum):
    preemptible = "preemptible"
    non_preemptible = "non-preemptible"


# `strict=True` makes an enum field accept only enum instances when a parsed-JSON dict is
# validated (`model_validate`, as FastAPI does), refusing every valid string. Enum fields
# are therefore lax: they take exactly their string values, nothing else, in every mode.
LaxEnum = Strict(False)


class ImagePullSecret(WireModel):
    name: Annotated[str, Field(pattern=DNS_LABEL)] | None = None
    userCredential: bool | None = None
    exclude: bool | None = None


class EnvironmentVariableSecret(WireModel):
    name: DnsLabel | None = None
    key: Annotated[str, Field(min_length=1)] | None = None


class EnvironmentVariableConfigMap(WireModel):
    name: DnsLabel | None = None
    key: Annotated[str, Field(min_length=1)] | None = None


class EnvironmentVariablePodFieldReference(WireModel):
    path: Annotated[str, Field(min_length=1)] | None = None


class EnvironmentVariableUserCredential(WireModel):
    name: Annotated[str, Field(min_length=1)] | None = None
    key: Annotated[str, Field(min_length=1)] | None = None


class EnvironmentVariable(WireModel):
    name: Annotated[str, Field(min_length=1)] | None = None
    value: str | None = None
    secret: EnvironmentVariableSecret | None = None
    configMap: EnvironmentVariableConfigMap | None = None
    podFieldRef: EnvironmentVariablePodFieldReference | None = None
    userCredential: EnvironmentVariableUserCredential | None = None
    exclude: bool | None = None
    description: str | None = None


class Label(WireModel):
    name: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    value: str | None = None
    exclude: bool | None = None


class Annotation(WireModel):
    name: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    value: str | None = None
    exclude: bool | None = None


class NimServiceAutoscaling(WireModel):
    minReplicas: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    maxReplicas: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    metric: Annotated[str, Field(pattern=METRIC_NAME)] | None = None
    metricThreshold: Int32 | None = None
    scaleWindowSeconds: Annotated[int, Field(ge=60, le=3600)] | None = None


class NimServiceCompute(WireModel):
    cpuCoreRequest: Annotated[float, Field(ge=0)] | None = None
    cpuCoreLimit: Annotated[float, Field(ge=0)] | None = None
    cpuMemoryRequest: Quantity | None = None
    cpuMemoryLimit: Quantity | None = None
    gpuDevicesRequest: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    gpuRequestType: Annotated[GpuRequestType, LaxEnum] | None = None
    gpuPortionRequest: Annotated[float, Field(ge=0)] | None = None
    gpuPortionLimit: Annotated[float, Field(ge=0)] | None = None
    gpuMemoryRequest: Quantity | None = None
    gpuMemoryLimit: Quantity | None = None


class NimCache(WireModel):
    name: Annotated[str, Field(min_length=1)] | None = None
    profile: Annotated[str, Field(min_length=1)] | None = None


class PvcAccessModes(WireModel):
    readWriteOnce: bool | None = None
    readOnlyMany: bool | None = None
    readWriteMany: bool | None = None


class PvcAddedAttrValue(WireModel):
    key: Annotated[str, Field(min_length=1, max_length=63, pattern=ATTR_KEY)]
    value: str | None = None


class ClaimInfo(WireModel):
    size: Quantity | None = None
    storageClass: DnsLabel | None = None
    accessModes: PvcAccessModes | None = None
    volumeMode: Annotated[PvcVolumeMode, LaxEnum] | None = None
    addedAttrValues: list[PvcAddedAttrValue] | None = None


class NimServicePvcFields(WireModel):
    existingPvc: bool | None = None
    claimName: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    readOnly: bool | None = None
    claimInfo: ClaimInfo | None = None


class NimServiceModelStore(WireModel):
    nimCache: NimCache | None = None
    pvc: NimServicePvcFields | None = None


class NimServiceMultiNode(WireModel):
    workers: Annotated[int, Field(ge=1, le=1000)] | None = None


class NimServiceServingPort(WireModel):
    serviceType: Annotated[ServingPortServiceType, LaxEnum] | None = None
    port: Port | None = None
    grpcPort: Port | None = None
    metricsPort: Port | None = None
    exposeExternally: bool | None = None
    exposedUrl: str | None = None
    exposedProtocol: Annotated[ServingPortExposedProtocol, LaxEnum] | None = None


class ProbeHttpGet(WireModel):
    path: Annotated[str, Field(pattern=HTTP_PATH)] | None = None
    port: Port | None = None
    host: str | None = None
    scheme: Annotated[ProbeHandlerScheme, LaxEnum] | None = None


class ProbeHandler(WireModel):
    httpGet: ProbeHttpGet | None = None


class Probe(WireModel):
    initialDelaySeconds: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    periodSeconds: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    timeoutSeconds: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    successThreshold: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    failureThreshold: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    handler: ProbeHandler | None = None


class Probes(WireModel):
    readiness: Probe | None = None


class NimServiceSecurity(WireModel):
    runAsUid: Int64 | None = None
    runAsGid: Int64 | None = None


class Toleration(WireModel):
    name: Annotated[str, Field(min_length=1)] | None = None
    operator: Annotated[TolerationOperator, LaxEnum] | None = None
    key: str | None = None
    value: str | None = None
    effect: Annotated[TolerationEffect, LaxEnum] | None = None
    seconds: Annotated[int, Field(ge=1)] | None = None
    exclude: bool | None = None


class NimServiceSpec(WireModel):
    """Run:ai's `NimServiceSpec`: what a NIM service should be."""

    annotations: list[Annotation] | None = None
    autoscaling: NimServiceAutoscaling | None = None
    category: str | None = None
    compute: NimServiceCompute | None = None
    environmentVariables: list[EnvironmentVariable] | None = None
    image: Annotated[str, Field(min_length=1)] | None = None
    imagePullPolicy: Annotated[ImagePullPolicy, LaxEnum] | None = None
    imagePullSecrets: list[ImagePullSecret] | None = None
    labels: list[Label] | None = None
    modelStore: NimServiceModelStore | None = None
    multiNode: NimServiceMultiNode | None = None
    ngcAuthSecret: Annotated[str, Field(pattern=DNS_LABEL)] | None = None
    nodePools: list[str] | None = None
    preemptibility: Annotated[Preemptibility, LaxEnum] | None = None
    priorityClass: str | None = None
    probes: Probes | None = None
    replicas: Annotated[int, Field(ge=0, le=1000)] | None = None
    security: NimServiceSecurity | None = None
    servingPort: NimServiceServingPort | None = None
    tolerations: list[Toleration] | None = None


SPEC_SECTIONS: tuple[str, ...] = tuple(NimServiceSpec.model_fields)
"""The top-level spec properties: the units of PATCH replacement and of `fieldsToRemove`."""
