"""Who acts on cases: roles, what each may do, and an analyst's availability.

viewer reads; analyst works the cases of inboxes that let analysts (or them by name)
work them; supervisor works every inbox, approves four-eyes proposals, assigns cases to
others and sees everyone's cases; admin manages the policy, sees every case and works
only inboxes that list admins. `see_all` is for the console's listings: acting on a case
always takes its inbox. No role lets anyone approve their own proposal: that is checked
on the person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["viewer", "analyst", "supervisor", "admin"]
Permission = Literal["work", "approve", "assign", "see_all", "policy"]

ROLES: tuple[Role, ...] = ("viewer", "analyst", "supervisor", "admin")
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset(),
    "analyst": frozenset({"work"}),
    "supervisor": frozenset({"work", "approve", "assign", "see_all"}),
    "admin": frozenset({"work", "see_all", "policy"}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in person: the user name the console or CLI authenticated, and a role."""

    user: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def is_user(self, user: str | None) -> bool:
        """Whether `user` names this person. Names are compared trimmed and case-folded,
        so "Alice" approving "alice "'s proposal is still the same pair of eyes."""
        return user is not None and same_person(self.user, user)


def same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True, slots=True)
class Analyst:
    """Someone auto-assignment may give cases to, with their "unavailable until"."""

    actor: Actor
    unavailable_until: datetime | None = None

    def available_at(self, now: datetime) -> bool:
        if not self.actor.may("work"):
            return False
        return self.unavailable_until is None or now >= self.unavailable_until
