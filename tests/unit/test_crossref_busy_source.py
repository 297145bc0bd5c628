"""A busy device or IP (thousands of attempts within its windows) is folded without
sorting all of its attempts per attempt: the cap drops the oldest (ties: the first
kept), and a wave is looked for only where enough customers are near. Both must give
exactly what the sort-everything versions gave: checked here against them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from withdrawguard.engine import crossref
from withdrawguard.engine.crossref import CrossReference, DeviceState, Waves, _wave
from withdrawguard.engine.outputs import DeviceObservation
from withdrawguard.engine.policy import load_policy

POLICY = load_policy()
WAVES = Waves(True, 3, 60_000, False, 60_000 * 2 + 3_600_000)


def _wave_by_sorting_all(w: Waves, s: DeviceState, ts: int) -> Any:
    """The definition, by brute force over every attempt sorted: each window of
    `w.window` that starts at an attempt no later than `ts`, reaches `ts` and holds
    `w.min_customers` distinct customers; the span from the first such window's start
    to the last attempt any of them holds."""
    every = sorted((t, c, eid) for eid, (c, t) in s.attempts.items())
    spans = []
    for i, (start, _, _) in enumerate(every):
        if start > ts or ts - start > w.window:
            continue
        inside = [j for j in range(i, len(every)) if every[j][0] - start <= w.window]
        if every[inside[-1]][0] >= ts and len({every[j][1] for j in inside}) >= w.min_customers:
            spans.append((i, inside[-1]))
    if not spans:
        return None
    first, last = spans[0][0], max(hi for _, hi in spans)
    members = [(c, t, e) for t, c, e in every[first : last + 1]]
    return members[0][1], members[-1][1], members


attempts = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 20).map(lambda m: m * 10_000)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(attempts, st.integers(0, 20).map(lambda m: m * 10_000))
def test_a_wave_is_found_exactly_where_sorting_every_attempt_found_it(
    seen: list[tuple[str, int]], ts: int
) -> None:
    s = DeviceState(attempts={f"e{i}": [c, t] for i, (c, t) in enumerate(seen)})
    assert _wave(WAVES, s, ts) == _wave_by_sorting_all(WAVES, s, ts)


@settings(max_examples=200, deadline=None)
@given(attempts)
def test_the_cap_keeps_the_newest_attempts_as_a_sort_of_all_of_them_kept(
    seen: list[tuple[str, int]],
) -> None:
    cap = 7
    x = CrossReference(POLICY)
    s = DeviceState()
    kept: dict[str, list[Any]] = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(crossref, "MAX_ATTEMPTS", cap)
        for i, (c, t) in enumerate(seen):
            obs = DeviceObservation("dev-1", c, 1_000_000_000 + t, f"e{i}", True, "login")
            x.device(s, obs)
            # the version before: every attempt sorted by time, the last `cap` kept
            kept[obs.event_id] = [c, obs.ts]
            floor = max(v[1] for v in kept.values()) - x.devices.keep
            kept = {k: v for k, v in kept.items() if v[1] >= floor}
            if len(kept) > cap:
                kept = dict(sorted(kept.items(), key=lambda kv: kv[1][1])[-cap:])
            assert s.attempts.keys() == kept.keys()
