"""The reclaim search's candidate walk against the straightforward computation (Hypothesis).

`actions._reclaimable` walks the queue tree down the reclaimer's path and skips a sibling
subtree that fails KAI's reclaim rule at the level where the paths meet. The straightforward
computation it replaced visits every leaf queue running gangs and levels the two paths for
each. On random trees up to three levels deep, every reclaim search of a cycle must get the
same candidates from both, and the cycle's result must not depend on which one it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

from hypothesis import event, given, settings
from hypothesis import strategies as st

from nimplane.domain.scheduling import Queue, Snapshot, actions, schedule
from nimplane.domain.scheduling.queues import QueueNode, Vector
from nimplane.domain.scheduling.session import PoolState
from tests.unit.scheduling.test_invariants import POOL_A, POOLS, nodes, resources, workloads

Candidate = tuple[QueueNode, QueueNode, QueueNode]


def straightforward(leaf: QueueNode, pool: PoolState, vec: Vector) -> set[Candidate]:
    by_uid = {n.uid: n for n in pool.queues.valid_nodes()}
    found: set[Candidate] = set()
    for uid, running in pool.running.items():
        if uid == leaf.uid or not running:
            continue
        other = by_uid[uid]
        mine, theirs = actions._leveled(leaf, other)
        if actions._may_reclaim_from(mine, theirs, vec):
            found.add((mine, theirs, other))
    return found


@st.composite
def deep_organisation(draw: st.DrawFn) -> list[Queue]:
    """Departments, optionally sub-departments under them, and projects under either."""
    queues: list[Queue] = []
    parents: list[str] = []
    created = 0.0
    for d in range(draw(st.integers(1, 3))):
        queues.append(Queue(f"d{d}", None, {p: draw(resources()) for p in POOLS}, created=created))
        parents.append(f"d{d}")
        created += 1
    for s in range(draw(st.integers(0, 2))):
        parent = draw(st.sampled_from(parents))
        pools = {p: draw(resources()) for p in POOLS}
        queues.append(Queue(f"s{s}", parent, pools, created=created))
        parents.append(f"s{s}")
        created += 1
    for p in range(draw(st.integers(2, 6))):
        queues.append(
            Queue(
                f"p{p}",
                draw(st.sampled_from(parents)),
                {pool: draw(resources()) for pool in POOLS},
                priority=draw(st.sampled_from([100, 100, 50])),
                created=created,
            )
        )
        created += 1
    return queues


@settings.get_profile("scheduler")
@given(st.data())
def test_the_candidate_walk_finds_what_every_leaf_would(data: st.DataObject) -> None:
    cluster = data.draw(nodes(6))
    queues = data.draw(deep_organisation())
    parents = {q.parent for q in queues}
    leaves = [q.name for q in queues if q.name not in parents]
    first = data.draw(workloads(leaves, "a", 0, 10))
    later = data.draw(workloads(leaves, "b", 100, 10))
    before = Snapshot(cluster, queues, first, node_pools=(POOL_A,), now=0.0)
    settled = schedule(before)
    after = Snapshot(
        cluster, queues, [*first, *later], node_pools=(POOL_A,), placements=settled.placements
    )
    walked = actions._reclaimable
    searches = 0

    def both(leaf: QueueNode, pool: PoolState, vec: Vector) -> Iterator[Candidate]:
        nonlocal searches
        searches += 1
        found = list(walked(leaf, pool, vec))
        assert len(found) == len(set(found))
        assert set(found) == straightforward(leaf, pool, vec)
        return iter(found)

    with mock.patch.object(actions, "_reclaimable", both):
        checked = schedule(after)
    event(f"reclaim searches: {min(searches, 3)}{'+' if searches >= 3 else ''}")

    def reference(leaf: QueueNode, pool: PoolState, vec: Vector) -> Iterator[Candidate]:
        return iter(sorted(straightforward(leaf, pool, vec), key=lambda c: c[2].uid))

    with mock.patch.object(actions, "_reclaimable", reference):
        expected = schedule(after)
    assert checked.placements == expected.placements
    assert checked.evictions == expected.evictions
    assert dict(checked.workloads) == dict(expected.workloads)
