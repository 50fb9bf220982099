"""The app factory serves the state it is handed, or the one its `build` function makes at
start; the api never builds one itself (it does not import the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.settings import Settings


@dataclass
class BuiltState:
    settings: Settings
    closed: list[bool] = field(default_factory=list)

    def close(self) -> None:
        self.closed.append(True)


def test_an_app_with_neither_state_nor_build_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="give it a state"), TestClient(create_app()):
        pass


def test_an_app_builds_its_state_at_start_and_closes_it_at_the_end(settings: Settings) -> None:
    built: list[Any] = []

    def build(given: Settings) -> Any:
        built.append(BuiltState(given.model_copy(update={"background_workers": False})))
        return built[-1]

    with TestClient(create_app(settings, build=build)) as client:
        assert client.app.state.nimplane is built[0]  # type: ignore[attr-defined]
        assert built[0].closed == []
    assert built[0].closed == [True]
