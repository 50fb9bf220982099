"""Waiting for a real server (a subprocess) to get somewhere: poll a condition until it holds.

The only place where tests wait in real time, and only on what a server in another process
does. The timeout is a safety net against a hung test, generous on purpose: no test asserts
how long anything took, only that it happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SAFETY_TIMEOUT = 300.0
"""Seconds: far beyond what any condition needs on a loaded machine."""
POLL = 0.1


def wait_until(condition: Callable[[], bool], what: str, timeout: float = SAFETY_TIMEOUT) -> None:
    """Return once `condition()` is true; fail naming `what` if it never becomes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} (still not so after {timeout:.0f} s)")
        time.sleep(POLL)
