"""The simulated pod over time (pure): every stage at the instant it is reached, faults, and the
`next_change` the lifecycle engine schedules its next look by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nimplane.backends.simulated.model import (
    PodFaults,
    PodPlan,
    ReadinessProbe,
    Stage,
    Timings,
    last_reported,
    observe,
    plan_pod,
    ready_at,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = PodPlan(pull_seconds=10, load_seconds=20, probe=ReadinessProbe(period_seconds=10))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "faults", "stage", "phase", "ready", "next_change"),
    [
        pytest.param(0, PodFaults(), Stage.PULLING, "Pending", False, 10, id="pulling"),
        pytest.param(9.9, PodFaults(), Stage.PULLING, "Pending", False, 10, id="still-pulling"),
        pytest.param(10, PodFaults(), Stage.LOADING_MODEL, "Running", False, 30, id="loading"),
        pytest.param(30, PodFaults(), Stage.READY, "Running", True, None, id="ready-at-probe"),
        pytest.param(500, PodFaults(), Stage.READY, "Running", True, None, id="stays-ready"),
        pytest.param(
            500, PodFaults(node_lost=True), Stage.NODE_LOST, "Unknown", False, None, id="node-lost"
        ),
        pytest.param(
            35,
            PodFaults(crash_since=at(30)),
            Stage.CRASH_LOOP_BACK_OFF,
            "Running",
            False,
            40,
            id="crash-loop-first-back-off",
        ),
        pytest.param(
            100,
            PodFaults(unready_since=at(50)),
            Stage.NOT_READY,
            "Running",
            False,
            None,
            id="readiness-failed-after-threshold",
        ),
        pytest.param(
            60,
            PodFaults(unready_since=at(50)),
            Stage.READY,
            "Running",
            True,
            80,
            id="readiness-failing-not-yet-threshold",
        ),
    ],
)
def test_pod_stages(
    seconds: float,
    faults: PodFaults,
    stage: Stage,
    phase: str,
    ready: bool,
    next_change: float | None,
) -> None:
    state = observe(PLAN, T0, faults, at(seconds))
    assert (state.stage, state.k8s_phase, state.ready) == (stage, phase, ready)
    assert state.next_change == (None if next_change is None else at(next_change))


def test_a_crash_loop_backs_off_like_kubernetes() -> None:
    crashing = PodFaults(crash_since=at(30))
    restarts = [observe(PLAN, T0, crashing, at(30 + s)).restarts for s in (0, 10, 30, 70, 150)]
    assert restarts == [1, 2, 3, 4, 5]  # back-off 10, 20, 40, 80 s


def test_an_unpullable_image_ends_in_image_pull_back_off() -> None:
    plan = PodPlan(10, 20, ReadinessProbe(), pull_error="Back-off pulling image")
    assert observe(plan, T0, PodFaults(), at(5)).stage is Stage.PULLING
    failed = observe(plan, T0, PodFaults(), at(10))
    assert (failed.stage, failed.k8s_phase, failed.next_change) == (
        Stage.IMAGE_PULL_BACK_OFF,
        "Pending",
        None,
    )
    assert failed.message == "Back-off pulling image"


@pytest.mark.parametrize(
    ("spec", "pull", "load", "error"),
    [
        pytest.param(
            {"image": "nvcr.io/nim/meta/llama:1", "modelStore": {"nimCache": {"name": "c"}}},
            3.0,
            2.0,
            None,
            id="warm-nim-cache",
        ),
        pytest.param(
            {"image": "nvcr.io/nim/meta/llama:1", "modelStore": {"pvc": {"claimName": "p"}}},
            3.0,
            6.0,
            None,
            id="pvc",
        ),
        pytest.param({"image": "nvcr.io/nim/meta/llama:1"}, 3.0, 18.0, None, id="download"),
        pytest.param(
            {"image": "blocked.example.com/nim/llama:1"}, 3.0, 18.0, "unreachable", id="blocked"
        ),
        pytest.param(
            {"image": "nvcr.io/nim/other/model:1"}, 3.0, 18.0, "not found", id="not-in-catalogue"
        ),
    ],
)
def test_plans_follow_the_model_store_the_registry_and_the_speed(
    spec: dict[str, object], pull: float, load: float, error: str | None
) -> None:
    timings = Timings(
        image_pull_seconds=30,
        model_load_nim_cache_seconds=20,
        model_load_pvc_seconds=60,
        model_load_download_seconds=180,
        speed=10,
        unreachable=("blocked.example.com",),
        catalogue=("nvcr.io/nim/meta/llama", "blocked.example.com/nim/llama"),
    )
    plan = plan_pod(spec, timings)
    assert (plan.pull_seconds, plan.load_seconds) == (pull, load)
    assert (plan.pull_error is None) == (error is None)
    if error is not None:
        assert error in (plan.pull_error or "")


def test_readiness_probe_settings_come_from_the_spec() -> None:
    spec = {
        "image": "nvcr.io/nim/meta/llama:1",
        "probes": {
            "readiness": {
                "initialDelaySeconds": 40,
                "periodSeconds": 5,
                "successThreshold": 2,
                "failureThreshold": 4,
            }
        },
    }
    plan = plan_pod(spec, Timings())
    assert plan.probe == ReadinessProbe(40, 5, 2, 4)


@pytest.mark.parametrize(
    ("stage", "phase", "ready"),
    [
        pytest.param(None, "Pending", False, id="not-seen-yet"),
        pytest.param("Pulling", "Pending", False, id="pulling"),
        pytest.param("ImagePullBackOff", "Pending", False, id="pull-failed"),
        pytest.param("Ready", "Running", True, id="ready"),
        pytest.param("CrashLoopBackOff", "Running", False, id="crash-loop"),
        pytest.param("NodeLost", "Unknown", False, id="node-lost"),
    ],
)
def test_the_last_reported_state(stage: str | None, phase: str, ready: bool) -> None:
    state = last_reported(stage, 3)
    assert (state.k8s_phase, state.ready, state.restarts) == (phase, ready, 3)


@given(
    pull=st.floats(0, 100),
    load=st.floats(0, 300),
    delay=st.floats(0, 100),
    period=st.floats(1, 30),
    threshold=st.integers(1, 5),
    later=st.floats(0, 1000),
)
@example(  # summing pull and load first rounded a microsecond below observe's own instant
    pull=1.60546875, load=1.603515625, delay=1.603515625, period=1.0, threshold=1, later=0.0
)
def test_ready_exactly_from_ready_at_and_never_before_the_model_is_loaded(
    pull: float, load: float, delay: float, period: float, threshold: int, later: float
) -> None:
    plan = PodPlan(pull, load, ReadinessProbe(delay, period, threshold, 3))
    ready = ready_at(plan, T0)
    assert ready >= at(pull + load) - timedelta(microseconds=1)
    before = observe(plan, T0, PodFaults(), ready - timedelta(milliseconds=1))
    assert not before.ready
    assert observe(plan, T0, PodFaults(), ready + timedelta(seconds=later)).ready
    if before.next_change is not None:
        assert before.next_change <= ready + timedelta(microseconds=1)
