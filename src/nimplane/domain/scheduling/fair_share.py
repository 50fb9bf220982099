"""Fair share (docs/decisions.md S1.3): one resource divided among sibling queues, then recursively.

Not DRF and not a water-fill over a vector: each resource is divided on its own, in integers of
the resource's internal unit (thousandths of a GPU, millicores, MiB):

1. deserved phase: every queue gets `min(deserved, requestable)`, in full even when the quotas
   are over-subscribed (what is left is then clamped to 0);
2. over-quota phase, by queue priority bucket, highest first: rounds in which each unsatisfied
   queue with weight > 0 is offered `left_at_round_start * weight / sum(weights)`; it takes the
   offer whole if its remaining request fits, else the offer rounded down to whole units (the
   fraction is remembered); another round runs only if some queue took less than offered;
3. leftover phase, per bucket: what the rounding kept back is handed out one unit at a time (or
   the fraction left if less) to the queues by largest remembered fraction, then older, then
   name.

Time-based fair share (historical usage, `kValue`) is not implemented: usage is taken as 0, which
is KAI's default, and the share weight is then the over-quota weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from nimplane.domain.scheduling.model import UNLIMITED


@dataclass(frozen=True)
class ShareRequest:
    """One queue's side of a division. All amounts in the resource's internal unit."""

    deserved: int
    limit: int
    weight: Fraction
    request: int
    """Allocated + pending demand of the queue's subtree."""
    priority: int = 100
    tiebreak: tuple[float, str] = (0.0, "")
    """(creation time, name): older first, then by name."""

    @property
    def requestable(self) -> int:
        return self.request if self.limit == UNLIMITED else min(self.limit, self.request)


def divide(total: int, queues: Sequence[ShareRequest], unit: int) -> list[int]:
    """The fair share of each queue (same order) when `total` is divided among them."""
    shares = [0] * len(queues)
    remaining = total
    for i, queue in enumerate(queues):
        deserved = total if queue.deserved == UNLIMITED else queue.deserved
        give = max(0, min(deserved, queue.requestable))
        shares[i] += give
        remaining -= give
    if remaining <= 0:
        return shares

    order = sorted(range(len(queues)), key=lambda i: queues[i].tiebreak)
    for priority in sorted({q.priority for q in queues}, reverse=True):
        if remaining <= 0:
            break
        members = [i for i in order if queues[i].priority == priority]
        remaining, fractions = _over_quota_rounds(remaining, members, queues, shares, unit)
        if remaining > 0 and fractions:
            remaining = _hand_out_leftover(remaining, fractions, queues, shares, unit)
    return shares


def _satisfied(queue: ShareRequest, share: int) -> bool:
    return queue.request <= share or (queue.limit != UNLIMITED and queue.limit <= share)


def _over_quota_rounds(
    remaining: int,
    members: list[int],
    queues: Sequence[ShareRequest],
    shares: list[int],
    unit: int,
) -> tuple[int, dict[int, Fraction]]:
    fractions: dict[int, Fraction] = {}
    while True:
        round_amount = remaining
        unsatisfied = [i for i in members if not _satisfied(queues[i], shares[i])]
        total_weight = sum((queues[i].weight for i in unsatisfied), Fraction(0))
        if total_weight == 0:
            break
        another_round = False
        for i in unsatisfied:
            if remaining == 0:
                break
            queue = queues[i]
            if _satisfied(queue, shares[i]) or queue.weight == 0:
                continue
            wanted = max(0, queue.requestable - shares[i])
            offer = round_amount * queue.weight / total_weight
            if wanted <= offer:
                give = wanted
                fractions.pop(i, None)
            else:
                give = (offer // unit) * unit
                if offer - give > 0:
                    fractions[i] = offer - give
            give = int(min(give, remaining))
            if give == 0:
                continue
            shares[i] += give
            remaining -= give
            another_round = another_round or wanted < offer
        if not another_round or remaining == 0:
            break
    return remaining, fractions


def _hand_out_leftover(
    remaining: int,
    fractions: dict[int, Fraction],
    queues: Sequence[ShareRequest],
    shares: list[int],
    unit: int,
) -> int:
    for i in sorted(fractions, key=lambda i: (-fractions[i], queues[i].tiebreak)):
        if remaining <= 0:
            break
        give = min(unit, remaining)
        shares[i] += give
        remaining -= give
    return remaining
