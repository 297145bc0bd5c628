"""Bounded memory whatever the history's size: everything the scan holds goes to a
temporary SQLite database, written in big transactions and read back with cursors.

Tables:
- `events`: every valid event, and later the cross-customer notices, as the worker's
  `customer-events` messages (`<type>\\0<json>`), indexed by (customer_id, ts, seq);
- `dest_obs`, `ip_obs`, `device_obs`: the observations the engine made for the
  cross-customer stages;
- `notified`: customers that were sent at least one notice;
- `verdicts`: the last verdict per withdrawal (with the finding, when it is a hold, and
  for a backtest every withdrawal's verdict line).

A backtest decides the same events under two policies: `reset_detection` drops what the
first policy's pass added (notices, observations, verdicts) and keeps the events.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from withdrawguard.contract import wire
from withdrawguard.engine.events import Notice
from withdrawguard.engine.outputs import DestinationObservation, DeviceObservation, IpObservation
from withdrawguard.engine.timeutil import to_ms

NOTICE_SEQ = 1 << 62
"""Notices sort after every input event of the same millisecond (input seqs are lower)."""
BATCH = 50_000
_KIND_RANK = {"set": 0, "used": 1, "fraud": 2}
_KINDS = {v: k for k, v in _KIND_RANK.items()}

_SCHEMA = """
CREATE TABLE events (customer_id TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
                     wire BLOB NOT NULL);
CREATE TABLE dest_obs (dest TEXT NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL,
                       customer_id TEXT NOT NULL, ref_id TEXT NOT NULL);
CREATE TABLE ip_obs (ip TEXT NOT NULL, ts INTEGER NOT NULL, customer_id TEXT NOT NULL,
                     event_id TEXT NOT NULL, success INTEGER NOT NULL);
CREATE TABLE device_obs (device TEXT NOT NULL, ts INTEGER NOT NULL, customer_id TEXT NOT NULL,
                         event_id TEXT NOT NULL, success INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE TABLE notified (customer_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE verdicts (customer_id TEXT NOT NULL, withdrawal_id TEXT NOT NULL,
                       ts INTEGER NOT NULL, held INTEGER NOT NULL, finding BLOB,
                       verdict BLOB, PRIMARY KEY (customer_id, withdrawal_id));
"""


class Spill:
    """The scan's working storage, in a fresh temporary folder under `parent`."""

    def __init__(self, parent: Path, cache_mib: int = 16) -> None:
        parent.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=".withdrawguard-scan-", dir=parent))
        self.db = sqlite3.connect(self.dir / "spill.db", isolation_level=None)
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            f"cache_size = -{cache_mib * 1024}",
            "temp_store = FILE",
            "locking_mode = EXCLUSIVE",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN")
        self._events: list[tuple[str, int, int, bytes]] = []
        self._dests: list[tuple[str, int, int, str, str]] = []
        self._ips: list[tuple[str, int, str, str, int]] = []
        self._devices: list[tuple[str, int, str, str, int, str]] = []
        self._verdicts: list[tuple[str, str, int, int, bytes | None, bytes | None]] = []
        self._notices = 0

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self) -> None:
        """Write every buffer and end the transaction (a new one begins)."""
        self._flush()
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def _flush(self) -> None:
        db = self.db
        if self._events:
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", self._events)
            self._events.clear()
        if self._dests:
            db.executemany("INSERT INTO dest_obs VALUES (?, ?, ?, ?, ?)", self._dests)
            self._dests.clear()
        if self._ips:
            db.executemany("INSERT INTO ip_obs VALUES (?, ?, ?, ?, ?)", self._ips)
            self._ips.clear()
        if self._devices:
            db.executemany("INSERT INTO device_obs VALUES (?, ?, ?, ?, ?, ?)", self._devices)
            self._devices.clear()
        if self._verdicts:
            insert = "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)"
            db.executemany(insert, self._verdicts)
            self._verdicts.clear()

    def _maybe_flush(self, buffer: list[Any]) -> None:
        if len(buffer) >= BATCH:
            self._flush()

    # ------------------------------------------------------------ events

    def add_event(self, customer_id: str, ts: int, seq: int, value: bytes) -> None:
        self._events.append((customer_id, ts, seq, value))
        self._maybe_flush(self._events)

    def index(self) -> None:
        """Sort the events once they are all in (far faster than an index kept up)."""
        self.commit()
        self.db.execute("CREATE INDEX ix_events ON events (customer_id, ts, seq)")
        self.commit()

    def histories(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        """Each customer's events in (event time, seq) order, customers by id."""
        rows = self.db.execute(
            "SELECT customer_id, wire FROM events INDEXED BY ix_events "
            "ORDER BY customer_id, ts, seq"
        )
        for customer_id, group in itertools.groupby(rows, key=itemgetter(0)):
            yield customer_id, (value for _, value in group)

    def history(self, customer_id: str) -> Iterator[bytes]:
        rows = self.db.execute(
            "SELECT wire FROM events INDEXED BY ix_events WHERE customer_id = ? ORDER BY ts, seq",
            (customer_id,),
        )
        return (value for (value,) in rows)

    def inputs_between(self, customer_id: str, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """(ts, wire) of one customer's input events (no notices) with lo <= ts <= hi."""
        rows = self.db.execute(
            "SELECT ts, wire FROM events INDEXED BY ix_events WHERE customer_id = ? "
            "AND ts BETWEEN ? AND ? AND seq < ? ORDER BY ts, seq",
            (customer_id, lo, hi, NOTICE_SEQ),
        )
        return iter(rows)

    # ------------------------------------------------------------ cross-customer

    def add_destination(self, o: DestinationObservation) -> None:
        self._dests.append((o.destination_key, o.ts, _KIND_RANK[o.kind], o.customer_id, o.ref_id))
        self._maybe_flush(self._dests)

    def add_ip(self, o: IpObservation) -> None:
        self._ips.append((o.ip, o.ts, o.customer_id, o.event_id, int(o.success)))
        self._maybe_flush(self._ips)

    def add_device(self, o: DeviceObservation) -> None:
        self._devices.append((o.device, o.ts, o.customer_id, o.event_id, int(o.success), o.kind))
        self._maybe_flush(self._devices)

    def observation_count(self) -> int:
        self._flush()
        return sum(
            int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - our own table names
            for table in ("dest_obs", "ip_obs", "device_obs")
        )

    def destination_observations(self) -> Iterator[DestinationObservation]:
        """Per destination, in event-time order (ties: set, used, fraud; then ids)."""
        self._flush()
        rows = self.db.execute(
            "SELECT dest, ts, kind, customer_id, ref_id FROM dest_obs "
            "ORDER BY dest, ts, kind, customer_id, ref_id"
        )
        return (
            DestinationObservation(
                kind=_KINDS[k], destination_key=d, customer_id=c, ts=ts, ref_id=r
            )
            for d, ts, k, c, r in rows
        )

    def ip_observations(self) -> Iterator[IpObservation]:
        """Per source IP, in event-time order (ties: customer, event id)."""
        self._flush()
        rows = self.db.execute(
            "SELECT ip, ts, customer_id, event_id, success FROM ip_obs "
            "ORDER BY ip, ts, customer_id, event_id"
        )
        return (
            IpObservation(ip=ip, customer_id=c, ts=ts, event_id=e, success=bool(s))
            for ip, ts, c, e, s in rows
        )

    def device_observations(self) -> Iterator[DeviceObservation]:
        """Per device, in event-time order (ties: customer, event id)."""
        self._flush()
        rows = self.db.execute(
            "SELECT device, ts, customer_id, event_id, success, kind FROM device_obs "
            "ORDER BY device, ts, customer_id, event_id"
        )
        return (DeviceObservation(d, c, ts, e, bool(s), k) for d, ts, c, e, s, k in rows)

    def add_notice(self, n: Notice) -> None:
        """A notice becomes one more event of its customer, at its own event time."""
        self._notices += 1
        seq = NOTICE_SEQ + self._notices
        self.add_event(n.customer_id, to_ms(n.occurred_at), seq, wire.encode_notice(n))
        self.db.execute("INSERT OR IGNORE INTO notified VALUES (?)", (n.customer_id,))

    def notified(self) -> Iterator[str]:
        self._flush()
        return (c for (c,) in self.db.execute("SELECT customer_id FROM notified ORDER BY 1"))

    def notified_events(self) -> int:
        self._flush()
        (n,) = self.db.execute(
            "SELECT COUNT(*) FROM notified JOIN events INDEXED BY ix_events USING (customer_id)"
        ).fetchone()
        return int(n)

    # ------------------------------------------------------------ verdicts

    def put_verdict(
        self,
        customer_id: str,
        withdrawal_id: str,
        ts: int,
        held: bool,
        finding: bytes | None,
        verdict: bytes | None = None,
    ) -> None:
        self._verdicts.append((customer_id, withdrawal_id, ts, int(held), finding, verdict))
        self._maybe_flush(self._verdicts)

    def forget_verdicts(self, customer_id: str) -> None:
        self._flush()
        self.db.execute("DELETE FROM verdicts WHERE customer_id = ?", (customer_id,))

    def findings(self) -> Iterator[bytes]:
        """Every finding (a withdrawal whose last verdict is hold), by time then id."""
        self._flush()
        rows = self.db.execute(
            "SELECT finding FROM verdicts WHERE held ORDER BY ts, withdrawal_id, customer_id"
        )
        return (f for (f,) in rows)

    def held_by_customer(self) -> Iterator[tuple[str, Iterator[tuple[int, bytes]]]]:
        """Each flagged customer's (withdrawal time, finding), customers by id."""
        self._flush()
        rows = self.db.execute(
            "SELECT customer_id, ts, finding FROM verdicts WHERE held ORDER BY customer_id, ts"
        )
        for customer_id, group in itertools.groupby(rows, key=itemgetter(0)):
            yield customer_id, ((ts, f) for _, ts, f in group)

    def withdrawal_count(self) -> int:
        self._flush()
        (n,) = self.db.execute("SELECT COUNT(*) FROM verdicts").fetchone()
        return int(n)

    def verdict_lines(self) -> Iterator[bytes]:
        """Every withdrawal's verdict line (kept only when asked), by customer then
        withdrawal id (byte order, the order `backtest` merges two runs in)."""
        self._flush()
        rows = self.db.execute(
            "SELECT verdict FROM verdicts WHERE verdict IS NOT NULL "
            "ORDER BY customer_id, withdrawal_id"
        )
        return (v for (v,) in rows)

    def reset_detection(self) -> None:
        """Forget every result of a detection pass (verdicts, observations, notices and
        who got them); the input events stay, sorted, for the next pass."""
        self._flush()
        for statement in (
            "DELETE FROM verdicts",
            "DELETE FROM dest_obs",
            "DELETE FROM ip_obs",
            "DELETE FROM device_obs",
            "DELETE FROM notified",
        ):
            self.db.execute(statement)
        self.db.execute("DELETE FROM events WHERE seq >= ?", (NOTICE_SEQ,))
        self._notices = 0
        self.commit()
