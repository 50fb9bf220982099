"""The server process's C allocator: a bound on glibc's malloc arenas.

glibc gives a thread that finds the arenas in use one of its own, up to 8 per core, and the
memory freed in an arena stays with the process as fragments. The server's threads come and
go (AnyIO's worker pool, the SQLite writer, the background loops), so on two cores it ends up
with 16 arenas of fragments: under the soak (BENCHMARKS.md, "Memory") its RSS kept growing
while the Python heap did not. Two arenas bound that; `MALLOC_ARENA_MAX`, when set, is
glibc's own and is left as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from typing import Any

M_ARENA_MAX = -8
"""`mallopt`'s parameter for the most arenas (glibc's malloc.h)."""
ARENAS = 2


def limit_malloc_arenas(
    arenas: int = ARENAS, *, libc: Any = None, environ: Mapping[str, str] = os.environ
) -> bool:
    """Cap glibc's malloc arenas at `arenas` (from now on); whether the cap was set. Call it
    before the process starts its threads. A no-op off glibc or when `MALLOC_ARENA_MAX` is
    set."""
    if "MALLOC_ARENA_MAX" in environ:
        return False
    if libc is None:
        if not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt  # noqa: B018 (musl's libc has no mallopt of this name)
        except (OSError, AttributeError):  # not glibc
            return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))
