"""What a long-running server keeps in memory per key stays bounded, whatever the keys.

Each cache that grows with what clients send (tokens, subjects, sign-ins, label values) is
driven past its bound here, with time injected, and its size checked against the bound.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from starlette.types import Message, Receive, Scope, Send

from nimplane.allocator import ARENAS, M_ARENA_MAX, limit_malloc_arenas
from nimplane.api.observability import METRIC_METHODS, RequestContextMiddleware
from nimplane.api.state import AppState
from nimplane.cli.main import serve
from nimplane.domain.errors import Unauthenticated
from nimplane.domain.identity import AccountBinding
from nimplane.metrics import Metrics
from nimplane.services.auth import Authenticator
from nimplane.services.tokens import TokenService
from tests.support.identity import KNOWN_HASH, unique

KEY = b"k" * 32


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("tokens", "token_use"),
    [
        pytest.param(25, "access", id="access-tokens-past-the-bound"),
        pytest.param(25, "refresh", id="refresh-tokens-past-the-bound"),
        pytest.param(100, "access", id="many-times-the-bound"),
    ],
)
def test_verified_tokens_are_bounded(
    monkeypatch: pytest.MonkeyPatch, tokens: int, token_use: str
) -> None:
    monkeypatch.setattr(TokenService, "_CACHE_LIMIT", 8)
    clock = _Clock()
    service = TokenService(KEY, issuer="nimplane", ttl_seconds=3600, clock=clock)
    binding = AccountBinding("uid-1", 0)
    for index in range(tokens):
        token = service.issue(f"sa-{index}", "service-account", binding, token_use=token_use)
        assert service.verify(token, token_use=token_use).subject == f"sa-{index}"
        assert len(service._verified) <= 8
        clock.now += 1.0


def _request_label_sets(methods: list[str], path: str) -> int:
    """Send one request per method through the request middleware; the label sets it left."""
    metrics = Metrics()
    holder = SimpleNamespace(state=SimpleNamespace(nimplane=SimpleNamespace(metrics=metrics)))

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = RequestContextMiddleware(refuse)

    async def drive() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            return None

        for method in methods:
            scope = {"type": "http", "method": method, "path": path, "headers": [], "app": holder}
            await middleware(scope, receive, send)

    asyncio.run(drive())
    families = {family.name: family for family in metrics.registry.collect()}
    samples = families["nimplane_api_requests"].samples
    return len({tuple(sorted(s.labels.items())) for s in samples if s.name.endswith("_total")})


@pytest.mark.parametrize(
    "methods",
    [
        pytest.param([f"X{index}" for index in range(200)], id="made-up-methods"),
        pytest.param(["GET", "PATCH", "BREW", "PROPFIND", "get", "X" * 100], id="mixed"),
    ],
)
def test_request_metric_label_sets_are_bounded_by_the_methods_http_defines(
    methods: list[str],
) -> None:
    # an HTTP parser that accepts any token as a method (h11, uvicorn's fallback) must not
    # let a client add a label set per request
    assert _request_label_sets(methods, "/nowhere") <= len(METRIC_METHODS) + 1


def _authenticator(state: AppState, clock: _Clock) -> Authenticator:
    key = state.settings.auth.signing_key
    assert key is not None
    tokens = TokenService(
        key.get_secret_value().encode(), issuer=state.settings.auth.issuer, ttl_seconds=600
    )
    return Authenticator(state.store, tokens, 2.0, monotonic=clock)


def _service_account(state: AppState, name: str) -> AccountBinding:
    now = datetime.now(UTC)
    state.store.write(
        lambda tx: tx.identity.insert_service_account(name, name, KNOWN_HASH, now, "test")
    )
    with state.store.read() as tx:
        account = tx.identity.service_account_by_client_id(name)
    assert account is not None
    return AccountBinding(account.uid, account.token_epoch)


def test_cached_principals_are_bounded(monkeypatch: pytest.MonkeyPatch, state: AppState) -> None:
    monkeypatch.setattr(Authenticator, "_CACHE_LIMIT", 4)
    clock = _Clock()
    auth = _authenticator(state, clock)
    for index in range(10):
        name = unique(f"bound-{index}")
        token = auth.tokens.issue(name, "service-account", _service_account(state, name))
        assert auth.authenticate(f"Bearer {token}").subject == name
        assert len(auth._principals) <= 4


def test_cached_token_families_are_bounded(
    monkeypatch: pytest.MonkeyPatch, state: AppState
) -> None:
    monkeypatch.setattr(Authenticator, "_CACHE_LIMIT", 4)
    clock = _Clock()
    auth = _authenticator(state, clock)
    name = unique("families")
    binding = _service_account(state, name)
    for _ in range(10):  # sign-ins it never heard of: each asks the database, then is cached
        family = str(uuid.uuid4())
        token = auth.tokens.issue(name, "service-account", binding, family_id=family)
        with pytest.raises(Unauthenticated):
            auth.authenticate(f"Bearer {token}")
        assert len(auth._families) <= 4


class _Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


@pytest.mark.parametrize(
    ("environ", "calls"),
    [
        pytest.param({}, [(M_ARENA_MAX, ARENAS)], id="capped-by-default"),
        pytest.param({"MALLOC_ARENA_MAX": "4"}, [], id="the-operator-s-own-choice-kept"),
    ],
)
def test_the_server_caps_malloc_arenas(
    environ: dict[str, str], calls: list[tuple[int, int]]
) -> None:
    libc = _Libc()
    assert limit_malloc_arenas(libc=libc, environ=environ) is bool(calls)
    assert libc.calls == calls


def test_serve_caps_malloc_arenas_before_it_builds_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    monkeypatch.setattr("nimplane.allocator.limit_malloc_arenas", lambda: order.append("cap"))

    def build_state(settings: object) -> None:
        order.append("build")
        raise RuntimeError("stop here")

    monkeypatch.setattr("nimplane.wiring.build_state", build_state)
    monkeypatch.setattr("nimplane.cli.main.configure_logging", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="stop here"):
        serve(log_level="warning")
    assert order == ["cap", "build"]
