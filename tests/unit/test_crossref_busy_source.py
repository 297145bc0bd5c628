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
    """The version before: every attempt within a window of `ts`, sorted, then walked."""
    near = sorted((t, c, eid) for eid, (c, t) in s.attempts.items() if abs(t - ts) <= w.window)
    counts: dict[str, int] = {}
    qualifying: list[tuple[int, int]] = []
    hi = -1
    for lo in range(len(near)):
        if near[lo][0] > ts:
            break
        while hi + 1 < len(near) and near[hi + 1][0] - near[lo][0] <= w.window:
            hi += 1
            counts[near[hi][1]] = counts.get(near[hi][1], 0) + 1
        if near[hi][0] >= ts and len(counts) >= w.min_customers:
            qualifying.append((lo, hi))
        counts[near[lo][1]] -= 1
        if not counts[near[lo][1]]:
            del counts[near[lo][1]]
    if not qualifying:
        return None
    first, last = qualifying[0][0], max(h for _, h in qualifying)
    members = [(c, t, e) for t, c, e in near[first : last + 1]]
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
