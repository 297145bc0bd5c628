"""Which offset of a partition may be committed when records finish out of order (no
Kafka import: offsets in, an offset out).

A record is *begun* when it is handed to its handler and *finished* when the handler is
done with it (for the registry, when Redis took it; for a notification, when every
channel is done, which may be after later records). The committable offset is the
lowest offset begun and not finished, or, when every begun record has finished, the
offset after the last one begun: committing it says "everything before this is done",
never more. Offsets need not be consecutive (compacted topics have gaps).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OffsetTracker:
    _open: set[int] = field(default_factory=set)
    _after_last: int | None = None

    def begin(self, offset: int) -> None:
        self._open.add(offset)
        self._after_last = (
            offset + 1 if self._after_last is None else max(self._after_last, offset + 1)
        )

    def finish(self, offset: int) -> None:
        self._open.discard(offset)

    def committable(self) -> int | None:
        """The offset to commit now; None before any record was begun."""
        if self._open:
            return min(self._open)
        return self._after_last

    @property
    def in_flight(self) -> int:
        return len(self._open)
