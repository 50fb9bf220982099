"""The simulated NIM container's log (`backends/simulated/logs.py`), pure: a log only grows
(what `logs --follow` relies on), is in time order, shows nothing from the future, and agrees
with the pod's observed stages (ready lines once ready, restarts as the back-off counts them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimplane.backends.simulated.logs import container_log, tail_of
from nimplane.backends.simulated.model import Pod, PodFaults, PodPlan, ReadinessProbe, observe

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", "modelStore": {"pvc": {}}}


def pod(plan: PodPlan, faults: PodFaults | None = None) -> Pod:
    return Pod(
        id="p",
        workload_id="w",
        name="llama-0",
        replica=0,
        index=0,
        template="t",
        node="n",
        gpu_devices=(0,),
        gpus=1.0,
        created_at=START,
        started_at=START,
        plan=plan,
        faults=faults or PodFaults(),
    )


plans = st.builds(
    PodPlan,
    pull_seconds=st.floats(0, 100),
    load_seconds=st.floats(0, 300),
    probe=st.builds(
        ReadinessProbe,
        initial_delay_seconds=st.floats(0, 60),
        period_seconds=st.floats(1, 30),
        success_threshold=st.integers(1, 3),
        failure_threshold=st.integers(1, 3),
    ),
)
offsets = st.floats(0, 2000)


@st.composite
def faults(draw: st.DrawFn) -> PodFaults:
    crash = draw(st.none() | offsets)
    unready = draw(st.none() | offsets)
    return PodFaults(
        crash_since=None if crash is None else START + timedelta(seconds=crash),
        unready_since=None if unready is None else START + timedelta(seconds=unready),
    )


@given(plans, faults(), offsets, offsets)
def test_a_log_only_grows_in_time_order(
    plan: PodPlan, injected: PodFaults, first: float, more: float
) -> None:
    subject = pod(plan, injected)
    t1 = START + timedelta(seconds=first)
    t2 = t1 + timedelta(seconds=more)
    earlier, later = container_log(subject, SPEC, t1), container_log(subject, SPEC, t2)
    assert later[: len(earlier)] == earlier
    stamps = [line.split(" ")[0] for line in later]
    assert stamps == sorted(stamps)
    assert all(stamp <= t2.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for stamp in stamps)


@given(plans, offsets)
def test_ready_lines_appear_when_the_pod_is_ready(plan: PodPlan, offset: float) -> None:
    subject = pod(plan)
    now = START + timedelta(seconds=offset)
    log = container_log(subject, SPEC, now)
    state = observe(plan, START, PodFaults(), now)
    assert (state.stage.value == "Ready") == any("the service is ready" in line for line in log)
    assert (state.stage.value == "Pulling") == (log == [])


@given(plans, st.floats(0, 600), st.floats(0, 3000))
def test_restarts_match_the_back_off(plan: PodPlan, crash: float, after: float) -> None:
    since = START + timedelta(seconds=crash)
    injected = PodFaults(crash_since=since)
    now = since + timedelta(seconds=after)
    log = container_log(pod(plan, injected), SPEC, now)
    restarts = sum("Restarting the container" in line for line in log)
    assert restarts + 1 == observe(plan, START, injected, now).restarts


def test_a_pull_that_fails_leaves_no_log() -> None:
    plan = PodPlan(1, 1, ReadinessProbe(), pull_error="Back-off pulling image")
    assert container_log(pod(plan), SPEC, START + timedelta(hours=1)) == []


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        pytest.param(None, ["a", "b", "c"], id="all"),
        pytest.param(0, [], id="none"),
        pytest.param(2, ["b", "c"], id="last-two"),
        pytest.param(5, ["a", "b", "c"], id="more-than-there-are"),
    ],
)
def test_tail(tail: int | None, expected: list[str]) -> None:
    assert tail_of(["a", "b", "c"], tail) == expected
