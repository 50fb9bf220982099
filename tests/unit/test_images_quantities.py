"""Image references (as Docker parses them) and Kubernetes quantities (as exact decimals)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nimplane.domain.images import ImageReference, parse_image_reference
from nimplane.domain.quantities import parse_quantity

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("python", ImageReference("docker.io", "python", None, None), id="bare-name"),
        pytest.param(
            "library/python:3.11",
            ImageReference("docker.io", "library/python", "3.11", None),
            id="no-registry",
        ),
        pytest.param(
            "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
            ImageReference("nvcr.io", "nim/meta/llama-3.1-8b-instruct", "1.3.3", None),
            id="nim",
        ),
        pytest.param(
            f"nvcr.io/nim/meta/llama@{DIGEST}",
            ImageReference("nvcr.io", "nim/meta/llama", None, DIGEST),
            id="digest",
        ),
        pytest.param(
            f"nvcr.io/nim/meta/llama:1.3.3@{DIGEST}",
            ImageReference("nvcr.io", "nim/meta/llama", "1.3.3", DIGEST),
            id="tag-and-digest",
        ),
        pytest.param(
            "localhost/llama", ImageReference("localhost", "llama", None, None), id="localhost"
        ),
        pytest.param(
            "localhost:5000/nim/llama",
            ImageReference("localhost:5000", "nim/llama", None, None),
            id="port-no-tag",
        ),
        pytest.param(
            "my-registry.example.com:443/team/app:v1.2.3-rc.1",
            ImageReference("my-registry.example.com:443", "team/app", "v1.2.3-rc.1", None),
            id="registry-port-and-tag",
        ),
        pytest.param(
            "foo/bar__baz.qux-1:_tag",
            ImageReference("docker.io", "foo/bar__baz.qux-1", "_tag", None),
            id="separators",
        ),
        pytest.param(
            "nvcr.io/x:" + "a" * 128,
            ImageReference("nvcr.io", "x", "a" * 128, None),
            id="tag-128-chars",
        ),
    ],
)
def test_valid_image_reference(text: str, expected: ImageReference) -> None:
    assert parse_image_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(" python", id="leading-space"),
        pytest.param("python ", id="trailing-space"),
        pytest.param("foo bar", id="inner-space"),
        pytest.param("Python", id="upper-case-repository"),
        pytest.param("nvcr.io/NIM/llama", id="upper-case-path"),
        pytest.param("/llama", id="leading-slash"),
        pytest.param("llama/", id="trailing-slash"),
        pytest.param("nim//llama", id="empty-component"),
        pytest.param("-llama", id="component-starts-with-dash"),
        pytest.param("llama-", id="component-ends-with-dash"),
        pytest.param("foo/bar___baz", id="three-underscores"),
        pytest.param("llama:", id="empty-tag"),
        pytest.param("llama:-1", id="tag-starts-with-dash"),
        pytest.param("llama:.1", id="tag-starts-with-dot"),
        pytest.param("nvcr.io/x:" + "a" * 129, id="tag-129-chars"),
        pytest.param("llama:tëst", id="tag-non-ascii"),
        pytest.param("llama:1:2", id="two-tags"),
        pytest.param("nvcr.io:port/llama", id="registry-port-not-a-number"),
        pytest.param("llama@sha256:abc", id="digest-too-short"),
        pytest.param("llama@sha256:" + "g" * 64, id="digest-not-hex"),
        pytest.param("llama@" + "a" * 64, id="digest-without-algorithm"),
        pytest.param(f"@{DIGEST}", id="digest-only"),
        pytest.param("nginx:1.0\n", id="trailing-newline"),
        pytest.param(f"nginx:1.0\n@{DIGEST}", id="newline-before-digest"),
        pytest.param("foo.io\n/bar", id="newline-in-registry"),
    ],
)
def test_invalid_image_reference(text: str) -> None:
    assert parse_image_reference(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("500m", Decimal("0.5"), id="milli"),
        pytest.param("16Gi", Decimal(16 * 2**30), id="gibi"),
        pytest.param("1e3", Decimal(1000), id="exponent"),
        pytest.param("1E3", Decimal(1000), id="upper-exponent"),
        pytest.param("1e+3", Decimal(1000), id="signed-exponent"),
        pytest.param("1e-3", Decimal("0.001"), id="negative-exponent"),
        pytest.param("1.5G", Decimal("1.5e9"), id="fraction-giga"),
        pytest.param("0", Decimal(0), id="zero"),
        pytest.param("1", Decimal(1), id="plain"),
        pytest.param("0.5", Decimal("0.5"), id="fraction"),
        pytest.param(".5", Decimal("0.5"), id="leading-dot"),
        pytest.param("+1", Decimal(1), id="plus-sign"),
        pytest.param("100n", Decimal("1e-7"), id="nano"),
        pytest.param("100u", Decimal("1e-4"), id="micro"),
        pytest.param("1k", Decimal(1000), id="kilo"),
        pytest.param("1Ki", Decimal(1024), id="kibi"),
        pytest.param("20M", Decimal(20_000_000), id="mega"),
        pytest.param("1Mi", Decimal(2**20), id="mebi"),
        pytest.param("1T", Decimal(10**12), id="tera"),
        pytest.param("1Ti", Decimal(2**40), id="tebi"),
        pytest.param("1P", Decimal(10**15), id="peta"),
        pytest.param("1Pi", Decimal(2**50), id="pebi"),
        pytest.param("1E", Decimal(10**18), id="exa-not-exponent"),
        pytest.param("2Ei", Decimal(2**61), id="exbi-not-exponent"),
    ],
)
def test_valid_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="word"),
        pytest.param("Gi", id="suffix-only"),
        pytest.param("-1", id="negative"),
        pytest.param("1.2.3Gi", id="two-dots"),
        pytest.param(".", id="dot"),
        pytest.param("1 Gi", id="space"),
        pytest.param("1gi", id="lower-case-binary"),
        pytest.param("1K", id="upper-case-kilo"),
        pytest.param("1KB", id="bytes-unit"),
        pytest.param("1e", id="exponent-without-digits"),
        pytest.param("1ee3", id="double-e"),
        pytest.param("1Gi1", id="digits-after-suffix"),
        pytest.param("1Gi\n", id="trailing-newline"),
        pytest.param("1e9999999", id="exponent-overflow"),
    ],
)
def test_invalid_quantity(text: str) -> None:
    assert parse_quantity(text) is None


def test_binary_and_decimal_suffixes_compare_exactly() -> None:
    gibi, giga = parse_quantity("1Gi"), parse_quantity("1G")
    assert gibi is not None
    assert giga is not None
    assert gibi - giga == Decimal(73_741_824)
