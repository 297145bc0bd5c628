"""No input may be fetched between the end of a table restore and the streams' seek.

When a restore ends, Faust's `Recovery.on_recovery_completed` resumes the stream
partitions, then seeks them to their committed offsets (`Consumer.perform_seek`, one
broker round trip per partition: half a second for forty partitions here), then resumes
the app's flow control. Meanwhile the consumer's flow is still on from the restore, so
the fetch loop goes on delivering input records of the just-resumed partitions into the
agents' queues, and resuming flow control *empties* those queues (`clear_on_resume`).
The records it empties were never processed, and nothing reads them again: the seek has
already reset Faust's read offset, and the fetch position is past them. What follows
depends on how many there were:

- one record at the head of a partition: the next record's acknowledgement passes
  Faust's head check (`Consumer._new_offset`: `min(acked) - committed > 1`), the commit
  moves past it, and that event is lost for good (no verdict for that withdrawal);
- two or more: the head check never passes again, the partition's committed offset
  stands still while its records are processed, its lag grows without end, and a
  restart replays everything since.

The fault suite saw the second, at full size, after a takeover (26 November,
`withdrawals[0]` stuck at offset 115 while its position went past 3,600; the stall guard
showed the partition fetched, active and unpaused). The fix, installed for this app
alone through Faust's `TableManager` setting: the consumer's flow is stopped for the
whole of `on_recovery_completed`, so nothing is fetched until the queues have been
emptied; Faust's own method turns the flow back on as its last step, after the seek and
the flow-control resume (when it returns early because a newer rebalance has begun, that
rebalance's restore turns the flow on). Stopping the flow is what Faust itself does at
the start of every rebalance. `tests/faults/slow_seek_worker.py` widens the window on
purpose; the fault test "slow seek after a restore" lost events without this and passes
with it.
"""

from __future__ import annotations

from faust.tables import TableManager as FaustTableManager
from faust.tables.recovery import Recovery as FaustRecovery


class Recovery(FaustRecovery):
    """Faust's table recovery, finishing a restore with the consumer's flow off."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's own step with the flow off while it resumes, seeks and clears; it turns
        the flow back on itself."""
        self.app.consumer.stop_flow()
        await super().on_recovery_completed(generation_id)


class TableManager(FaustTableManager):
    """Faust's table manager, recovering with `Recovery`."""

    @property
    def recovery(self) -> Recovery:
        # Faust's property, with our class: it keeps the one instance in `_recovery`.
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        assert isinstance(self._recovery, Recovery)
        return self._recovery
