"""Container image references (`[registry/]repository[:tag][@digest]`), as Docker parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_REGISTRY = re.compile(
    r"^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)  # Go's \w: ASCII only
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image_reference(text: str) -> ImageReference | None:
    """Parse an image reference; None when it is not one."""
    if not text or len(text) > 4096 or text != text.strip():
        return None
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            return None
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return None
    registry = DEFAULT_REGISTRY
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.fullmatch(first):
            return None
        registry, rest = first, remainder
    if not _REPOSITORY.fullmatch(rest):
        return None
    return ImageReference(registry=registry, repository=rest, tag=tag, digest=digest)
