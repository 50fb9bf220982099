"""Who is tried first: the hierarchical queue order (docs/decisions.md S1.5) and victim order
(docs/decisions.md S2.4).

`HierarchicalPicker` walks the queue tree: at each level the child whose best item wins the
comparator is descended into, down to a leaf, whose next item is taken; the changed queues
(that leaf and its ancestors) are then re-keyed. Each queue with children keeps a heap of its
children's keys; stale entries are skipped by version, so a pick costs O(depth * log fan-out).

The comparator is a sort key (first difference wins), `job_order_key`:
1. not over fair share, before over; "over" is KAI's `fairShare.Less(allocated)`: allocated
   strictly above the fair share in *every* resource (so a queue over in GPUs but not in CPU or
   memory, as with unlimited CPU and memory quotas, is not over, and priority decides);
2. stays within deserved with the job, before not;
3. higher queue priority;
4. no use of a resource whose allocatable share is 0 (with the job), before such use;
5. smaller dominant resource share with the job (allocated / allocatable share, max over
   resources; an unlimited share counts as the pool's total);
6. the same without the job;
7. smaller allocatable share (lexicographic GPU, CPU, memory: it refines KAI's "smaller in one,
   not larger in any");
8. older queue, then name.
`victim_order_key` is its reverse, computed on what the queue still holds: the most over-served
queues and, inside a queue, the lowest-priority, newest jobs are offered as victims first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from nimplane.domain.scheduling.queues import QueueNode, Vector

T = TypeVar("T")
Key = tuple[Any, ...]


def dominant_share(queue: QueueNode, values: Sequence[int]) -> float:
    """Max over resources of value / allocatable share (the pool's total if unlimited; a
    penalty per unit if the share is 0)."""
    inv = queue.drf_inv
    return max(values[0] * inv[0], values[1] * inv[1], values[2] * inv[2])


def job_order_key(queue: QueueNode, vec: Vector) -> Key:
    a0, a1, a2 = queue.alloc
    w0, w1, w2 = a0 + vec[0], a1 + vec[1], a2 + vec[2]
    fair, des, inv, zero = queue.fair, queue.des_cap, queue.drf_inv, queue.zero
    return (
        a0 > fair[0] and a1 > fair[1] and a2 > fair[2],
        not (w0 <= des[0] and w1 <= des[1] and w2 <= des[2]),
        -queue.priority,
        (zero[0] and w0 > 0) or (zero[1] and w1 > 0) or (zero[2] and w2 > 0),
        max(w0 * inv[0], w1 * inv[1], w2 * inv[2]),
        max(a0 * inv[0], a1 * inv[1], a2 * inv[2]),
        queue.alloc_key,
        queue.rank,
    )


def victim_order_key(queue: QueueNode, vec: Vector) -> Key:
    """The reverse of `job_order_key` on what `queue` holds now, with `vec` its next victim."""
    key = job_order_key(queue, vec)
    share = key[6]
    return (
        not key[0],
        not key[1],
        -key[2],
        not key[3],
        -key[4],
        -key[5],
        (-share[0], -share[1], -share[2]),
        -key[7],
    )


class HierarchicalPicker(Generic[T]):
    """Pops items from the leaves of a queue tree in hierarchical queue order.

    `items[leaf]` is the leaf's items in order; `key(queue, item)` ranks a queue by its state
    now and its best item, and may depend on the item only through `signature(item)`. State
    changes made between two pops are taken into account: each pop first re-keys the queues
    on the path of the previous pop, unless `version()` did not move since and the leaf's next
    item has the same signature (then every key is as it was).
    """

    def __init__(
        self,
        items: dict[QueueNode, list[T]],
        key: Callable[[QueueNode, T], Key],
        signature: Callable[[T], object],
        version: Callable[[], int],
    ) -> None:
        self._key = key
        self._signature = signature
        self._state = version
        self._last_state = -1
        self._last_signature: object = None
        # the queues with items and their ancestors, numbered densely (a picker over a few
        # queues costs as much as they do, not as much as the whole tree)
        index: dict[int, int] = {}
        order: list[QueueNode] = []
        for leaf, leaf_items in items.items():
            if leaf_items:
                for node in leaf.path:
                    if node.uid not in index:
                        index[node.uid] = len(order)
                        order.append(node)
        size = len(order) + 1
        self._index = index
        self._root = size - 1
        self._items: list[list[T] | None] = [None] * size
        self._pos = [0] * size
        self._version = [0] * size
        self._heaps: list[list[tuple[Key, int, int, int]]] = [[] for _ in range(size)]
        self._best: list[T | None] = [None] * size
        self._parent = [self._root] * size
        self._nodes: list[QueueNode | None] = [*order, None]
        self._seq = 0
        self._last: QueueNode | None = None
        for leaf, leaf_items in items.items():
            if leaf_items:
                self._items[index[leaf.uid]] = leaf_items
        for node in order:
            if node.parent is not None:
                self._parent[index[node.uid]] = index[node.parent.uid]
        # deepest first, ties by uid (the order the keys were first pushed in before)
        for node in sorted(order, key=lambda n: (-n.depth, n.uid)):
            self._settle(index[node.uid], node)

    def _top(self, uid: int) -> int | None:
        heap = self._heaps[uid]
        version = self._version
        while heap:
            entry = heap[0]
            if entry[3] == version[entry[2]]:
                return entry[2]
            heapq.heappop(heap)
        return None

    def _settle(self, uid: int, node: QueueNode) -> None:
        """Recompute `node`'s best item and key (`uid` its index here) and push it into its
        parent's heap."""
        version = self._version[uid] + 1
        self._version[uid] = version
        best: T | None
        leaf_items = self._items[uid]
        if leaf_items is not None:
            pos = self._pos[uid]
            best = leaf_items[pos] if pos < len(leaf_items) else None
        else:
            top = self._top(uid)
            best = None if top is None else self._best[top]
        self._best[uid] = best
        if best is None:
            return
        self._seq += 1
        heapq.heappush(
            self._heaps[self._parent[uid]], (self._key(node, best), self._seq, uid, version)
        )

    def refresh(self, leaf: QueueNode) -> None:
        """Re-key `leaf` and its ancestors after their state changed."""
        index = self._index
        for node in leaf.path:
            uid = index.get(node.uid)
            if uid is not None:
                self._settle(uid, node)

    def drop(self, leaf: QueueNode) -> None:
        """Offer none of `leaf`'s remaining items."""
        uid = self._index.get(leaf.uid)
        items = None if uid is None else self._items[uid]
        if uid is None or items is None:
            return
        self._pos[uid] = len(items)
        if self._last is not leaf:
            self.refresh(leaf)

    def pop(self) -> tuple[QueueNode, T] | None:
        last = self._last
        if last is not None:
            self._last = None
            last_uid = self._index[last.uid]
            leaf_items = self._items[last_uid]
            pos = self._pos[last_uid]
            if not (
                self._state() == self._last_state
                and leaf_items is not None
                and pos < len(leaf_items)
                and self._signature(leaf_items[pos]) == self._last_signature
            ):
                self.refresh(last)
        uid = self._root
        items = self._items
        while True:
            top = self._top(uid)
            if top is None:
                return None
            if items[top] is not None:
                break
            uid = top
        leaf = self._nodes[top]
        leaf_items = items[top]
        assert leaf is not None
        assert leaf_items is not None
        pos = self._pos[top]
        self._pos[top] = pos + 1
        self._last = leaf
        item = leaf_items[pos]
        self._last_state = self._state()
        self._last_signature = self._signature(item)
        return leaf, item
