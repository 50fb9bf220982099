"""KAI's actions, in its order: allocate, reclaim, preempt (docs/decisions.md S2.3, S4.1), and the
stale-gang eviction.

- **allocate** takes pending gangs in hierarchical queue order and places each whole if the
  capacity policy allows it: no queue on its path over its limit (`OverLimit`), and for
  non-preemptible work no queue's non-preemptible usage over its deserved quota
  (`NonPreemptibleOverQuota`). Fair share is not checked here: preemptible work may use idle
  resources beyond it, and reclaim takes them back.
- **reclaim** (across projects, by fairness): a gang whose queue would stay within its fair
  share (and, if non-preemptible, its deserved quota) may evict preemptible gangs of other
  projects whose queue, compared where the two paths meet, is above its allocatable share, or
  above deserved while the reclaimer stays within its own; the move must keep the reclaimer's
  saturation (allocated / fair share) below each affected sibling's at every level.
- **preempt** (within a project, by priority): preemptible gangs of the same queue with a
  strictly lower priority.

Both evicting actions add victims one gang at a time in victim order (docs/decisions.md S2.4) and,
once the pending gang could fit, simulate: re-allocate the evicted victims and the pending gang
together, in the hierarchical job order (`_reallocate`, KAI's
`TryToVirtuallyAllocatePreemptorAndGetVictims`), so a victim whose queue comes first (e.g. a
higher-priority queue) takes its place back before the pending gang is tried; a victim is put back
only where it was and within its queues' limits. The scenario holds if the pending gang is placed
and the victims left out pass validation; it is then committed, otherwise rolled back and the next
victim added.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterator
from typing import Final

from nimplane.domain.scheduling import explain
from nimplane.domain.scheduling.capacity import NodeGroup
from nimplane.domain.scheduling.model import MILLI, Action, GpuKind, PodPlacement, Reason
from nimplane.domain.scheduling.ordering import HierarchicalPicker, job_order_key, victim_order_key
from nimplane.domain.scheduling.placement import fits_on
from nimplane.domain.scheduling.queues import RESOURCES, PoolQueues, QueueNode, Vector
from nimplane.domain.scheduling.session import Failure, Gang, PodSlot, PoolState, Session

_NOT_RETRIED: Final = frozenset({Reason.NON_PREEMPTIBLE_OVER_QUOTA, Reason.QUEUE_DOES_NOT_EXIST})
"""Failures evicting preemptible work cannot cure (victims free no non-preemptible quota)."""

Job = tuple[QueueNode, Gang]
Evicted = list[tuple[Gang, QueueNode, list[tuple[int, PodSlot]]]]
"""Victims of a scenario: the gang, its leaf queue, and the pods taken off their nodes."""


def run_actions(session: Session, pool: PoolState, gangs: list[Gang]) -> None:
    """Allocate, then reclaim, then preempt for the pending `gangs` of one node pool."""
    jobs: list[Job] = []
    for gang in gangs:
        leaf = session.leaf_of(gang, pool)
        if leaf is None:
            gang.failures[pool.name] = explain.queue_missing(pool.name, gang.workload.project)
        else:
            jobs.append((leaf, gang))
    failed = allocate(session, pool, jobs)
    retry = [job for job in failed if job[1].failures[pool.name].reason not in _NOT_RETRIED]
    failed = reclaim(session, pool, retry)
    preempt(session, pool, failed)


def _vectors(session: Session, pool: PoolState, jobs: list[Job]) -> dict[Gang, Vector]:
    return {gang: session.missing_vector(gang, pool) for _, gang in jobs}


def _picker(
    session: Session, jobs: list[Job], vectors: dict[Gang, Vector]
) -> HierarchicalPicker[Gang]:
    by_leaf: dict[QueueNode, list[Gang]] = {}
    for leaf, gang in jobs:
        by_leaf.setdefault(leaf, []).append(gang)
    for gangs in by_leaf.values():
        gangs.sort(key=lambda g: g.order)
    return HierarchicalPicker(
        by_leaf,
        lambda q, g: job_order_key(q, vectors[g]),
        vectors.__getitem__,
        lambda: session.version,
    )


def quota_failure(pool: str, leaf: QueueNode, gang: Gang, vec: Vector) -> Failure | None:
    """The capacity policy: limits at every level, and deserved quota for non-preemptible."""
    hit = PoolQueues.over_limit(leaf, vec)
    if hit is not None:
        return explain.over_limit(pool, hit[0], hit[1], vec)
    if not gang.preemptible:
        hit = PoolQueues.non_preemptible_over_quota(leaf, vec)
        if hit is not None:
            return explain.non_preemptible_over_quota(pool, hit[0], hit[1], vec)
    return None


# -- allocate --------------------------------------------------------------------------------


def allocate(session: Session, pool: PoolState, jobs: list[Job]) -> list[Job]:
    vectors = _vectors(session, pool, jobs)
    picker = _picker(session, jobs, vectors)
    failed: list[Job] = []
    no_room: dict[tuple[object, ...], Failure] = {}
    while (job := picker.pop()) is not None:
        leaf, gang = job
        vec = vectors[gang]
        failure = quota_failure(pool.name, leaf, gang, vec)
        if failure is None:
            missing = gang.size - gang.placed
            signature = (gang.shape.id, missing)
            failure = no_room.get(signature)
            if failure is None:
                groups = session.tolerated_groups(pool, gang.shape.tolerations)
                fitted = session.place_gang(gang, pool, groups)
                if fitted == missing:
                    _placed(session, gang)
                    continue
                # capacity only shrinks during allocate: the same shape fails again
                failure = explain.capacity(pool, groups, gang, fitted)
                no_room[signature] = failure
        gang.failures[pool.name] = failure
        failed.append(job)
    return failed


def _placed(session: Session, gang: Gang) -> None:
    session.commit()
    session.changed = True
    gang.stale_since = None
    gang.failures.clear()
    gang.refresh_order()


# -- reclaim ---------------------------------------------------------------------------------


def reclaim(session: Session, pool: PoolState, jobs: list[Job]) -> list[Job]:
    if not jobs:
        return []
    vectors = _vectors(session, pool, jobs)
    picker = _picker(session, jobs, vectors)
    failed: list[Job] = []
    tried: set[tuple[object, ...]] = set()
    while (job := picker.pop()) is not None:
        leaf, gang = job
        signature = (leaf.uid, gang.shape.id, gang.size - gang.placed, gang.preemptible)
        if signature not in tried and _reclaim_for(session, pool, leaf, gang, vectors[gang]):
            continue
        tried.add(signature)
        failed.append(job)
    return failed


def _leveled(reclaimer: QueueNode, victim: QueueNode) -> tuple[QueueNode, QueueNode]:
    """The reclaimer's and the victim's queues just below where their paths meet (what
    `_reclaimable` finds level by level for every candidate at once)."""
    mine = {node.uid: i for i, node in enumerate(reclaimer.path)}
    theirs = victim.path
    for i, node in enumerate(theirs):
        j = mine.get(node.uid)
        if j is not None:
            return reclaimer.path[j - 1], theirs[i - 1]
    return reclaimer.path[-1], theirs[-1]


def _may_reclaim_from(mine: QueueNode, theirs: QueueNode, vec: Vector) -> bool:
    """KAI's two reclaim strategies, on what `theirs` still holds."""
    alloc = theirs.alloc
    allocatable = theirs.allocatable
    if alloc[0] > allocatable[0] or alloc[1] > allocatable[1] or alloc[2] > allocatable[2]:
        return True  # maintain fair share: the victim side is above its allocatable share
    des = theirs.des_cap
    over_deserved = alloc[0] > des[0] or alloc[1] > des[1] or alloc[2] > des[2]
    return over_deserved and mine.within_deserved_with(vec)  # guarantee deserved quota


def _reclaim_for(
    session: Session, pool: PoolState, leaf: QueueNode, gang: Gang, vec: Vector
) -> bool:
    alloc, fair = leaf.alloc, leaf.fair
    if any(alloc[r] + vec[r] > fair[r] for r in RESOURCES):
        return False  # the reclaimer would exceed its fair share
    if not gang.preemptible and any(leaf.alloc_np[r] + vec[r] > leaf.des_cap[r] for r in RESOURCES):
        return False
    groups = session.tolerated_groups(pool, gang.shape.tolerations)
    if not groups:
        return False
    usable = set(map(id, groups))
    every = len(groups) == len(pool.groups) and not pool.unschedulable
    candidates: dict[QueueNode, list[Gang]] = {}
    leveled: dict[QueueNode, tuple[QueueNode, QueueNode]] = {}
    for mine, theirs, other in _reclaimable(leaf, pool, vec):
        leveled[other] = (mine, theirs)
        victims = pool.preemptible_in(other.uid)
        if not every:
            victims = [v for v in victims if _on_groups(v, usable)]
        if victims:
            candidates[other] = victims
    if not candidates:
        return False
    picker: HierarchicalPicker[Gang] = HierarchicalPicker(
        candidates,
        lambda q, v: victim_order_key(q, v.vector()),
        Gang.vector,
        lambda: session.version,
    )

    def eligible(victim_leaf: QueueNode, victim: Gang) -> bool:
        mine, theirs = leveled[victim_leaf]
        if _may_reclaim_from(mine, theirs, vec):
            return True
        # Evicting only lowers what a queue holds and the reclaimer's own queues do not
        # change until the search ends: a queue that may not be reclaimed from now stays so
        # for this search, so none of its other victims is offered.
        picker.drop(victim_leaf)
        return False

    def validate(evicted: Evicted) -> bool:
        return _within_limits(leaf, gang, vec) and _saturation_kept(
            leaf, pool.queues.roots, evicted, vec, session.config.reclaimer_saturation_multiplier
        )

    def message(victim: Gang, victim_leaf: QueueNode) -> str:
        return explain.reclaimed(victim, gang, pool.name, leveled[victim_leaf][1])

    victims_iter = iter(picker.pop, None)
    return _solve(
        session,
        pool,
        leaf,
        gang,
        vec,
        groups,
        victims_iter,
        eligible,
        validate,
        Action.RECLAIM,
        message,
    )


def _reclaimable(
    leaf: QueueNode, pool: PoolState, vec: Vector
) -> Iterator[tuple[QueueNode, QueueNode, QueueNode]]:
    """The leaf queues running gangs that `leaf` may reclaim from now, each with the two queues
    just below where the two paths meet (`leaf`'s first).

    Walks the tree from the roots down `leaf`'s path: KAI's rule compares the two queues where
    the paths meet, so it is checked once per sibling of a queue on the path, and a sibling
    that fails it is skipped with its whole subtree (a reclaimer visits only the departments
    it may take from, not every project of the cluster)."""
    running = pool.running
    siblings = pool.queues.roots
    for mine in reversed(leaf.path):
        for theirs in siblings:
            if theirs is mine or not _may_reclaim_from(mine, theirs, vec):
                continue
            for other in pool.queues.leaves_under(theirs):
                if running.get(other.uid):
                    yield mine, theirs, other
        siblings = mine.children


def _on_groups(gang: Gang, usable: set[int]) -> bool:
    return any(slot is not None and id(slot.node.group) in usable for slot in gang.pods)


def _within_limits(leaf: QueueNode, gang: Gang, vec: Vector) -> bool:
    """After the move: no limit on the path exceeded, non-preemptible usage within deserved."""
    for node in leaf.path:
        for r in RESOURCES:
            if vec[r] > 0 and node.alloc[r] > node.lim_cap[r]:
                return False
            if not gang.preemptible and vec[r] > 0 and node.alloc_np[r] > node.des_cap[r]:
                return False
    return True


def _saturation(allocated: int, fair: int) -> float:
    if fair == 0:
        return float("inf") if allocated > 0 else 0.0
    return allocated / fair


def _saturation_kept(
    leaf: QueueNode, roots: list[QueueNode], evicted: Evicted, vec: Vector, multiplier: float
) -> bool:
    """At every level of the reclaimer's path, a reclaiming queue that ends above its fair
    share must stay strictly less saturated than each sibling it took from (scaled)."""
    if not evicted:
        return True
    involved_by_uid: dict[int, set[int]] = {}
    for _, victim_leaf, slots in evicted:
        resources = {r for r in RESOURCES if vec[r] > 0}
        for _, slot in slots:
            resources.update(r for r in RESOURCES if slot.quota[r] > 0)
        for node in victim_leaf.path:
            involved_by_uid.setdefault(node.uid, set()).update(resources)
    for node in leaf.path:
        siblings = node.parent.children if node.parent is not None else roots
        for sibling in siblings:
            if sibling is node or sibling.uid not in involved_by_uid:
                continue
            for r in involved_by_uid[sibling.uid]:
                mine = _saturation(node.alloc[r], node.fair[r])
                theirs = _saturation(sibling.alloc[r], sibling.fair[r])
                if mine > 1 and sibling.fair[r] > 0 and mine * multiplier >= theirs:
                    return False
    return True


# -- preempt ---------------------------------------------------------------------------------


def preempt(session: Session, pool: PoolState, jobs: list[Job]) -> list[Job]:
    if not jobs:
        return []
    vectors = _vectors(session, pool, jobs)
    picker = _picker(session, jobs, vectors)
    failed: list[Job] = []
    tried: set[tuple[object, ...]] = set()
    while (job := picker.pop()) is not None:
        leaf, gang = job
        signature = (
            leaf.uid,
            gang.shape.id,
            gang.size - gang.placed,
            gang.preemptible,
            gang.priority,
        )
        if signature not in tried and _preempt_for(session, pool, leaf, gang, vectors[gang]):
            continue
        tried.add(signature)
        failed.append(job)
    return failed


def _preempt_for(
    session: Session, pool: PoolState, leaf: QueueNode, gang: Gang, vec: Vector
) -> bool:
    if not gang.preemptible and PoolQueues.non_preemptible_over_quota(leaf, vec) is not None:
        return False
    groups = session.tolerated_groups(pool, gang.shape.tolerations)
    usable = set(map(id, groups))
    victims = [
        v
        for v in pool.preemptible_in(leaf.uid)
        if v is not gang and v.priority < gang.priority and _on_groups(v, usable)
    ]
    if not victims:
        return False

    def validate(evicted: Evicted) -> bool:
        return _within_limits(leaf, gang, vec)

    def message(victim: Gang, victim_leaf: QueueNode) -> str:
        return explain.preempted(victim, gang, pool.name)

    return _solve(
        session,
        pool,
        leaf,
        gang,
        vec,
        groups,
        ((leaf, v) for v in victims),
        None,
        validate,
        Action.PREEMPT,
        message,
    )


# -- the scenario solver ---------------------------------------------------------------------


def _physical_need(gang: Gang) -> tuple[int, int, int, int]:
    """(whole devices, thousandths of GPU, CPU, memory) the missing pods need at least."""
    request = gang.shape.pod
    gpu = request.gpu
    missing = gang.size - gang.placed
    whole = gpu.devices * missing if gpu.kind is GpuKind.WHOLE else 0
    if gpu.kind is GpuKind.WHOLE:
        milli = whole * MILLI
    elif gpu.kind is GpuKind.PORTION:
        milli = gpu.portion_milli * gpu.devices * missing
    else:
        milli = 0
    return whole, milli, request.cpu_millicores * missing, request.memory_mib * missing


def _room_for(groups: list[NodeGroup], need: tuple[int, int, int, int]) -> bool:
    whole = milli = cpu = mem = 0
    for g in groups:
        whole += g.free_whole
        milli += g.free_milli
        cpu += g.free_cpu
        mem += g.free_mem
    return whole >= need[0] and milli >= need[1] and cpu >= need[2] and mem >= need[3]


def _solve(
    session: Session,
    pool: PoolState,
    leaf: QueueNode,
    gang: Gang,
    vec: Vector,
    groups: list[NodeGroup],
    victims: Iterator[tuple[QueueNode, Gang]],
    eligible: Callable[[QueueNode, Gang], bool] | None,
    validate: Callable[[Evicted], bool],
    action: Action,
    message: Callable[[Gang, QueueNode], str],
) -> bool:
    start = session.checkpoint()
    evicted: Evicted = []
    scenario = _Scenario(leaf, gang, vec)
    need = _physical_need(gang)
    missing = gang.size - gang.placed
    request = gang.shape.pod
    usable = set(map(id, groups))
    full_search = True  # until one full search failed, any node may have room
    for victim_leaf, victim in victims:
        if victim.placed == 0 or (eligible is not None and not eligible(victim_leaf, victim)):
            continue
        held = victim.held
        slots = session.evict(victim)
        evicted.append((victim, victim_leaf, slots))
        scenario.add(evicted[-1], held)
        if not _room_for(groups, need):
            continue
        if (
            not full_search
            and missing == 1
            and not any(
                id(slot.node.group) in usable and fits_on(slot.node, request) is not None
                for _, slot in slots
            )
        ):
            continue  # only this victim's nodes changed since the last search failed
        if PoolQueues.over_limit(leaf, vec) is not None:
            continue
        attempt = session.checkpoint()
        kept, before = _reallocate(session, pool, gang, groups, evicted, scenario)
        if kept is None:
            session.rollback(attempt)
            # the gang found no room with every victim off: only new victims' nodes can help
            full_search = before > 0
            continue
        full_search = False
        if validate(kept):
            for victim_gang, victim_leaf, victim_slots in kept:
                pods = tuple(_pod(i, s) for i, s in victim_slots)
                message_text = message(victim_gang, victim_leaf)
                session.record(victim_gang, pool.name, action, gang, message_text, pods)
                victim_gang.refresh_order()
            _placed(session, gang)
            return True
        session.rollback(attempt)
        full_search = True
    session.rollback(start)
    return False


class _Scenario:
    """The jobs a scenario re-allocates, kept up to date as victims are added (the pending gang
    and every victim so far, per leaf queue in job order, with what each takes), so that each
    re-allocation of a search does not rebuild them from the victims' pods."""

    def __init__(self, leaf: QueueNode, gang: Gang, vec: Vector) -> None:
        self.by_leaf: dict[QueueNode, list[Gang]] = {leaf: [gang]}
        self.vectors: dict[Gang, Vector] = {gang: vec}
        self.entries: dict[int, tuple[Gang, QueueNode, list[tuple[int, PodSlot]]]] = {}

    def add(self, entry: tuple[Gang, QueueNode, list[tuple[int, PodSlot]]], held: Vector) -> None:
        victim, victim_leaf, _ = entry
        insort(self.by_leaf.setdefault(victim_leaf, []), victim, key=_order)
        self.vectors[victim] = held
        self.entries[id(victim)] = entry


def _order(gang: Gang) -> tuple[object, ...]:
    return gang.order


def _reallocate(
    session: Session,
    pool: PoolState,
    gang: Gang,
    groups: list[NodeGroup],
    evicted: Evicted,
    scenario: _Scenario,
) -> tuple[Evicted | None, int]:
    """Re-allocate the evicted victims and the pending `gang` together, in job order.

    Each victim, when its turn comes, goes back exactly where it was if that still fits and
    keeps its queues within their limits; the pending gang is placed when its turn comes.
    Returns the victims left out (in eviction order), or None if the gang found no room, and
    how many victims were put back before the gang was tried. The caller rolls back.
    """
    vectors = scenario.vectors
    picker = HierarchicalPicker(
        scenario.by_leaf,
        lambda q, x: job_order_key(q, vectors[x]),
        vectors.__getitem__,
        lambda: session.version,
    )
    slots_of = scenario.entries
    restored: set[int] = set()
    before = -1
    while (job := picker.pop()) is not None:
        job_leaf, job_gang = job
        if job_gang is gang:
            before = len(restored)
            missing = gang.size - gang.placed
            if session.place_gang(gang, pool, groups) < missing:
                return None, before
            continue
        entry = slots_of[id(job_gang)]
        if PoolQueues.over_limit(job_leaf, vectors[job_gang]) is None and session.restore(
            job_gang, entry[2]
        ):
            restored.add(id(job_gang))
    return [e for e in evicted if id(e[0]) not in restored], before


def _pod(index: int, slot: PodSlot) -> PodPlacement:
    return PodPlacement(index, slot.node.name, slot.devices, slot.request)


# -- stale gangs -----------------------------------------------------------------------------


def evict_stale_gangs(session: Session) -> None:
    """A gang below its size for longer than the grace period is evicted whole."""
    grace = session.config.stale_gang_grace_seconds
    if grace < 0:
        return
    for gang in session.gangs:
        since = gang.stale_since
        if not (0 < gang.placed < gang.size and since is not None and session.now - since > grace):
            continue
        pool = gang.pool
        assert pool is not None
        text = explain.stale(gang, grace)
        slots = session.evict(gang)
        pods = tuple(_pod(i, s) for i, s in slots)
        session.record(gang, pool, Action.STALE_GANG, None, text, pods)
        session.commit()
        gang.stale_since = None
        gang.refresh_order()
        session.changed = True
