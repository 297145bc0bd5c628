"""The case projection: `case-events` folded into the case store by a sink consumer in
the group `<app id>-case-projection` (`CaseService.project`). The writers apply their
own events as they write them; this sink makes the store right when a writer died
between the broker's acknowledgement and Redis (and then sends the case decisions the
events call for, again under the same ids), and is what `withdrawguard cases rebuild`
replays. Events applied before are skipped by their event id."""

from __future__ import annotations

import logging

from withdrawguard.cases import codec
from withdrawguard.casework.service import CaseService
from withdrawguard.streaming.sinks.case_intake import until_done
from withdrawguard.streaming.sinks.consumer import Done, Handler, Record

log = logging.getLogger(__name__)


def projection_handler(service: CaseService) -> Handler:
    async def handle(record: Record, done: Done) -> None:
        where = f"{record.topic}:{record.partition}:{record.offset}"
        try:
            event = codec.decode_bytes(record.value or b"")
        except codec.CaseEventError as exc:
            log.error("case projection: %s is no case event, skipped: %s", where, exc)
            done()
            return
        await until_done(lambda: service.project(event), where)
        done()

    return handle
