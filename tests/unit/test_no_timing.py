"""No test depends on wall-clock timing: guards for the rules that keep it so."""

from __future__ import annotations

import re
from pathlib import Path

import hypothesis
from hypothesis import settings

TESTS = Path(__file__).resolve().parents[1]
REAL_WAITS = re.compile(r"\b(?:time|asyncio)\.sleep\((?!0\))")
"""A real sleep: `time.sleep(...)` or `asyncio.sleep(...)` of anything but 0 (a yield)."""
WAITING_HELPERS = {TESTS / "support" / "waiting.py"}
"""Where polling a server in another process is allowed to sleep between looks."""


def test_property_tests_have_no_deadline_and_no_too_slow_check() -> None:
    assert hypothesis.settings.default.deadline is None
    assert hypothesis.HealthCheck.too_slow in hypothesis.settings.default.suppress_health_check


def test_a_test_with_its_own_settings_inherits_the_profile() -> None:
    own = settings(max_examples=3)
    assert own.deadline is None
    assert hypothesis.HealthCheck.too_slow in own.suppress_health_check


def test_no_test_sleeps_outside_the_waiting_helpers() -> None:
    """Tests drive injected clocks (`tests/support/clock.py`) instead of sleeping; only
    `tests/support/waiting.py` polls, and only a server in another process."""
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in WAITING_HELPERS and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if REAL_WAITS.search(line)
    ]
    assert offenders == []
