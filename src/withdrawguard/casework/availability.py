"""Who is away: `withdrawguard cases away USER --until T` and `cases back USER`.

An analyst's "unavailable until" lives in the case store (`away` hash, `case_index`),
where the worker's auto-assignment sweep reads it each round; it is no case's event, so
`cases rebuild` keeps it. People mark themselves away or back; marking someone else
takes a supervisor. The time must carry an offset and lie in the future.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from withdrawguard.cases.errors import Forbidden, Invalid, NotFound
from withdrawguard.cases.people import Actor


class AwayStore(Protocol):
    async def set_away(self, user: str, until: datetime) -> None: ...
    async def clear_away(self, user: str) -> bool: ...


def until_of(text: str, now: datetime) -> datetime:
    """The `--until` time, checked: RFC 3339 with an offset, later than `now`."""
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("until", f"not an RFC 3339 time: {text!r}") from None
    if until.tzinfo is None:
        raise Invalid("until", f"{text!r} has no offset (add Z or +09:00)")
    if until <= now:
        raise Invalid("until", f"{until.isoformat()} is not later than now ({now.isoformat()})")
    return until


def check(actor: Actor, user: str, users: Mapping[str, object]) -> None:
    """403 unless `actor` is `user` or a supervisor; 404 for a user not in the file."""
    if user not in users:
        raise NotFound(f"no user {user!r} in WG_USERS_FILE")
    if not actor.is_user(user) and not actor.may("assign"):
        raise Forbidden(
            f"marking {user} away or back takes a supervisor; {actor.user} is {actor.role}"
        )


async def away(
    store: AwayStore, actor: Actor, user: str, until: datetime, users: Mapping[str, object]
) -> str:
    check(actor, user, users)
    await store.set_away(user, until)
    return f"{user} is unavailable until {until.isoformat()}: auto-assignment passes them over"


async def back(store: AwayStore, actor: Actor, user: str, users: Mapping[str, object]) -> str:
    check(actor, user, users)
    was = await store.clear_away(user)
    return f"{user} is available" + ("" if was else " (was not marked away)")
