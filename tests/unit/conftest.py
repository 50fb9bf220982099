"""Unit tests of the pure domain: no database, no HTTP."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

# Until nimplane is installed into the venv (`pip install -e .`), import it from src/.
if find_spec("nimplane") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
