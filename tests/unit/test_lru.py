"""The bounded caches' map (`services/lru.py`): never above its limit, and what is forgotten
first is what was used least recently, so an entry in steady use survives a flood of new ones."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimplane.services.lru import LruCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache
    assert (cache.get("a"), cache.get("c")) == (1, 3)


def test_an_entry_in_steady_use_survives_a_flood() -> None:
    cache: LruCache[str, int] = LruCache(8)
    cache.put("kept", 0)
    for n in range(1000):
        cache.put(f"new-{n}", n)
        assert cache.get("kept") == 0
        assert len(cache) <= 8


def test_pop_forgets_and_tolerates_a_missing_key() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.pop("a")
    cache.pop("never")
    assert len(cache) == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        LruCache(limit)


operations = st.lists(
    st.tuples(st.sampled_from(["put", "get", "pop"]), st.integers(0, 9), st.integers()),
    max_size=60,
)


@given(limit=st.integers(1, 5), ops=operations)
def test_it_behaves_as_an_ordered_map_trimmed_from_its_oldest_end(
    limit: int, ops: list[tuple[str, int, int]]
) -> None:
    cache: LruCache[int, int] = LruCache(limit)
    model: OrderedDict[int, int] = OrderedDict()
    for op, key, value in ops:
        if op == "put":
            cache.put(key, value)
            model[key] = value
            model.move_to_end(key)
            while len(model) > limit:
                model.popitem(last=False)
        elif op == "get":
            assert cache.get(key) == model.get(key)
            if key in model:
                model.move_to_end(key)
        else:
            cache.pop(key)
            model.pop(key, None)
        assert len(cache) == len(model) <= limit
