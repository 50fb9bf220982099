"""A project deleted while a workload is created in it: whichever transaction takes the
project's row first wins, and the other gets a clear answer (409 "has workloads", or the
project is gone), never a foreign-key 500 or a misleading "already exists".

The two transactions are driven by hand on PostgreSQL: the first is held open, after its work
and before its commit, until the second is seen waiting for a lock (`pg_stat_activity`); then
the first commits and the second finishes. No timing is involved: each step waits for a state.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from nimplane.api.state import AppState
from nimplane.domain.errors import Conflict, Invalid, NotFound
from nimplane.services.org import OrgService
from nimplane.services.workloads import WorkloadService
from tests.conftest import nim_request
from tests.support.identity import make_department, make_project
from tests.support.races import (
    DEADLINE,
    HeldStore,
    Outcome,
    pg_fixture,
    tenant_admin,
    wait_until_a_backend_waits_for_a_lock,
)

__all__ = ["pg_fixture"]


def _services(state: AppState) -> tuple[HeldStore, WorkloadService, OrgService]:
    held = HeldStore(state.store)
    return held, WorkloadService(held, state.cluster), OrgService(held, state.cluster)


def test_a_delete_waiting_for_a_create_is_409_naming_the_project(pg: AppState) -> None:
    admin = tenant_admin(pg)
    project_id = make_project(pg, make_department(pg), "racing")
    held, workloads, _ = _services(pg)
    create = Outcome(lambda: workloads.create(admin, nim_request("racer", project_id)))
    assert held.worked.wait(DEADLINE)  # the workload is written, not committed
    delete = Outcome(lambda: OrgService(pg.store, pg.cluster).delete_project(admin, project_id))
    wait_until_a_backend_waits_for_a_lock(pg)
    held.release.set()
    assert create.join().error is None
    error = delete.join().error
    assert isinstance(error, Conflict), repr(error)
    assert "'racing'" in error.message
    assert "workload" in error.message


def test_a_create_waiting_for_a_delete_finds_no_project(pg: AppState) -> None:
    admin = tenant_admin(pg)
    project_id = make_project(pg, make_department(pg), "doomed")
    held, _, org = _services(pg)
    delete = Outcome(lambda: org.delete_project(admin, project_id))
    assert held.worked.wait(DEADLINE)  # the project is deleted, not committed
    workloads = WorkloadService(pg.store, pg.cluster)
    create = Outcome(lambda: workloads.create(admin, nim_request("late", project_id)))
    wait_until_a_backend_waits_for_a_lock(pg)
    held.release.set()
    assert delete.join().error is None
    error = create.join().error
    assert isinstance(error, Invalid), repr(error)
    assert [(i.field, i.details) for i in error.issues] == [
        ("metadata.projectId", f"project {project_id} does not exist")
    ]


# --- the last resort: an integrity error the locks did not prevent is reported precisely -----


def test_a_foreign_key_violation_is_never_already_exists(state: AppState) -> None:
    """Both databases: the store maps a workload whose project is gone to NotFound naming the
    project, and a project still named by a workload to Conflict."""
    admin = tenant_admin(state)
    project_id = make_project(state, make_department(state), "kept")
    created = WorkloadService(state.store, state.cluster).create(
        admin, nim_request("w", project_id)
    )
    orphan = replace(
        created.workload,
        id=str(uuid.uuid4()),
        name="orphan",
        project=replace(created.workload.project, id="2000000000", name="gone"),
    )
    with pytest.raises(NotFound, match=r"Project 2000000000 \('gone'\) not found"):
        state.store.write(lambda tx: tx.workloads.insert(orphan, orphan.created_at))
    with pytest.raises(Conflict, match=f"Project {project_id} has workloads"):
        state.store.write(lambda tx: tx.org.delete_project(project_id))
