"""Console roles and what each may do: every role does all that the ones below it do.

Shared by the console's gate (`web/console/access.py`) and the command line (`policy`
actions signed with a console user), so a refusal is the same wherever it is asked.
"""

from __future__ import annotations

ROLES = ("viewer", "analyst", "supervisor", "admin")
"""`viewer` looks; `analyst` looks and acts on holds; `supervisor` also approves four-eyes
proposals and assigns cases to others (docs/cases.md); `admin` also changes the policy
(publish, shadow, promote, roll back: docs/policy.md). For cases, an admin is no
supervisor: `cases.people` says what each role may do to a case."""

RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def may(role: str, need: str) -> bool:
    """Whether `role` is allowed what `need` is: each role does all the ones below it do."""
    return RANK.get(role, 0) >= RANK[need]
