"""Typed settings: every knob nimplane reads, from the environment (`NIMPLANE_...`) or a file.

Settings are built once by the command line (or a test) and passed down explicitly; nothing
reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from nimplane.config_file import OrganisationConfig, SimulatorConfig
from nimplane.domain.kubernetes.settings import ClusterSettings


class AuthSettings(BaseModel):
    """Token issuing and checking."""

    issuer: str = Field("nimplane", description="The `iss` claim of issued tokens.")
    token_ttl_seconds: int = Field(3600, ge=60, description="Lifetime of an access token.")
    principal_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a token's resolved account and access rules are reused before "
        "being read again (changes made through this process apply at once).",
    )
    refresh_token_max_lifetime_seconds: int = Field(
        86_400,
        ge=60,
        description="Absolute lifetime of a sign-in: no refresh token (nor an access token it "
        "mints) outlives the client-credentials or password grant its chain started with by "
        "more than this; then the client signs in again.",
    )
    signing_key: SecretStr | None = Field(
        None,
        description="HS256 signing key. Unset: a random key is generated and kept in the data dir.",
    )
    login_burst: int = Field(
        10,
        ge=1,
        description="Failed sign-ins per client id or username before it is limited (429).",
    )
    login_attempts_per_minute: float = Field(
        6.0,
        gt=0,
        description="Failed sign-ins per client id or username per minute once its burst is used.",
    )
    address_burst: int = Field(
        60, ge=1, description="Sign-in attempts (any outcome) per peer address at once."
    )
    address_attempts_per_minute: float = Field(
        120.0,
        gt=0,
        description="Sign-in attempts (any outcome) per peer address per minute after the burst.",
    )
    rate_limit_keys: int = Field(
        100_000,
        ge=1,
        description="Client ids, usernames and addresses remembered by each sign-in limiter "
        "(least recently used forgotten first).",
    )
    max_concurrent_hashes: int = Field(
        4, ge=1, description="Secrets checked (scrypt) at the same time by sign-ins."
    )
    hash_wait_seconds: float = Field(
        0.5,
        ge=0,
        description="How long a sign-in waits for a hashing slot before it is refused (503).",
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from the last `X-Forwarded-For` entry (set only "
        "behind one proxy that appends it); otherwise the connection's peer address.",
    )


class SchedulerSettings(BaseModel):
    """The scheduling loop."""

    period_seconds: float = Field(
        1.0, gt=0, description="Seconds between cycles (a change through the API runs one at once)."
    )
    min_interval_seconds: float = Field(
        0.2,
        ge=0,
        description="Cycles woken by changes start at least this far apart (a burst of "
        "creates costs one cycle per interval, not one per create).",
    )
    rest_ratio: float = Field(
        1.0,
        ge=0,
        description="After a cycle, a woken one waits at least this multiple of its duration "
        "(long cycles over many workloads leave the API and the lifecycle engine time).",
    )
    stale_gang_grace_seconds: float = Field(
        60.0,
        description="How long a multi-node replica may miss pods before it is evicted whole; "
        "negative: never.",
    )


class LifecycleSettings(BaseModel):
    """The lifecycle engine."""

    period_seconds: float = Field(
        0.25, gt=0, description="Seconds between passes over the workloads due for a look."
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=8,
        description="Lifecycle workers per server process, each claiming its own batches "
        "(leases; `SKIP LOCKED` on PostgreSQL), so that one's database round trips overlap "
        "another's work. Unset: 2 on PostgreSQL with the simulated cluster, else 1 (SQLite has "
        "one writer: a second only adds contention). See BENCHMARKS.md.",
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a replica holds a workload it reconciles; after that another "
        "replica may take it over.",
    )
    resync_seconds: float = Field(
        600.0,
        gt=0,
        description="A settled workload is looked at again this often, whatever happens: a "
        "safety net (every change nimplane knows of makes a workload due at once), and each "
        "look is a reconcile: N settled workloads cost N / resync_seconds reconciles a second.",
    )


class RequestSettings(BaseModel):
    """What the edge accepts of any request, before a route sees it (`api/edge.py`)."""

    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="A larger request body is refused with a 400, before it is read whole.",
    )
    max_body_depth: int = Field(
        32,
        ge=4,
        le=512,
        description="A JSON body whose objects and arrays nest deeper is refused with a 400.",
    )


class KubernetesSettings(BaseModel):
    """The Kubernetes backend (`backend: kubernetes`): how to reach the cluster, and what
    differs from one cluster to the next in a render."""

    kubeconfig: Path | None = Field(
        None,
        description="Kubeconfig file; unset: in-cluster config when running in a pod, else "
        "`$KUBECONFIG` or `~/.kube/config`.",
    )
    context: str | None = Field(None, description="Kubeconfig context; unset: its current one.")
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings,
        description="Scheduler name, queue and node-pool label keys, ingress, default pull "
        "secrets (`nimplane render --cluster-settings` reads the same keys).",
    )
    nim_service_crd: Path | None = Field(
        None,
        description="NVIDIA's NIMService CRD file that creates and PATCHes are checked against "
        "on the simulated backend; the Kubernetes backend reads it from the cluster.",
    )


class Settings(BaseSettings):
    """The whole configuration of one nimplane server process."""

    model_config = SettingsConfigDict(
        env_prefix="NIMPLANE_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(Path("./data"), description="Where SQLite, keys and secrets live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; unset means SQLite in the data dir. "
        "postgresql://... switches to PostgreSQL.",
    )
    sqlite_synchronous: str = Field(
        "FULL",
        pattern="^(FULL|NORMAL)$",
        description="SQLite `synchronous` pragma. FULL fsyncs every commit (survives power loss); "
        "NORMAL survives a killed process but not a power cut.",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    bootstrap_client_id: str | None = Field(
        None, description="Client id of the bootstrap System administrator service account."
    )
    bootstrap_client_secret: SecretStr | None = Field(
        None, description="Secret of the bootstrap service account."
    )
    tenant_id: int = Field(1001, description="The single tenant's id.")
    cluster_name: str = "nimplane"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    request: RequestSettings = Field(default_factory=RequestSettings)
    background_workers: bool = Field(
        True,
        description="Run the scheduling and lifecycle loops in this process. Off: the API only "
        "(another replica, or a test driving cycles itself, does the work).",
    )
    background_process: bool = Field(
        True,
        description="`nimplane serve` runs those loops in a child process of its own, so the "
        "API keeps a CPU (and the GIL) to itself; the API's `/metrics` serves the child's "
        "loop metrics. Off: in the API process. The Kubernetes backend keeps them in the API "
        "process (its watches feed both).",
    )
    backend: Literal["simulated", "kubernetes"] = Field(
        "simulated",
        description="Where workloads run: the embedded simulated GPU cluster, or a Kubernetes "
        "cluster with the NIM Operator and KAI-Scheduler (`kubernetes:` settings).",
    )
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    organisation: OrganisationConfig = Field(
        default_factory=OrganisationConfig,
        description="Departments, projects, quotas, node pools, users and access rules that "
        "must exist after start (the config file's `organisation:` section).",
    )
    simulator: SimulatorConfig = Field(
        default_factory=SimulatorConfig,
        description="The simulated cluster's nodes (the config file's `simulator:` section).",
    )

    def resolved_database_url(self) -> str:
        """The database to use: the configured URL, else SQLite in the data dir."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'nimplane.db').resolve()}"
