"""docs/decisions.md S1.3: dividing one resource among sibling queues, and down the queue tree."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimplane.domain.scheduling import UNLIMITED, Queue, QueueResources, ResourceQuota
from nimplane.domain.scheduling.fair_share import ShareRequest, divide
from nimplane.domain.scheduling.queues import GPU, PoolQueues

G = 1000  # one GPU in thousandths


def q(
    deserved: float,
    request: float,
    weight: float = 1,
    *,
    limit: float = UNLIMITED,
    priority: int = 100,
    created: float = 0,
    name: str = "",
) -> ShareRequest:
    """A queue's side of a GPU division, amounts in GPUs."""

    def milli(x: float) -> int:
        return UNLIMITED if x == UNLIMITED else round(x * G)

    return ShareRequest(
        deserved=milli(deserved),
        limit=milli(limit),
        weight=Fraction(weight),
        request=milli(request),
        priority=priority,
        tiebreak=(created, name),
    )


CASES = [
    pytest.param(100, [q(10, 100, 3), q(10, 100, 1)], [70, 30], id="kai-simulator-70-30"),
    pytest.param(
        4,
        [q(1, 2, 3, created=1), q(2, 2.5, 1, created=2)],
        [2, 2],
        id="kai-reclaim-4-gpus-rounding-and-leftover",
    ),
    pytest.param(
        10,
        [
            q(2, 10, created=1, name="A"),
            q(2, 10, created=2, name="B"),
            q(0, 3, priority=200, created=3, name="C"),
        ],
        [4, 3, 3],
        id="priority-buckets-highest-first-leftover-to-older",
    ),
    pytest.param(10, [q(8, 8), q(8, 8)], [8, 8], id="deserved-in-full-when-oversubscribed"),
    pytest.param(
        30,
        [q(2, 100, 2, created=1), q(6, 100, 3, created=2), q(2, 100, 1, created=3)],
        [9, 16, 5],
        id="runai-doc-weights-2-3-1-twenty-unused",
    ),
    pytest.param(10, [q(0, 10, limit=3), q(0, 10)], [3, 7], id="limit-caps-then-another-round"),
    pytest.param(10, [q(1, 10, 0), q(1, 10, 1)], [1, 9], id="weight-0-gets-no-over-quota"),
    pytest.param(2, [q(0.5, 0.5), q(0, 2)], [0.5, 1.5], id="fractional-deserved-and-leftover"),
    pytest.param(
        6, [q(UNLIMITED, 4), q(UNLIMITED, 4)], [4, 4], id="unlimited-deserved-takes-request"
    ),
    pytest.param(10, [q(5, 2), q(1, 10)], [2, 8], id="request-below-deserved"),
    pytest.param(10, [q(5, 0), q(5, 0)], [0, 0], id="nothing-requested"),
    pytest.param(10, [q(0, 1), q(0, 10)], [1, 9], id="satisfied-queue-frees-a-round"),
    pytest.param(
        3,
        [q(0, 10, created=2, name="young"), q(0, 10, created=1, name="old")],
        [1, 2],
        id="leftover-tie-to-older-queue",
    ),
    pytest.param(
        3,
        [q(0, 10, created=1, name="b"), q(0, 10, created=1, name="a")],
        [1, 2],
        id="leftover-tie-then-by-name",
    ),
    pytest.param(
        5,
        [q(0, 10, 1, priority=50), q(0, 2, 1, priority=150)],
        [3, 2],
        id="high-priority-bucket-served-first",
    ),
    pytest.param(0, [q(2, 5), q(1, 5)], [2, 1], id="no-capacity-still-gets-deserved"),
]


@pytest.mark.parametrize(("total", "queues", "expected"), CASES)
def test_divide(total: float, queues: list[ShareRequest], expected: list[float]) -> None:
    assert [s / G for s in divide(round(total * G), queues, G)] == expected


def test_cpu_divides_in_millicores() -> None:
    """Non-GPU resources round to their own unit (1 millicore), not to whole units of 1000."""
    shares = divide(1000, [q(0, 10, 1), q(0, 10, 2)], 1)
    assert shares == [333, 667]


def _queue(name: str, parent: str | None, gpu: float, weight: float, created: float) -> Queue:
    resources = {"default": QueueResources(gpu=ResourceQuota(gpu, UNLIMITED, weight))}
    return Queue(name, parent, resources, created=created)


def test_tree_divides_department_share_among_projects() -> None:
    tree = PoolQueues(
        "default",
        [
            _queue("d1", None, 2, 1, 0),
            _queue("d2", None, 2, 2, 1),
            _queue("p1", "d1", 1, 1, 2),
            _queue("p2", "d1", 1, 1, 3),
            _queue("p3", "d2", 0, 1, 4),
        ],
    )
    for name in ("p1", "p2"):
        leaf = tree.leaf(name)
        assert leaf is not None
        PoolQueues.add_request(leaf, (5 * G, 0, 0))
    leaf = tree.leaf("p3")
    assert leaf is not None
    PoolQueues.add_request(leaf, (10 * G, 0, 0))
    tree.compute_fair_shares((12 * G, 0, 0))
    fair = {name: node.fair[GPU] / G for name, node in tree.nodes.items()}
    # d1: 2 + floor(8 / 3) = 4 (+ the leftover unit: larger remainder) = 5; d2: 2 + 5 = 7
    # d1's 5 among p1, p2: 1 + 1, then 1.5 each -> 1 + 1, leftover to the older p1
    assert fair == {"d1": 5, "d2": 7, "p1": 3, "p2": 2, "p3": 7}


amounts = st.integers(min_value=0, max_value=20_000)
share_requests = st.builds(
    ShareRequest,
    deserved=st.one_of(st.just(UNLIMITED), amounts),
    limit=st.one_of(st.just(UNLIMITED), amounts),
    weight=st.integers(0, 4).map(Fraction),
    request=amounts,
    priority=st.sampled_from([50, 100, 200]),
    tiebreak=st.tuples(st.integers(0, 5).map(float), st.text("ab", max_size=2)),
)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 60_000), queues=st.lists(share_requests, max_size=6))
def test_divide_properties(total: int, queues: list[ShareRequest]) -> None:
    shares = divide(total, queues, G)
    guaranteed = [
        min(total if r.deserved == UNLIMITED else r.deserved, r.requestable) for r in queues
    ]
    # every queue gets its (requested) deserved quota, even over-subscribed
    assert all(s >= g for s, g in zip(shares, guaranteed, strict=True))
    if sum(guaranteed) <= total:
        # nothing beyond the total is handed out
        assert sum(shares) <= total
        # over quota, a queue gets at most its request plus less than one rounding unit
        for s, r, g in zip(shares, queues, guaranteed, strict=True):
            assert s < max(r.requestable, g) + G
        # if everything requested fits, everyone with an over-quota weight gets what it asks
        if sum(r.requestable for r in queues) <= total:
            for s, r in zip(shares, queues, strict=True):
                assert s >= r.requestable or r.weight == 0
    # deterministic
    assert divide(total, queues, G) == shares
