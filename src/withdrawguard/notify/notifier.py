"""Notifications in the worker: route, de-duplicate, rate-limit, queue, and hand each
delivery to `delivery.Deliverer` (retries, dead letters).

The notify sink (`streaming/sinks/notify.py`) hands every alert to `Notifier.submit` and moves on:
each channel has its own queue and worker tasks, so a slow or failing channel delays
only itself, until the notifier holds `WG_NOTIFY_BACKLOG_MAX` unfinished alerts (the
backlog, `notify.backlog`) or a channel's queue holds `queue_size` deliveries: then
`has_room` is false and the feed stops reading until there is room again, so an outage
keeps alerts in Kafka, not in memory. Each attempt is bounded by a timeout; retries back
off exponentially with jitter; after the last one (never, with `attempts = 0`, unless
the receiver refuses the message itself) the alert goes to `dead-letters` with the
channel and the error.

Nothing is lost on a crash: an alert is finished only once every channel is done with it
(sent, found a duplicate, folded into a delivered digest, or dead-lettered), and the feed
commits only below the first unfinished offset (`sink`, `offsets`), so alerts still
queued or in flight when a worker dies
are read again by whichever worker takes the partition; their dedup claim is still
`pending` under the same alert id, so they are sent again (a receiver may then see a
repeat, with the same delivery id, but never a gap).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from withdrawguard.notify.backlog import Backlog
from withdrawguard.notify.channel import Channel, NotifyMetrics
from withdrawguard.notify.config import ChannelConfig, NotifyConfig, routes
from withdrawguard.notify.dedup import DedupStore, IncidentStore, claim_key, incident_key
from withdrawguard.notify.delivery import (
    DeadLetterSink,
    Deliverer,
    Delivery,
    Job,
    Source,
    Tracker,
)
from withdrawguard.notify.ratelimit import RateLimiter
from withdrawguard.notify.render import Message, render_alert, render_digest

__all__ = ["DEFAULT_BACKLOG", "Notifier", "Source"]

DEFAULT_BACKLOG = 1000
CASE_EVENT_CLAIM_SECONDS = 30 * 24 * 3600
"""How long a case event's delivery is remembered per channel (a replay within it is
not sent again; the feed's committed offsets keep older events from coming back)."""

log = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        channels: Mapping[str, Channel],
        *,
        dedup: DedupStore,
        dead_letters: DeadLetterSink,
        console_url: str,
        prefix: str,
        incidents: IncidentStore | None = None,
        metrics: NotifyMetrics | None = None,
        backlog: Backlog | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        closers: tuple[Callable[[], Awaitable[None]], ...] = (),
    ) -> None:
        self.config, self.channels = config, channels
        self._dedup, self._incidents, self._dead_letters = dedup, incidents, dead_letters
        self._console, self._prefix = console_url, prefix
        self._metrics = metrics
        self._clock, self._sleep, self._rand, self._closers = clock, sleep, rand, closers
        self._limiters: dict[str, RateLimiter[Job]] = {
            c.name: RateLimiter(c.rate_per_minute) for c in config.channels
        }
        self.backlog = backlog or Backlog(DEFAULT_BACKLOG)
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._digests: dict[str, asyncio.Task[None]] = {}
        self._deliverer = Deliverer(
            config, channels, dedup, dead_letters, self._metrics, clock, sleep, rand
        )

    @property
    def wants_holds(self) -> bool:
        return self._incidents is not None and any(
            c.type == "pagerduty" for c in self.config.channels
        )

    def has_room(self) -> bool:
        """False while the backlog is full or a channel's queue holds `queue_size`
        deliveries: the feed then reads nothing more until it is true again."""
        return not self.backlog.full() and all(
            q.qsize() < self.config.queue_size for q in self._queues.values()
        )

    # ------------------------------------------------------------ intake (the feed)

    async def submit(
        self, alert: dict[str, Any], source: Source, done: Callable[[], object]
    ) -> None:
        """Queue `alert` for every channel its severity routes to; `done` once all finish.
        Waits while the backlog is full (the feed asks `has_room` first and never waits)."""
        leave = await self.backlog.enter()
        try:
            await self._submit(alert, source, _both(leave, done))
        except BaseException:
            leave()
            raise

    async def _submit(
        self, alert: dict[str, Any], source: Source, done: Callable[[], object]
    ) -> None:
        self._start()
        chosen = routes(self.config, str(alert.get("severity", "")))
        alert_id = str(alert.get("alert_id", ""))
        incident = incident_key(str(alert.get("customer_id", "")), alert.get("rule_codes", []))
        tracker = Tracker(len(chosen), done)
        for ch in chosen:
            settled = await self._link(ch, incident, alert)
            key = claim_key(self._prefix, ch.name, incident)
            try:
                fresh = await self._dedup.claim(key, alert_id, self.config.dedup_window_seconds)
            except Exception as exc:  # noqa: BLE001 - fail open: a repeat beats a lost page
                log.warning("dedup store unavailable (%s); notifying anyway", type(exc).__name__)
                fresh, key = True, ""
            if not fresh:
                if self._metrics is not None:
                    self._metrics.notification_deduplicated(ch.name)
                tracker.finish()
                continue
            job = Job(alert, source, tracker, key or None)
            if self._limiters[ch.name].offer(job, self._clock()):
                message = render_alert(alert, self._console)
                await self._put(
                    ch,
                    Delivery("trigger", alert, message, incident, f"{alert_id}:{ch.name}", [job]),
                )
            else:
                self._schedule_digest(ch)
            if settled:
                await self._resolve(ch, incident, alert, source, None)

    async def submit_case_event(
        self,
        payload: dict[str, Any],
        message: Message,
        channels: Sequence[str],
        source: Source,
        done: Callable[[], object],
    ) -> None:
        """Queue a case event for `channels`; `done` once all finish. The dedup claim is
        per channel and event id (not per window): a replayed event is sent once."""
        leave = await self.backlog.enter()
        try:
            self._start()
            event_id = str(payload["event_id"])
            incident = incident_key(f"case:{payload['event'].get('case_id', '')}", [event_id])
            tracker = Tracker(len(channels), _both(leave, done))
            for name in channels:
                key = f"{self._prefix}:case-event:{name}:{event_id}"
                try:
                    fresh = await self._dedup.claim(key, event_id, CASE_EVENT_CLAIM_SECONDS)
                except Exception as exc:  # noqa: BLE001 - fail open: a repeat beats a lost page
                    log.warning(
                        "dedup store unavailable (%s); notifying anyway", type(exc).__name__
                    )
                    fresh, key = True, ""
                if not fresh:
                    if self._metrics is not None:
                        self._metrics.notification_deduplicated(name)
                    tracker.finish()
                    continue
                job = Job(payload, source, tracker, key or None)
                delivery = Delivery("case_event", payload, message, incident, f"{event_id}:{name}")
                delivery.jobs.append(job)
                self._queues[name].put_nowait(delivery)
        except BaseException:
            leave()
            raise

    async def hold_update(
        self, hold: dict[str, Any], source: Source, done: Callable[[], object]
    ) -> None:
        """A hold changed: resolve the PagerDuty incidents whose every hold is settled."""
        leave = await self.backlog.enter()
        try:
            await self._hold_update(hold, source, _both(leave, done))
        except BaseException:
            leave()
            raise

    async def _hold_update(
        self, hold: dict[str, Any], source: Source, done: Callable[[], object]
    ) -> None:
        self._start()
        settled: list[str] = []
        if self._incidents is not None:
            settled = await self._incidents.settle(str(hold["withdrawal_id"]), str(hold["status"]))
        pagers = [c for c in self.config.channels if c.type == "pagerduty"]
        tracker = Tracker(len(settled) * len(pagers), done)
        for incident in settled:
            for ch in pagers:
                await self._resolve(ch, incident, hold, source, tracker)

    async def _link(self, ch: ChannelConfig, incident: str, alert: dict[str, Any]) -> bool:
        wid = alert.get("withdrawal_id")
        if ch.type != "pagerduty" or self._incidents is None or not wid:
            return False
        try:
            return await self._incidents.link(incident, str(wid))
        except Exception as exc:  # noqa: BLE001 - page now; only the auto-resolve is lost
            log.warning("incident store unavailable (%s)", type(exc).__name__)
            return False

    async def _resolve(
        self,
        ch: ChannelConfig,
        incident: str,
        payload: dict[str, Any],
        source: Source,
        tracker: Tracker | None,
    ) -> None:
        message = Message(f"resolved {incident[:12]}", "info", "", (), (), "", "")
        jobs = [] if tracker is None else [Job(payload, source, tracker, None)]
        await self._put(
            ch, Delivery("resolve", payload, message, incident, f"resolve:{incident}", jobs)
        )

    # ------------------------------------------------------------ queues and workers

    def _start(self) -> None:
        if self._queues:
            return
        for ch in self.config.channels:
            # Unbounded here: `has_room` stops the intake at queue_size, and a put that
            # waited would stall the feed's consumer, which must keep polling Kafka.
            queue: asyncio.Queue[Delivery] = asyncio.Queue()
            self._queues[ch.name] = queue
            # PagerDuty gets one worker: a resolve must never overtake its trigger.
            workers = 1 if ch.type == "pagerduty" else max(1, self.config.workers_per_channel)
            for _ in range(workers):
                self._tasks.append(asyncio.create_task(self._work(ch.name, queue)))

    async def _put(self, ch: ChannelConfig, delivery: Delivery) -> None:
        self._queues[ch.name].put_nowait(delivery)

    def _schedule_digest(self, ch: ChannelConfig) -> None:
        task = self._digests.get(ch.name)
        if task is None or task.done():
            self._digests[ch.name] = asyncio.create_task(self._digest_later(ch))

    async def _digest_later(self, ch: ChannelConfig) -> None:
        limiter = self._limiters[ch.name]
        await self._sleep(max(0.0, limiter.window_end() - self._clock()))
        jobs = limiter.take_digest()
        if not jobs:
            return
        alerts = [j.payload for j in jobs]
        message = render_digest(alerts, ch.name, ch.rate_per_minute)
        first = str(alerts[0].get("alert_id", ""))
        ids = incident_key("digest", [str(a.get("alert_id", "")) for a in alerts])
        await self._put(
            ch,
            Delivery("digest", {"alerts": alerts}, message, ids, f"digest:{first}:{ch.name}", jobs),
        )

    async def _work(self, name: str, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliverer.deliver(name, delivery)
            except Exception:
                log.exception("notification worker for %s failed", name)
            finally:
                queue.task_done()

    # ------------------------------------------------------------ lifecycle

    async def drain(self) -> None:
        """Wait until every queue is empty and every queued delivery is finished."""
        for queue in self._queues.values():
            await queue.join()

    async def stop(self) -> None:
        """Stop the workers. Unfinished alerts stay unacknowledged: Kafka redelivers them."""
        tasks = [*self._tasks, *self._digests.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._digests.clear()
        self._queues.clear()
        for close in self._closers:
            await close()


def _both(first: Callable[[], object], then: Callable[[], object]) -> Callable[[], None]:
    def call() -> None:
        first()
        then()

    return call
