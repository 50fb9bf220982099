"""Kubernetes resource quantities (`500m`, `16Gi`, `1e3`) parsed to exact numbers."""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"^\+?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[a-zA-Z]*|[eE][-+]?[0-9]+)$"
)


def parse_quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity, or None when the text is not one."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    suffix = match["suffix"]
    try:
        number = Decimal(match["number"])
        if suffix not in _SUFFIXES and suffix[:1] in ("e", "E"):  # "1E" is exa, "1E3" 1000
            return number * (Decimal(10) ** int(suffix[1:]))
        multiplier = _SUFFIXES.get(suffix)
        return None if multiplier is None else number * multiplier
    except (ArithmeticError, ValueError):  # decimal.Overflow on e.g. "1e9999999", not a quantity
        return None
