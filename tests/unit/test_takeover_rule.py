"""The takeover rule (`rbac.outranks`, `access.may_take_over`): managing an account's
credentials, or enabling or disabling it, takes strictly more than the account holds."""

from __future__ import annotations

import pytest

from nimplane.domain.access import may_take_over
from nimplane.domain.identity import AccessRule, Principal
from nimplane.domain.rbac import ROLES_BY_NAME, PlacedRole, ScopePath, at_or_above, outranks

TENANT = ScopePath("1")
CLUSTER = ScopePath("1", "c")
DEPT = ScopePath("1", "c", "7")
OTHER_DEPT = ScopePath("1", "c", "8")
PROJECT = ScopePath("1", "c", "7", "70")
PATHS = {
    "tenant": ("tenant", "1", TENANT),
    "cluster": ("cluster", "c", CLUSTER),
    "dept": ("department", "7", DEPT),
    "other-dept": ("department", "8", OTHER_DEPT),
    "project": ("project", "70", PROJECT),
}
SA, DA, ML, L1, VIEWER = (
    "System administrator",
    "Department administrator",
    "ML engineer",
    "L1 researcher",
    "Viewer",
)


def held(role: str, where: str) -> PlacedRole:
    scope_type, scope_id, path = PATHS[where]
    return PlacedRole(ROLES_BY_NAME[role], scope_type, scope_id, path)


def rule(role: str, where: str, subject: str = "x") -> tuple[AccessRule, ScopePath]:
    scope_type, scope_id, path = PATHS[where]
    return AccessRule("r", "service-account", subject, role, scope_type, scope_id), path


@pytest.mark.parametrize(
    ("account", "caller", "expected"),
    [
        pytest.param((DA, "dept"), (DA, "dept"), True, id="same-role-same-scope"),
        pytest.param((SA, "dept"), (DA, "dept"), True, id="greater-role-same-scope"),
        pytest.param((DA, "tenant"), (DA, "dept"), True, id="same-role-enclosing-scope"),
        pytest.param((SA, "cluster"), (DA, "dept"), True, id="greater-role-enclosing-scope"),
        pytest.param((ML, "dept"), (DA, "dept"), False, id="lesser-role-same-scope"),
        pytest.param((DA, "project"), (DA, "dept"), False, id="same-role-enclosed-scope"),
        pytest.param((SA, "project"), (DA, "dept"), False, id="greater-role-enclosed-scope"),
        pytest.param((DA, "other-dept"), (DA, "dept"), False, id="same-role-other-scope"),
        pytest.param((ML, "tenant"), (L1, "dept"), False, id="lesser-role-enclosing-scope"),
        pytest.param((L1, "dept"), (ML, "dept"), True, id="superset-role-same-scope"),
        pytest.param((VIEWER, "tenant"), (ML, "project"), False, id="unrelated-roles"),
    ],
)
def test_at_or_above(account: tuple[str, str], caller: tuple[str, str], expected: bool) -> None:
    assert at_or_above(held(*account), held(*caller)) is expected


@pytest.mark.parametrize(
    ("caller", "account", "expected"),
    [
        pytest.param([(DA, "dept")], [(ML, "dept")], True, id="admin-over-engineer"),
        pytest.param([(DA, "dept")], [(DA, "project")], True, id="admin-over-project-admin"),
        pytest.param([(DA, "dept")], [(DA, "dept")], False, id="peer-admin"),
        pytest.param([(DA, "dept")], [(SA, "dept")], False, id="sysadmin-in-dept"),
        pytest.param([(DA, "dept")], [(SA, "project")], False, id="sysadmin-in-project"),
        pytest.param([(DA, "dept")], [(DA, "tenant")], False, id="superior-admin"),
        pytest.param(
            [(DA, "dept")], [(ML, "dept"), (DA, "dept")], False, id="one-rule-at-caller-level"
        ),
        pytest.param([(SA, "tenant")], [(SA, "dept")], True, id="sysadmin-over-dept-sysadmin"),
        pytest.param([(SA, "tenant")], [(DA, "dept")], True, id="sysadmin-over-dept-admin"),
        pytest.param([(SA, "tenant")], [(SA, "tenant")], False, id="peer-sysadmins"),
        pytest.param(
            [(DA, "dept"), (SA, "tenant")], [(DA, "dept")], True, id="greater-rule-decides"
        ),
        pytest.param(
            [(ML, "project"), (DA, "dept")], [(ML, "dept")], True, id="lesser-rule-takes-nothing"
        ),
        pytest.param([(DA, "dept")], [], True, id="account-without-rules"),
        pytest.param([(DA, "other-dept")], [(ML, "dept")], False, id="outside-scope"),
    ],
)
def test_may_take_over(
    caller: list[tuple[str, str]], account: list[tuple[str, str]], expected: bool
) -> None:
    own = [rule(role, where, "me") for role, where in caller]
    principal = Principal("me", "service-account", tuple(r for r, _ in own))
    rules = [rule(role, where) for role, where in account]
    assert may_take_over(principal, own, rules) is expected
    if expected and account:
        assert outranks((held(*c) for c in caller), (held(*a) for a in account))
