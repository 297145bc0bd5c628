"""The case pages on the worker's web server (handlers: `case_http.py`).

    GET  /cases                      inbox tabs, "my cases" (?inbox=NAME|mine&status=S)
    POST /cases/next                 take next (claim) in an inbox
    POST /cases/bulk                 assign or close the selected cases
    GET  /cases/of/{customer_id}     303 to the customer's current case (open, else latest)
    GET  /cases/{case_id}            the case page
    POST /cases/{case_id}/act        one action on the case (comment, release, approve...)
    GET  /cases/{case_id}/export.json, /cases/{case_id}/export.html

Any worker serves any case: the case store is in Redis, and the service takes the
customer's lock there, so two workers never write one customer's case at once. The
fixed paths are registered before `/cases/{case_id}`, which would otherwise take them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from faust.web import View

from withdrawguard.casework.service import CaseService
from withdrawguard.web.console.case_http import CaseDesk

if TYPE_CHECKING:
    from withdrawguard.web.console.wiring import Console


def register(console: Console, service: CaseService) -> CaseDesk:
    app = console.app
    desk = CaseDesk(console, service)

    @app.page("/cases")
    class Inbox(View):
        async def get(self, request: web.Request) -> web.Response:
            return await desk.inbox(request)

    @app.page("/cases/of/{customer_id}")
    class OfCustomer(View):
        async def get(self, request: web.Request, customer_id: str) -> web.Response:
            return await desk.of_customer(request, customer_id)

    @app.page("/cases/next")
    class TakeNext(View):
        async def post(self, request: web.Request) -> web.Response:
            return await desk.take_next(request)

    @app.page("/cases/bulk")
    class Bulk(View):
        async def post(self, request: web.Request) -> web.Response:
            return await desk.bulk(request)

    @app.page("/cases/{case_id}/export.json")
    class ExportJson(View):
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            return await desk.export_json(request, case_id)

    @app.page("/cases/{case_id}/export.html")
    class ExportHtml(View):
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            return await desk.export_html(request, case_id)

    @app.page("/cases/{case_id}/act")
    class Act(View):
        async def post(self, request: web.Request, case_id: str) -> web.Response:
            return await desk.act(request, case_id)

    @app.page("/cases/{case_id}")
    class Case(View):
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            return await desk.case(request, case_id)

    return desk
